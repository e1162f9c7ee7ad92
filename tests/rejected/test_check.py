"""check_store: the connector's `check` answer for the rejected-records store."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from destination_customer_io.config import LocalStorage, NoStorage, S3Storage
from destination_customer_io.rejected import check_store
from tests.support.s3 import MotoS3

from .helpers import closed_port


async def test_none_needs_no_check() -> None:
    assert await check_store(NoStorage()) is None


async def test_s3_ok_and_leaves_nothing(moto: MotoS3, bucket: str,
                                        s3_config: Callable[..., S3Storage]) -> None:
    assert await check_store(s3_config(bucket_path="some/prefix")) is None
    assert moto.objects(bucket) == {}


async def test_s3_ok_with_role(moto: MotoS3, s3_config: Callable[..., S3Storage]) -> None:
    keys = moto.create_user("check-assumer", ["sts:AssumeRole"])
    role = moto.create_role("check-writer", ["s3:*"])
    cfg = s3_config(access_key_id=keys.access_key_id, secret_access_key=keys.secret_access_key,
                    role_arn=role)
    assert await check_store(cfg) is None


def _user_config(moto: MotoS3, s3_config: Callable[..., S3Storage], name: str,
                 actions: list[str], *, bucket: str | None = None) -> S3Storage:
    keys = moto.create_user(name, actions, bucket=bucket)
    return s3_config(access_key_id=keys.access_key_id, secret_access_key=keys.secret_access_key)


# The check's three steps need, on AWS, s3:PutObject, s3:ListBucket (ListObjectsV2's IAM action, on the
# bucket's ARN) and s3:DeleteObject; each user is granted two of them, scoped as AWS's docs write it.
@pytest.mark.parametrize(("actions", "step"), [
    (["s3:ListBucket", "s3:DeleteObject"], "PutObject"),
    (["s3:PutObject", "s3:DeleteObject"], "ListObjectsV2"),
    (["s3:PutObject", "s3:ListBucket"], "DeleteObject"),
], ids=["no-put", "no-list", "no-delete"])
async def test_s3_each_missing_permission_names_its_step(
        moto: MotoS3, bucket: str, s3_config: Callable[..., S3Storage], actions: list[str],
        step: str) -> None:
    cfg = _user_config(moto, s3_config, f"user-{step}", actions, bucket=bucket)
    message = await check_store(cfg)
    assert message is not None
    assert f"{step} failed: AccessDenied" in message and cfg.s3_bucket_name in message
    assert cfg.secret_access_key not in message and cfg.access_key_id not in message


async def test_s3_ok_with_exactly_the_three_actions(moto: MotoS3, bucket: str,
                                                   s3_config: Callable[..., S3Storage]) -> None:
    cfg = _user_config(moto, s3_config, "check-least-privilege",
                       ["s3:PutObject", "s3:ListBucket", "s3:DeleteObject"], bucket=bucket)
    assert await check_store(cfg) is None
    assert moto.objects(bucket) == {}


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"secret_access_key": "definitely-wrong-secret"}, "PutObject failed: SignatureDoesNotMatch"),
    ({"access_key_id": "AKIAWRONGWRONGWRONG0"}, "PutObject failed: InvalidAccessKeyId"),
    ({"s3_bucket_name": "bucket-that-is-not-there"}, "PutObject failed: NoSuchBucket"),
], ids=["bad-secret", "bad-key", "no-bucket"])
async def test_s3_failures(s3_config: Callable[..., S3Storage], overrides: dict[str, str],
                           expected: str) -> None:
    cfg = s3_config(**overrides)
    message = await check_store(cfg)
    assert message is not None and expected in message
    assert cfg.s3_bucket_name in message
    assert cfg.secret_access_key not in message and cfg.access_key_id not in message


async def test_s3_role_refused(moto: MotoS3, s3_config: Callable[..., S3Storage]) -> None:
    cfg = _user_config(moto, s3_config, "check-no-sts", ["s3:*"])
    cfg = s3_config(access_key_id=cfg.access_key_id, secret_access_key=cfg.secret_access_key,
                    role_arn=moto.create_role("check-unassumable", ["s3:*"]))
    message = await check_store(cfg)
    assert message is not None and "AssumeRole failed: AccessDenied" in message


async def test_s3_unreachable_is_quick(s3_config: Callable[..., S3Storage]) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    message = await check_store(s3_config(s3_endpoint=endpoint))
    assert message is not None and f"could not connect to {endpoint}" in message
    assert "PutObject" in message
    assert time.monotonic() - started < 10


async def test_bad_date_pattern_fails_the_check(s3_config: Callable[..., S3Storage]) -> None:
    message = await check_store(s3_config(file_name_format="{date:yyyy_QQ}{format_extension}"))
    assert message is not None and "unsupported letter 'Q'" in message


async def test_local_ok(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir"
    assert await check_store(LocalStorage(destination_path=str(target))) is None
    assert list(target.iterdir()) == []


async def test_local_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    message = await check_store(LocalStorage(destination_path=str(blocker / "sub")))
    assert message is not None and "MakeDirectory failed" in message
