"""Deterministic Airbyte input for the benchmarks: RECORD lines of one workload with a STATE every N.

Workloads (the same bytes on every machine and every run; no randomness, no clock):
    event     person_event records of ~300 bytes of data (stream ``events``)
    identify  person_identify records with 20 attributes (stream ``people``)
    mix       the two interleaved, two events for every identify

    .venv/bin/python bench/gen.py --workload event --records 100000 --state-every 10000 > events.jsonl

``ensure_input`` writes the file once under bench/data/ (gitignored) and reuses it afterwards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import msgspec

DATA_DIR = Path(__file__).resolve().parent / "data"
GENERATOR_VERSION = 1  # bump when the records change, so cached files are rebuilt
EMITTED_AT = 1_700_000_000_000  # fixed: the input must not depend on the clock
WORKLOADS = ("event", "identify", "mix")
STREAMS = {"event": ("events", "person_event", "append"), "identify": ("people", "person_identify", "append_dedup")}

_encode = msgspec.json.Encoder().encode


def event_data(i: int) -> dict[str, Any]:
    """~300 bytes of JSON: an order event with a nested item list, as a warehouse table would hold it."""
    return {
        "person_email": f"user{i}@example.com",
        "event_name": "purchase",
        "timestamp": 1_700_000_000 + i,
        "order_id": f"ord-{i:08d}",
        "amount": 19.99 + i % 100,
        "currency": "EUR",
        "items": [{"sku": f"sku-{i % 37}", "qty": 1 + i % 3}],
        "coupon": "summer-sale",
        "source": "web",
        "session_id": f"sess-{i * 7919:012d}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    }


def identify_data(i: int) -> dict[str, Any]:
    """A person with 20 attributes (plus the email identifier): a typical CRM profile row."""
    data: dict[str, Any] = {
        "person_email": f"user{i}@example.com",
        "person_id": f"u{i}",
        "first_name": f"First{i % 1000}",
        "last_name": f"Last{i % 997}",
        "plan": ("free", "pro", "team")[i % 3],
        "country": ("FR", "DE", "US", "BR")[i % 4],
        "city": ("Paris", "Berlin", "Austin", "Recife")[i % 4],
        "signup_source": "web",
        "lifetime_value": round(i * 0.37 % 5000, 2),
        "orders": i % 53,
        "newsletter": i % 2 == 0,
        "created_at": 1_600_000_000 + i,
        "language": "en",
        "timezone": "Europe/Paris",
        "company": f"Company {i % 4999}",
        "job_title": "Engineer",
        "score": i % 101,
        "tier": i % 5,
        "referrer": "partner-42",
        "last_seen_at": 1_700_000_000 + i,
        "beta": i % 7 == 0,
    }
    return data


def _record_line(kind: str, i: int) -> bytes:
    stream = STREAMS[kind][0]
    data = event_data(i) if kind == "event" else identify_data(i)
    return _encode({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": EMITTED_AT}})


def _state_line(position: int) -> bytes:
    return _encode({"type": "STATE", "state": {"type": "GLOBAL", "global": {"shared_state": {"position": position}}}})


def kinds(workload: str) -> Iterator[str]:
    """The operation of each record, forever: mix is event, event, identify, event, event, identify..."""
    while True:
        if workload == "mix":
            yield "event"
            yield "event"
            yield "identify"
        else:
            yield workload


def write_input(out: BinaryIO, workload: str, records: int, state_every: int) -> None:
    chunk: list[bytes] = []
    for i, kind in zip(range(records), kinds(workload)):
        chunk.append(_record_line(kind, i))
        if (i + 1) % state_every == 0 or i + 1 == records:
            chunk.append(_state_line(i + 1))
        if len(chunk) >= 10_000:
            out.write(b"\n".join(chunk) + b"\n")
            chunk = []
    if chunk:
        out.write(b"\n".join(chunk) + b"\n")


def changed_identify_data(i: int, every: int) -> dict[str, Any]:
    """``identify_data(i)``, with one attribute changed for one person in ``every`` (a resync's edits)."""
    data = identify_data(i)
    if i % every == 0:
        data["orders"] += 1
    return data


def write_changed_input(out: BinaryIO, records: int, state_every: int, every: int) -> None:
    """The identify workload's lines again, one person in ``every`` changed (the ledger's resync)."""
    for start in range(0, records, 10_000):
        chunk = []
        for i in range(start, min(start + 10_000, records)):
            chunk.append(_encode({"type": "RECORD", "record": {"stream": STREAMS["identify"][0],
                                  "data": changed_identify_data(i, every), "emitted_at": EMITTED_AT}}))
            if (i + 1) % state_every == 0 or i + 1 == records:
                chunk.append(_state_line(i + 1))
        out.write(b"\n".join(chunk) + b"\n")


def _cached(name: str, write: Any) -> Path:
    """The cached input file ``name``, written by ``write(out)`` on first use (atomically, via a temp name)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"v{GENERATOR_VERSION}-{name}.jsonl"
    if not path.exists():
        temp = path.with_suffix(".tmp")
        with temp.open("wb") as out:
            write(out)
        temp.replace(path)
    return path


def ensure_input(workload: str, records: int, state_every: int) -> Path:
    """The cached input file for these settings, generated on first use."""
    return _cached(f"{workload}-{records}-s{state_every}",
                   lambda out: write_input(out, workload, records, state_every))


def ensure_changed_input(records: int, state_every: int, every: int) -> Path:
    return _cached(f"identify-changed{every}-{records}-s{state_every}",
                   lambda out: write_changed_input(out, records, state_every, every))


def catalog() -> dict[str, Any]:
    """The configured catalog every workload uses: both streams, bound by destination_object_name."""
    streams = []
    for name, operation, mode in STREAMS.values():
        streams.append({
            "stream": {"name": name, "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]},
            "destination_object_name": operation,
            "sync_mode": "full_refresh",
            "destination_sync_mode": mode,
        })
    return {"streams": streams}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=WORKLOADS, default="event")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--state-every", type=int, default=10_000)
    args = parser.parse_args()
    write_input(sys.stdout.buffer, args.workload, args.records, args.state_every)


if __name__ == "__main__":
    main()
