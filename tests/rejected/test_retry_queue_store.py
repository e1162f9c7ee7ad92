"""The retry queue's parts in S3 (moto, auth enforced) and on disk: the same keys under the bucket path,
written by the sync's sink, read back and listed by the objects layer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

import msgspec

from destination_customer_io.batching import Batch
from destination_customer_io.catalog import resolve_streams
from destination_customer_io.checkpoints import Epoch
from destination_customer_io.config import S3Storage, parse_config
from destination_customer_io.retry import open_retry
from tests.support.cli import configured_stream, record_line
from tests.support.s3 import MotoS3
from tests.support.retry import FakeBatcher, FakeCheckpoints

CATALOG = {"streams": [configured_stream("users", "person_identify")]}
LINE = record_line("users", {"person_email": "p@x.io"}).encode()


async def _room() -> None:
    return None


async def _two_syncs(config: Any) -> tuple[list[str], list[str], list[bytes]]:
    """A sync that queues one refusal (listed after its state's release, then at its end), and the next
    sync's feed of it."""
    streams = resolve_streams(config, CATALOG)
    first = await open_retry(config, streams)
    await first.queue(FakeBatcher(), FakeCheckpoints(), _room)
    batch = Batch(0.0)
    batch.append(b"{}", LINE, Epoch(), streams[(None, "users")])
    await first.refused(batch, 0)
    await first.before_release()
    at_state = first.objects.list("_customerio_retry/")
    await first.save()
    at_end = first.objects.list("_customerio_retry/")
    second = await open_retry(config, streams)
    fed = FakeBatcher()
    await second.queue(fed, FakeCheckpoints(), _room)
    return at_state, at_end, fed.added


def _config(storage: dict[str, Any] | S3Storage) -> Any:
    config = parse_config({"credentials": {"siteId": "site-1", "apiKey": "k"}, "retry_refused": True,
                           "object_storage_config": {"storage_type": "Local", "destination_path": "/unused"}})
    if isinstance(storage, S3Storage):
        return msgspec.structs.replace(config, object_storage_config=storage)
    return msgspec.structs.replace(config, object_storage_config=parse_config(
        {"credentials": {"siteId": "s", "apiKey": "k"}, "object_storage_config": storage}).object_storage_config)


def test_s3_and_local_hold_the_same_parts(moto: MotoS3, bucket: str, s3_config: Callable[..., S3Storage],
                                          tmp_path: Path) -> None:
    in_s3 = asyncio.run(_two_syncs(_config(s3_config(bucket_path="team/dlq/"))))
    on_disk = asyncio.run(_two_syncs(_config({"storage_type": "Local", "destination_path": str(tmp_path)})))
    assert in_s3 == on_disk
    at_state, at_end, fed = in_s3
    assert [key.rpartition("/")[2] for key in at_state] == ["queue-00000001-000000.jsonl"]
    assert [key.rpartition("/")[2] for key in at_end] == ["last_sync.json", "queue-00000001-000000.jsonl"]
    assert fed == [LINE]
    assert all(key.startswith("team/dlq/_customerio_retry/site-") for key in moto.objects(bucket, "team/dlq/"))
