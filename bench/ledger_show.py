"""`ledger show` on a large ledger: wall time and peak RSS of the real command (a subprocess).

    .venv/bin/python bench/ledger_show.py [--keys 1000000] [--mirror] [--deltas 3]

Writes a synthetic stream ledger of N keys (one snapshot, plus ``--deltas`` delta files of 1% of the
keys each) with the connector's own file format (ledger/files.py) into a temporary Local store, then
times ``destination-customer-io ledger --config <config> show`` and prints one line of figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from destination_customer_io.ledger import files
from destination_customer_io.ledger.table import MEMBER, Rows, Texts

SITE = "bench-site"
CLI = str(Path(sys.executable).with_name("destination-customer-io"))


def synthetic(count: int, mirror: bool, seed: int) -> Rows:
    rng = np.random.default_rng(seed)
    keys = np.sort(rng.integers(1, 2**63, count, dtype=np.uint64))
    rows = Rows(keys, rng.integers(1, 2**63, count, dtype=np.uint64), np.full(count, 3, np.uint32),
                np.full(count, 1_764_000_000, np.uint32), np.full(count, MEMBER, np.uint8))
    if mirror:
        texts = [json.dumps([f"person:email:p{i}@example.com", "/api/v1/segments/7/remove_customers?id_type=email",
                             f'"p{i}@example.com"']).encode() for i in range(count)]
        offsets = np.zeros(count + 1, np.uint64)
        np.cumsum([len(t) for t in texts], out=offsets[1:])
        rows.texts = Texts(b"".join(texts), offsets)
    return rows


# The command runs under a small parent of its own: a child forked from this process (which built the
# ledger) would count this process's memory in its peak RSS until it execs.
_MEASURE = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
            "sys.stderr.write(f' {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); sys.exit(done.returncode)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--mirror", action="store_true", help="a mirror stream (key texts kept)")
    parser.add_argument("--deltas", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        operation = "segment_membership" if args.mirror else "person_identify"
        directory = Path(tmp, files.scope_prefix(SITE, "default"), files.stream_dir(None, "s", operation))
        directory.mkdir(parents=True)
        header = {"kind": "snapshot", "stream": "s", "generation": 3, "written_at": "2026-12-01T00:00:00+00:00"}
        (directory / files.snapshot_name(1)).write_bytes(files.encode(synthetic(args.keys, args.mirror, 1), header))
        for number in range(1, args.deltas + 1):
            delta = synthetic(args.keys // 100, args.mirror, number + 1)
            (directory / files.delta_name(1, number)).write_bytes(files.encode(delta, {**header, "kind": "delta"}))
        config = Path(tmp, "config.json")
        config.write_text(json.dumps({"credentials": {"siteId": SITE, "apiKey": "k"}, "object_storage_config": {
            "storage_type": "Local", "destination_path": tmp}}))
        size = sum(p.stat().st_size for p in directory.iterdir())
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", _MEASURE, CLI, "ledger", "--config", str(config), "show",
                               "--json"], capture_output=True)
        elapsed = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        shown = json.loads(done.stdout)["streams"][0]
        peak = int(done.stderr.decode().split()[-1]) / 1024
        print(f"ledger show: {args.keys:,} keys ({'mirror' if args.mirror else 'skip_unchanged'}, {args.deltas} "
              f"deltas), {size / 1e6:,.1f} MB of files: {elapsed:.2f} s, peak RSS {peak:,.0f} MB; "
              f"rows {shown['rows']['total']:,}")


if __name__ == "__main__":
    main()
