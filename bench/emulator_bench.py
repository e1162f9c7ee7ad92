"""Emulator ingest benchmark: how many Track ops per second the emulator absorbs on one core.

The server runs in its own process (`start_emulator_process`); this process drives it with an aiohttp
client over several connections, sending pre-encoded `/api/v2/batch` bodies of person events (about
300 bytes each, every one with its own ULID, so full mode really stores and deduplicates them).

    .venv/bin/python bench/emulator_bench.py            # full state and lean, 100- and 1000-op batches
    .venv/bin/python bench/emulator_bench.py --ops 500000 --concurrency 8 --kind identify
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import aiohttp
import orjson
from ulid import ULID

from customerio_emulator import start_emulator_process
from customerio_emulator.testing import basic_auth


def make_op(i: int, kind: str) -> dict[str, Any]:
    ts = 1_700_000_000 + i
    if kind == "identify":
        return {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": f"user-{i % 50_000}"},
            "timestamp": ts,
            "attributes": {"email": f"user{i % 50_000}@example.com", "plan": "pro", "score": i % 97, "country": "FR"},
        }
    return {
        "type": "person",
        "action": "event",
        "identifiers": {"id": f"user-{i % 50_000}"},
        "name": "order_completed",
        "id": str(ULID.from_timestamp(ts)),
        "timestamp": ts,
        "attributes": {"order_id": f"ord-{i}", "amount": 42.5, "currency": "EUR", "items": 3, "coupon": None},
    }


def make_bodies(total: int, batch: int, kind: str) -> list[bytes]:
    ops = [make_op(i, kind) for i in range(total)]
    return [orjson.dumps({"batch": ops[i : i + batch]}) for i in range(0, total, batch)]


async def drive(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, int]:
    """Send every body; return (seconds, non-200 count)."""
    headers = {"Authorization": basic_auth(), "Content-Type": "application/json"}
    queue = list(reversed(bodies))
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency)

    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            while queue:
                body = queue.pop()
                async with session.post(url + "/api/v2/batch", data=body, headers=headers) as response:
                    await response.read()
                    failures += response.status != 200

        # Warm up the connections so connection set-up is not timed.
        async with session.get(url + "/_emulator/health") as response:
            await response.read()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, failures


def run_case(lean: bool, batch: int, total: int, kind: str, concurrency: int) -> dict[str, Any]:
    bodies = make_bodies(total, batch, kind)
    with start_emulator_process(lean=lean) as emu:
        seconds, failures = asyncio.run(drive(emu.url, bodies, concurrency))
        counters = emu.client.counters()
        stored = len(emu.client.events(name="order_completed")) if not lean and kind == "event" else None
    assert counters["ops"] == total, counters
    if stored is not None:
        assert stored == total, stored
    return {
        "mode": "lean" if lean else "full",
        "batch": batch,
        "ops": total,
        "seconds": seconds,
        "ops_s": total / seconds,
        "req_s": len(bodies) / seconds,
        "mb_s": sum(map(len, bodies)) / seconds / 1e6,
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=300_000, help="ops per case")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kind", choices=("event", "identify"), default="event")
    parser.add_argument("--batches", default="100,1000")
    parser.add_argument("--modes", default="full,lean")
    args = parser.parse_args()
    print(f"emulator ingest, {args.kind} ops, {args.concurrency} connections, {os.cpu_count()} CPUs")
    print(f"{'mode':<6}{'batch':>7}{'ops':>10}{'seconds':>9}{'ops/s':>11}{'req/s':>9}{'MB/s':>7}{'non-200':>9}")
    for mode in args.modes.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            r = run_case(mode == "lean", batch, args.ops, args.kind, args.concurrency)
            print(
                f"{r['mode']:<6}{r['batch']:>7}{r['ops']:>10}{r['seconds']:>9.2f}{r['ops_s']:>11,.0f}"
                f"{r['req_s']:>9,.0f}{r['mb_s']:>7.1f}{r['failures']:>9}"
            )


if __name__ == "__main__":
    main()
