"""The retry queue (``retry_refused: true``): records Customer.io refused, re-sent at the start of later syncs.

    <root>/_customerio_retry/site-<hash of siteId>/<ledger_scope>/<namespace>__<stream>/queue.jsonl
        one JSON line per queued record: {"attempts": n, "line": "<the record's raw Airbyte line>"}
    .../<namespace>__<stream>/last_sync.json
        the last sync's counts of that stream: {"synced_at", "retried", "succeeded", "given_up",
        "superseded", "queued"}; written beside the queue, for ``ledger show``, never read by a sync

Only what Customer.io refused is queued (a 207 entry, a 400 found by halving, a v1 404), told by delivery
at its ``refused`` point; a record rejected before sending cannot succeed unchanged and is not. At the
start of a later sync of the same stream the queued lines go through the lanes first, under their own
epoch, which no state counts (as the mirror removals). Accepted: they leave the queue; refused again:
stored as rejected like any refusal, attempts + 1, given up at ``retry_max_attempts``. The queue is
written whole at the end of the sync. None when off: nothing of it is called, the store is not read.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import msgspec

from . import protocol
from .reasons import Rejection
from .storage.names import scope_prefix as scoped, stream_folder

if TYPE_CHECKING:
    from .batching import Batch, Batcher
    from .checkpoints import Checkpoints, Epoch
    from .config import Config
    from .stream import Stream

ROOT = "_customerio_retry"
QUEUE = "queue.jsonl"
LAST_SYNC = "last_sync.json"


class Entry(msgspec.Struct):
    attempts: int
    line: str


def scope_prefix(site_id: str, ledger_scope: str) -> str:
    """The queues of one ledger scope: beside the ledger, never naming the site id (a secret)."""
    return scoped(ROOT, site_id, ledger_scope)


def queue_key(site_id: str, ledger_scope: str, stream: Stream) -> str:
    """Where ``stream``'s queue lives."""
    return f"{scope_prefix(site_id, ledger_scope)}{stream_folder(stream.namespace, stream.name)}/{QUEUE}"


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


@dataclass(slots=True)
class RetryQueue:
    """One sync's retry queue over every stream: loaded at the start, told each refusal, written at the end."""

    objects: Any
    keys: dict[tuple[str | None, str], str]  # stream key -> its queue's object key
    max_attempts: int
    epoch: Epoch = field(default_factory=_epoch)  # the retried records' (no state counts it)
    loaded: dict[bytes, tuple[int, tuple[str | None, str]]] = field(default_factory=dict)  # line -> attempts
    pending: dict[tuple[tuple[str | None, str], str], bytes] = field(default_factory=dict)  # (stream, key) -> line
    superseded: set[bytes] = field(default_factory=set)  # queued lines whose key the input delivered again
    refused_again: set[bytes] = field(default_factory=set)
    fresh: dict[tuple[str | None, str], list[Entry]] = field(default_factory=dict)  # refused this sync
    tallies: dict[tuple[str | None, str], RetryTally] = field(default_factory=dict)  # per stream

    @property
    def tally(self) -> RetryTally:
        """Every stream's counts summed (the summary's)."""
        total = RetryTally()
        for one in self.tallies.values():
            for name, value in asdict(one).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def _of(self, key: tuple[str | None, str]) -> RetryTally:
        return self.tallies.setdefault(key, RetryTally())

    async def load(self) -> None:
        for key, object_key in self.keys.items():
            data = await asyncio.to_thread(self.objects.get, object_key)
            for text in (data or b"").splitlines():
                try:
                    entry = msgspec.json.decode(text, type=Entry)
                except msgspec.MsgspecError:  # a line not written here (an edit, a torn file): dropped
                    self._of(key).given_up += 1
                    continue
                self.loaded[entry.line.encode()] = (entry.attempts, key)

    async def queue(self, batcher: Batcher, checkpoints: Checkpoints,
                    streams: dict[tuple[str | None, str], Stream]) -> None:
        """The loaded records into the lanes under their own epoch, before any input. A line that no
        longer builds (its stream's mapping changed) is given up."""
        epoch = self.epoch
        for line, (_, key) in list(self.loaded.items()):
            stream = streams[key]
            record = protocol.message_decoder.decode(line).record
            op = stream.operation.build(record.data, stream) if record is not None else None
            if op is None or type(op) is Rejection:
                del self.loaded[line]
                self._of(key).given_up += 1
                continue
            self._of(key).retried += 1
            if op.ordered and op.key is not None:  # an event is never superseded: each one is its own
                self.pending[(key, op.key)] = line
            checkpoints.read(epoch, 1)
            (batcher.add if op.route is None else batcher.add_id)(op, line, epoch, stream)

    def refused(self, batch: Batch, index: int) -> None:
        """Delivery's ``refused`` point: a retried record refused again, or a record of the input queued."""
        for line, epoch, stream in batch.refs_at(index):
            if line is None:
                continue  # a mirror removal: the ledger retries it
            if epoch is self.epoch:
                self.refused_again.add(line)
            else:
                key = (stream.namespace, stream.name)
                if key in self.keys:
                    self.fresh.setdefault(key, []).append(Entry(1, line.decode()))

    def acknowledged(self, batch: Batch) -> None:
        """Delivery's ``acknowledged`` point: an input record of a queued record's key, answered (accepted, or
        refused and queued itself), supersedes it: the fresh row wins. Only while such keys are pending is
        each record's key found again (its op rebuilt); otherwise this costs one test per batch."""
        if not self.pending:
            return
        streams = {stream for stream, _ in self.pending}
        for index in range(len(batch.bodies)):
            for line, epoch, stream in batch.refs_at(index):
                if line is None or epoch is self.epoch or (stream.namespace, stream.name) not in streams:
                    continue
                record = protocol.message_decoder.decode(line).record
                op = stream.operation.build(record.data, stream) if record is not None else None
                if op is not None and type(op) is not Rejection and op.key is not None:
                    stale = self.pending.pop(((stream.namespace, stream.name), op.key), None)
                    if stale is not None:
                        self.superseded.add(stale)

    async def save(self) -> None:
        """Each stream's queue written whole: this sync's refusals and the retried records refused again."""
        kept: dict[tuple[str | None, str], list[Entry]] = {key: [] for key in self.keys}
        for line, (attempts, key) in self.loaded.items():
            if line in self.superseded and line in self.refused_again:
                self._of(key).superseded += 1
            elif line not in self.refused_again:
                self._of(key).succeeded += 1
            elif attempts + 1 >= self.max_attempts:
                self._of(key).given_up += 1
            else:
                kept[key].append(Entry(attempts + 1, line.decode()))
        for key, entries in self.fresh.items():
            kept[key].extend(entries if self.max_attempts > 1 else [])
            self._of(key).given_up += 0 if self.max_attempts > 1 else len(entries)
        synced_at = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
        for key, entries in kept.items():
            self._of(key).queued += len(entries)
            body = b"".join(msgspec.json.encode(entry) + b"\n" for entry in entries)
            await asyncio.to_thread(self.objects.put, self.keys[key], body)
            last = {"synced_at": synced_at, **asdict(self._of(key))}
            await asyncio.to_thread(self.objects.put, self.keys[key].removesuffix(QUEUE) + LAST_SYNC,
                                    msgspec.json.encode(last) + b"\n")

    def summary(self) -> str:
        t = self.tally
        return (f"Retry queue (retry_refused): {t.retried} refused records retried, {t.succeeded} succeeded, "
                f"{t.given_up} given up after {self.max_attempts} attempts, {t.superseded} superseded by a fresh row of "
                f"their key, {t.queued} queued for the next sync.")


def describe(queue: bytes | None, last_sync: bytes | None) -> dict[str, Any]:
    """What ``ledger show`` says of one stream's queue: its records by attempts made, and the last sync's
    counts (None before a sync wrote them); a line not written here is counted as unreadable."""
    attempts: dict[int, int] = {}
    unreadable = 0
    for text in (queue or b"").splitlines():
        try:
            entry = msgspec.json.decode(text, type=Entry)
        except msgspec.MsgspecError:
            unreadable += 1
            continue
        attempts[entry.attempts] = attempts.get(entry.attempts, 0) + 1
    try:
        last = msgspec.json.decode(last_sync) if last_sync else None
    except msgspec.MsgspecError:
        last = None
    return {"records": sum(attempts.values()), "attempts": dict(sorted(attempts.items())),
            "unreadable": unreadable, "last_sync": last if isinstance(last, dict) else None}


async def open_retry(config: Config, streams: dict[tuple[str | None, str], Stream]) -> RetryQueue | None:
    """Every stream's queue loaded from the store (``refuse_config`` refused storage None); None when off."""
    if not config.retry_refused:
        return None
    from .storage.objects import open_objects
    from .storage.options import sync_options

    objects = open_objects(config.object_storage_config, sync_options(config))
    site_id = config.credentials.siteId
    keys = {key: queue_key(site_id, config.ledger_scope, stream) for key, stream in streams.items()}
    queue = RetryQueue(objects, keys, config.retry_max_attempts)
    await queue.load()
    return queue
