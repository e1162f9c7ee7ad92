"""The optional parts of a sync, each None when off: the sync ledger, the sync log, the retry queue.

``commands.py`` asks for each once per sync and hands them to the pipeline; a part that is off costs
nothing: its module is never imported, the store is not read. Each needs object storage: with
storage_type None a stream or setting asking for one is refused before any request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Config, NoStorage
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .catalog import Stream
    from .output import Output


def ledgered_streams(config: Config, streams: dict[tuple[str | None, str], Stream]) -> list[Stream]:
    """The streams that keep a sync ledger; refused up front (before any request) without storage."""
    needing = [s for s in streams.values() if s.mirror or s.skips_unchanged]
    if needing and isinstance(config.object_storage_config, NoStorage):
        stream = needing[0]
        feature = "mirror mode (overwrite)" if stream.mirror else "skip_unchanged"
        raise ConfigurationError(
            f"Stream `{stream.label}` uses {feature}, which keeps a sync ledger in object storage, but "
            "object_storage_config is None: configure S3 or Local storage (the ledger lives beside the "
            "rejected records), or turn the feature off.")
    return needing


async def open_ledger(config: Config, streams: dict[tuple[str | None, str], Stream], out: Output,
                      dry: Any = None, objects: Any = None) -> Any:
    """The sync ledger (ledger/sync.py) when a stream needs it, each stream's ledger loaded; else None.
    This is the one place that wires the ledger in: the pipeline then calls it at its named points."""
    needing = ledgered_streams(config, streams)
    if not needing:
        return None
    from .ledger.sync import open_ledger as load
    from .storage.objects import open_objects
    from .storage.options import sync_options

    # a dry run's, when it has them
    objects = objects or open_objects(config.object_storage_config, sync_options(config))
    assert objects is not None  # ledgered_streams refused storage None
    hold = (lambda stream, _, path, count: dry.hold(stream, path, count)) if dry is not None else None
    return await load(config, needing, out, objects, hold, readonly=dry is not None)


async def open_retry(config: Config, streams: dict[tuple[str | None, str], Stream]) -> Any:
    """The retry queue (retry.py) with ``retry_refused: true``, its parts found in the store; else None:
    off, its module is never imported and the store is not read."""
    if not config.retry_refused:
        return None
    from .retry import open_retry as load

    return await load(config, streams)


def open_sync_log(config: Config, sync_id: int | None, retry: Any = None) -> Any:
    """The sync log (synclog.py) with ``sync_log: true``, else None: off, its module is never imported.
    With ``retry`` (retry.py), the retried records' rows say ``retried``."""
    if not config.sync_log:
        return None
    from .storage.options import sync_options
    from .synclog import SyncLog

    return SyncLog(config, sync_id, sync_options(config), retrying=retry.epoch if retry is not None else None)
