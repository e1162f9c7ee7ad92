"""CPU instructions per ``Operation.build``, counted with callgrind (a figure the machine's load cannot move).

One process builds the ops of ``--records`` records of a workload (bench/gen.py's data, decoded as the
pipeline decodes it); the same process without the builds is counted too, and the difference divided by
the records is printed. ``--without window`` / ``--without id,window`` replace the repeated-derived-id
window's check (since round 5 of issue 23 a chunk's ids at once, as intake checks them; each build still
appends its id) and the derived id by constants (to see what each costs); ``--python`` runs another
build's interpreter (a release venv: its own package, e.g. 0.1.2's with its C id); ``--src`` another
source tree; ``--event-ids source`` builds the events of a stream with ``event_ids: source``.

    .venv/bin/python bench/build_count.py --workload event
    .venv/bin/python bench/build_count.py --workload event --without id,window
    .venv/bin/python bench/build_count.py --python ~/.cache/destination-customer-io-bench/0.1.2/.venv/bin/python

Needs valgrind. PYTHONHASHSEED is fixed, so two counts of one build agree to a few instructions.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
_COLLECTED = re.compile(rb"Collected : (\d+)")
_OPERATION = {"event": "person_event", "identify": "person_identify"}


def _stream(kind: str, event_ids: str) -> Any:
    """The stream a workload's records belong to, in this build's way of making one (0.1.2 had no
    ``resolve_streams``)."""
    from destination_customer_io.config import parse_config

    config = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}, "event_ids": event_ids}
                          if event_ids != "derived" else {"credentials": {"siteId": "s", "apiKey": "k"}})
    try:
        from destination_customer_io.catalog import resolve_streams
    except ImportError:  # 0.1.2
        from destination_customer_io.catalog import Stream
        from destination_customer_io.operations import OPERATIONS

        mode = "append" if kind == "person_event" else "append_dedup"
        return Stream("events" if kind == "person_event" else "people", None, OPERATIONS[kind], mode, config)
    import gen

    streams = resolve_streams(config, gen.catalog())
    return next(s for s in streams.values() if s.operation.object_name == kind)


def _without(parts: set[str]) -> None:
    from destination_customer_io import values

    if "id" in parts:
        constant = "01HF0000000000000000000000"
        if hasattr(values, "RecordIds"):
            values.RecordIds.ulid = lambda self, ms, data: constant  # type: ignore[method-assign]
        values.seeded_record_ulid = lambda ms, seed, data: constant  # type: ignore[assignment]
    if "window" in parts and hasattr(values, "RepeatWindow"):
        values.RepeatWindow.repeated = lambda self, value: False  # type: ignore[method-assign]
        values.RepeatWindow.count = lambda self, ids: 0  # type: ignore[method-assign]


def child(args: argparse.Namespace) -> None:
    """What callgrind counts: set-up, then the builds unless ``--baseline``."""
    sys.path.insert(0, str(BENCH_DIR))
    import gen
    import msgspec

    kind = _OPERATION[args.workload]
    stream = _stream(kind, args.event_ids)
    make = gen.event_data if kind == "person_event" else gen.identify_data
    records = [msgspec.json.decode(msgspec.json.encode(make(i))) for i in range(args.records)]
    _without(set(filter(None, args.without.split(","))))
    if not args.baseline:
        build = stream.operation.build
        settle = getattr(stream, "count_repeats", None)  # the window checked a chunk at a time, as intake does
        for start in range(0, len(records), 5_000):
            for data in records[start:start + 5_000]:
                build(data, stream)
            if settle is not None:
                settle()


def count(args: argparse.Namespace, baseline: bool) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", args.python, __file__, "--child",
           "--workload", args.workload, "--records", str(args.records), "--without", args.without,
           "--event-ids", args.event_ids]
    if baseline:
        cmd.append("--baseline")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if args.src:
        env["PYTHONPATH"] = args.src
    done = subprocess.run(cmd, capture_output=True, env=env, cwd="/tmp")
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed: {done.stderr[-2000:]!r}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=sorted(_OPERATION), default="event")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--without", default="", help="comma-separated: id, window")
    parser.add_argument("--event-ids", default="derived", choices=("derived", "source"))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--src", default="", help="a source tree to import instead (PYTHONPATH)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    builds, baseline = count(args, False), count(args, True)
    print(f"{args.workload} ({args.python}{' ' + args.src if args.src else ''}"
          f"{', without ' + args.without if args.without else ''}, event_ids {args.event_ids}): "
          f"{(builds - baseline) / args.records:,.0f} instructions per build")


if __name__ == "__main__":
    main()
