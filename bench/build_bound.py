"""An upper bound for compiling the mapping: the connector with `build` reduced to its unavoidable calls.

`minimal_event_build` and `minimal_identify_build` produce the same op bytes as the real
`PersonEvent.build` / `PersonIdentify.build` for the benchmark's records (tests/unit/test_bench_harness.py
checks it), but do nothing else: no identifier, name, timestamp, limit or null checks, no field maps,
no fast-path tests. Only the calls a compiled `build` would still make remain (the dict copy, msgspec's
encodings, the id's hash). A compiled `build` could not be cheaper than this by more than the interpreter's
dispatch of those few calls (~10 bytecodes), so the connector's speed with them bounds what moving the
mapping to C could give. An experiment only: without the checks a bad record would reach Customer.io.

Runs the connector's CLI exactly as `make bench` does (bench/harness.py: its own process pinned to CPU 0,
stdin from the input file, a lean emulator pinned to CPU 1), alternately as shipped and through this
script's ``--as-connector`` entry, which installs the minimal builds and then calls the same ``cli.main``;
reports records/s, CPU µs per record and peak RSS of each (the best of ``--repeat`` runs), with the
floor and the official client's batch loop measured in the same alternation, so the ratios the
benchmark's targets name come from one stretch of the machine's (drifting) speed.

    .venv/bin/python bench/build_bound.py [--workloads event,identify] [--records 1000000] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402
import harness  # noqa: E402
from destination_customer_io import cli, values  # noqa: E402
from destination_customer_io.operations import common, person_event, person_identify  # noqa: E402
from destination_customer_io.operations.base import Op  # noqa: E402

_ENCODE = common.ENCODER.encode
_CANONICAL = values._CANONICAL.encode
_EVENT_FIELDS = person_event.PersonEvent.op_fields  # the columns that are not event data
_PERSON_FIELDS = person_identify._PERSON_FIELDS  # the columns that are not attributes


def minimal_event_build(self: Any, data: dict[str, Any], stream: Any) -> Op:
    """The bench event's op (email identifier, name, integer timestamp, event data), nothing checked."""
    event_data = data.copy()
    for field in _EVENT_FIELDS:
        event_data.pop(field, None)
    email, seconds = data["person_email"], data["timestamp"]
    op = {"type": "person", "action": "event", "identifiers": {"email": email}, "name": data["event_name"],
          "id": values.seeded_record_ulid(seconds * 1000, stream.id_seed, data), "timestamp": seconds,
          "attributes": event_data}
    return Op(_ENCODE(op), "person:email:" + email.lower(), ordered=False, operation=self)


def minimal_identify_build(self: Any, data: dict[str, Any], stream: Any) -> Op:
    """The bench person's op (email identifier; identifier columns are not attributes), nothing checked."""
    attributes = data.copy()
    for field in _PERSON_FIELDS:
        attributes.pop(field, None)
    email = data["person_email"]
    op = {"type": "person", "action": "identify", "identifiers": {"email": email}, "attributes": attributes,
          "timestamp": int(self._clock())}
    return Op(_ENCODE(op), "person:email:" + email.lower(), ordered=True, operation=self)


@contextlib.contextmanager
def minimal_builds() -> Iterator[None]:
    with mock.patch.object(person_event.PersonEvent, "build", minimal_event_build), \
            mock.patch.object(person_identify.PersonIdentify, "build", minimal_identify_build):
        yield


def measure(emu: Any, source: Path, work: Path, minimal: bool) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one ``write`` of ``source``, shipped or with the minimal builds."""
    config, catalog = harness.connector_files(work, emu.url)
    entry = [str(Path(__file__).resolve()), "--as-connector"] if minimal else ["-m", "destination_customer_io"]
    cmd = [sys.executable, *entry, "write", "--config", str(config), "--catalog", str(catalog)]
    wall, cpu, rss, code = harness.measure(cmd, source, work / "out.jsonl")
    if code != 0:
        raise RuntimeError(f"the connector failed (exit {code})")
    return wall, cpu, rss


def main() -> None:
    if sys.argv[1:2] == ["--as-connector"]:  # the connector's own CLI, with the minimal builds
        with minimal_builds():
            sys.exit(cli.main(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="event,identify")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"{'workload':<10}{'contender':<16}{'records/s':>11}{'CPU µs/record':>15}{'peak RSS MB':>13}"
          f"{'vs floor':>10}{'vs official':>13}")
    with harness.emulator(args.latency_ms) as emu, harness.workdir() as tmp:
        work = Path(tmp)
        for workload in args.workloads.split(","):
            source = gen.ensure_input(workload, args.records, 10_000)
            best: dict[str, tuple[float, float, float]] = {}
            for _ in range(args.repeat):  # alternated, so load on the machine hits each alike
                for kind in ("floor", "official", "real", "minimal"):
                    if kind == "floor":
                        run = harness.run_floor(workload, args.records, work)
                        result = (run.wall_s, run.cpu_s, run.peak_rss_mb)
                    elif kind == "official":
                        run = harness.run_official(emu, workload, args.records, args.latency_ms, work)
                        result = (run.wall_s, run.cpu_s, run.peak_rss_mb)
                    else:
                        result = measure(emu, source, work, minimal=kind == "minimal")
                        if emu.client.counters()["ops"] != args.records:
                            raise RuntimeError(f"{workload}/{kind}: the emulator did not get every op")
                        emu.client.reset()
                    best[kind] = min(best.get(kind, result), result)
            for kind, (wall, cpu, rss) in best.items():
                ratios = "" if kind in ("floor", "official") else \
                    f"{best['floor'][0] / wall:>10.0%}{best['official'][0] / wall:>12.2f}x"
                print(f"{workload:<10}{kind:<16}{args.records / wall:>11,.0f}{cpu / args.records * 1e6:>15.2f}"
                      f"{rss:>13.0f}{ratios}", flush=True)


if __name__ == "__main__":
    main()
