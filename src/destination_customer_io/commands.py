"""The four commands, each given a parsed config: ``spec``, ``check``, ``discover``, ``write``.

``cli.py`` parses the arguments and turns failures into TRACE errors; what each command emits is here.
Heavy modules (the pipeline, the HTTP client, the stores) are imported by the command that needs them,
so ``spec`` and ``discover`` start quickly.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import aiohttp

from . import rawconfig
from .catalog import Stream, resolve_streams
from .config import Config, NoStorage
from .errors import ConfigurationError, StoreError, SyncError, TransientFailure, store_failure
from .output import Output
from .stdin import read_line_chunks
from .summary import dry_summary, stream_summary, summary, unidentified_warning


def spec_message() -> dict[str, Any]:
    spec = json.loads(rawconfig.spec_text())
    return {"type": "SPEC", "spec": spec}


# --- check -----------------------------------------------------------------------------------------

def refuse_config(config: Config) -> None:
    """What ``write`` refuses from the config alone, before any request; ``check`` (which has no catalog)
    refuses exactly the same, so a config that passes the platform's "Test" does not fail its first sync
    for a reason the config already showed."""
    from .mappings import index_mappings
    from .operations import OPERATIONS

    index_mappings(config.stream_mappings, OPERATIONS)  # an unknown operation, a stream mapped twice
    if isinstance(config.object_storage_config, NoStorage):
        for key, on, files in (("skip_unchanged", config.skip_unchanged, "the sync ledger"),
                               ("dry_run", config.dry_run, "the ops it would send"),
                               ("sync_log", config.sync_log, "every record's outcome"),
                               ("retry_refused", config.retry_refused, "its retry queue")):
            if on:
                raise ConfigurationError(f"`{key}` keeps {files} in object storage, but object_storage_config "
                                         "is None: configure S3 or Local storage, or turn it off.")


async def run_check(config: Config, out: Output, notes: str = "") -> None:
    """``notes``: sentences about the config itself (unknown keys), added to the answer either way."""
    from .track import check_connection

    refuse_config(config)
    ok, message = await check_connection(config)
    if ok:
        store_problem = await probe_store(config)
        if store_problem:
            ok, message = False, store_problem
        elif not isinstance(config.object_storage_config, NoStorage):
            message += " " + _store_verified(config)
    emit_status(out, ok, join(message, notes))


def emit_status(out: Output, ok: bool, message: str) -> None:
    out.emit({"type": "CONNECTION_STATUS", "connectionStatus": {
        "status": "SUCCEEDED" if ok else "FAILED", "message": out.scrub(message)}})


async def probe_store(config: Config) -> str | None:
    if isinstance(config.object_storage_config, NoStorage):
        return None
    from .rejected import check_store

    return await check_store(config.object_storage_config)


def _store_verified(config: Config) -> str:
    from .rejected import probe_location

    return (f"Rejected-records storage verified: a probe object was written, listed and deleted at "
            f"{probe_location(config.object_storage_config)}.")


def join(*sentences: str) -> str:
    return " ".join(s for s in sentences if s)


# --- discover --------------------------------------------------------------------------------------

def run_discover(out: Output) -> None:
    from .operations import discover_entries

    out.emit({"type": "DESTINATION_CATALOG",
              "destination_catalog": {"operations": [e.to_json() for e in discover_entries()]}})


# --- write -----------------------------------------------------------------------------------------

async def run_write(config: Config, catalog: dict[str, Any], source: BinaryIO, out: Output) -> None:
    refuse_config(config)
    streams = resolve_streams(config, catalog)
    ledgered_streams(config, streams)  # storage None with a ledger feature: refused before any request
    sync_id = sync_id_of(streams)
    sigterm = await prepare_sync(config)
    if config.dry_run:
        await _dry_write(config, streams, source, out, sigterm, sync_id)
        return
    async with track_session(config) as (client, region):
        out.log(f"Writing to Customer.io region {region} at {client.describe_host()} with {config.lanes} lanes; "
                "derived event ids follow event id scheme v1.")
        store = open_sync_store(config, sync_id)
        ledger = await open_ledger(config, streams, out)
        from .retry import open_retry  # None with retry_refused off: the store is not read
        retry = await open_retry(config, streams)
        outcome = await sync(config, streams, client, store, read_line_chunks(source), out, sigterm, ledger,
                             sync_log=open_sync_log(config, sync_id, retry), retry=retry)
    from .rejected import location

    outcome.report(out, [summary(outcome.pipeline.counts, client.stats, outcome.elapsed,
                                 location(config.object_storage_config)),
                         *(stream_summary(stream, ledger_note=ledger.note(stream) if ledger else "")
                           for stream in streams.values()), *([retry.summary()] if retry is not None else [])],
                   (unidentified_warning(outcome.pipeline.counts),))


def sync_id_of(streams: dict[tuple[str | None, str], Stream]) -> int | None:
    """The platform's sync id, which every stream of a configured catalog carries (None outside it)."""
    return next((s.sync_id for s in streams.values() if s.sync_id is not None), None)


async def prepare_sync(config: Config) -> GracefulStop:
    """What a sync (``write``, ``replay``) sets up before it sends anything: SIGTERM handling, and a
    probe of the rejected-records store."""
    # SIGTERM (the platform cancelling, `docker stop`): stop reading, deliver what was read. Installed
    # first and never removed (closing the loop does that), so no moment of the sync dies silently.
    sigterm = GracefulStop(config.stop_grace_seconds)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, sigterm.fire)
    # Probed before anything is sent: a store found broken at the first rejection would fail the sync
    # after its valid records were delivered, and with no rejection it would go unnoticed.
    store_problem = await probe_store(config)
    if store_problem:
        raise ConfigurationError(f"The rejected-records storage cannot be written; nothing was sent. "
                                 f"{store_problem}")
    return sigterm


@asynccontextmanager
async def track_session(config: Config) -> AsyncIterator[tuple[Any, str]]:
    """One sync's HTTP session to the Track API: its client, and the workspace's region (asked once)."""
    from .track import TrackClient

    connector = aiohttp.TCPConnector(limit=config.lanes + 2, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = TrackClient(config, session)
        yield client, await client.detect_region()


def open_sync_log(config: Config, sync_id: int | None, retry: Any = None) -> Any:
    """The sync log (synclog.py) with ``sync_log: true``, else None: off, its module is never imported.
    With ``retry`` (retry.py), the retried records' rows say ``retried``."""
    if not config.sync_log:
        return None
    from .storage.options import sync_options
    from .synclog import SyncLog

    return SyncLog(config, sync_id, sync_options(config), retrying=retry.epoch if retry is not None else None)


def open_sync_store(config: Config, sync_id: int | None) -> Any:
    from .rejected import open_store
    from .storage.options import sync_options

    try:
        return open_store(config.object_storage_config, sync_id=sync_id, options=sync_options(config))
    except StoreError as exc:
        raise ConfigurationError(f"The rejected-record storage is misconfigured: {exc}") from None


async def _dry_write(config: Config, streams: dict[tuple[str | None, str], Stream], source: BinaryIO,
                     out: Output, sigterm: GracefulStop, sync_id: int | None) -> None:
    """``dry_run``: no request to Customer.io; the ops, the would-be rejections and a summary go to a
    dry-run folder of the store (dryrun.py). The ledger is read, never written. A guard that would trip
    in a real sync fails the dry run with the same config_error, once its files are written."""
    import msgspec

    from .dryrun import DryRun, DryRunClient
    from .rejected import location
    from .storage.objects import open_objects
    from .storage.options import sync_options, within

    objects = open_objects(config.object_storage_config, sync_options(config))
    assert objects is not None  # refuse_config refused storage None
    dry = DryRun(objects, streams)
    storage = within(config.object_storage_config, f"{dry.prefix}rejected")
    store = open_sync_store(msgspec.structs.replace(config, object_storage_config=storage), sync_id)
    out.log(f"Dry run: nothing is sent to Customer.io and no state is emitted; the ops go to {dry.where}.")
    ledger = dry.ledger = await open_ledger(config, streams, out, dry=dry, objects=objects)
    outcome = await sync(config, streams, DryRunClient(), store, read_line_chunks(source), out, sigterm, ledger,
                         sender=dry)
    found = await dry.finish(ledger.held() if ledger is not None else [])
    outcome.report(out, [dry_summary(outcome.pipeline.counts, outcome.elapsed, location(storage), found, dry.where),
                         *(stream_summary(stream, dry=True, ledger_note=ledger.note(stream, dry=True) if ledger else "")
                           for stream in streams.values())])


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
    Needs object storage: with storage_type None a stream asking for it is a config error. This is the
    one place that wires the ledger in: the pipeline then calls it at its named points."""
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


@dataclass(slots=True)
class _Outcome:
    """How the pipeline ended: delivered, perhaps stopped by SIGTERM or judged by a guard."""

    pipeline: Any
    elapsed: float
    stopped: bool  # by SIGTERM before the end of the input
    verdict: ConfigurationError | None  # a guard's, raised after the summary

    def report(self, out: Output, lines: list[str], warnings: tuple[str | None, ...] = ()) -> None:
        """The summary ``lines`` and ``warnings`` (None: nothing to warn of), then the way the sync ends:
        what was delivered is told either way."""
        for line in lines:
            out.log(line)
        for warning in warnings:
            if warning is not None:
                out.log(warning, "WARN")
        if self.verdict is not None:
            raise self.verdict
        if self.stopped:
            raise TransientFailure(
                "The sync was stopped (SIGTERM) before the end of its input; the records read were "
                "delivered and every state emitted is backed by acknowledged records."
            )


async def sync(config: Config, streams: dict[tuple[str | None, str], Stream], client: Any, store: Any,
               lines: AsyncIterator[list[bytes]], out: Output, sigterm: GracefulStop,
               ledger: Any = None, sender: Any = None, sync_log: Any = None, retry: Any = None) -> _Outcome:
    """The sync itself, once the store is open: the pipeline and the store's close. A guard's verdict
    comes back in the outcome (everything read was delivered first); any other failure is raised.
    ``lines``: the input in chunks of lines (stdin, or ``replay``'s records); ``sender``: where batches
    go other than to ``client`` (a dry run's, which emits no state); ``sync_log``: the sync log, closed
    (its run row written) after the store, best-effort when the sync failed; ``retry``: the retry queue."""
    from .pipeline import Pipeline

    pipeline = Pipeline(
        streams=streams,
        client=client,
        store=store,
        output=out,
        lanes=config.lanes,
        batch_max_bytes=config.batch_max_bytes,
        max_inflight_bytes=config.max_inflight_bytes,
        state_max_delay=config.state_max_delay_seconds,
        progress_interval=config.progress_interval_seconds,
        max_rejected_percent=config.max_rejected_percent,
        ledger=ledger,
        sender=sender,
        emit_states=sender is None,
        sync_log=sync_log, retry=retry,
    )
    started = time.monotonic()
    sigterm.attach(pipeline)
    verdict = None
    try:
        await pipeline.run(lines)
    except ConfigurationError as exc:
        if exc is not pipeline.verdict:
            await _close_quietly(store, sync_log)
            raise
        verdict = exc
    except BaseException:
        await _close_quietly(store, sync_log)  # the original failure is the one to report
        raise
    stopped = pipeline.stopped  # a SIGTERM from here on finds everything delivered: ignored
    try:
        if retry is not None:  # every answer is in
            await retry.save()
        await store.close()
        if sync_log is not None:
            await sync_log.close(completed=verdict is None and not stopped)
    except StoreError as exc:
        raise store_failure(exc) from None
    return _Outcome(pipeline, time.monotonic() - started, stopped, verdict)


class GracefulStop:
    """SIGTERM during ``write``: stops the pipeline gracefully; one that arrives before the pipeline
    exists is remembered and stops it as soon as it starts (nothing read, nothing sent)."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.requested = False
        self._pipeline: Any = None

    def fire(self) -> None:
        self.requested = True
        if self._pipeline is not None:
            self._pipeline.stop(self.grace)

    def attach(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        if self.requested:
            pipeline.stop(self.grace)


async def _close_quietly(store: Any, sync_log: Any = None) -> None:
    try:
        await store.close()
    except StoreError:
        pass
    if sync_log is not None:  # what it holds is written: the records settled before the failure
        try:
            await sync_log.close(completed=False)
        except SyncError:  # the store failing: the original failure is the one to report
            pass
