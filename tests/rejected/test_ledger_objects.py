"""The ledger's objects in S3 (moto, auth enforced) and on disk: the same keys, the keeper's cycle, errors."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Callable

import pytest

from destination_customer_io.config import S3Storage
from destination_customer_io.errors import SystemFailure
from destination_customer_io.ledger.book import Mark
from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.ledger.table import MEMBER, digest
from destination_customer_io.storage.objects import LocalObjects, S3Objects
from tests.support.s3 import MotoS3


def _cycle(objects) -> list[str]:
    keeper = Keeper(objects, "_customerio_ledger/site-x/default/", print)
    book = asyncio.run(keeper.open_book("vips", "vips/", 3, mirror=True, skip=False, resend_after_days=30))
    for key in (b"a", b"b"):
        book.delivered(Mark(book, digest(key), 1, key, MEMBER))
    asyncio.run(keeper.persist())
    asyncio.run(keeper.compact())
    again = Keeper(objects, "_customerio_ledger/site-x/default/", print)
    loaded = asyncio.run(again.open_book("vips", "vips/", None, mirror=True, skip=False, resend_after_days=30))
    assert sorted(row[5] for row in loaded.table.rows()) == [b"a", b"b"]
    assert loaded.generation == 4  # no generation_id: one more than the snapshot's
    keeper.close()
    again.close()
    return [re.sub("-[0-9a-f]{32}[.]", "-<blake2b>.", key) for key in objects.list("_customerio_ledger/")]


def test_s3_and_local_hold_the_same_keys(moto: MotoS3, bucket: str, s3_config: Callable[..., S3Storage],
                                         tmp_path: Path) -> None:
    in_s3 = _cycle(S3Objects(s3_config(bucket_path="team/dlq/")))
    on_disk = _cycle(LocalObjects(str(tmp_path)))
    assert in_s3 == on_disk == ["_customerio_ledger/site-x/default/vips/snapshot-00000001-<blake2b>.sqlite"]
    assert [re.sub("-[0-9a-f]{32}[.]", "-<blake2b>.", key) for key in moto.objects(bucket, "team/dlq/_customerio_ledger/")
            ] == ["team/dlq/_customerio_ledger/site-x/default/vips/snapshot-00000001-<blake2b>.sqlite"]
    assert S3Objects(s3_config()).get("missing") is None


def test_a_user_without_read_rights_gets_a_sync_error_naming_the_step(
        moto: MotoS3, s3_config: Callable[..., S3Storage]) -> None:
    keys = moto.create_user("writer-only", ["s3:PutObject"])
    objects = S3Objects(s3_config(access_key_id=keys.access_key_id, secret_access_key=keys.secret_access_key))
    keeper = Keeper(objects, "", print)
    with pytest.raises(SystemFailure) as failure:
        asyncio.run(keeper.open_book("vips", "vips/", 1, mirror=True, skip=False, resend_after_days=30))
    assert "ListObjectsV2 failed: AccessDenied" in failure.value.message
    assert keys.secret_access_key not in failure.value.message


def _round_trip_file(objects, tmp_path: Path) -> bytes:
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 40_000)  # 10 MB: past boto3's 8 MB multipart threshold
    objects.put_file("big/snapshot.sqlite", source)
    target = tmp_path / "target.bin"
    assert objects.get_file("big/snapshot.sqlite", target) is True
    assert objects.get_file("big/missing.sqlite", tmp_path / "missing.bin") is False
    return target.read_bytes()


def test_files_stream_to_and_from_s3_and_local(moto: MotoS3, bucket: str, s3_config: Callable[..., S3Storage],
                                               tmp_path: Path) -> None:
    expected = bytes(range(256)) * 40_000
    assert _round_trip_file(S3Objects(s3_config(bucket_path="team/")), tmp_path) == expected
    assert list(moto.objects(bucket, "team/big/")) == ["team/big/snapshot.sqlite"]
    (tmp_path / "store").mkdir()
    assert _round_trip_file(LocalObjects(str(tmp_path / "store")), tmp_path) == expected
    assert not [p for p in (tmp_path / "store/big").iterdir() if p.name.startswith(".")]  # no temp file left
