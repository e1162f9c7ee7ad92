"""Benchmark of the rejected-records store: records/s into S3 (moto's server on loopback) and Local.

    .venv/bin/python bench/rejected_bench.py [--records 100000] [--flush-every 0]

For each format x compression it adds N rejected records of about 300 bytes of data to a fresh store
and closes it (every record durable), timing from the first add to the end of close. moto runs in
this process and shares its CPU, so S3 figures are a lower bound for a real bucket's throughput
(network latency aside). ``--flush-every K`` also flushes every K records, as the pipeline does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # never probe the instance metadata address
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from destination_customer_io.config import (CsvFormat, GzipCompression, JsonlFormat,  # noqa: E402
                                            LocalStorage, NoCompression, S3Storage)
from destination_customer_io.rejected import RejectedRecord, open_store  # noqa: E402
from tests.support.s3 import MotoS3  # noqa: E402

CASES = [
    ("JSONL", JsonlFormat(), NoCompression()),
    ("JSONL", JsonlFormat(), GzipCompression()),
    ("CSV", CsvFormat(), NoCompression()),
    ("CSV", CsvFormat(), GzipCompression()),
    ("CSV root", CsvFormat(flattening="Root level flattening"), NoCompression()),
]


def make_records(count: int) -> list[RejectedRecord]:
    return [RejectedRecord(
        stream="users", namespace="bench",
        data={"person_email": f"not-an-email-{i}", "first_name": "Benchmark", "last_name": f"User {i}",
              "plan": "enterprise", "country": "FR", "created_at": 1_700_000_000 + i,
              "tags": ["alpha", "beta"], "address": {"street": "1 rue de la Paix", "city": "Paris"},
              "notes": "x" * 90},
        emitted_at=1_700_000_000_000 + i, reason="invalid_email", field="person_email",
        message="person_email is not a valid email address", sync_id=7, generation_id=1)
        for i in range(count)]


async def run(cfg: S3Storage | LocalStorage, records: list[RejectedRecord], flush_every: int) -> float:
    store = open_store(cfg, sync_id=7)
    started = time.perf_counter()
    for n, rec in enumerate(records, 1):
        await store.add(rec)
        if flush_every and n % flush_every == 0:
            await store.flush()
    await store.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--flush-every", type=int, default=0)
    args = parser.parse_args()
    records = make_records(args.records)
    moto = MotoS3(enforce_auth=False).start()
    try:
        print(f"{args.records} records, flush every {args.flush_every or 'never (close only)'}")
        print(f"{'target':6} {'format':9} {'compression':11} {'seconds':>8} {'records/s':>10} {'bytes':>12}")
        with tempfile.TemporaryDirectory() as scratch:
            for index, (name, fmt, compression) in enumerate(CASES):
                bucket = moto.create_bucket(f"bench-{index}")
                targets = {
                    "S3": S3Storage(s3_bucket_name=bucket, bucket_path="dlq", s3_endpoint=moto.endpoint,
                                    access_key_id="bench", secret_access_key="bench",
                                    format=fmt, compression=compression),
                    "Local": LocalStorage(destination_path=f"{scratch}/{index}", format=fmt,
                                          compression=compression),
                }
                for target, cfg in targets.items():
                    seconds = asyncio.run(run(cfg, records, args.flush_every))
                    size = (sum(len(b) for b in moto.objects(bucket).values()) if target == "S3" else
                            sum(p.stat().st_size for p in Path(scratch, str(index)).rglob("*")
                                if p.is_file()))
                    label = type(compression).__name__.replace("Compression", "") or "None"
                    print(f"{target:6} {name:9} {label:11} {seconds:8.2f} "
                          f"{args.records / seconds:10,.0f} {size:12,}")
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
