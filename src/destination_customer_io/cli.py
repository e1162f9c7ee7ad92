"""The command line: ``spec | check --config F | discover --config F | write --config F --catalog F``.

The edge of the program: reads files and stdin, writes Airbyte messages to stdout, turns every failure
into a TRACE error with the right ``failure_type`` and a non-zero exit (a failed ``check`` is an answer,
not a failure: exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from importlib import resources
from typing import Any, AsyncIterator, BinaryIO, Callable, Sequence

import aiohttp

from . import __version__, values
from .catalog import (IDENTIFIER_COLUMNS, Stream, check_identifier_column, identifier_from_primary_key,
                      load_catalog_json, timestamp_columns)
from .config import Config, NoStorage, StreamMapping, parse_config, read_json_file
from .errors import ConfigurationError, SyncError, TransientFailure
from .network import proxy_secrets
from .output import Output
from .rawconfig import secret_values, unknown_keys, unknown_keys_sentence

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 64 << 20  # a longer line cannot be a record Customer.io would take; skipped, counted


def spec_message() -> dict[str, Any]:
    spec = json.loads(resources.files(__package__).joinpath("spec.json").read_text(encoding="utf-8"))
    return {"type": "SPEC", "spec": spec}


# --- catalog ---------------------------------------------------------------------------------------

def resolve_streams(config: Config, catalog: dict[str, Any]) -> dict[tuple[str | None, str], Stream]:
    """Bind each configured stream to its operation; a stream we cannot place is a config error."""
    from .operations import OPERATIONS

    mappings = _index_mappings(config.stream_mappings, OPERATIONS)
    repeats = values.RepeatWindow()  # one window for the sync: ids of different streams never collide
    used: set[tuple[str | None, str]] = set()
    streams: dict[tuple[str | None, str], Stream] = {}
    for entry in catalog["streams"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("stream"), dict):
            raise ConfigurationError("Every configured stream needs a `stream` object")
        info = entry["stream"]
        name, namespace = info.get("name"), info.get("namespace")
        if not isinstance(name, str):
            raise ConfigurationError("A configured stream has no `name`")
        mapping = mappings.get((namespace, name)) or mappings.get((None, name))
        if mapping is not None:
            used.add((mapping.namespace, mapping.stream))
            _check_mapping_agrees(entry, mapping, _label(namespace, name))
        object_name = entry.get("destination_object_name") or (mapping.object if mapping else None) or name
        operation = OPERATIONS.get(object_name)
        if operation is None:
            label = f"{namespace}.{name}" if namespace else name
            raise ConfigurationError(
                f"Stream `{label}` maps to no Customer.io operation (`{object_name}`): set its "
                f"destination_object_name or a `stream_mappings` entry to one of: {', '.join(sorted(OPERATIONS))}"
                + _namespace_hint(mappings, name)
            )
        mode = str(entry.get("destination_sync_mode") or "append")
        # `append` is what catalogs without data activation carry (PyAirbyte, scripts): the operation's
        # first mode. Any other mode must be one the operation implements.
        if mode not in operation.sync_modes and mode != "append":
            raise ConfigurationError(
                f"Stream `{_label(namespace, name)}` asks for sync mode `{mode}`, which `{object_name}` does "
                f"not support (it supports: {', '.join(operation.sync_modes)})"
            )
        schema = info.get("json_schema") if isinstance(info.get("json_schema"), dict) else {}
        field_map = dict(mapping.fields) if mapping else {}
        keyed = identifier_from_primary_key(entry.get("primary_key"), field_map, _label(namespace, name)) \
            if operation.person else None
        stream = Stream(
            name=name,
            namespace=namespace,
            operation=operation,
            destination_sync_mode=mode,
            config=config,
            json_schema=schema,
            primary_key=entry.get("primary_key"),
            generation_id=entry.get("generation_id"),
            sync_id=entry.get("sync_id"),
            timestamp_fields=_mapped_timestamps(timestamp_columns(schema), mapping)
            if config.convert_timestamps else frozenset(),
            field_map=field_map,
            identifier_type=keyed or config.identifierType,
            identifier_origin=f"the stream's primary key `{IDENTIFIER_COLUMNS[keyed]}`" if keyed else "",
            repeats=repeats,
        )
        check_identifier_column(stream, operation.person)
        streams[(namespace, name)] = stream
    _check_mappings_used(mappings, used, streams)
    return streams


def _label(namespace: str | None, name: str) -> str:
    return f"{namespace}.{name}" if namespace else name


def _namespace_hint(mappings: dict[tuple[str | None, str], StreamMapping], name: str) -> str:
    """Point at a mapping for this stream name in another namespace: the likely mistake."""
    others = [_label(namespace, stream) for namespace, stream in mappings if stream == name]
    return f" (`stream_mappings` has {', '.join(f'`{o}`' for o in others)}: check its namespace)" if others else ""


def _index_mappings(
    mappings: Sequence[StreamMapping], operations: dict[str, Any]
) -> dict[tuple[str | None, str], StreamMapping]:
    """``stream_mappings`` by (namespace, stream); two entries for one stream or an unknown operation
    are config errors (a silently ignored entry would send records to the wrong place or nowhere)."""
    index: dict[tuple[str | None, str], StreamMapping] = {}
    for mapping in mappings:
        label = _label(mapping.namespace, mapping.stream)
        if (mapping.namespace, mapping.stream) in index:
            raise ConfigurationError(f"`stream_mappings` maps stream `{label}` twice; keep one entry")
        if mapping.object not in operations:
            raise ConfigurationError(
                f"`stream_mappings` maps stream `{label}` to `{mapping.object}`, which is not a Customer.io "
                f"operation; use one of: {', '.join(sorted(operations))}"
            )
        index[(mapping.namespace, mapping.stream)] = mapping
    return index


def _check_mapping_agrees(entry: dict[str, Any], mapping: StreamMapping, label: str) -> None:
    """On the platform the catalog names the operation too; the mapping's fields were written for its
    own ``object``, so two different answers cannot both be right."""
    chosen = entry.get("destination_object_name")
    if chosen and chosen != mapping.object:
        raise ConfigurationError(
            f"Stream `{label}` has destination_object_name `{chosen}` but its `stream_mappings` entry says "
            f"`{mapping.object}`; make them agree or remove the mapping"
        )


def _check_mappings_used(
    mappings: dict[tuple[str | None, str], StreamMapping],
    used: set[tuple[str | None, str]],
    streams: dict[tuple[str | None, str], Stream],
) -> None:
    """A mapping that matched no configured stream is most likely a typo in a stream name."""
    unused = [_label(*key) for key in mappings if key not in used]
    if unused:
        present = ", ".join(f"`{_label(*key)}`" for key in streams) or "none"
        raise ConfigurationError(
            f"`stream_mappings` names stream `{unused[0]}`, which is not in the configured catalog "
            f"(its streams: {present})"
        )


def _mapped_timestamps(columns: frozenset[str], mapping: StreamMapping | None) -> frozenset[str]:
    """Timestamp-typed source columns under their mapped names: the field map renames columns before
    the operation converts them, so a renamed date column must stay a timestamp."""
    if mapping is None or not columns:
        return columns
    renamed = {source: target for target, source in mapping.fields.items() if isinstance(source, str)}
    return frozenset(renamed.get(column, column) for column in columns)


# --- stdin -----------------------------------------------------------------------------------------

def _unlocked_read(source: BinaryIO) -> Callable[[int], bytes]:
    """``os.read`` on the file descriptor when there is one: a daemon thread blocked inside a buffered
    reader holds its lock, and the interpreter aborts at exit when it cannot take that lock."""
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):  # in-memory streams (tests)
        return getattr(source, "read1", source.read)
    return lambda size: os.read(fd, size)


def _read_in_daemon_thread(read: Callable[[int], bytes], size: int) -> asyncio.Future[bytes]:
    """``read(size)`` in a daemon thread. Not ``asyncio.to_thread``: its worker is joined when the
    loop and the interpreter shut down, so a read blocked on a quiet stdin pipe kept a failed or
    stopped sync alive for ever. One thread per chunk (~1 MiB) costs microseconds."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()

    def settle(data: bytes | None, exc: BaseException | None) -> None:
        if future.done():  # cancelled meanwhile: the sync no longer wants this chunk
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(data or b"")

    def work() -> None:
        data, error = None, None
        try:
            data = read(size)
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            error = exc
        try:
            loop.call_soon_threadsafe(settle, data, error)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    threading.Thread(target=work, name="stdin-reader", daemon=True).start()
    return future


async def read_line_chunks(source: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[list[bytes]]:
    """Whole lines in chunks of about ``chunk_bytes``; the blocking read runs in a worker thread so the
    event loop keeps sending meanwhile. Works for pipes and regular files alike."""
    read = _unlocked_read(source)
    pending: list[bytes] = []
    pending_size = 0
    oversized = False
    while True:
        data = await _read_in_daemon_thread(read, chunk_bytes)
        if not data:
            break
        if b"\n" not in data:
            if not oversized:
                pending.append(data)
                pending_size += len(data)
                if pending_size > MAX_LINE_BYTES:
                    pending, pending_size, oversized = [], 0, True
            continue
        lines = data.split(b"\n")
        if oversized:
            lines[0] = b"\x00oversized line"  # not JSON: counted as an unreadable line, content dropped
            oversized = False
        elif pending:
            lines[0] = b"".join(pending) + lines[0]
        last = lines.pop()
        pending, pending_size = ([last], len(last)) if last else ([], 0)
        yield lines
    if pending and not oversized:
        yield [b"".join(pending)]


# --- commands --------------------------------------------------------------------------------------

async def run_check(config: Config, out: Output, notes: str = "") -> None:
    """``notes``: sentences about the config itself (unknown keys), added to the answer either way."""
    from .track import check_connection

    ok, message = await check_connection(config)
    if ok:
        store_problem = await _check_store(config)
        if store_problem:
            ok, message = False, store_problem
        elif not isinstance(config.object_storage_config, NoStorage):
            message += " " + _store_verified(config)
    _emit_status(out, ok, _join(message, notes))


def _emit_status(out: Output, ok: bool, message: str) -> None:
    out.emit({"type": "CONNECTION_STATUS", "connectionStatus": {
        "status": "SUCCEEDED" if ok else "FAILED", "message": out.scrub(message)}})


async def _check_store(config: Config) -> str | None:
    if isinstance(config.object_storage_config, NoStorage):
        return None
    from .rejected import check_store

    return await check_store(config.object_storage_config)


def _store_verified(config: Config) -> str:
    from .rejected import probe_location

    return (f"Rejected-records storage verified: a probe object was written, listed and deleted at "
            f"{probe_location(config.object_storage_config)}.")


def _join(*sentences: str) -> str:
    return " ".join(s for s in sentences if s)


def run_discover(out: Output) -> None:
    from .operations import discover_entries

    out.emit({"type": "DESTINATION_CATALOG",
              "destination_catalog": {"operations": [e.to_json() for e in discover_entries()]}})


async def run_write(config: Config, catalog: dict[str, Any], source: BinaryIO, out: Output) -> None:
    from .pipeline import Pipeline, store_failure
    from .rejected import open_store
    from .rejected.base import StoreError
    from .track import TrackClient

    streams = resolve_streams(config, catalog)
    sync_id = next((s.sync_id for s in streams.values() if s.sync_id is not None), None)
    # SIGTERM (the platform cancelling, `docker stop`): stop reading, deliver what was read. Installed
    # first and never removed (closing the loop does that), so no moment of the sync dies silently.
    sigterm = _GracefulStop(config.stop_grace_seconds)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, sigterm.fire)
    # Probed before anything is sent: a store found broken at the first rejection would fail the sync
    # after its valid records were delivered, and with no rejection it would go unnoticed.
    store_problem = await _check_store(config)
    if store_problem:
        raise ConfigurationError(f"The rejected-records storage cannot be written; nothing was sent. "
                                 f"{store_problem}")
    connector = aiohttp.TCPConnector(limit=config.lanes + 2, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = TrackClient(config, session)
        region = await client.detect_region()
        ids = "the C accelerator" if values.ACCELERATED else "pure Python (no C accelerator built)"
        out.log(f"Writing to Customer.io region {region} at {client.describe_host()} with {config.lanes} lanes; "
                f"event ids hashed by {ids}.")
        try:
            store = open_store(config.object_storage_config, sync_id=sync_id)
        except StoreError as exc:
            raise ConfigurationError(f"The rejected-record storage is misconfigured: {exc}") from None
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
        )
        started = time.monotonic()
        sigterm.attach(pipeline)
        try:
            await pipeline.run(read_line_chunks(source))
        except BaseException:
            await _close_quietly(store)  # the original failure is the one to report
            raise
        stopped = pipeline.stopped  # a SIGTERM from here on finds everything delivered: ignored
        try:
            await store.close()
        except StoreError as exc:
            raise store_failure(exc) from None
        out.log(summary(pipeline, time.monotonic() - started))
        for stream in streams.values():
            out.log(stream_summary(stream))
        if stopped:
            raise TransientFailure(
                "The sync was stopped (SIGTERM) before the end of its input; the records read were "
                "delivered and every state emitted is backed by acknowledged records."
            )


class _GracefulStop:
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


async def _close_quietly(store: Any) -> None:
    from .rejected.base import StoreError  # run_write's import is local to it: without this, NameError

    try:
        await store.close()
    except StoreError:
        pass


def summary(pipeline: Any, elapsed: float) -> str:
    c, stats = pipeline.counts, pipeline.client.stats
    mean_ops = c.ops_sent / c.batches if c.batches else 0.0
    return (
        f"Sync summary: {_n(c.records, 'record')} read, {c.accepted} accepted, {c.rejected} rejected"
        f"{_by_reason(c.rejected_by_reason)}; {_n(c.unreadable_lines, 'unreadable line')} skipped; "
        f"{_n(c.merged, 'identify update')} merged; {c.states_out} of {_n(c.states_in, 'state')} emitted; "
        f"{_n(stats.requests, 'request')} ({_n(c.batches, 'batch', 'batches')}, {mean_ops:.0f} ops per "
        f"batch), {_n(stats.retries, 'retry', 'retries')}, {stats.throttled} throttled; {elapsed:.2f} s, "
        f"{c.records / max(elapsed, 1e-9):,.0f} records/s."
    )


def stream_summary(stream: Stream) -> str:
    rejected = sum(stream.rejected.values())
    text = (
        f"Stream {stream.label} -> {stream.operation.object_name}: {_n(stream.records_read, 'record')}, "
        f"{stream.records_read - rejected} accepted, {rejected} rejected{_by_reason(stream.rejected)}"
    )
    if stream.changed:  # oversized_attributes drop / truncate: sent, but not as read
        text += (f"; oversized attribute values dropped: {stream.changed['NULLED']}, "
                 f"truncated: {stream.changed['TRUNCATED']}")
    if stream.repeated_ids:
        text += (f"; {stream.repeated_ids} records without an event_id were identical to an earlier one, so "
                 "their derived event id repeated and Customer.io keeps one event for them")
    return text + "."


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _by_reason(rejected: Any) -> str:
    """`` (by reason: code: n, ...)``, or nothing when no record was rejected."""
    reasons = ", ".join(f"{code}: {n}" for code, n in sorted(rejected.items()) if n)
    return f" (by reason: {reasons})" if reasons else ""


# --- entry point -----------------------------------------------------------------------------------

_COMMANDS = {  # what `--help` says of each command
    "spec": "print the connector's specification: the config's fields, defaults and secrets",
    "check": "test a config: the Track API credentials and region, and (with S3 or Local) that the "
             "rejected-records storage can be written",
    "discover": "list the Customer.io operations (destination objects) with their sync modes and fields",
    "write": "read Airbyte RECORD and STATE messages on stdin, send them to Customer.io, print STATE "
             "messages as records are acknowledged",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="destination-customer-io",
        description="Airbyte destination for Customer.io (Track API). Speaks the Airbyte protocol: "
                    "Airbyte messages on stdout, one JSON object per line.",
        epilog="example: destination-customer-io write --config config.json --catalog catalog.json "
               "< messages.jsonl  (docs/customer-io.md: a minimal config and catalog)")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{spec,check,discover,write}")
    for name, text in _COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        if name != "spec":
            sub.add_argument("--config", required=True, metavar="CONFIG.json",
                             help="the connector config (its fields: see the spec command)")
        if name == "write":
            sub.add_argument("--catalog", required=True, metavar="CATALOG.json",
                             help="the configured catalog: each stream's destination_object_name, "
                                  "destination_sync_mode and primary_key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Output()
    out.add_secrets(proxy_secrets())  # user:password in HTTP(S)_PROXY never reaches a log line
    code = _run(args, out)
    if out.closed:
        # No traceback and no TRACE (nobody reads stdout any more); the states not yet written were
        # not emitted, so a resumed sync starts from the last one its reader saw.
        sys.stderr.write(f"destination-customer-io: stdout was closed by its reader; the {args.command} "
                         f"command stopped.\n")
        return 1
    return code


def _run(args: argparse.Namespace, out: Output) -> int:
    notes = ""
    try:
        if args.command == "spec":
            out.emit(spec_message())
            return 0
        raw = read_json_file(args.config, "Config")
        # before validation: an error message may quote a value, and a secret in the wrong field is
        # still a secret
        out.add_secrets(secret_values(raw))
        unknown = unknown_keys(raw)
        if unknown:
            notes = unknown_keys_sentence(unknown)
            out.log(notes, "WARN")
        config = parse_config(raw)
        out.add_secrets(config.secrets())
        if args.command == "check":
            asyncio.run(run_check(config, out, notes))
        elif args.command == "discover":
            run_discover(out)
        else:
            catalog = load_catalog_json(args.catalog)
            try:
                asyncio.run(run_write(config, catalog, sys.stdin.buffer, out))
            finally:
                # The sync is over (closing the loop restored SIGTERM's default): a late SIGTERM must
                # not cut off the TRACE or the exit code that report how it ended.
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return 0
    except ConfigurationError as exc:
        if args.command == "check":  # a failed check is an answer, not a failure
            _emit_status(out, False, _join(exc.message, notes))
            return 0
        out.error(exc.message, exc.failure_type, exc.internal)
        return 1
    except SyncError as exc:
        out.error(exc.message, exc.failure_type, exc.internal)
        return 1
    except KeyboardInterrupt:
        out.error("The sync was interrupted.", "system_error")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a TRACE, never a bare traceback
        out.error(f"Unexpected error: {type(exc).__name__}", "system_error", str(exc), exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
