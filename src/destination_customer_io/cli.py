"""The command line: ``spec | check --config F | discover --config F | write --config F --catalog F``.

The edge of the program: reads files and stdin, writes Airbyte messages to stdout, turns every failure
into a TRACE error with the right ``failure_type`` and a non-zero exit (a failed ``check`` is an answer,
not a failure: exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from importlib import resources
from typing import Any, AsyncIterator, BinaryIO, Sequence

import aiohttp

from . import __version__
from .catalog import Stream, load_catalog_json, timestamp_columns
from .config import Config, ConfigError, load_config
from .errors import ConfigurationError, SyncError
from .output import Output

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 64 << 20  # a longer line cannot be a record Customer.io would take; skipped, counted


def spec_message() -> dict[str, Any]:
    spec = json.loads(resources.files(__package__).joinpath("spec.json").read_text(encoding="utf-8"))
    return {"type": "SPEC", "spec": spec}


# --- catalog ---------------------------------------------------------------------------------------

def resolve_streams(config: Config, catalog: dict[str, Any]) -> dict[tuple[str | None, str], Stream]:
    """Bind each configured stream to its operation; a stream we cannot place is a config error."""
    from .operations import OPERATIONS

    mappings = {(m.namespace, m.stream): m for m in config.stream_mappings}
    streams: dict[tuple[str | None, str], Stream] = {}
    for entry in catalog["streams"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("stream"), dict):
            raise ConfigurationError("Every configured stream needs a `stream` object")
        info = entry["stream"]
        name, namespace = info.get("name"), info.get("namespace")
        if not isinstance(name, str):
            raise ConfigurationError("A configured stream has no `name`")
        mapping = mappings.get((namespace, name)) or mappings.get((None, name))
        object_name = entry.get("destination_object_name") or (mapping.object if mapping else None) or name
        operation = OPERATIONS.get(object_name)
        if operation is None:
            label = f"{namespace}.{name}" if namespace else name
            raise ConfigurationError(
                f"Stream `{label}` maps to no Customer.io operation (`{object_name}`): set its "
                f"destination_object_name or a `stream_mappings` entry to one of: {', '.join(sorted(OPERATIONS))}"
            )
        schema = info.get("json_schema") if isinstance(info.get("json_schema"), dict) else {}
        stream = Stream(
            name=name,
            namespace=namespace,
            operation=operation,
            destination_sync_mode=str(entry.get("destination_sync_mode") or "append"),
            config=config,
            json_schema=schema,
            primary_key=entry.get("primary_key"),
            generation_id=entry.get("generation_id"),
            sync_id=entry.get("sync_id"),
            timestamp_fields=timestamp_columns(schema) if config.convert_timestamps else frozenset(),
            field_map=dict(mapping.fields) if mapping else {},
        )
        streams[(namespace, name)] = stream
    return streams


# --- stdin -----------------------------------------------------------------------------------------

async def read_line_chunks(source: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[list[bytes]]:
    """Whole lines in chunks of about ``chunk_bytes``; the blocking read runs in a worker thread so the
    event loop keeps sending meanwhile. Works for pipes and regular files alike."""
    read = getattr(source, "read1", source.read)
    pending: list[bytes] = []
    pending_size = 0
    oversized = False
    while True:
        data = await asyncio.to_thread(read, chunk_bytes)
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

async def run_check(config: Config, out: Output) -> None:
    from .track import check_connection

    ok, message = await check_connection(config)
    if ok:
        store_problem = await _check_store(config)
        if store_problem:
            ok, message = False, store_problem
    out.emit({"type": "CONNECTION_STATUS",
              "connectionStatus": {"status": "SUCCEEDED" if ok else "FAILED", "message": out.scrub(message)}})


async def _check_store(config: Config) -> str | None:
    from .config import NoStorage

    if isinstance(config.object_storage_config, NoStorage):
        return None
    from .rejected import check_store

    return await check_store(config.object_storage_config)


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
    connector = aiohttp.TCPConnector(limit=config.lanes + 2, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = TrackClient(config, session)
        region = await client.detect_region()
        out.log(f"Writing to Customer.io region {region} at {client.describe_host()} with {config.lanes} lanes.")
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
        )
        started = time.monotonic()
        try:
            await pipeline.run(read_line_chunks(source))
        except BaseException:
            await _close_quietly(store)  # the original failure is the one to report
            raise
        try:
            await store.close()
        except StoreError as exc:
            raise store_failure(exc) from None
        out.log(summary(pipeline, time.monotonic() - started))
        for stream in streams.values():
            out.log(stream_summary(stream))


async def _close_quietly(store: Any) -> None:
    try:
        await store.close()
    except StoreError:
        pass


def summary(pipeline: Any, elapsed: float) -> str:
    c, stats = pipeline.counts, pipeline.client.stats
    reasons = ", ".join(f"{code}: {n}" for code, n in sorted(c.rejected_by_reason.items())) or "none"
    mean_ops = c.ops_sent / c.batches if c.batches else 0.0
    return (
        f"Sync summary: {c.records} records read, {c.accepted} accepted, {c.rejected} rejected "
        f"(by reason: {reasons}); {c.unreadable_lines} unreadable lines skipped; {c.merged} identify "
        f"updates merged; {c.states_out} of {c.states_in} states emitted; {stats.requests} requests "
        f"({c.batches} batches, {mean_ops:.0f} ops per batch), {stats.retries} retries, "
        f"{stats.throttled} throttled; {elapsed:.2f} s, {c.records / max(elapsed, 1e-9):,.0f} records/s."
    )


def stream_summary(stream: Stream) -> str:
    rejected = sum(stream.rejected.values())
    reasons = ", ".join(f"{code}: {n}" for code, n in sorted(stream.rejected.items())) or "none"
    return (
        f"Stream {stream.label} -> {stream.operation.object_name}: {stream.records_read} records, "
        f"{stream.records_read - rejected} accepted, {rejected} rejected (by reason: {reasons})."
    )


# --- entry point -----------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="destination-customer-io", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="print the connector specification")
    for name in ("check", "discover"):
        sub = commands.add_parser(name)
        sub.add_argument("--config", required=True)
    write = commands.add_parser("write", help="read Airbyte messages on stdin and write them to Customer.io")
    write.add_argument("--config", required=True)
    write.add_argument("--catalog", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Output()
    try:
        if args.command == "spec":
            out.emit(spec_message())
            return 0
        config = load_config(args.config)
        out.add_secrets(config.secrets())
        if args.command == "check":
            asyncio.run(run_check(config, out))
        elif args.command == "discover":
            run_discover(out)
        else:
            catalog = load_catalog_json(args.catalog)
            asyncio.run(run_write(config, catalog, sys.stdin.buffer, out))
        return 0
    except ConfigError as exc:
        if args.command == "check":
            out.emit({"type": "CONNECTION_STATUS",
                      "connectionStatus": {"status": "FAILED", "message": out.scrub(str(exc))}})
            return 0
        out.error(str(exc), "config_error")
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
