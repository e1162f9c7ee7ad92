"""What the deterministic event id costs: its parts one by one, and the write pipeline with and without it.

The id (values.seeded_record_ulid) is the canonical (sorted-keys) encoding of the record's data, blake2b
over it with the stream's part pre-hashed, and the ULID text. Part 1 times each step on one ~300-byte
event record (``timeit``, best of 5). Part 2 runs the real ``Pipeline`` with a null Track client (as
bench/pipeline_bench.py does) on the event input, alternately as shipped and with the id replaced by a
constant: the difference is what the id costs per record inside a sync (memory effects included). The
constant-id variant is an experiment only: without ids, a retried batch could create duplicate events.

    .venv/bin/python bench/id_cost.py [--records 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import timeit
from pathlib import Path
from typing import Any, Callable
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402
import pipeline_bench  # noqa: E402
from destination_customer_io import values  # noqa: E402

_CONSTANT_ID = "01HF7YB0TRVPW1VQYXEQ0E31AJ"


def _ns(step: Callable[[], Any], number: int = 200_000) -> float:
    return min(timeit.repeat(step, number=number, repeat=5)) / number * 1e9


def parts() -> list[tuple[str, float]]:
    data = gen.event_data(12_345)
    ms = data["timestamp"] * 1000
    seed = values.id_seed("events", None)
    canonical = values._CANONICAL.encode(data)
    hasher = seed.copy()
    hasher.update(canonical)
    digest = hasher.digest()
    fed = seed.copy()
    return [
        ("whole id (seeded_record_ulid)", _ns(lambda: values.seeded_record_ulid(ms, seed, data))),
        ("canonical encoding of the data", _ns(lambda: values._CANONICAL.encode(data))),
        ("copy of the stream's seeded hasher", _ns(seed.copy)),
        (f"blake2b update ({len(canonical)} bytes)", _ns(lambda: fed.update(canonical))),
        ("blake2b digest", _ns(hasher.digest)),
        ("ULID text (hash_ulid)", _ns(lambda: values.hash_ulid(ms, digest))),
    ]


def pipeline_us(data: bytes, records: int, *, with_ids: bool) -> float:
    if with_ids:
        seconds = asyncio.run(pipeline_bench.run_pipeline(data))
    else:
        with mock.patch.object(values, "seeded_record_ulid", lambda *args: _CONSTANT_ID):
            seconds = asyncio.run(pipeline_bench.run_pipeline(data))
    return seconds / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("one ~300-byte event record, ns per call (best of 5):")
    for name, ns in parts():
        print(f"  {name:<36}{ns:>8,.0f}")
    data = gen.ensure_input("event", args.records, 10_000).read_bytes()
    with_ids, without = [], []
    for _ in range(args.repeat):  # alternated, so load on the machine hits both alike
        with_ids.append(pipeline_us(data, args.records, with_ids=True))
        without.append(pipeline_us(data, args.records, with_ids=False))
    best_with, best_without = min(with_ids), min(without)
    print(f"pipeline CPU µs per event record (best of {args.repeat}): with ids {best_with:.2f}, "
          f"constant id {best_without:.2f}; the id costs {best_with - best_without:.2f} "
          f"({(best_with - best_without) / best_with:.0%})")


if __name__ == "__main__":
    main()
