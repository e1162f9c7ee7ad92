"""``replay``: rejected-records files sent again through the ``write`` pipeline, with the current config.

    destination-customer-io replay --config C --catalog K --rejected DIR|s3://bucket/prefix [--stream S]

    files under DIR, listed once before anything is written
      --stream from the file's directories (the config's path_format read backwards: keys.stream_directory)
      --rows (rejected/readback.py) --> RECORD lines --> the write pipeline (same operations, validation,
        batching, retries, derived event ids) --> Customer.io
    refused again --> new rejected files under <store>/_customerio_replay/<time>/: never the files read

The input holds no STATE, so none is emitted. The sync ledger is not opened: no skip_unchanged, no
mirror removals, no ledger row for what a replay delivers (a later sync may send it again: the same
derived ids and idempotent identifies, never a double). Rows of a file whose directories name no stream
of the catalog are counted and skipped; they stay in their files.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec

from .catalog import Stream, resolve_streams
from .commands import open_sync_store, prepare_sync, refuse_config, sync, sync_id_of, track_session
from .config import DEFAULT_PATH_FORMAT, Config, NoStorage, S3Storage
from .errors import ConfigurationError
from .output import Output
from .rejected import location
from .rejected.formats import dumps
from .rejected.keys import stream_directory
from .rejected.readback import Row, UnreadableFile, read_rows
from .storage.names import PROBE_PREFIX
from .storage.objects import LocalObjects, Objects, S3Objects, open_objects
from .storage.options import sync_options, within
from .summary import counted, stream_summary, summary, unidentified_warning

FOLDER = "_customerio_replay"  # beside the store's files; a new folder per replay, named to the microsecond
_OWN = "_customerio_"  # the connector's own folders (ledger, dry runs, replays): never rejected files to replay
_CHUNK_LINES = 2_000  # RECORD lines handed to the pipeline at a time (it waits for room between chunks)
_NAMED = 5  # directories / files named in a warning, at most

StreamKey = tuple[str | None, str]


@dataclass
class Tally:
    """What a replay read, for its summary."""

    files: int = 0
    records: int = 0
    reasons: Counter = field(default_factory=Counter)  # the rejected_reason the rows carried
    unknown: Counter = field(default_factory=Counter)  # records per directory naming no catalog stream
    unreadable_files: dict[str, str] = field(default_factory=dict)  # key -> why
    unreadable_rows: int = 0
    other_streams: int = 0  # files not read: another stream than --stream


def open_source(text: str, config: Config) -> Objects:
    """``--rejected``: a directory, or ``s3://bucket/prefix`` read with the config's S3 settings; either with the
    sync's store timeout and retry budget (``rejected.sync_options``)."""
    if text.startswith("s3://"):
        storage = config.object_storage_config
        if not isinstance(storage, S3Storage):
            raise ConfigurationError(f"--rejected {text} is in S3, which replay reads with the config's S3 "
                                     "settings (credentials, region, s3_endpoint), but object_storage_config is "
                                     f"not S3; give the config of the connection that wrote the files.")
        bucket, _, prefix = text[len("s3://"):].partition("/")
        return S3Objects(msgspec.structs.replace(storage, s3_bucket_name=bucket, bucket_path=prefix.strip("/")),
                         sync_options(config))
    if not Path(text).is_dir():
        raise ConfigurationError(f"--rejected {text}: no such directory (give the folder that holds the "
                                 "rejected-records files, or s3://bucket/prefix).")
    return LocalObjects(text, sync_options(config))


def chosen_streams(streams: dict[StreamKey, Stream], wanted: str | None) -> dict[StreamKey, Stream]:
    """``--stream``: ``name`` (in any namespace) or ``namespace.name``; every stream when None."""
    if wanted is None:
        return streams
    chosen = {k: s for k, s in streams.items() if wanted in (s.name, s.label)}
    if not chosen:
        known = ", ".join(sorted(s.label for s in streams.values()))
        raise ConfigurationError(f"--stream {wanted}: no such stream in the catalog (its streams: {known}).")
    return chosen


class Replay:
    """One replay: which file is which stream, the RECORD lines for the pipeline, and the tally."""

    def __init__(self, objects: Objects, streams: dict[StreamKey, Stream], chosen: dict[StreamKey, Stream],
                 path_format: str) -> None:
        self.objects = objects
        self.tally = Tally()
        self._chosen = chosen
        self._patterns = [(stream_directory(path_format, s.name, s.namespace), s) for s in streams.values()]
        self._files: list[tuple[str, Stream | None]] = []
        if any(p is None for p, _ in self._patterns) and len(chosen) != 1:
            raise ConfigurationError(f"path_format {path_format!r} does not name the stream ({{stream_name}}), "
                                     "so a file's stream cannot be told from its path: replay one stream at a "
                                     "time with --stream S.")

    async def find_files(self) -> int:
        """Lists the files once (before the pipeline writes anything); returns how many will be read."""
        keys = await asyncio.to_thread(self.objects.list, "")
        for key in keys:
            parts = key.split("/")
            if any(p.startswith(_OWN) for p in parts) or parts[-1].startswith(PROBE_PREFIX):
                continue
            stream = self._stream_of(key)
            if stream is None or any(stream is s for s in self._chosen.values()):
                self._files.append((key, stream))
            else:
                self.tally.other_streams += 1
        return len(self._files)

    def _stream_of(self, key: str) -> Stream | None:
        if any(p is None for p, _ in self._patterns):  # path_format without the stream: --stream says
            return next(iter(self._chosen.values()))
        directory = f"{self.objects.root}/{key}".rpartition("/")[0] + "/"
        found = sorted(((pattern[1], stream) for pattern, stream in self._patterns  # type: ignore[misc]
                        if pattern[0].search(directory)), key=lambda hit: -hit[0])
        if not found or (len(found) > 1 and found[0][0] == found[1][0]):
            return None  # no stream, or two equally likely: not guessed
        return found[0][1]

    async def chunks(self) -> AsyncIterator[list[bytes]]:
        """The rows of every listed file as RECORD lines, file by file in key order (the default file
        names sort by time), one file in memory at a time (the store's parts are at most 8 MiB); rows of
        files naming no catalog stream are counted, not sent."""
        for key, stream in self._files:
            rows = await self._read(key)
            if rows is None:
                continue
            if stream is None:
                self.tally.unknown[key.rpartition("/")[0] + "/"] += len(rows)
                continue
            for start in range(0, len(rows), _CHUNK_LINES):
                yield [_record_line(stream, row) for row in rows[start:start + _CHUNK_LINES]]

    async def _read(self, key: str) -> list[Row] | None:
        body = await asyncio.to_thread(self.objects.get, key)
        try:
            rows, unreadable = await asyncio.to_thread(read_rows, body or b"")
        except UnreadableFile as exc:
            self.tally.unreadable_files[key] = str(exc)
            return None
        self.tally.files += 1
        self.tally.unreadable_rows += unreadable
        self.tally.records += len(rows)
        self.tally.reasons.update(row.reason or "none" for row in rows)
        return rows


def _record_line(stream: Stream, row: Row) -> bytes:
    record: dict[str, Any] = {"stream": stream.name, "data": row.data, "emitted_at": row.emitted_at}
    if stream.namespace is not None:
        record["namespace"] = stream.namespace
    if row.changes:
        record["meta"] = {"changes": row.changes}
    # Concatenated, not dumped whole: the pipeline keeps each line until its batch is answered, and the
    # bytes orjson returns keep its growth buffer, many times the line (docs/performance.md, "Replay");
    # a concatenation is a copy of the exact size.
    return b'{"type":"RECORD","record":' + dumps(record) + b"}"


async def run_replay(config: Config, catalog: dict[str, Any], rejected: str, wanted: str | None,
                     out: Output) -> None:
    if config.dry_run:
        raise ConfigurationError("replay sends the rejected records to Customer.io, but dry_run is true: set "
                                 "it to false (a dry run of a replay is not offered).")
    refuse_config(config)  # what write refuses from the config alone, replay refuses too
    streams = resolve_streams(config, catalog)
    storage = config.object_storage_config
    path_format = DEFAULT_PATH_FORMAT if isinstance(storage, NoStorage) else storage.path_format
    replay = Replay(open_source(rejected, config), streams, chosen_streams(streams, wanted), path_format)
    sigterm = await prepare_sync(config)
    count = await replay.find_files()
    folder = f"{FOLDER}/{datetime.now(timezone.utc):%Y%m%dT%H%M%S.%f}Z"
    again = msgspec.structs.replace(config, object_storage_config=within(storage, folder))
    async with track_session(config) as (client, region):
        out.log(f"Replay of {count} rejected-records files from {replay.objects.root} to Customer.io region "
                f"{region} at {client.describe_host()}; no state is emitted.")
        outcome = await sync(again, streams, client, open_sync_store(again, sync_id_of(streams)), replay.chunks(),
                             out, sigterm)
    counts = outcome.pipeline.counts
    where = None
    if counts.rejected and not isinstance(storage, NoStorage):
        where = f"{open_objects(storage).root}/{folder}/"  # type: ignore[union-attr]
    lines, warnings = replay_summary(replay.tally, counts, where, outcome.elapsed)
    outcome.report(out, [summary(counts, client.stats, outcome.elapsed, location(again.object_storage_config)),
                         *(stream_summary(stream) for stream in streams.values()), *lines],
                   (*warnings, unidentified_warning(counts)))


def replay_summary(tally: Tally, counts: Any, where: str | None,
                   elapsed: float) -> tuple[list[str], list[str | None]]:
    """The summary lines (what was read, delivered, rejected again and where it went) and the warnings
    (what was skipped)."""
    read = ", ".join(f"{reason}: {n}" for reason, n in sorted(tally.reasons.items()))
    again = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.rejected_by_reason.items()) if n)
    skipped = sum(tally.unknown.values())
    text = (f"Replay summary: {counted(tally.records, 'record')} read from {counted(tally.files, 'file')}"
            f"{f' (rejected before for: {read})' if read else ''}; "
            f"{f'{skipped} skipped (stream not in the catalog), ' if skipped else ''}{counts.accepted} delivered, "
            f"{counts.rejected} rejected again{f' (by reason: {again})' if again else ''}")
    if counts.rejected:
        text += f", written to new rejected-records files under {where}" if where else \
            " (not kept: object_storage_config is None)"
    lines: list[str] = [text + f"; {elapsed:.2f} s."]
    warnings: list[str | None] = []
    if tally.unknown:
        named = ", ".join(f"{d} ({n})" for d, n in list(tally.unknown.items())[:_NAMED])
        warnings.append(f"{counted(skipped, 'record')} in files whose directories name no stream of the catalog "
                        f"{'was' if skipped == 1 else 'were'} not replayed (they stay in their files): {named}.")
    if tally.unreadable_files:
        named = "; ".join(f"{k}: {why}" for k, why in list(tally.unreadable_files.items())[:_NAMED])
        warnings.append(f"{counted(len(tally.unreadable_files), 'file')} not read: {named}.")
    if tally.unreadable_rows:
        warnings.append(f"{counted(tally.unreadable_rows, 'row')} skipped: not rejected-records rows.")
    if tally.other_streams:
        lines.append(f"{counted(tally.other_streams, 'file')} of other streams not read (--stream).")
    return lines, warnings
