"""Issue 25's table: the sync ledger measured through the real CLI, whatever engine holds it.

Three scenarios, each at the sizes given, each size three whole-process syncs of ``destination-customer-io
write`` against the lean emulator at 0 ms (pinned to CPU 1; the CLI to CPU 0) with a Local store in a temp
directory:

    identify  N people (person_identify, append_dedup, ``skip_unchanged: true``, five attributes)
    identify20  the same with ``make bench``'s identify people (20 attributes, bench/gen.py): the workload
              of the 1.40x the issue quotes; sync 2 changes one attribute of one person in 100 as well
    mirror    a segment of N members (segment_membership, ``overwrite``: mirror mode), a STREAM_STATUS
              COMPLETE at the end so the removals are decided; ``create_missing_people: false`` in every
              sync, so each sync sends the same kind of ops (the segment adds) and nothing else

    sync1     every key new: the ledger is built
    sync2     the same keys, 1% changed (identify: one attribute of one person in 100; mirror: one member
              in 100 replaced by a new one, so 1% added and 1% removed), against sync 1's ledger
    resend    sync 2's input with no ledger (identify: ``skip_unchanged`` off; mirror: the same stream in
              ``append`` mode), each time in an empty store: the baseline "send everything again"

The input is generated while it is written to the CLI's stdin (nothing of N records is held). For each
sync: wall, user + sys CPU and peak RSS of the CLI's own process (``os.wait4``), ops and requests the
emulator counted (a v1 segment call of up to 1,000 ids is one), and the bytes uploaded to the ledger's home (``_customerio_ledger/`` in the store):
``upload`` sums the files new or changed between before and after the sync; ``upload_seen`` also counts
files written and deleted within it (the store is listed every 0.2 s while the sync runs, so it is a lower
bound for files that live less than that). Then the CPU ratios sync2 / resend and sync1 / resend.

    .venv/bin/python bench/ledger_cli.py --identify 1000000 --mirror 1000000 > rows.jsonl
    .venv/bin/python bench/ledger_cli.py --identify 1000000,3000000,10000000 --mirror 1000000,3000000 --markdown
    .venv/bin/python bench/ledger_cli.py --table rows.jsonl           # the markdown table of earlier rows

One JSON line per sync (and one per size with the ratios) on stdout; ``--markdown`` prints the table at the
end. A sync that fails (non-zero exit, e.g. killed for memory) is a row with its exit code and last error,
and the sizes after it still run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402
import harness  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONNECTOR = str(REPO / ".venv" / "bin" / "destination-customer-io")
LEDGER_HOME = "_customerio_ledger"
MAKE_BENCH_SIZE = 100_000  # `make bench`'s ledger workload: both scenarios at this size
STATE_EVERY = 10_000
CHANGED_EVERY = 100  # sync 2 changes one key in 100
SEGMENT = 7
NAMESPACE = "bench"
STREAMS = {"identify": ("people", "person_identify"), "identify20": ("people", "person_identify"),
           "mirror": ("audience", "segment_membership")}
_UNCHANGED = re.compile(r"(\d+) unchanged \(not sent again\)")
_REMOVED = re.compile(r"(\d+) mirror removals? applied")


# --- the input, generated as it is written ------------------------------------------------------------

def _record(stream: str, data: bytes) -> bytes:
    return (b'{"type":"RECORD","record":{"namespace":"' + NAMESPACE.encode() + b'","stream":"' + stream.encode()
            + b'","data":' + data + b',"emitted_at":1700000000000}}')


def _state(stream: str, marker: int, count: int) -> bytes:
    return (b'{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"%s","namespace":"%s"},'
            b'"stream_state":{"marker":%d}},"sourceStats":{"recordCount":%d.0}}}'
            % (stream.encode(), NAMESPACE.encode(), marker, count))


def _complete(stream: str) -> bytes:
    return (b'{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":1700000000000.0,"stream_status":'
            b'{"stream_descriptor":{"name":"%s","namespace":"%s"},"status":"COMPLETE"}}}'
            % (stream.encode(), NAMESPACE.encode()))


def person(i: int, changed: bool) -> bytes:
    """A person with five attributes; ``changed``: sync 2's edit (orders + 1) for one person in 100."""
    orders = i % 53 + (1 if changed and i % CHANGED_EVERY == 0 else 0)
    return (b'{"person_email":"p%d@example.com","first_name":"First%d","plan":"%s","country":"%s",'
            b'"orders":%d,"created_at":%d}'
            % (i, i % 1000, (b"free", b"pro", b"team")[i % 3], (b"FR", b"DE", b"US", b"BR")[i % 4], orders,
               1_600_000_000 + i))


def person20(i: int, changed: bool) -> bytes:
    """``make bench``'s identify person (20 attributes); ``changed``: orders + 1 for one person in 100."""
    return gen._encode(gen.changed_identify_data(i, CHANGED_EVERY) if changed else gen.identify_data(i))


def member(i: int, n: int, changed: bool) -> bytes:
    """Member i of the segment; ``changed``: one member in 100 replaced by one the ledger never saw."""
    who = i + n if changed and i % CHANGED_EVERY == 0 else i
    return b'{"person_email":"m%d@example.com","segment_id":%d}' % (who, SEGMENT)


def lines(scenario: str, n: int, changed: bool) -> Iterator[bytes]:
    """The input of one sync, 10,000 lines at a time: records, a STREAM state every 10,000, and for a
    mirror the stream's COMPLETE status at the end."""
    stream = STREAMS[scenario][0]
    for start in range(0, n, STATE_EVERY):
        end = min(start + STATE_EVERY, n)
        if scenario == "identify":
            chunk = [_record(stream, person(i, changed)) for i in range(start, end)]
        elif scenario == "identify20":
            chunk = [_record(stream, person20(i, changed)) for i in range(start, end)]
        else:
            chunk = [_record(stream, member(i, n, changed)) for i in range(start, end)]
        chunk.append(_state(stream, end, end - start))
        yield b"\n".join(chunk) + b"\n"
    if scenario == "mirror":
        yield _complete(stream) + b"\n"


def feed(pipe: BinaryIO, chunks: Iterator[bytes]) -> None:
    """Writes the input to the CLI's stdin, then closes it (a CLI that died early ends the writing)."""
    try:
        for chunk in chunks:
            pipe.write(chunk)
    except BrokenPipeError:
        pass
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass


# --- config and catalog ----------------------------------------------------------------------------------

def config(url: str, store: Path, scenario: str, ledger: bool) -> dict[str, Any]:
    storage = {"storage_type": "Local", "destination_path": str(store), "format": {"format_type": "JSONL"}}
    body: dict[str, Any] = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"},
                            "track_api_base_url": url, "object_storage_config": storage}
    if scenario != "mirror":
        body["skip_unchanged"] = ledger
    else:
        body["create_missing_people"] = False
    return body


def catalog(scenario: str, ledger: bool, generation: int) -> dict[str, Any]:
    stream, operation = STREAMS[scenario]
    mode = ("append_dedup" if scenario != "mirror" else "overwrite" if ledger else "append")
    return {"streams": [{"stream": {"name": stream, "namespace": NAMESPACE, "json_schema": {"type": "object"},
                                    "supported_sync_modes": ["full_refresh"]},
                         "sync_mode": "full_refresh", "destination_sync_mode": mode,
                         "destination_object_name": operation, "generation_id": generation,
                         "minimum_generation_id": generation if mode == "overwrite" else 0,
                         "sync_id": 100 + generation}]}


# --- the ledger's home, watched --------------------------------------------------------------------------

def ledger_files(store: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under the ledger's home: relative path -> (inode, mtime ns, size)."""
    found = {}
    for path in (store / LEDGER_HOME).rglob("*"):
        try:
            info = path.stat()
        except FileNotFoundError:  # deleted while listed
            continue
        if path.is_file() and not path.name.startswith("."):  # a hidden name is a write in progress
            found[path.relative_to(store).as_posix()] = (info.st_ino, info.st_mtime_ns, info.st_size)
    return found


class Watcher:
    """Lists the ledger's home every ``every`` s while a sync runs: each version of a file (path, inode,
    mtime) is one upload, counted at the largest size seen."""

    def __init__(self, store: Path, every: float = 0.2) -> None:
        self.store, self.every = store, every
        self.before = ledger_files(store)
        self.versions: dict[tuple[str, int, int], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _look(self) -> dict[str, tuple[int, int, int]]:
        now = ledger_files(self.store)
        for path, (inode, mtime, size) in now.items():
            if self.before.get(path) != (inode, mtime, size):
                key = (path, inode, mtime)
                self.versions[key] = max(size, self.versions.get(key, 0))
        return now

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._look()

    def finish(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        after = self._look()
        changed = sum(size for path, (_, _, size) in after.items() if self.before.get(path) != after[path])
        return {"upload_bytes": changed, "upload_seen_bytes": sum(self.versions.values()),
                "ledger_files_after": len(after), "ledger_bytes_after": sum(s for _, _, s in after.values())}


# --- one sync ----------------------------------------------------------------------------------------------

def run_sync(connector: list[str], emu: Any, work: Path, scenario: str, n: int, sync: str) -> dict[str, Any]:
    """One ``write``: sync1 and sync2 share the scenario's store (the ledger), resend gets an empty one."""
    ledger = sync != "resend"
    store = work / f"{scenario}-{n}-{'ledger' if ledger else 'resend'}"
    if sync != "sync2":
        shutil.rmtree(store, ignore_errors=True)
    generation = 2 if sync == "sync2" else 1
    (work / "config.json").write_text(json.dumps(config(emu.url, store, scenario, ledger)))
    (work / "catalog.json").write_text(json.dumps(catalog(scenario, ledger, generation)))
    out = work / f"{scenario}-{n}-{sync}.out"
    cmd = connector + ["write", "--config", str(work / "config.json"), "--catalog", str(work / "catalog.json")]
    row: dict[str, Any] = {"scenario": scenario, "keys": n, "sync": sync,
                           "started": datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S"),
                           "load_before": round(os.getloadavg()[0], 2)}
    watcher = Watcher(store)
    emu.client.reset()
    with out.open("wb") as stdout, (work / "stderr.txt").open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, cwd=REPO,
                                preexec_fn=lambda: harness._pin(harness.CONTENDER_CPU))
        assert proc.stdin is not None
        writer = threading.Thread(target=feed, args=(proc.stdin, lines(scenario, n, sync != "sync1")))
        writer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        writer.join()
    counters = emu.client.counters()
    row.update({"exit": proc.returncode, "wall_s": round(wall, 2), "user_s": round(usage.ru_utime, 2),
                "sys_s": round(usage.ru_stime, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "ops_sent": counters["ops"],
                "ops_refused": counters["ops_rejected"], "requests": counters["requests"],
                "load_after": round(os.getloadavg()[0], 2), **watcher.finish(), **outcome(out, work / "stderr.txt")})
    if sync == "resend":
        shutil.rmtree(store, ignore_errors=True)
    return row


def outcome(out: Path, stderr: Path) -> dict[str, Any]:
    """From the CLI's stdout: states emitted, records accepted, unchanged, mirror removals, the error."""
    found: dict[str, Any] = {"states": 0, "accepted": None, "unchanged": 0, "removed": 0, "error": None}
    with out.open("rb") as messages:
        for line in messages:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("type") == "STATE":
                found["states"] += 1
            elif message.get("type") == "TRACE" and message["trace"].get("type") == "ERROR":
                found["error"] = message["trace"]["error"]["message"][:300]
            elif message.get("type") == "LOG" and message["log"]["message"].startswith("Sync summary"):
                text = message["log"]["message"]
                found["accepted"] = int(re.search(r", (\d+) accepted", text).group(1))
                found["unchanged"] = int(m.group(1)) if (m := _UNCHANGED.search(text)) else 0
                found["removed"] = int(m.group(1)) if (m := _REMOVED.search(text)) else 0
    if found["error"] is None and stderr.stat().st_size:
        found["error"] = stderr.read_bytes()[-300:].decode(errors="replace")
    return found


def expected(scenario: str, n: int, sync: str) -> dict[str, int]:
    """What a correct sync sends: checked, so a fast but wrong run never makes the table."""
    changed = -(-n // CHANGED_EVERY)
    if scenario != "mirror":
        return {"ops_sent": changed if sync == "sync2" else n, "accepted": n}
    # the emulator counts a v1 segment call (up to 1,000 ids) as one op: the CLI's own counts are checked
    return {"accepted": n, "removed": changed if sync == "sync2" else 0}


def check(row: dict[str, Any]) -> None:
    if row["exit"] != 0:
        row["failed"] = f"exit {row['exit']}: {row['error']}"
        return
    wrong = {k: (row[k], v) for k, v in expected(row["scenario"], row["keys"], row["sync"]).items() if row[k] != v}
    if wrong or row["ops_refused"]:
        row["failed"] = f"wrong outcome (seen, expected): {wrong}, {row['ops_refused']} refused"


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {row["sync"]: row for row in rows}
    line: dict[str, Any] = {"scenario": rows[0]["scenario"], "keys": rows[0]["keys"]}
    if all(by.get(s) and "failed" not in by[s] for s in ("sync1", "sync2", "resend")):
        line["cpu_sync2_over_resend"] = round(by["sync2"]["cpu_s"] / by["resend"]["cpu_s"], 3)
        line["cpu_sync1_over_resend"] = round(by["sync1"]["cpu_s"] / by["resend"]["cpu_s"], 3)
    return line


# --- the table -----------------------------------------------------------------------------------------------

def markdown(rows: list[dict[str, Any]]) -> str:
    syncs = [r for r in rows if "sync" in r]
    ratio = {(r["scenario"], r["keys"]): r for r in rows if "sync" not in r}
    out = ["| scenario | keys | sync | wall s | CPU s (user + sys) | CPU / resend | peak RSS MB | ops sent (a v1 call: 1) "
           "| ledger upload MB (seen) | ledger MB after | load avg |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in syncs:
        if "failed" in r:
            out.append(f"| {r['scenario']} | {r['keys']:,} | {r['sync']} | {r['wall_s']} | {r['cpu_s']} | - "
                       f"| {r['peak_rss_mb']:,.0f} | **failed**: {r['failed'][:160]} | | | "
                       f"{r['load_before']}-{r['load_after']} |")
            continue
        pair = ratio.get((r["scenario"], r["keys"]), {})
        over = {"sync1": pair.get("cpu_sync1_over_resend"), "sync2": pair.get("cpu_sync2_over_resend")}.get(r["sync"])
        shown = "-" if r["sync"] == "resend" else (f"**{over:.2f}x**" if over is not None else "n/a")
        upload = "-" if r["sync"] == "resend" else \
            f"{r['upload_bytes'] / 1e6:,.1f} ({r['upload_seen_bytes'] / 1e6:,.1f})"
        after = "-" if r["sync"] == "resend" else f"{r['ledger_bytes_after'] / 1e6:,.1f}"
        out.append(f"| {r['scenario']} | {r['keys']:,} | {r['sync']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} "
                   f"({r['user_s']:.1f} + {r['sys_s']:.1f}) | {shown} | {r['peak_rss_mb']:,.0f} | {r['ops_sent']:,} "
                   f"| {upload} | {after} | {r['load_before']}-{r['load_after']} |")
    return "\n".join(out)


def sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identify", type=sizes, default=[], help="people, comma-separated (e.g. 1000000,3000000)")
    parser.add_argument("--identify20", type=sizes, default=[],
                        help="people with 20 attributes (make bench's identify workload), comma-separated")
    parser.add_argument("--mirror", type=sizes, default=[], help="segment members, comma-separated")
    parser.add_argument("--connector", default=DEFAULT_CONNECTOR,
                        help="the CLI to run (default: this checkout's .venv)")
    parser.add_argument("--markdown", action="store_true", help="print the table at the end")
    parser.add_argument("--table", type=Path, help="print the table of a file of earlier JSON lines, run nothing")
    return parser.parse_args()


def measure(identify: list[int], mirror: list[int], connector: str = DEFAULT_CONNECTOR,
            identify20: Sequence[int] = ()) -> list[dict[str, Any]]:
    """Every size's three syncs, each row printed as it is measured; the rows and each size's ratios."""
    rows: list[dict[str, Any]] = []
    plan = [("identify", n) for n in identify] + [("identify20", n) for n in identify20] + \
        [("mirror", n) for n in mirror]
    with tempfile.TemporaryDirectory(prefix="cio-ledger-cli-") as temp, harness.emulator(0) as emu:
        for scenario, n in plan:
            size_rows = []
            for sync in ("sync1", "sync2", "resend"):
                row = run_sync([connector], emu, Path(temp), scenario, n, sync)
                check(row)
                print(json.dumps(row), flush=True)
                size_rows.append(row)
                if "failed" in row and sync == "sync1":
                    break  # no ledger to resync against
            shutil.rmtree(Path(temp) / f"{scenario}-{n}-ledger", ignore_errors=True)
            line = ratios(size_rows)
            print(json.dumps(line), flush=True)
            rows += size_rows + [line]
    return rows


def main() -> None:
    args = options()
    if args.table:
        print(markdown([json.loads(line) for line in args.table.read_text().splitlines() if line.startswith("{")]))
        return
    rows = measure(args.identify, args.mirror, args.connector, args.identify20)
    if args.markdown:
        print("\n" + markdown(rows))


if __name__ == "__main__":
    main()
