"""Segment calls: the requests and wall time of a sync that identifies N people and adds them to one
manual segment, through the CLI against the emulator (24 lanes, the defaults), in two input shapes:

    blocks        N identify records, then N segment_membership records
    interleaved   identify p0, add p0, identify p1, add p1, ...

``--src DIR`` runs the connector from another source tree (e.g. an earlier commit's, exported with
``git archive <commit> src | tar -x -C /tmp/old``) for a before/after comparison.

    .venv/bin/python bench/segment_bench.py [--people 10000] [--src /tmp/old/src] [--create] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from customerio_emulator.process import start_emulator_process  # noqa: E402
from tests.support.cli import base_config, configured_stream, global_state_line, record_line  # noqa: E402

USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])
MEMBERS = configured_stream("vips", "segment_membership", mode="append_dedup")
SITE = {"site_id": "bench", "api_key": "bench-key", "region": "us"}


def lines(people: int, shape: str) -> list[str]:
    emails = [f"p{i}@example.com" for i in range(people)]
    users = [record_line("users", {"person_email": e, "plan": "pro"}) for e in emails]
    members = [record_line("vips", {"person_email": e, "segment_id": 3}) for e in emails]
    body = users + members if shape == "blocks" else [x for pair in zip(users, members) for x in pair]
    return [*body, global_state_line(1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    parser.add_argument("--create", action="store_true", help="create_missing_people: true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="emulator latency (+ the same jitter)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    with start_emulator_process([SITE], extra_args=["--request-log-size", "100000"]) as emu:
        config = base_config(emu.url, SITE["site_id"], SITE["api_key"], create_missing_people=args.create)
        (work / "config.json").write_text(json.dumps(config))
        (work / "catalog.json").write_text(json.dumps({"streams": [USERS, MEMBERS]}))
        for shape in ("blocks", "interleaved"):
            (work / "input.jsonl").write_text("\n".join(lines(args.people, shape)) + "\n")
            for _ in range(args.repeats):
                emu.client.reset()
                if args.latency_ms:
                    emu.client.set_faults(latency_ms=args.latency_ms, latency_jitter_ms=args.latency_ms)
                started = time.monotonic()
                with (work / "input.jsonl").open("rb") as stdin:
                    done = subprocess.run([sys.executable, "-m", "destination_customer_io", "write", "--config",
                                           str(work / "config.json"), "--catalog", str(work / "catalog.json")],
                                          stdin=stdin, capture_output=True, env={**os.environ, "PYTHONPATH": args.src})
                wall = time.monotonic() - started
                requests = emu.client.requests(site_id=SITE["site_id"], limit=100_000)
                calls = sum(r["path"].startswith("/api/v1/segments") for r in requests)
                members = len(emu.client.segments(site_id=SITE["site_id"]).get("3", []))
                print(json.dumps({"shape": shape, "people": args.people, "latency_ms": args.latency_ms, "exit": done.returncode,
                                  "wall_s": round(wall, 2), "requests": len(requests), "segment_calls": calls,
                                  "members": members}))


if __name__ == "__main__":
    main()
