"""Benchmark of ``replay``: records rejected for size by a first sync, replayed with ``truncate``.

    .venv/bin/python bench/replay_bench.py [--records 50000]

Starts the emulator, runs ``write`` with ``oversized_attributes: reject`` on N person_identify records
with a 1,200-byte ``bio`` (all rejected into a Local store, GZIP JSONL), then times, under
``/usr/bin/time -v``, ``replay`` of that store with ``truncate`` and, for comparison, ``write`` of the same
input with ``truncate``: wall time, records/s and peak RSS of the connector process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from customerio_emulator.process import start_emulator_process

COMMAND = str(Path(sys.executable).with_name("destination-customer-io"))


def timed(args: list[str], stdin: Path | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KB) and stdout of one run under /usr/bin/time -v."""
    started = time.monotonic()
    source = stdin.read_bytes() if stdin else b""
    done = subprocess.run(["/usr/bin/time", "-v", COMMAND, *args], input=source, capture_output=True, check=True)
    elapsed = time.monotonic() - started
    rss = next(int(line.split(":")[1]) for line in done.stderr.decode().splitlines() if "Maximum resident" in line)
    return elapsed, rss, done.stdout.decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    n = parser.parse_args().records
    with start_emulator_process(None) as emu, tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        store = {"storage_type": "Local", "destination_path": str(tmp / "store"), "format": {"format_type": "JSONL"},
                 "compression": {"compression_type": "GZIP"}}
        base = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"}, "track_api_base_url": emu.url,
                "object_storage_config": store, "progress_interval_seconds": 600}
        catalog = {"streams": [{"stream": {"name": "users", "json_schema": {"type": "object", "properties": {}},
                                           "supported_sync_modes": ["incremental"]},
                                "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
                                "destination_object_name": "person_identify", "primary_key": [["person_email"]],
                                "generation_id": 1, "minimum_generation_id": 0, "sync_id": 7}]}
        (tmp / "catalog.json").write_text(json.dumps(catalog))
        for policy in ("reject", "truncate"):
            (tmp / f"{policy}.json").write_text(json.dumps({**base, "oversized_attributes": policy}))
        with (tmp / "input.jsonl").open("w") as out:
            for i in range(n):
                out.write(json.dumps({"type": "RECORD", "record": {"stream": "users", "emitted_at": 1, "data": {
                    "person_email": f"p{i}@example.com", "plan": "pro", "bio": "x" * 1200}}}) + "\n")
        files = ["--catalog", str(tmp / "catalog.json")]
        timed(["write", "--config", str(tmp / "reject.json"), *files], tmp / "input.jsonl")
        emu.client.reset()
        seconds, rss, _ = timed(["replay", "--config", str(tmp / "truncate.json"), *files,
                                 "--rejected", str(tmp / "store")])
        delivered = len(emu.client.people())
        print(f"replay:                {seconds:6.2f} s  {n / seconds:8,.0f} records/s  peak RSS {rss / 1024:6.0f} MB"
              f"  ({delivered} people delivered)")
        emu.client.reset()
        seconds, rss, _ = timed(["write", "--config", str(tmp / "truncate.json"), *files], tmp / "input.jsonl")
        print(f"write (same records):  {seconds:6.2f} s  {n / seconds:8,.0f} records/s  peak RSS {rss / 1024:6.0f} MB")


if __name__ == "__main__":
    main()
