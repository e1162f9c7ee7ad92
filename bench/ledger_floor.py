"""The floor of the sync ledger's CPU per key (issue 25): what this design cannot avoid, measured alone,
beside the budget each CPU bar leaves, so one run says whether the bars are reachable with SQLite at all.

The floor (in this process, CPU = user + sys from ``time.process_time``, per key; no pipeline, no
intake, no batches around it):

    digests   the two 8-byte BLAKE2b digests of an op as ``book.digests`` computes them: of its key text
              and of its print, taken from ops the product's operation built from the workload's records
              (``ledger_prints``'s cut of the timestamp is measured apart: ``cut``)
    look-up   ``Table.look_up`` (the product's query, its pragmas and page cache) of sync 2's keys in
              input order, one query per input chunk (``stdin.CHUNK_BYTES`` of lines) and before each
              STATE (every 10,000 records), as intake asks, against a working copy of N keys reopened
              from its snapshot file as a sync 2 opens it
    build     sync 1's writes: ``Table.log`` of every key (runs of one batch, 830 rows), a state's
              ``write_delta`` every 10,000 rows (the file then deleted: its upload is not counted),
              and ``fold_log``, the fold of the log into the sorted snapshot

Each of digests and look-up is timed twice in one pass: one chunk in ten right after the product
decoded and built that chunk's records into ops (untimed, the ops held until the part is timed, as
intake holds them: "cold", the CPU's caches as a sync leaves them), the others back to back ("warm").

The budget (through the real CLI, ``bench/ledger_cli.py``'s inputs and emulator, CPU of the CLI's
process): R, the resend (no ledger, every record sent); S1 and S2, sync 1 and sync 2 with
``skip_unchanged``; F, sync 2 with a free filter: the same CLI against the same sync-1 ledger, with
``StreamBook.marks`` replaced by an oracle that skips the 99% sync 2 leaves unchanged (sync 2 changes
the record at every hundredth position) with no digest and no look-up, so F is sync 2 with all its
other costs (the ledger's download, the 1% sent and logged, its deltas). Per record:

    sync 2 budget = 1.2 R - F = 0.2 R + (R - F)    (R - F: what not sending 99% saves, net)
    sync 1 budget = 0.3 R                          (sync 1 sends everything, as R does)

and the floor fits when ``digests + look-up`` (sync 2) or ``digests + build`` (sync 1) is within it.

    .venv/bin/python bench/ledger_floor.py [--keys 1000000,3000000,10000000] [--cli identify=1000000,3000000]
        [--cli identify20=1000000] [--markdown]

One JSON line per measurement on stdout, a table with ``--markdown``. ``--cli none`` measures the floor
alone (no verdict).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import ledger_cli  # noqa: E402

from destination_customer_io import cli  # noqa: E402
from destination_customer_io.catalog import resolve_streams  # noqa: E402
from destination_customer_io.config import parse_config  # noqa: E402
from destination_customer_io.ledger import book as ledger_book  # noqa: E402
from destination_customer_io.ledger.book import DAY, Mark, digests  # noqa: E402
from destination_customer_io.ledger.table import MEMBER, Table  # noqa: E402
from destination_customer_io.protocol import message_decoder  # noqa: E402
from destination_customer_io.stdin import CHUNK_BYTES  # noqa: E402

BATCH, STATE_EVERY, COLD_EVERY = 830, 10_000, 10
PRINT = 0x5A5A  # a key's print in the built ledger: the key with bits flipped
SAMPLE = 30_000  # ops whose digests are timed (their cost does not depend on N)
FREE_FILTER = "--as-cli-with-free-filter"
WORKLOADS = ("identify", "identify20")


def timed_chunks(chunks: list[Any], run: Callable[[Any], Any], cold: Callable[[int], Any],
                 size: Callable[[Any], int] = len) -> tuple[float, float]:
    """CPU us per item of ``run`` over ``chunks`` (``size`` items each): (warm, cold), one chunk in
    ``COLD_EVERY`` after ``cold(place)`` (untimed; what it returns is held until the chunk is timed)."""
    spent, items = [0.0, 0.0], [0, 0]
    for place, chunk in enumerate(chunks):
        which = int(place % COLD_EVERY == 0)
        held = cold(place) if which else None
        started = time.process_time()
        run(chunk)
        spent[which] += time.process_time() - started
        items[which] += size(chunk)
        del held
    return spent[0] / items[0] * 1e6, spent[1] / items[1] * 1e6


def runs(n: int, chunk: int) -> list[tuple[int, int]]:
    """(start, end) of each look-up over ``n`` records: intake asks once per input chunk of ``chunk``
    records and once before each STATE (one every ``STATE_EVERY`` records), whichever comes first."""
    ends = sorted({*range(chunk, n, chunk), *range(STATE_EVERY, n, STATE_EVERY), n})
    return list(zip([0, *ends[:-1]], ends))


# --- the workload's ops and chunks ---------------------------------------------------------------------------

def sync2_lines(workload: str, n: int) -> list[bytes]:
    return [line for part in ledger_cli.lines(workload, n, True) for line in part.splitlines()]


class Builder:
    """Sync 2's records of ``workload`` at any position, decoded and built into ops as the product does."""

    def __init__(self, workload: str) -> None:
        config = parse_config(ledger_cli.config("http://127.0.0.1:9", Path("/nowhere"), workload, True))
        self.stream = next(iter(resolve_streams(config, ledger_cli.catalog(workload, True, 2)).values()))
        self.operation = self.stream.operation
        self.person = ledger_cli.person if workload == "identify" else ledger_cli.person20
        self.name = ledger_cli.STREAMS[workload][0]

    def ops(self, start: int, end: int) -> list[Any]:
        lines = [ledger_cli._record(self.name, self.person(i, True)) for i in range(start, end)]
        return [self.operation.build(message_decoder.decode(line).record.data, self.stream) for line in lines]


def chunk_records(workload: str) -> int:
    """Records an input chunk (``CHUNK_BYTES``) holds."""
    lines = sync2_lines(workload, 10_000)
    return CHUNK_BYTES * len(lines) // sum(len(line) + 1 for line in lines)


def digest_parts(workload: str, chunk: int) -> dict[str, float]:
    builder = Builder(workload)
    operation, ops, spans = builder.operation, builder.ops(0, SAMPLE), runs(SAMPLE, chunk)
    texts, prints = operation.ledger_entries(ops)[0], operation.ledger_prints(ops)
    pairs = [(texts[start:end], prints[start:end]) for start, end in spans]
    again = lambda place: builder.ops(*spans[place])  # noqa: E731
    warm, cool = timed_chunks(pairs, lambda pair: (digests(pair[0]), digests(pair[1])), again, lambda pair: len(pair[0]))
    cut, _ = timed_chunks([ops[start:end] for start, end in spans], operation.ledger_prints, again)
    return {"digests_us": warm, "digests_cold_us": cool, "cut_us": cut,
            "print_bytes": sum(map(len, prints)) / len(prints)}


# --- the SQLite parts at N keys -------------------------------------------------------------------------------

def keys_of(n: int) -> array:
    """The identify keys of people 0..n-1 (``person:email:p<i>@example.com``), in input order."""
    keys = array("q")
    for start in range(0, n, 100_000):
        keys.extend(digests([b"person:email:p%d@example.com" % i for i in range(start, min(n, start + 100_000))]))
    return keys


def build(keys: array, folder: Path) -> tuple[dict[str, float], Path]:
    """Sync 1's writes for ``keys``: per key CPU us of the log, the states' deltas, the fold."""
    table = Table(folder, mirror=False)
    spent = {"log": 0.0, "delta": 0.0, "fold": 0.0}
    now, written = int(time.time()), 0
    for start in range(0, len(keys), BATCH):
        rows = [(key, key ^ PRINT, MEMBER) for key in keys[start:start + BATCH]]
        started = time.process_time()
        table.log([((1, now), rows)])
        spent["log"] += time.process_time() - started
        while table.logged - written >= STATE_EVERY or (table.logged == len(keys) and table.logged > written):
            delta = folder / "delta.sqlite"
            started = time.process_time()
            table.write_delta(delta, written, {"generation": 1})
            spent["delta"] += time.process_time() - started
            delta.unlink()
            written = table.logged
    started = time.process_time()
    table.fold_log()
    path = table.snapshot({"generation": 1, "stream": "floor"})
    spent["fold"] += time.process_time() - started
    table.close()
    return {f"{part}_us": value / len(keys) * 1e6 for part, value in spent.items()}, path


def look_ups(snapshot: Path, keys: array, chunk: int, folder: Path, builder: Builder) -> dict[str, float]:
    """Sync 2's look-ups of every key, in input order, as intake asks (``runs``), against ``snapshot``
    reopened; the cold ones after ``builder`` built the chunk's records."""
    folder.mkdir()
    base = folder / "download.sqlite"
    shutil.copyfile(snapshot, base)
    table = Table(folder, mirror=False, base=base)
    fresh = time.time() - 30 * DAY
    spans = runs(len(keys), chunk)
    chunks = [keys[start:end].tolist() for start, end in spans]
    warm, cool = timed_chunks(chunks, lambda part: table.look_up(part, fresh), lambda place: builder.ops(*spans[place]))
    # every key is held with the print sync 1 logged, so each answer is that print (checked untimed)
    assert all(table.look_up(part, fresh) == [key ^ PRINT for key in part] for part in (chunks[0], chunks[-1]))
    table.close()
    shutil.rmtree(folder)
    return {"look_up_us": warm, "look_up_cold_us": cool, "keys_per_query": len(keys) / len(chunks)}


# --- the budget, through the CLI ---------------------------------------------------------------------------------

def free_filter_cli(argv: list[str]) -> int:
    """The CLI with ``StreamBook.marks`` as an oracle: the op at every ``CHANGED_EVERY``-th position of the
    input is sent (sync 2's changed ones), the rest skipped, with no digest and no look-up for them."""
    seen: dict[int, int] = {}

    def marks(book: Any, operation: Any, ops: list) -> list[Mark | None]:
        start = seen.get(id(book), 0)
        seen[id(book)] = start + len(ops)
        places = range(-start % ledger_cli.CHANGED_EVERY, len(ops), ledger_cli.CHANGED_EVERY)
        sent = [ops[place] for place in places]
        found: list[Mark | None] = [None] * len(ops)
        if sent:
            keys, prints = digests(operation.ledger_entries(sent)[0]), digests(operation.ledger_prints(sent))
            for place, key, print_ in zip(places, keys, prints):
                found[place] = Mark(book, key, print_, None, MEMBER)
        book.unchanged_count += len(ops) - len(sent)
        return found

    ledger_book.StreamBook.marks = marks  # type: ignore[method-assign]
    sys.argv = ["destination-customer-io", *argv]
    return cli.main()


def cli_budget(emu: Any, work: Path, workload: str, n: int) -> dict[str, Any]:
    """R, S1, F, S2 (CPU us per record) of one workload and size, and the budgets; each run checked."""
    store = work / f"{workload}-{n}-ledger"
    kept = work / "sync1-ledger"
    free = [sys.executable, str(Path(__file__).resolve()), FREE_FILTER]
    rows = {}
    for name, connector, sync in (("resend", [ledger_cli.DEFAULT_CONNECTOR], "resend"),
                                  ("sync1", [ledger_cli.DEFAULT_CONNECTOR], "sync1"),
                                  ("free", free, "sync2"), ("sync2", [ledger_cli.DEFAULT_CONNECTOR], "sync2")):
        if name == "free":
            shutil.copytree(store, kept)
        if name == "sync2":  # against sync 1's ledger, as the free run had it
            shutil.rmtree(store)
            kept.rename(store)
        row = ledger_cli.run_sync(connector, emu, work, workload, n, sync)
        ledger_cli.check(row)
        if "failed" in row:
            raise SystemExit(f"{workload} {n} {name}: {row['failed']}")
        rows[name] = row
    shutil.rmtree(store, ignore_errors=True)
    if rows["free"]["unchanged"] != rows["sync2"]["unchanged"]:
        raise SystemExit(f"{workload} {n}: the free filter skipped {rows['free']['unchanged']}, sync 2 "
                         f"{rows['sync2']['unchanged']}")
    per = {name: row["cpu_s"] / n * 1e6 for name, row in rows.items()}
    return {"resend_us": per["resend"], "sync1_us": per["sync1"], "sync2_us": per["sync2"],
            "free_sync2_us": per["free"], "saved_us": per["resend"] - per["free"],
            "sync2_budget_us": 1.2 * per["resend"] - per["free"], "sync1_budget_us": 0.3 * per["resend"],
            "load": f"{min(r['load_before'] for r in rows.values())}-{max(r['load_after'] for r in rows.values())}"}


# --- the run ------------------------------------------------------------------------------------------------------

def verdict(floor: dict[str, Any], budget: dict[str, Any] | None) -> dict[str, Any]:
    sync2 = floor["digests_us"] + floor["look_up_us"]
    sync2_cold = floor["digests_cold_us"] + floor["look_up_cold_us"]
    sync1 = floor["digests_us"] + floor["log_us"] + floor["delta_us"] + floor["fold_us"]
    line = {"sync2_floor_us": sync2, "sync2_floor_cold_us": sync2_cold, "sync1_floor_us": sync1}
    if budget is not None:
        line.update(budget)
        line["sync2_fits"] = "yes" if sync2 <= budget["sync2_budget_us"] else "no"
        line["sync2_fits_cold"] = "yes" if sync2_cold <= budget["sync2_budget_us"] else "no"
        line["sync1_fits"] = "yes" if sync1 <= budget["sync1_budget_us"] else "no"
    return line


def markdown(lines: list[dict[str, Any]]) -> str:
    def us(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}"

    out = ["| workload | keys | keys a query | digests x2 (cold) | cut | look-up (cold) | log + delta + fold | sync 2 floor "
           "(cold) | R | F | R - F | sync 2 budget | fits (cold) | sync 1 floor | sync 1 budget | fits | load |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in lines:
        g = f.get
        out.append(
            f"| {f['workload']} | {f['keys']:,} | {f['keys_per_query']:,.0f} | {us(f['digests_us'])} ({us(f['digests_cold_us'])}) "
            f"| {us(f['cut_us'])} | {us(f['look_up_us'])} ({us(f['look_up_cold_us'])}) | {us(f['log_us'])} + "
            f"{us(f['delta_us'])} + {us(f['fold_us'])} | {us(f['sync2_floor_us'])} ({us(f['sync2_floor_cold_us'])}) "
            f"| {us(g('resend_us'))} | {us(g('free_sync2_us'))} | {us(g('saved_us'))} | {us(g('sync2_budget_us'))} "
            f"| {g('sync2_fits', '-')} ({g('sync2_fits_cold', '-')}) | {us(f['sync1_floor_us'])} "
            f"| {us(g('sync1_budget_us'))} | {g('sync1_fits', '-')} | {g('load', '-')} |")
    return "\n".join(out)


def cli_sizes(text: str) -> tuple[str, list[int]]:
    if text == "none":
        return "none", []
    workload, _, sizes = text.partition("=")
    if workload not in WORKLOADS:
        raise argparse.ArgumentTypeError(f"--cli takes {' or '.join(WORKLOADS)}=N[,N...], or none")
    return workload, ledger_cli.sizes(sizes)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == FREE_FILTER:
        sys.exit(free_filter_cli(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=ledger_cli.sizes, default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--cli", type=cli_sizes, action="append",
                        help="workload=sizes measured through the CLI (default identify=1000000 and "
                             "identify20=1000000); none: the floor alone")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    plan: dict[str, list[int]] = {}
    for workload, sizes in args.cli or [("identify", [1_000_000]), ("identify20", [1_000_000])]:
        if workload != "none":
            plan.setdefault(workload, []).extend(sizes)
    parts = {workload: {"chunk": chunk_records(workload)} for workload in WORKLOADS}
    for workload, found in parts.items():
        found.update(digest_parts(workload, found["chunk"]))
        print(json.dumps({"workload": workload, **found}), flush=True)
    budgets: dict[tuple[str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="cio-ledger-floor-") as temp:
        if plan:
            with harness.emulator(0) as emu:
                for workload, sizes in plan.items():
                    for n in sizes:
                        budgets[workload, n] = cli_budget(emu, Path(temp), workload, n)
                        print(json.dumps({"workload": workload, "keys": n, **budgets[workload, n]}), flush=True)
        lines = []
        for n in args.keys:
            folder = Path(temp) / f"build-{n}"
            folder.mkdir()
            keys = keys_of(n)
            written, snapshot = build(keys, folder)
            print(json.dumps({"keys": n, **written}), flush=True)
            for workload in WORKLOADS:
                found = look_ups(snapshot, keys, parts[workload]["chunk"], Path(temp) / f"look-{n}-{workload}",
                                 Builder(workload))
                floor = {"workload": workload, "keys": n, **parts[workload], **written, **found}
                line = {**floor, **verdict(floor, budgets.get((workload, n)))}
                print(json.dumps(line), flush=True)
                lines.append(line)
            shutil.rmtree(folder)
    if args.markdown:
        print("\n" + markdown(lines))


if __name__ == "__main__":
    main()
