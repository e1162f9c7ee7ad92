"""Benchmark of the mapping step: ``Operation.build()`` records/s on one core.

Cases: person_event with ~300-byte records, person_identify with ~20 attributes, each small and with a
~900-byte text column; each measured with the validation shortcuts (short strings and short bodies skip
byte counting) and with them disabled (every identifier, name and value byte-counted). Figures are
records/s of CPU time (best of R runs); a bare decode+dict+encode loop is the baseline.
Run: ``.venv/bin/python bench/map_bench.py [--records N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402

from destination_customer_io.catalog import Stream  # noqa: E402
from destination_customer_io.config import parse_config  # noqa: E402
from destination_customer_io.operations import OPERATIONS, activity, common, person_identify  # noqa: E402

_CONFIG = parse_config({"credentials": {"siteId": "site", "apiKey": "key"}})


def event_records(n: int, *, long_text: bool = False) -> list[dict[str, Any]]:
    """bench/gen.py's event record (the shape every benchmark uses), its ``coupon`` ~900 bytes if asked."""
    if not long_text:
        return [gen.event_data(i) for i in range(n)]
    return [{**gen.event_data(i), "coupon": "x" * 900} for i in range(n)]


def identify_records(n: int, *, long_text: bool = False) -> list[dict[str, Any]]:
    pad = "y" * 900 if long_text else "short bio"
    out = []
    for i in range(n):
        record: dict[str, Any] = {"person_email": f"user{i}@example.com", "person_id": f"u{i}", "bio": pad}
        record.update({f"attr_{k:02d}": (k * i if k % 2 else f"value-{k}") for k in range(18)})
        out.append(record)
    return out


def measure_bare(records: list[dict[str, Any]], repeat: int) -> float:
    """The floor the issue quotes: decode a line, build a trivial op dict, encode it."""
    lines = [msgspec.json.encode(record) for record in records]
    decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for line in lines:
            data = decode(line)
            encode({"type": "person", "action": "event", "identifiers": {"email": data["person_email"]},
                    "name": data["event_name"], "attributes": data})
        best = min(best, time.process_time() - start)
    return len(lines) / best


@contextlib.contextmanager
def shortcuts_disabled() -> Iterator[None]:
    """Force every record through the full checks: byte-count every identifier, name and value."""
    patches = [(common, "_SHORT_IDENTIFIER", -1), (activity, "_SHORT_NAME", -1),
               (activity, "_SECONDS_BOUND", 0), (person_identify, "_SHORT_NAME", -1),
               (person_identify, "_VALUES_SHORTCUT_BYTES", -1)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, value in patches:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def measure(operation_name: str, mode: str, records: list[dict[str, Any]], repeat: int) -> float:
    operation = OPERATIONS[operation_name]
    stream = Stream(name="bench", namespace="ns", operation=operation, destination_sync_mode=mode,
                    config=_CONFIG)
    build = operation.build
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()  # CPU time: other processes on the machine disturb it less
        for record in records:
            build(record, stream)
        best = min(best, time.process_time() - start)
    return len(records) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, r = args.records, args.repeat
    cases = [
        ("person_event", "append", event_records(n), "~300 B"),
        ("person_event", "append", event_records(n, long_text=True), "~1.2 KB"),
        ("person_identify", "append_dedup", identify_records(n), "20 attributes, ~400 B"),
        ("person_identify", "append_dedup", identify_records(n, long_text=True), "20 attributes, ~1.3 KB"),
    ]
    print(f"{'operation':<16} {'records':<24} {'shortcuts':>12} {'no shortcuts':>13}")
    print(f"{'(baseline)':<16} {'decode+dict+encode':<24} {measure_bare(event_records(n), r):>12,.0f}")
    for name, mode, records, label in cases:
        fast = measure(name, mode, records, r)
        with shortcuts_disabled():
            slow = measure(name, mode, records, r)
        print(f"{name:<16} {label:<24} {fast:>12,.0f} {slow:>13,.0f}")


if __name__ == "__main__":
    main()
