"""Delivery: a lane's sealed batches sent one at a time through a sender, and every op in them settled.

    Delivery.lane(lane)        one batch of the lane on the wire at a time; a segment call shared by
                               several lanes is sent by the last to reach it (segments.Barriers)
      deliver(batch)           ledger.before_send (write-ahead intents), then ``sender.refusals(batch)``:
        TrackSender            POST (track.py) -> answer (answers.py) -> refused ops; halved while an
                               answer names no op; a segment add's identifies first (create_missing_people)
        dryrun.DryRun          the ops written to the store, none refused (a dry run)
        each refused op        its record (from the batch: line, epoch, stream) -> the rejected store
      acknowledge(batch)       the rest accepted: room for reading, ledger.acknowledged, epochs' counts

The sender is chosen once, at wiring (commands.py): nothing here knows whether requests really leave.
A refused op's line is decoded once more, only to store its record's data; its stream comes with the
batch. A mirror removal has no line: its rejected record is the removal op itself.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Protocol

import msgspec

from . import protocol
from .answers import BatchResult, refused_positions
from .batching import EMPTY_BATCH, Batch, Batcher, IdBatch, Lane
from .errors import StoreError, store_failure
from .reasons import Rejection
from .rejections import api_rejection, rejected_record
from .segments import Barriers, identify_ops

if TYPE_CHECKING:
    from .stream import Stream
    from .checkpoints import Checkpoints, Epoch
    from .rejected.base import RejectedStore
    from .summary import Counts

_decode = protocol.message_decoder.decode


class Sender(Protocol):
    """Where sealed batches go: ``refusals`` sends one and yields (index, rejection) per refused op."""

    def refusals(self, batch: Batch) -> AsyncIterator[tuple[int, Rejection]]: ...


Send = Callable[[list[int] | range], Awaitable[BatchResult]]


async def halving(send: Send, indices: list[int] | range) -> AsyncIterator[tuple[int, Rejection]]:
    """Send the ops at ``indices`` (``send`` posts them and returns the answer) and yield (index,
    rejection) for each op Customer.io refused, halving the request while the answer names no op.
    Halving resends ops Customer.io did not apply; every op is idempotent (ids are deterministic)."""
    result = await send(indices)
    if result.status != 400:
        refused = refused_positions(result, len(indices))
        if refused is not None:
            for position, error in refused.items():
                yield indices[position], api_rejection(error)
            return
    if len(indices) == 1:
        yield indices[0], api_rejection(result.errors[0] if result.errors else {})
        return
    middle = len(indices) // 2
    async for refusal in halving(send, indices[:middle]):
        yield refusal
    async for refusal in halving(send, indices[middle:]):
        yield refusal


class TrackSender:
    """Batches to Customer.io through ``client`` (track.TrackClient: one request with its retries)."""

    def __init__(self, client: Any, counts: Counts, batch_max_bytes: int) -> None:
        self.client = client
        self.counts = counts
        self.batch_max_bytes = batch_max_bytes

    async def _post(self, body: bytes, ops: int, route: str | None = None) -> BatchResult:
        self.counts.post(ops)
        if route is not None:
            return await self.client.send_ids(route, body, ops)
        return await self.client.send_batch(body)

    async def refusals(self, batch: Batch) -> AsyncIterator[tuple[int, Rejection]]:
        """For an id list that creates missing people, their identifies go first, in v2 batches; an id
        whose identify was refused is not added (its record is rejected with the identify's reason)."""
        indices: list[int] | range = range(len(batch.bodies))
        if type(batch) is not IdBatch:
            async for refusal in halving(lambda part: self._post(batch.body(part), len(part)), indices):
                yield refusal
            return
        if batch.creates:
            refused: set[int] = set()
            for chunk, ops in identify_chunks(batch, self.batch_max_bytes):
                def identify(part: list[int] | range, ops: list[bytes] = ops) -> Awaitable[BatchResult]:
                    return self._post(b'{"batch":[' + b",".join(ops[i] for i in part) + b"]}", len(part))

                async for position, rejection in halving(identify, range(len(ops))):
                    refused.add(chunk[position])
                    yield chunk[position], rejection
            indices = [index for index in indices if index not in refused]
        if indices:
            async for refusal in halving(lambda part: self._post(batch.body(part), len(part), batch.route),
                                         indices):
                yield refusal


def identify_chunks(batch: IdBatch, batch_max_bytes: int) -> list[tuple[list[int], list[bytes]]]:
    """``identify_ops`` in chunks of (id indices, ops) whose v2 body stays within ``batch_max_bytes``."""
    chunks: list[tuple[list[int], list[bytes]]] = [([], [])]
    size = EMPTY_BATCH
    for index, op in enumerate(identify_ops(batch)):
        if chunks[-1][1] and size + len(op) + 1 > batch_max_bytes:
            chunks.append(([], []))
            size = EMPTY_BATCH
        chunks[-1][0].append(index)
        chunks[-1][1].append(op)
        size += len(op) + 1
    return chunks


def removal_record(stream: Stream, body: bytes, route: str | None) -> protocol.Record:
    """What a refused mirror removal is stored as: the removal op and its path, under its stream."""
    return protocol.Record(stream=stream.name, namespace=stream.namespace, emitted_at=0,
                           data={"_mirror_removal": msgspec.json.decode(body), "_path": route or "/api/v2/batch"})


class Delivery:
    """Sends the lanes' batches through ``sender`` and settles each op: accepted or stored as rejected.

    ``room`` is set whenever an answered batch frees in-flight bytes (reading waits on it); ``removals``
    is the epoch of the mirror removals once they are queued (their records belong to no state)."""

    def __init__(self, sender: Sender, batcher: Batcher, checkpoints: Checkpoints, counts: Counts,
                 store: RejectedStore, wakes: list[asyncio.Event], failed: asyncio.Future[None],
                 ledger: Any = None, log: Any = None, retry: Any = None) -> None:
        self.sender = sender
        self.batcher = batcher
        self.checkpoints = checkpoints
        self.counts = counts
        self.store = store
        self.wakes = wakes
        self.ledger = ledger  # the sync ledger (ledger/sync.py), told of each outcome; None without one
        self.log = log  # the sync log (synclog.py), told of each outcome; None when off
        self.retry = retry  # the retry queue (retry.py), told of each refusal; None when off
        self.room = asyncio.Event()
        self.removals: Epoch | None = None
        self._barriers = Barriers(failed)
        self._failed = failed

    async def lane(self, lane: Lane) -> None:
        """Send the lane's queue in order until it is closed and empty (a failure ends the sync)."""
        wake = self.wakes[lane.index]
        while True:
            if not lane.queue:
                if lane.closing:
                    return
                wake.clear()
                await wake.wait()
                continue
            batch = lane.queue[0]
            if type(batch) is IdBatch and len(batch.lanes) > 1:
                if await self._barriers.meet(batch, lane):
                    await self.deliver(batch)
                    self._barriers.answered(batch)
                    self.acknowledge(batch)
                elif self._failed.done():
                    return
                continue
            await self.deliver(batch)
            lane.queue.popleft()
            self.acknowledge(batch)

    async def settle(self) -> None:
        """Seal every open batch and wait until each lane has had all it holds answered (or the sync
        failed: the caller raises)."""
        self.batcher.seal_all()
        while any(lane.queue for lane in self.batcher.lanes) and not self._failed.done():
            await asyncio.sleep(0.01)

    async def deliver(self, batch: Batch) -> None:
        """Send the batch and store what Customer.io refused."""
        ledger = self.ledger
        if ledger is not None:
            await ledger.before_send(batch)
        async for index, rejection in self.sender.refusals(batch):
            if ledger is not None:
                ledger.refused(batch, index)
            if self.log is not None:
                self.log.refused(batch, index, rejection)
            if self.retry is not None:
                self.retry.refused(batch, index)
            body, route = batch.bodies[index], getattr(batch, "route", None)
            retrying = self.retry.epoch if self.retry is not None else None
            for line, epoch, stream in batch.refs_at(index):
                if epoch is not retrying:  # a retried record refused again counts in no accepted total
                    batch.rejected += 1
                record = _decode(line).record if line is not None else removal_record(stream, body, route)
                assert record is not None  # only RECORD lines ever reach a batch
                await self.reject(record, epoch, rejection, stream)

    def acknowledge(self, batch: Batch) -> None:
        """Every op of ``batch`` not refused is accepted (or removed); its epochs' records are settled."""
        self.batcher.inflight -= batch.weight
        self.room.set()
        counts = batch.epoch_counts()
        removals = self.removals is not None and self.removals in counts
        if removals:
            self.counts.remove(sum(counts.values()) - batch.rejected)
        elif self.retry is not None and self.retry.epoch in counts:  # retried records count in no state
            self.counts.accept(sum(counts.values()) - counts[self.retry.epoch] - batch.rejected)
        else:
            self.counts.accept(sum(counts.values()) - batch.rejected)
        if self.ledger is not None:
            self.ledger.acknowledged(batch, removals)
        if self.log is not None:
            self.log.acknowledged(batch, removals)
        if self.retry is not None:
            self.retry.acknowledged(batch)
        for epoch, count in counts.items():
            self.checkpoints.finish(epoch, count)

    async def reject(self, record: protocol.Record, epoch: Epoch, rejection: Rejection,
                     stream: Stream | None) -> None:
        """``record`` stored as rejected, and counted (a refused mirror removal counts for no state)."""
        key = (stream.namespace, stream.name) if stream is not None else (record.namespace, record.stream)
        if epoch is self.removals:
            self.counts.refuse_removal()
        elif self.retry is None or epoch is not self.retry.epoch:  # a retried one: counted by the queue
            self._count_rejection(key, epoch, rejection, stream)
        try:
            await self.store.add(rejected_record(record, rejection, stream))
        except StoreError as exc:
            raise store_failure(exc) from None
        if self.store.buffers:  # else nothing to flush: the state behind this record need not wait
            self.checkpoints.buffered()

    def _count_rejection(self, key: tuple, epoch: Epoch, rejection: Rejection, stream: Stream | None) -> None:
        self.checkpoints.rejected(epoch, key)
        self.counts.reject(rejection.reason)
        if stream is not None:
            stream.counts.reject(rejection)
