"""The rejected-records store factory: ``open_store`` for ``write`` and ``check_store`` for ``check``.

    store = open_store(config.object_storage_config, sync_id=42)
    await store.add(RejectedRecord(...)); await store.flush(); await store.close()

``storage_type`` None -> :class:`NoneStore` (counted, not kept); S3 -> files in the bucket;
Local -> the same files under ``destination_path``: rolling files (``storage/rolling.py``) in the
rejected-records format (``formats``, ``keys``). See docs/rejected.md for the file formats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import LocalStorage, NoStorage, S3Storage, StorageConfig
from .base import NoneStore, RejectedRecord, RejectedStore, StoreError

if TYPE_CHECKING:
    from ..storage.local import LocalSink
    from ..storage.options import StoreOptions
    from ..storage.s3 import S3Sink
    from .keys import KeyTemplate

# The S3 modules (boto3: ~0.1 s of start-up) are imported only when S3 storage is configured, and the
# files' modules (rolling files, formats, keys, the local sink) only when records are kept at all: a
# sync with storage None loads none of them (docs/performance.md).

__all__ = ["NoneStore", "RejectedRecord", "RejectedStore", "StoreError", "check_store", "location",
           "open_store", "probe_location"]


def open_store(storage_config: StorageConfig, *, sync_id: int | None = None,
               now: Callable[[], float] | None = None,
               options: StoreOptions | None = None) -> RejectedStore:
    """The store for this config. Makes no request: S3 is first contacted by the first upload.

    ``now`` is a clock in epoch seconds (``time.time`` by default): the sync-time placeholders use
    its value at this call, ``{timestamp}`` its value when each part starts.
    Raises StoreError (step ``path_format``) when a ``{date:PATTERN}`` cannot be rendered.
    """
    if isinstance(storage_config, NoStorage):
        return NoneStore()
    from ..storage.local import LocalSink
    from ..storage.options import StoreOptions
    from ..storage.rolling import RollingFiles
    from .formats import encoder_factory

    clock = now or time.time
    options = options or StoreOptions()
    keys = _key_template(storage_config, sync_id, clock)
    new_encoder = encoder_factory(storage_config.format, storage_config.compression, sync_id)
    if isinstance(storage_config, S3Storage):
        from ..storage.aws import sync_timeouts
        from ..storage.s3 import S3Sink

        sink: S3Sink | LocalSink = S3Sink(storage_config, sync_timeouts(options.request_timeout))
    else:
        sink = LocalSink(storage_config.destination_path)
    return RollingFiles(sink, keys, new_encoder, options=options, clock=clock)


async def check_store(storage_config: StorageConfig) -> str | None:
    """None when the store can be written (probe object written, listed, deleted), else why not."""
    if isinstance(storage_config, NoStorage):
        return None
    try:
        _key_template(storage_config, 0, time.time)
    except StoreError as exc:
        return str(exc)
    if isinstance(storage_config, S3Storage):
        from ..storage.s3 import check_s3

        return await asyncio.to_thread(check_s3, storage_config)
    from ..storage.local import check_local

    return await asyncio.to_thread(check_local, storage_config.destination_path)


def probe_location(storage_config: S3Storage | LocalStorage) -> str:
    """Where ``check_store`` puts its probe object, for the user to find (or allow) it."""
    from ..storage.names import PROBE_PREFIX, check_key

    if isinstance(storage_config, S3Storage):
        prefix = check_key(storage_config.bucket_path).rpartition("/")[0]
        where = f"s3://{storage_config.s3_bucket_name}/{prefix + '/' if prefix else ''}{PROBE_PREFIX}<random hex>"
        return f"{where} ({storage_config.s3_endpoint})" if storage_config.s3_endpoint else where
    return f"{storage_config.destination_path.rstrip('/')}/{PROBE_PREFIX}<random hex>"


def location(storage_config: StorageConfig) -> str | None:
    """Where rejected records go, for the summary: ``s3://bucket/prefix`` or the directory; None when
    they are not kept (``storage_type`` None)."""
    if isinstance(storage_config, S3Storage):
        prefix = storage_config.bucket_path.strip("/")
        return f"s3://{storage_config.s3_bucket_name}/{prefix + '/' if prefix else ''}"
    if isinstance(storage_config, LocalStorage):
        return storage_config.destination_path
    return None


def _key_template(cfg: S3Storage | LocalStorage, sync_id: int | None,
                  clock: Callable[[], float]) -> KeyTemplate:
    from .formats import extension
    from .keys import KeyTemplate

    prefix = cfg.bucket_path if isinstance(cfg, S3Storage) else ""
    target = cfg.s3_bucket_name if isinstance(cfg, S3Storage) else cfg.destination_path
    try:
        return KeyTemplate(prefix, cfg.path_format, cfg.file_name_format,
                           extension=extension(cfg.format, cfg.compression), sync_id=sync_id,
                           sync_time_ms=int(clock() * 1000))
    except ValueError as exc:
        raise StoreError(f"Invalid path_format / file_name_format: {exc}", step="path_format",
                         target=target) from None
