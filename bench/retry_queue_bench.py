"""The retry queue's memory (``retry_refused``): peak RSS of a ``write`` that re-sends a queue of N refused
records, whole process, for a small and a large queue; the queue is read one part at a time and its
records wait on ``max_inflight_bytes``, so the two differ by the per-record hashes only (docs/rejected.md).

The queue is written straight into a Local store as a sync of this version leaves it (``queue-1-<part>``
parts of 1 MiB of ``{"attempts": 1, "line": ...}`` lines), each line a RECORD of bench/gen.py's identify
workload (20 attributes, ~900 bytes, an ordered op: the worst case, a key hash held too). The input is one
STATE; the emulator (lean, 0 ms) takes every op. For comparison, the same records are also synced as the
input of a plain sync (no retry queue). Each is run ``repeat`` times, the lowest peak kept.
The connector runs under ``/usr/bin/time -v`` (its "Maximum resident set size"), pinned like the other
benchmarks (harness.py).

    .venv/bin/python bench/retry_queue_bench.py [--sizes 2000 200000] [--repeat 2]   # prints a table
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

import gen
import harness
from destination_customer_io.catalog import resolve_streams
from destination_customer_io.config import parse_config
from destination_customer_io.retry import queue_folder

PART_BYTES = 1024 * 1024  # what a sync of this version writes (retry._OPTIONS)
CATALOG = {"streams": [s for s in gen.catalog()["streams"] if s["stream"]["name"] == "people"]}
_RSS = re.compile(rb"Maximum resident set size \(kbytes\): (\d+)")


def write_queue(store: Path, config: dict, catalog: dict, records: int) -> int:
    """``records`` queued identifies as parts of about PART_BYTES; returns the number of parts."""
    parsed = parse_config(config)
    [stream] = resolve_streams(parsed, catalog).values()
    folder = store / queue_folder(parsed.credentials.siteId, parsed.ledger_scope, stream)
    folder.mkdir(parents=True)
    part, size, chunks = 0, 0, []
    for i in range(records):
        line = msgspec.json.encode({"type": "RECORD", "record": {"stream": "people", "data": gen.identify_data(i),
                                                                 "emitted_at": gen.EMITTED_AT}}).decode()
        chunks.append(msgspec.json.encode({"attempts": 1, "line": line}) + b"\n")
        size += len(chunks[-1])
        if size >= PART_BYTES or i == records - 1:
            (folder / f"queue-00000001-{part:06d}.jsonl").write_bytes(b"".join(chunks))
            part, size, chunks = part + 1, 0, []
    return part


def _write(work: Path, config: dict, catalog: dict, source: Path) -> tuple[float, float, list[str]]:
    """(peak RSS MB, wall s, LOG lines) of one CLI ``write`` of ``source`` under /usr/bin/time -v."""
    (work / "config.json").write_text(json.dumps(config))
    (work / "catalog.json").write_text(json.dumps(catalog))
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "destination_customer_io", "write", "--config",
           str(work / "config.json"), "--catalog", str(work / "catalog.json")]
    start = time.perf_counter()
    with source.open("rb") as stdin:
        done = subprocess.run(cmd, stdin=stdin, capture_output=True, preexec_fn=lambda: harness._pin(harness.CONTENDER_CPU))
    wall = time.perf_counter() - start
    match = _RSS.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"the connector failed: {done.stderr[-2000:]!r}")
    said = [m["log"]["message"] for m in map(json.loads, done.stdout.splitlines()) if m.get("type") == "LOG"]
    return int(match[1]) / 1024, wall, said


def run(records: int, work: Path, url: str) -> tuple[float, float, int, str]:
    """(peak RSS MB, wall s, parts, the summary's retry line) of one re-send of a ``records`` queue."""
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    config = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"}, "track_api_base_url": url,
              "retry_refused": True, "object_storage_config": {"storage_type": "Local", "destination_path": str(store)}}
    parts = write_queue(store, config, CATALOG, records)
    (work / "in.jsonl").write_bytes(gen._state_line(1))
    rss, wall, said = _write(work, config, CATALOG, work / "in.jsonl")
    retried = next(line for line in said if line.startswith("Retry queue"))
    if f"{records} succeeded" not in retried:
        raise RuntimeError(f"the re-send of {records} failed: {retried}")
    return rss, wall, parts, retried


def run_plain(records: int, work: Path, url: str) -> float:
    """Peak RSS MB of a plain sync (no retry queue) of the same records as its input."""
    config = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"}, "track_api_base_url": url}
    return _write(work, config, CATALOG, gen.ensure_input("identify", records, records))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 200_000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, harness.emulator(0) as emu:
        for records in args.sizes:
            runs = [run(records, Path(tmp), emu.url) for _ in range(args.repeat)]
            rss, wall, parts, said = min(runs)
            plain = min(run_plain(records, Path(tmp), emu.url) for _ in range(args.repeat))
            rows.append((records, parts, rss, wall, plain, said))
    print("| queued records | parts | peak RSS MB | wall s | the same records as a plain sync's input: peak RSS MB |\n"
          "|---:|---:|---:|---:|---:|")
    for records, parts, rss, wall, plain, _ in rows:
        print(f"| {records:,} | {parts} | {rss:.1f} | {wall:.1f} | {plain:.1f} |")
    for records, *_, said in rows:
        print(f"{records:,}: {said}")


if __name__ == "__main__":
    main()
