"""Runs a two-stream sync (people and events, STREAM states interleaved, some rejections) through the
real CLI against the emulator, and checks every echoed state as the Airbyte platform does
(StateCheckSumCountEventHandler): recordCount + rejectedRecordCount == sourceStats.recordCount.

    .venv/bin/python scripts/state_checksum.py [--records 2000] [--state-every 150] [--seed 5]

Prints each state and the verdict; exits 1 when any state fails the check.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from customerio_emulator.process import start_emulator_process

CONNECTOR = str(Path(sys.executable).with_name("destination-customer-io"))


def build_input(records: int, state_every: int, seed: int) -> list[dict[str, Any]]:
    """Records of two streams in random order (1 in 37 people and 1 in 41 events invalid), a STREAM
    state every ``state_every`` records naming the streams in turn, then one final state per stream;
    each state's sourceStats counts its stream's records since that stream's previous state."""
    rng = random.Random(seed)
    lines: list[dict[str, Any]] = []
    since = {"users": 0, "events": 0}
    for i in range(1, records + 1):
        if rng.random() < 0.4:
            stream = "users"
            data: dict[str, Any] = {"person_email": f"u{i % 300}@example.com", "plan": rng.choice(["a", "b"])} \
                if i % 37 else {"plan": "x"}
        else:
            stream = "events"
            data = {"person_email": f"u{i % 300}@example.com", "event_name": "buy", "timestamp": 1_700_000_000 + i} \
                if i % 41 else {"person_email": "u1@example.com"}
        lines.append({"type": "RECORD", "record": {"stream": stream, "namespace": "shop", "data": data,
                                                   "emitted_at": 1}})
        since[stream] += 1
        if i % state_every == 0:
            lines.append(_state("users" if (i // state_every) % 2 else "events", i, since))
    lines += [_state("users", "end", since), _state("events", "end", since)]
    return lines


def _state(stream: str, position: Any, since: dict[str, int]) -> dict[str, Any]:
    count, since[stream] = since[stream], 0
    return {"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": stream, "namespace": "shop"}, "stream_state": {"position": position}},
        "sourceStats": {"recordCount": float(count)}}}


def catalog() -> dict[str, Any]:
    def entry(name: str, operation: str, mode: str, key: list | None) -> dict[str, Any]:
        return {"stream": {"name": name, "namespace": "shop", "json_schema": {"type": "object"}},
                "sync_mode": "incremental", "destination_sync_mode": mode, "destination_object_name": operation,
                "primary_key": key, "generation_id": 1, "sync_id": 9}

    return {"streams": [entry("users", "person_identify", "append_dedup", [["person_email"]]),
                        entry("events", "person_event", "append", None)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--state-every", type=int, default=150)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    failing = 0
    with start_emulator_process(None) as emu, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "config.json").write_text(json.dumps(
            {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"}, "track_api_base_url": emu.url}))
        (work / "catalog.json").write_text(json.dumps(catalog()))
        (work / "input.jsonl").write_text("".join(json.dumps(line) + "\n" for line in
                                                  build_input(args.records, args.state_every, args.seed)))
        with open(work / "input.jsonl", "rb") as stdin:
            done = subprocess.run([CONNECTOR, "write", "--config", str(work / "config.json"),
                                   "--catalog", str(work / "catalog.json")], stdin=stdin, capture_output=True)
    states = [m["state"] for m in map(json.loads, done.stdout.splitlines()) if m["type"] == "STATE"]
    for state in states:
        stats, source = state["destinationStats"], state["sourceStats"]["recordCount"]
        ok = stats["recordCount"] + stats.get("rejectedRecordCount", 0.0) == source
        failing += not ok
        print(f"{state['stream']['stream_descriptor']['name']:>6} {json.dumps(state['stream']['stream_state']):>18}"
              f"  sourceStats {source:>6}  destinationStats {json.dumps(stats):<48} {'ok' if ok else 'MISMATCH'}")
    print(f"{len(states) - failing} of {len(states)} states pass the platform's checksum; write exited "
          f"{done.returncode}")
    return 1 if failing or done.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
