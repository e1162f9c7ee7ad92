"""The S3 sink (one PutObject per finished part) and the S3 connection check.

A part is at most ``part_max_bytes`` uncompressed (8 MiB by default), far below PutObject's 5 GB
limit, so a single PutObject is used: its 200 answer is the durability acknowledgement and a retried
PutObject of the same key and body is idempotent, so retries never duplicate records. ``put`` makes one
attempt; the store retries it within the sync's budget (``retrying.py``).
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..config import S3Storage
from ..errors import StoreError
from .aws import CHECK_TIMEOUTS, S3Access, Timeouts
from .names import check_key

_CONTENT_TYPES = {".csv": "text/csv", ".jsonl": "application/jsonl"}


def content_type(key: str) -> str:
    if key.endswith(".gz"):
        return "application/gzip"
    suffix = key[key.rfind("."):] if "." in key else ""
    return _CONTENT_TYPES.get(suffix, "application/octet-stream")


class S3Sink:
    """Writes finished parts to the bucket; the client is made on first use, in a worker thread."""

    step = "S3 PutObject"  # what a progress line says is waited on

    def __init__(self, cfg: S3Storage, timeouts: Timeouts) -> None:
        self._access = S3Access(cfg, timeouts)
        self._client: Any = None
        self._lock = threading.Lock()  # parts upload from several worker threads at once

    def __repr__(self) -> str:
        return f"S3Sink({self._access!r})"

    @property
    def target(self) -> str:
        return self._access.bucket

    def put(self, key: str, body: bytes) -> None:
        client = self._ensure_client()
        try:
            client.put_object(Bucket=self._access.bucket, Key=key, Body=body,
                              ContentType=content_type(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._access.error(exc, step="PutObject") from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _ensure_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._access.client()
            return self._client


def check_s3(cfg: S3Storage) -> str | None:
    """Write, list and delete a probe object; None when all three work, else what failed and why.

    Blocking: run it in a worker thread. Small timeouts and two attempts keep a bad config quick.
    """
    access = S3Access(cfg, CHECK_TIMEOUTS)
    client = None
    try:
        client = access.client()
        key = check_key(cfg.bucket_path)
        _step(access, "PutObject", lambda: client.put_object(
            Bucket=access.bucket, Key=key, Body=b"check", ContentType="text/plain"))
        listed = _step(access, "ListObjectsV2", lambda: client.list_objects_v2(
            Bucket=access.bucket, Prefix=key, MaxKeys=1))
        if not any(item.get("Key") == key for item in listed.get("Contents", [])):
            return (f"Rejected-records bucket '{access.bucket}': ListObjectsV2 did not list the "
                    f"object just written ({key})")
        _step(access, "DeleteObject", lambda: client.delete_object(Bucket=access.bucket, Key=key))
        return None
    except StoreError as exc:
        return str(exc)
    finally:
        if client is not None:
            client.close()


def _step(access: S3Access, step: str, call: Any) -> Any:
    try:
        return call()
    except (BotoCoreError, ClientError) as exc:
        raise access.error(exc, step=step) from None
