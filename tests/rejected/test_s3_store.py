"""The S3 store against moto's server: rows read back exactly, keys, rollover, flush durability."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable

import pytest

from destination_customer_io.config import (CsvFormat, GzipCompression, JsonlFormat, NoCompression,
                                            S3Storage)
from destination_customer_io.rejected import open_store
from destination_customer_io.storage.options import StoreOptions
from tests.support.s3 import MotoS3

from .helpers import SYNC_ID, check_rows, csv_header, message_of, read_rows, record

FIXED_NOW = 1_709_618_828.009  # 2024-03-05T06:07:08.009Z


def _clock() -> float:
    return FIXED_NOW


FORMATS = [CsvFormat, JsonlFormat]
FLATTENING = ["No flattening", "Root level flattening"]
COMPRESSIONS = [NoCompression(), GzipCompression()]


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["plain", "gzip"])
@pytest.mark.parametrize("flattening", FLATTENING, ids=["nested", "root"])
@pytest.mark.parametrize("file_format", FORMATS, ids=["csv", "jsonl"])
async def test_rows_read_back_exactly(moto: MotoS3, bucket: str, s3_config: Callable[..., S3Storage],
                                      file_format: type, flattening: str, compression: object) -> None:
    cfg = s3_config(format=file_format(flattening=flattening), compression=compression)
    store = open_store(cfg, sync_id=SYNC_ID, now=_clock)
    records = [record(i) for i in range(30)] + [record(i, stream="events", namespace=None)
                                                for i in range(30, 40)]
    for rec in records:
        await store.add(rec)
    await store.close()

    objects = moto.objects(bucket)
    ext = (".csv" if file_format is CsvFormat else ".jsonl") + (
        ".gz" if isinstance(compression, GzipCompression) else "")
    assert sorted(objects) == [
        f"dlq/42/analytics/users/2024_03_05_1709618828009_0{ext}",
        f"dlq/42/events/2024_03_05_1709618828009_0{ext}",  # no namespace: no empty segment
    ]
    flatten = flattening == "Root level flattening"
    by_message = {rec.message: rec for rec in records}
    seen: list[str] = []
    for key, body in objects.items():
        rows = read_rows(key, body)
        check_rows(key, rows, by_message, flatten)
        seen += [message_of(row) for row in rows]
        if file_format is CsvFormat:
            header = csv_header(key, body)
            assert header[:4] == ["_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta",
                                  "_airbyte_generation_id"]
            if not flatten:
                assert header[4:] == ["_airbyte_data"]
            else:  # the union of the fields of this file, rejected_* included
                assert {"only_sometimes", "rejected_reason", "rejected_field",
                        "rejected_message", "address"} <= set(header)
        # rows keep the order they were added in
        assert [message_of(r) for r in rows] == [r.message for r in records
                                                  if r.message in set(map(message_of, rows))]
    assert Counter(seen) == Counter(rec.message for rec in records)  # each exactly once
    assert store.count == len(records)


async def test_rollover_at_size_bound(moto: MotoS3, bucket: str,
                                      s3_config: Callable[..., S3Storage]) -> None:
    cfg = s3_config(format=JsonlFormat())
    bound = 4_000
    store = open_store(cfg, sync_id=SYNC_ID, now=_clock, options=StoreOptions(part_max_bytes=bound))
    records = [record(i) for i in range(60)]
    for rec in records:
        await store.add(rec)
    # full parts are uploaded without waiting for a flush
    await _until(lambda: len(moto.objects(bucket)) >= 2)
    await store.flush()

    objects = moto.objects(bucket)
    numbers = sorted(int(re.search(r"_(\d+)\.jsonl$", key).group(1)) for key in objects)
    assert numbers == list(range(len(objects))) and len(objects) > 5
    row_size = max(len(line) + 1 for body in objects.values() for line in body.splitlines())
    for body in objects.values():
        assert len(body) < bound + row_size  # sealed as soon as the bound is reached
    messages = [message_of(row) for key, body in objects.items() for row in read_rows(key, body)]
    assert Counter(messages) == Counter(rec.message for rec in records)


async def test_flush_makes_durable_and_writes_nothing_twice(
        moto: MotoS3, bucket: str, s3_config: Callable[..., S3Storage]) -> None:
    store = open_store(s3_config(), sync_id=SYNC_ID)
    await store.flush()  # nothing added: no object
    assert moto.objects(bucket) == {}

    await store.add(record(1))
    await store.add(record(2, stream="events"))
    assert moto.objects(bucket) == {}  # buffered until flush (parts are far from full)
    await store.flush()
    first = moto.objects(bucket)
    assert len(first) == 2

    await store.flush()  # nothing new: no new object
    await store.flush()
    assert moto.objects(bucket) == first

    await store.add(record(3))
    await store.flush()
    second = moto.objects(bucket)
    assert len(second) == 3 and {k: second[k] for k in first} == first
    messages = [message_of(row) for key, body in second.items() for row in read_rows(key, body)]
    assert sorted(messages) == sorted(record(i).message for i in (1, 2, 3))
    users = sorted(k for k in second if "/users/" in k)
    assert [k.rsplit("_", 1)[1] for k in users] == ["0.csv", "1.csv"]  # part_number per stream
    await store.close()
    assert moto.objects(bucket) == second


async def test_buffer_bound_across_streams_seals_largest_part(
        moto: MotoS3, bucket: str, s3_config: Callable[..., S3Storage]) -> None:
    options = StoreOptions(part_max_bytes=1_000_000, buffer_max_bytes=6_000)
    store = open_store(s3_config(format=JsonlFormat()), sync_id=SYNC_ID, options=options)
    for i in range(40):
        await store.add(record(i, stream=f"s{i % 8}"))
    await _until(lambda: len(moto.objects(bucket)) >= 1)
    await store.close()
    objects = moto.objects(bucket)
    messages = [message_of(row) for key, body in objects.items() for row in read_rows(key, body)]
    assert Counter(messages) == Counter(record(i).message for i in range(40))


async def test_assume_role(moto: MotoS3, bucket: str, s3_config: Callable[..., S3Storage]) -> None:
    # this user may only assume roles: a successful write proves the role's credentials were used
    keys = moto.create_user("assumer", ["sts:AssumeRole"])
    role = moto.create_role("rejected-writer", ["s3:*"])
    cfg = s3_config(access_key_id=keys.access_key_id, secret_access_key=keys.secret_access_key,
                    role_arn=role)
    store = open_store(cfg, sync_id=SYNC_ID)
    await store.add(record(1))
    await store.close()
    assert len(moto.objects(bucket, "dlq/42/analytics/users/")) == 1


async def test_default_credential_chain(moto: MotoS3, bucket: str, monkeypatch: pytest.MonkeyPatch,
                                        s3_config: Callable[..., S3Storage]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.admin.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.admin.secret_access_key)
    store = open_store(s3_config(access_key_id=None, secret_access_key=None), sync_id=SYNC_ID)
    await store.add(record(1))
    await store.close()
    assert len(moto.objects(bucket)) == 1


async def test_default_chain_and_role(moto: MotoS3, bucket: str, monkeypatch: pytest.MonkeyPatch,
                                      s3_config: Callable[..., S3Storage]) -> None:
    keys = moto.create_user("chain-assumer", ["sts:AssumeRole"])
    role = moto.create_role("chain-writer", ["s3:*"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys.secret_access_key)
    store = open_store(s3_config(access_key_id=None, secret_access_key=None, role_arn=role))
    await store.add(record(1))
    await store.close()
    assert len(moto.objects(bucket)) == 1


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")
