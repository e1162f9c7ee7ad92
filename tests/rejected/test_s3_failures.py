"""The S3 store when it cannot write: StoreError with bucket, step and AWS code, never a secret."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from destination_customer_io.config import S3Storage
from destination_customer_io.pacing import RetryPolicy
from destination_customer_io.rejected import StoreError, open_store
from destination_customer_io.storage.options import StoreOptions
from tests.support.s3 import MotoS3

from .helpers import closed_port, record

QUICK = StoreOptions(request_timeout=5, retry=RetryPolicy(max_seconds=1.0, initial=0.05, maximum=0.2))


async def _fail_on_flush(cfg: S3Storage) -> StoreError:
    store = open_store(cfg, sync_id=1, options=QUICK)
    await store.add(record(1))
    with pytest.raises(StoreError) as caught:
        await store.flush()
    # the store stays broken: nothing added before is reported durable later
    with pytest.raises(StoreError):
        await store.flush()
    with pytest.raises(StoreError):
        await store.add(record(2))
    with pytest.raises(StoreError):
        await store.close()
    for secret in (cfg.secret_access_key, cfg.access_key_id):
        if secret:
            assert secret not in str(caught.value)
            assert secret not in repr(caught.value)
            assert secret not in repr(store)
    return caught.value


async def test_wrong_secret(s3_config: Callable[..., S3Storage], bucket: str,
                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = s3_config(secret_access_key="wrong-secret-value-1234567890")
    error = await _fail_on_flush(cfg)
    assert (error.step, error.target, error.code) == ("PutObject", bucket, "SignatureDoesNotMatch")
    assert bucket in str(error) and "PutObject" in str(error) and "secret_access_key" in str(error)
    # botocore's debug logs must not carry it either
    assert "wrong-secret-value-1234567890" not in caplog.text


async def test_unknown_access_key(s3_config: Callable[..., S3Storage]) -> None:
    error = await _fail_on_flush(s3_config(access_key_id="AKIAUNKNOWNKEY000000",
                                           secret_access_key="some-secret-value-abcdef"))
    assert (error.step, error.code) == ("PutObject", "InvalidAccessKeyId")
    assert "AKIAUNKNOWNKEY000000" not in str(error)


async def test_missing_bucket(s3_config: Callable[..., S3Storage]) -> None:
    error = await _fail_on_flush(s3_config(s3_bucket_name="no-such-bucket-here"))
    assert (error.step, error.target, error.code) == ("PutObject", "no-such-bucket-here", "NoSuchBucket")
    assert "no-such-bucket-here" in str(error)


async def test_access_denied(moto: MotoS3, s3_config: Callable[..., S3Storage]) -> None:
    keys = moto.create_user("lister-only", ["s3:ListBucket"])
    error = await _fail_on_flush(s3_config(access_key_id=keys.access_key_id,
                                           secret_access_key=keys.secret_access_key))
    assert (error.step, error.code) == ("PutObject", "AccessDenied")


async def test_unreachable_endpoint(s3_config: Callable[..., S3Storage]) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    error = await _fail_on_flush(s3_config(s3_endpoint=endpoint))
    assert (error.step, error.code) == ("PutObject", "ConnectionError")
    assert f"could not connect to {endpoint}" in str(error)


async def test_assume_role_refused(moto: MotoS3, s3_config: Callable[..., S3Storage]) -> None:
    keys = moto.create_user("no-sts", ["s3:*"])
    role = moto.create_role("never-assumed", ["s3:*"])
    error = await _fail_on_flush(s3_config(access_key_id=keys.access_key_id,
                                           secret_access_key=keys.secret_access_key, role_arn=role))
    assert (error.step, error.code) == ("AssumeRole", "AccessDenied")


async def test_no_credentials_anywhere(s3_config: Callable[..., S3Storage]) -> None:
    error = await _fail_on_flush(s3_config(access_key_id=None, secret_access_key=None))
    assert (error.step, error.code) == ("PutObject", "NoCredentials")
    assert "instance profile" in str(error)


async def test_half_the_keys(s3_config: Callable[..., S3Storage]) -> None:
    error = await _fail_on_flush(s3_config(secret_access_key=None))
    assert (error.step, error.code) == ("Credentials", "PartialCredentials")


async def test_bucket_deleted_mid_sync(moto: MotoS3, bucket: str,
                                       s3_config: Callable[..., S3Storage]) -> None:
    store = open_store(s3_config(), sync_id=1, options=QUICK)
    await store.add(record(1))
    await store.flush()
    moto.delete_bucket(bucket)
    await store.add(record(2))
    with pytest.raises(StoreError) as caught:
        await store.flush()
    assert (caught.value.step, caught.value.code) == ("PutObject", "NoSuchBucket")
    with pytest.raises(StoreError):  # keeps failing
        await store.flush()


async def test_failure_of_a_background_upload_surfaces(moto: MotoS3, bucket: str,
                                                       s3_config: Callable[..., S3Storage]) -> None:
    options = StoreOptions(part_max_bytes=500, retry=QUICK.retry)
    store = open_store(s3_config(s3_bucket_name="missing-bucket-bg"), sync_id=1, options=options)
    with pytest.raises(StoreError) as caught:
        for i in range(200):  # rollovers upload in the background; add() reports the failure
            await store.add(record(i))
        await store.flush()
    assert caught.value.code == "NoSuchBucket"


def test_config_repr_has_no_secret(s3_config: Callable[..., S3Storage]) -> None:
    cfg = s3_config()
    store = open_store(cfg)
    assert cfg.secret_access_key not in repr(store) and cfg.secret_access_key not in repr(cfg)
    assert cfg.access_key_id not in repr(store)
