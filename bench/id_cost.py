"""What the deterministic event id costs: its parts one by one, and the write pipeline with and without it.

The id (values.seeded_record_ulid) is the canonical (sorted-keys) encoding of the record's data, blake2b
over the stream's part, it and "]", and the ULID text. The hash and the text are one call of the C
accelerator (_ids.c) when it is built, else five Python calls (values.python_hash_ulid). Part 1
times each step on one ~300-byte event record (``timeit``, best of 5). Part 2 runs the real ``Pipeline``
with a null Track client (as bench/pipeline_bench.py does) on the event input, alternately with the C
id, the pure-Python id and the id replaced by a constant: the differences are what the id costs per
record inside a sync (memory effects included). The constant-id variant is an experiment only: without
ids, a retried batch could create duplicate events.

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
    empty = values._BLAKE2B_16
    hasher = empty.copy()
    hasher.update(seed + canonical + b"]")
    digest = hasher.digest()
    fed = empty.copy()
    steps = []
    if values.ACCELERATED:
        with mock.patch.object(values, "_hash_ulid_of", HASHES["C id"]):
            steps.append(("whole id, C accelerator", _ns(lambda: values.seeded_record_ulid(ms, seed, data))))
        steps.append(("  its C call: blake2b + ULID text",
                      _ns(lambda: HASHES["C id"](ms, seed, canonical, b"]"))))
    with mock.patch.object(values, "_hash_ulid_of", HASHES["Python id"]):
        steps.append(("whole id, pure Python", _ns(lambda: values.seeded_record_ulid(ms, seed, data))))
    return steps + [
        ("  canonical encoding of the data", _ns(lambda: values._CANONICAL.encode(data))),
        ("  copy of an empty 16-byte hasher", _ns(empty.copy)),
        (f"  blake2b update ({len(canonical)} bytes)", _ns(lambda: fed.update(canonical))),
        ("  blake2b digest", _ns(hasher.digest)),
        ("  ULID text (hash_ulid)", _ns(lambda: values.hash_ulid(ms, digest))),
    ]


# The id's hash, as values._hash_ulid_of would pick it (the C one only when it was built).
HASHES: dict[str, Callable[..., str]] = {"C id": values._ACCELERATED_HASH_ULID, "Python id": values.python_hash_ulid}
VARIANTS = ("C id", "Python id", "constant id")


def pipeline_us(data: bytes, records: int, variant: str) -> float:
    if variant == "constant id":
        patch = mock.patch.object(values, "seeded_record_ulid", lambda *args: _CONSTANT_ID)
    else:
        patch = mock.patch.object(values, "_hash_ulid_of", HASHES[variant])
    with patch:
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
    variants = [v for v in VARIANTS if values.ACCELERATED or v != "C id"]
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeat):  # alternated, so load on the machine hits each alike
        for variant in variants:
            times[variant].append(pipeline_us(data, args.records, variant))
    best = {v: min(t) for v, t in times.items()}
    print(f"pipeline CPU µs per event record (best of {args.repeat}):")
    for variant, us in best.items():
        cost = us - best["constant id"]
        print(f"  {variant:<12}{us:>6.2f}" + ("" if variant == "constant id" else
                                              f"   the id costs {cost:.2f} ({cost / us:.0%})"))


if __name__ == "__main__":
    main()
