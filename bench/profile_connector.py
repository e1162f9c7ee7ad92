"""Where the connector's time goes: py-spy samples the real ``write`` against a lean emulator.

    .venv/bin/python bench/profile_connector.py --workload event --records 100000 [--latency-ms 0]
        [--state-every 10000] [--top 25] [--svg out.svg]
    .venv/bin/python bench/profile_connector.py --resync --records 1000000     # skip_unchanged's sync 2

``--resync``: the ledger bench's change-only resync (bench/ledger_bench.py): sync 1 of the identify people
with skip_unchanged builds a ledger in a Local store (not profiled), then sync 2, one person in 100
changed, is profiled with skip_unchanged on.

Prints the functions with the most samples, by self time (the line itself) and by inclusive time (the
function and everything it calls), as % of all samples of the process, all threads (the stdin reader
thread included; idle waits are left out by py-spy unless ``--idle``).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402
import harness  # noqa: E402


def aggregate(raw: Path) -> tuple[collections.Counter, collections.Counter, int]:
    """Collapsed stacks -> (self samples per frame, inclusive samples per frame, total samples)."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return own, inclusive, total


def resync_setup(write: list[str], config: Path, url: str, work: Path, records: int, state_every: int) -> Path:
    """skip_unchanged on, a Local store; sync 1 run here (builds the ledger); returns sync 2's input."""
    import json

    import ledger_bench

    config.write_text(json.dumps(ledger_bench.config_for(url, work / "store", True)))
    with gen.ensure_input("identify", records, state_every).open("rb") as stdin:
        subprocess.run(write, stdin=stdin, stdout=subprocess.DEVNULL, check=True)
    return gen.ensure_changed_input(records, state_every, ledger_bench.CHANGED_EVERY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="event", choices=gen.WORKLOADS)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--state-every", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    parser.add_argument("--idle", action="store_true", help="also count threads waiting (py-spy --idle)")
    parser.add_argument("--svg", help="also write a flame graph here")
    parser.add_argument("--resync", action="store_true", help="profile skip_unchanged's sync 2 (identify)")
    args = parser.parse_args()
    source = gen.ensure_input(args.workload, args.records, args.state_every)
    with harness.emulator(args.latency_ms) as emu, tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        config, catalog = harness.connector_files(work, emu.url)
        write = [sys.executable, "-m", "destination_customer_io", "write", "--config", str(config),
                 "--catalog", str(catalog)]
        if args.resync:
            source = resync_setup(write, config, emu.url, work, args.records, args.state_every)
        raw = work / "profile.txt"
        spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "-r", str(args.rate),
               "-o", str(raw), *(["--idle"] if args.idle else []), "--"]
        with source.open("rb") as stdin:
            subprocess.run(spy + write, stdin=stdin, stdout=subprocess.DEVNULL, check=True)
        if args.svg:
            subprocess.run(spy[:2] + ["-o", args.svg, "-r", str(args.rate), "--"] + write,
                           stdin=source.open("rb"), stdout=subprocess.DEVNULL, check=True)
        own, inclusive, total = aggregate(raw)
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\n{title} time, {total} samples")
        for frame, n in counter.most_common(args.top):
            print(f"{100 * n / total:6.1f}%  {frame}")


if __name__ == "__main__":
    main()
