"""What the deterministic event id costs: its parts one by one, other hashes beside it, and the write
pipeline with and without it.

The id (values.RecordIds.ulid, the same text as values.seeded_record_ulid; event id scheme v1 in docs/mapping.md) is the canonical (sorted-keys)
encoding of the record's data, blake2b-128 over the stream's part, it and "]" (values.blake2b_ulid), and
the ULID text. Part 1 times each step on one ~300-byte event record (``timeit``, the steps taking
turns, best of 9 rounds), and the same id with the hash swapped for a candidate from a library with
wheels (xxhash's xxh3_128, blake3, mmh3's x64_128; each only when installed: ``pip install xxhash
blake3 mmh3``, not a dependency of the connector). Part 2 runs the real
``Pipeline`` with a null Track client (as bench/pipeline_bench.py does) on the event input, alternately
with each id and with the id replaced by a constant: the differences are what the id costs per record
inside a sync (memory effects included). The candidates and the constant id are experiments only: a
candidate hash changes every id (v1 is blake2b), and without ids a retried batch could duplicate events.

    .venv/bin/python bench/id_cost.py [--records 200000] [--repeat 3] [--parts-only]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import sys
import timeit
from hashlib import blake2b
from pathlib import Path
from typing import Any, Callable
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402
import pipeline_bench  # noqa: E402
from destination_customer_io import values  # noqa: E402

_CONSTANT_ID = "01HF7YB0TRVPW1VQYXEQ0E31AJ"
_hash_ulid = values.hash_ulid


def _xxh3_ulid(ms: int, head: bytes, body: bytes, tail: bytes) -> str:
    import xxhash

    return _hash_ulid(ms, xxhash.xxh3_128_digest(head + body + tail))


def _blake3_ulid(ms: int, head: bytes, body: bytes, tail: bytes) -> str:
    import blake3

    return _hash_ulid(ms, blake3.blake3(head + body + tail).digest(16))


def _mmh3_ulid(ms: int, head: bytes, body: bytes, tail: bytes) -> str:
    import mmh3

    return _hash_ulid(ms, mmh3.mmh3_x64_128_digest(head + body + tail))


# The shipped id first; each candidate takes the same (ms, head, body, tail) as values.blake2b_ulid.
_ALL_HASHES: dict[str, tuple[str | None, Callable[..., str]]] = {
    "blake2b id (v1)": (None, values.blake2b_ulid),
    "xxh3_128 id": ("xxhash", _xxh3_ulid),
    "blake3 id": ("blake3", _blake3_ulid),
    "mmh3 x64_128 id": ("mmh3", _mmh3_ulid),
}
HASHES: dict[str, Callable[..., str]] = {
    name: hash_ for name, (module, hash_) in _ALL_HASHES.items()
    if module is None or importlib.util.find_spec(module) is not None
}


def _alternated(steps: list[tuple[str, Callable[[], Any]]], number: int = 50_000, rounds: int = 9
                ) -> list[tuple[str, float]]:
    """ns per call of each step: the best of ``rounds`` timings, the steps taking turns in each round so
    that a shared machine's drifting speed hits every step alike."""
    best = [float("inf")] * len(steps)
    for _ in range(rounds):
        for i, (_, step) in enumerate(steps):
            best[i] = min(best[i], timeit.timeit(step, number=number) / number * 1e9)
    return [(name, ns) for (name, _), ns in zip(steps, best)]


def parts() -> list[tuple[str, float]]:
    data = gen.event_data(12_345)
    ms = data["timestamp"] * 1000
    seed = values.id_seed("events", None)
    encode = values._CANONICAL.encode
    canonical = encode(data)
    empty = values._BLAKE2B_16
    hasher = empty.copy()
    hasher.update(seed + canonical + b"]")
    digest = hasher.digest()
    fed = empty.copy()
    random_part = digest[:10]
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("whole id as shipped (seeded_record_ulid)", lambda: values.seeded_record_ulid(ms, seed, data))]
    for name, hash_ in HASHES.items():
        steps.append((f"whole {name}", lambda hash_=hash_: hash_(ms, seed, encode(data), b"]")))
        steps.append(("  its hash + ULID text", lambda hash_=hash_: hash_(ms, seed, canonical, b"]")))
    return _alternated(steps + [
        ("  canonical encoding of the data", lambda: encode(data)),
        ("  copy of an empty 16-byte hasher", empty.copy),
        ("  blake2b(digest_size=16) instead", lambda: blake2b(digest_size=16)),
        (f"  blake2b update ({len(canonical)} bytes)", lambda: fed.update(canonical)),
        ("  blake2b digest", hasher.digest),
        ("  ULID text (hash_ulid)", lambda: values.hash_ulid(ms, digest)),
        ("  ulid() of 10 bytes: 8 pair lookups", lambda: values.ulid(0, random_part)),
        ("  base64.b32encode of the 10 bytes", lambda: base64.b32encode(random_part)),
    ])


def record_id(variant: str) -> Callable[..., str]:
    """What an event's derived id becomes in ``variant`` (values.RecordIds.ulid, the event path's id):
    a constant, the shipped id, or a candidate hash over the same parts."""
    if variant == "constant id":
        return lambda ids, ms, data: _CONSTANT_ID
    if variant == "blake2b id (v1)":
        return values.RecordIds.ulid
    hash_ = HASHES[variant]
    encode = values._CANONICAL.encode
    return lambda ids, ms, data: hash_(ms, ids.seed, encode(data), b"]")


def pipeline_us(data: bytes, records: int, variant: str) -> float:
    patch = mock.patch.object(values.RecordIds, "ulid", record_id(variant))
    with patch:
        seconds = asyncio.run(pipeline_bench.run_pipeline(data))
    return seconds / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parts-only", action="store_true", help="only part 1 (one record, each step)")
    args = parser.parse_args()
    print("one ~300-byte event record, ns per call (best of 9 alternated rounds):")
    for name, ns in parts():
        print(f"  {name:<42}{ns:>8,.0f}")
    if args.parts_only:
        return
    data = gen.ensure_input("event", args.records, 10_000).read_bytes()
    variants = [*HASHES, "constant id"]
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeat):  # alternated, so load on the machine hits each alike
        for variant in variants:
            times[variant].append(pipeline_us(data, args.records, variant))
    best = {v: min(t) for v, t in times.items()}
    print(f"pipeline CPU µs per event record (best of {args.repeat}; median in brackets):")
    for variant, us in best.items():
        median = sorted(times[variant])[len(times[variant]) // 2]
        cost = us - best["constant id"]
        print(f"  {variant:<18}{us:>6.2f} ({median:.2f})" + ("" if variant == "constant id" else
                                                            f"   the id costs {cost:.2f} ({cost / us:.0%})"))


if __name__ == "__main__":
    main()
