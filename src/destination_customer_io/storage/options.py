"""A storage's settings: :class:`StoreOptions` (file sizes, upload threads, a request's timeout and the
retry budget), a sync's own (``sync_options``), and the same storage rooted in a folder (``within``)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ..config import Config, LocalStorage, S3Storage, StorageConfig
from ..pacing import RetryPolicy

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Tuning knobs; the defaults suit a sync process with a few streams."""

    part_max_bytes: int = 8 * MiB  # a file part is sealed at this uncompressed size
    buffer_max_bytes: int = 24 * MiB  # all open parts together
    max_concurrent_uploads: int = 4  # worker threads uploading at once
    max_pending_uploads: int = 4  # sealed parts waiting or uploading; add() waits beyond this
    request_timeout: float = 60.0  # one S3 request's connect and read timeouts (a sync: the config's)
    retry: RetryPolicy = RetryPolicy()  # how long failures that may pass are retried (a sync: the config's)


def sync_options(config: Config) -> StoreOptions:
    """A sync's store options: its requests get the Track API's timeout and retry budget, so a store
    that stalls or fails ends the sync as soon as an outage of Customer.io would."""
    return StoreOptions(request_timeout=config.request_timeout_seconds, retry=RetryPolicy(
        max_seconds=config.retry_max_seconds, initial=config.retry_initial_backoff_seconds,
        maximum=config.retry_max_backoff_seconds))


def within(storage_config: StorageConfig, folder: str) -> StorageConfig:
    """The same storage with its root moved into ``folder`` (dry runs and replays keep their rejected
    records apart from the syncs' own); storage None stays None."""
    if isinstance(storage_config, S3Storage):
        return msgspec.structs.replace(storage_config, bucket_path=f"{storage_config.bucket_path.rstrip('/')}/{folder}")
    if isinstance(storage_config, LocalStorage):
        return msgspec.structs.replace(storage_config, destination_path=f"{storage_config.destination_path}/{folder}")
    return storage_config
