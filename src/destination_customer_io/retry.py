"""The retry queue (``retry_refused: true``): records Customer.io refused, re-sent at the start of later syncs.

    <root>/_customerio_retry/site-<hash of siteId>/<ledger_scope>/<namespace>__<stream>/
        queue-<generation>-<part>.jsonl   the queue in parts, one JSON line per queued record:
                                          {"attempts": n, "line": "<the record's raw Airbyte line>"}
        queue.jsonl                       a queue written whole by 0.5.0: read as generation 0
        last_sync.json                    the last sync's counts of that stream: {"synced_at", "retried",
                                          "succeeded", "given_up", "superseded", "queued"}, for ``ledger show``

Only what Customer.io refused is queued (a 207 entry, a 400 found by halving, a v1 404), told by delivery
at its ``refused`` point; a record rejected before sending cannot succeed unchanged and is not. At the
start of a later sync the queue's parts are read one at a time and their records go through the lanes
first, waiting for in-flight room as the input does, under their own epoch, which no state counts (as
the mirror removals). Each sync writes the next generation: the input's refusals as they come, flushed at
each state's release point (``before_release``), so a killed sync loses none; then, at the end, the
queued records refused again (attempts + 1, given up at ``retry_max_attempts``), read a second time from
the old parts; the old parts are deleted once the new generation is complete. While it runs a sync holds
no line: per queued ordered op its key's hash (and its line's), per record refused again its line's hash.
None when off.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import msgspec

from . import protocol
from .errors import StoreError, store_failure
from .reasons import Rejection
from .storage.names import scope_prefix as scoped, stream_folder
from .storage.options import MiB, StoreOptions, sync_options
from .storage.rolling import Lines, LinesPart, RollingFiles, open_sink

if TYPE_CHECKING:
    from .batching import Batch, Batcher
    from .checkpoints import Checkpoints, Epoch
    from .config import Config
    from .stream import Stream

ROOT = "_customerio_retry"
LEGACY_QUEUE = "queue.jsonl"  # 0.5.0's queue, written whole
LAST_SYNC = "last_sync.json"
_PART = re.compile(r"queue-(\d+)-(\d+)\.jsonl")
# What one sync holds of the queue it writes: parts are read back whole, one at a time
_OPTIONS = {"part_max_bytes": 1 * MiB, "buffer_max_bytes": 4 * MiB}
_FAILED = "Could not write the retry queue"
StreamKey = tuple[str | None, str]


class Entry(msgspec.Struct):
    attempts: int
    line: str


def scope_prefix(site_id: str, ledger_scope: str) -> str:
    """The queues of one ledger scope: beside the ledger, never naming the site id (a secret)."""
    return scoped(ROOT, site_id, ledger_scope)


def queue_folder(site_id: str, ledger_scope: str, stream: Stream) -> str:
    """Where ``stream``'s queue lives (its parts and ``last_sync.json``), ending in ``/``."""
    return f"{scope_prefix(site_id, ledger_scope)}{stream_folder(stream.namespace, stream.name)}/"


def queue_parts(keys: Iterable[str]) -> list[tuple[int, str]]:
    """The queue's parts among ``keys`` (a folder's listing), oldest first, each with its generation."""
    found = []
    for key in keys:
        name = key.rpartition("/")[2]
        match = _PART.fullmatch(name)
        if match is not None:
            found.append(((int(match[1]), int(match[2])), key))
        elif name == LEGACY_QUEUE:
            found.append(((0, 0), key))
    return [(place[0], key) for place, key in sorted(found)]


def entries(body: bytes | None) -> Iterator[Entry | None]:
    """One part's entries; None for a line not written here (an edit, a torn file)."""
    for text in (body or b"").splitlines():
        try:
            yield msgspec.json.decode(text, type=Entry)
        except msgspec.MsgspecError:
            yield None


def _epoch() -> Epoch:
    from .checkpoints import Epoch

    return Epoch()


@dataclass(slots=True)
class RetryTally:
    retried: int = 0
    succeeded: int = 0
    given_up: int = 0
    superseded: int = 0
    queued: int = 0


class _Keys:
    """The next generation's part names, in each stream's folder."""

    extension = ".jsonl"

    def __init__(self, head: str, folders: dict[StreamKey, str], generation: int) -> None:
        self._head, self._folders, self._generation = head, folders, generation

    def render(self, *, stream: str, namespace: str | None, part_number: int, timestamp_ms: int,
               uuid: str) -> str:
        return f"{self._head}{self._folders[(namespace, stream)]}queue-{self._generation:08d}-{part_number:06d}.jsonl"


@dataclass(slots=True)
class RetryQueue:
    """One sync's retry queue over every stream: read part by part, told each refusal, written as it goes."""

    objects: Any
    streams: dict[StreamKey, Stream]  # (namespace, name) -> the stream
    folders: dict[StreamKey, str]  # stream key -> its queue's folder
    old: dict[StreamKey, list[str]]  # stream key -> the parts of the queue this sync re-sends, oldest first
    writer: RollingFiles  # the next generation's parts
    max_attempts: int
    epoch: Epoch = field(default_factory=_epoch)  # the retried records' (no state counts it)
    # Hashes of queued lines: only those that need one (a queue of one generation holds no line twice)
    seen: set[int] | None = None  # fed, and settled (end of sync): when the queue spans generations
    dropped: set[int] = field(default_factory=set)  # given up as read (their mapping no longer builds them)
    refused_again: set[int] = field(default_factory=set)
    superseded: set[int] = field(default_factory=set)  # a fresh row of their key came
    pending: dict[int, int] = field(default_factory=dict)  # hash of (stream, key) -> hash of its queued line
    tallies: dict[StreamKey, RetryTally] = field(default_factory=dict)  # per stream
    batcher: Any = None  # the lanes' (for the summary's in-flight peak)

    @property
    def tally(self) -> RetryTally:
        """Every stream's counts summed (the summary's)."""
        total = RetryTally()
        for one in self.tallies.values():
            for name, value in asdict(one).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def _of(self, key: StreamKey) -> RetryTally:
        return self.tallies.setdefault(key, RetryTally())

    async def queue(self, batcher: Batcher, checkpoints: Checkpoints,
                    wait_for_room: Callable[[], Awaitable[Any]]) -> None:
        """Each stream's queued records into the lanes under their own epoch, before any input, one part
        in memory at a time, waiting while ``max_inflight_bytes`` wait as the input does."""
        for key, parts in self.old.items():
            for part in parts:
                body = await asyncio.to_thread(self.objects.get, part)
                for entry in entries(body):
                    if entry is not None:
                        self._feed(entry.line.encode(), key, self.streams[key], batcher, checkpoints)
                        await wait_for_room()
                    else:
                        self._of(key).given_up += 1
        self.batcher = batcher

    def _feed(self, line: bytes, key: StreamKey, stream: Stream, batcher: Batcher, checkpoints: Checkpoints) -> None:
        """One queued record into its lane. A line queued twice (a sync killed after writing part of
        the next generation) goes once; a line that no longer builds (its stream's mapping changed) is
        given up."""
        digest = hash(line)
        if self.seen is not None:
            if digest in self.seen:
                return
            self.seen.add(digest)
        record = protocol.message_decoder.decode(line).record
        op = stream.operation.build(record.data, stream) if record is not None else None
        if op is None or type(op) is Rejection:
            self.dropped.add(digest)
            self._of(key).given_up += 1
            return
        self._of(key).retried += 1
        if op.ordered and op.key is not None:  # an event is never superseded: each one is its own
            earlier = self.pending.get(person := hash((key, op.key)))
            if earlier is not None and earlier != digest:  # two rows of the key queued: the later wins
                self.superseded.add(earlier)
            self.pending[person] = digest
        checkpoints.read(self.epoch, 1)
        (batcher.add if op.route is None else batcher.add_id)(op, line, self.epoch, stream)

    async def refused(self, batch: Batch, index: int) -> None:
        """Delivery's ``refused`` point: a retried record refused again, or a record of the input queued
        (in the next generation's open part: durable at the next ``before_release``)."""
        for line, epoch, stream in batch.refs_at(index):
            if line is None:
                continue  # a mirror removal: the ledger retries it
            if epoch is self.epoch:
                self.refused_again.add(hash(line))
                continue
            key = (stream.namespace, stream.name)
            if key not in self.folders:
                continue
            if self.max_attempts > 1:
                await self._put(key, Entry(1, line.decode()))
            else:
                self._of(key).given_up += 1

    def acknowledged(self, batch: Batch) -> None:
        """Delivery's ``acknowledged`` point: an input record of a queued record's key, answered (accepted, or
        refused and queued itself), supersedes it: the fresh row wins. Only while such keys are pending is
        each record's key found again (its op rebuilt); otherwise this costs one test per batch."""
        if not self.pending:
            return
        for index in range(len(batch.bodies)):
            for line, epoch, stream in batch.refs_at(index):
                if line is None or epoch is self.epoch or (stream.namespace, stream.name) not in self.folders:
                    continue
                record = protocol.message_decoder.decode(line).record
                op = stream.operation.build(record.data, stream) if record is not None else None
                if op is not None and type(op) is not Rejection and op.key is not None:
                    stale = self.pending.pop(hash(((stream.namespace, stream.name), op.key)), None)
                    if stale is not None:
                        self.superseded.add(stale)

    async def before_release(self) -> None:
        """The checkpoints' release point: the input's refusals so far durable before the state leaves."""
        try:
            await self.writer.flush()
        except StoreError as exc:
            raise store_failure(exc, _FAILED) from None

    async def save(self) -> None:
        """The end of a sync: the queued records refused again carried into the next generation (the old
        parts read once more), that generation completed, then the old parts deleted."""
        for key, parts in self.old.items():
            for part in parts:
                body = await asyncio.to_thread(self.objects.get, part)
                for entry in entries(body):
                    if entry is not None:
                        await self._settle(key, entry)
        try:
            await self.writer.close()
        except StoreError as exc:
            raise store_failure(exc, _FAILED) from None
        stale = [part for parts in self.old.values() for part in parts]
        if stale:
            await asyncio.to_thread(self.objects.delete, stale)
        synced_at = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
        for key, folder in self.folders.items():
            last = {"synced_at": synced_at, **asdict(self._of(key))}
            await asyncio.to_thread(self.objects.put, folder + LAST_SYNC, msgspec.json.encode(last) + b"\n")

    async def _settle(self, key: StreamKey, entry: Entry) -> None:
        """What became of one queued record, once (a line queued twice is settled at its first)."""
        digest = hash(line := entry.line.encode())
        if digest in self.dropped:
            return  # given up as it was read
        if self.seen is not None:
            if digest not in self.seen:
                return  # settled already
            self.seen.discard(digest)
        if digest not in self.refused_again:
            self._of(key).succeeded += 1
        elif digest in self.superseded:
            self._of(key).superseded += 1
        elif entry.attempts + 1 >= self.max_attempts:
            self._of(key).given_up += 1
        else:
            await self._put(key, Entry(entry.attempts + 1, line.decode()))

    async def _put(self, key: StreamKey, entry: Entry) -> None:
        self._of(key).queued += 1
        try:
            await self.writer.add(Lines(key[1], key[0], msgspec.json.encode(entry) + b"\n"))
        except StoreError as exc:
            raise store_failure(exc, _FAILED) from None

    async def abandon(self) -> None:
        """A failed sync: what the next generation holds is written (the old parts stay: the next sync
        reads both, each line once)."""
        try:
            await self.writer.close()
        except StoreError:
            pass  # the sync's own failure is the one to report

    def summary(self) -> str:
        """The counts; when a queue was read, from how many parts, and the sync's in-flight peak."""
        t, parts = self.tally, sum(len(p) for p in self.old.values())
        read = f" Read from {parts} part{'' if parts == 1 else 's'}; at most {self.batcher.peak_inflight} bytes " \
            "were in flight." if parts and self.batcher is not None else ""
        return (f"Retry queue (retry_refused): {t.retried} refused records retried, {t.succeeded} succeeded, "
                f"{t.given_up} given up after {self.max_attempts} attempts, {t.superseded} superseded by a fresh row of "
                f"their key, {t.queued} queued for the next sync.{read}")


async def open_retry(config: Config, streams: dict[StreamKey, Stream]) -> RetryQueue:
    """Every stream's queue found in the store (``refuse_config`` refused storage None); its next
    generation's writer open."""
    from .storage.objects import open_objects

    options = sync_options(config)
    objects = open_objects(config.object_storage_config, options)
    site_id = config.credentials.siteId
    folders = {key: queue_folder(site_id, config.ledger_scope, stream) for key, stream in streams.items()}
    listed = {key: queue_parts(await asyncio.to_thread(objects.list, folder)) for key, folder in folders.items()}
    generation = 1 + max((g for parts in listed.values() for g, _ in parts), default=0)
    sink, head = open_sink(config.object_storage_config, options)
    named = {(stream.namespace, stream.name): key for key, stream in streams.items()}  # what batches carry
    names = {name: folders[key] for name, key in named.items()}
    writer = RollingFiles(sink, _Keys(head, names, generation), LinesPart,
                          options=StoreOptions(**_OPTIONS, request_timeout=options.request_timeout, retry=options.retry))
    spans = len({g for parts in listed.values() for g, _ in parts}) > 1  # a killed sync's generation too
    return RetryQueue(objects, {name: streams[key] for name, key in named.items()}, names,
                      {name: [part for _, part in listed[key]] for name, key in named.items()},
                      writer, config.retry_max_attempts, seen=set() if spans else None)
