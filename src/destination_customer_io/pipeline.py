"""The ``write`` pipeline: lines -> ops -> lanes -> batches -> Customer.io -> acknowledgements -> states.

    stdin lines --decode--> RECORD --Operation.build--> Op --route by key--> Lane.open batch
                  |                        \\-> Rejection --------------------------> rejected store
                  \\-> STATE: closes the current epoch
    Lane: one batch on the wire at a time (retries included), so ops of one key are applied in order.
    Batch answered: 207 entries -> rejected store; the rest accepted; the epochs' pending counts drop.
    Releaser: an epoch whose records are all handled, and all earlier epochs too, has its STATE emitted,
    after one store flush makes every rejected record before it durable.

Properties this module keeps (and tests prove): a STATE never precedes an unhandled earlier record;
states leave in input order; two ordered ops of one key are never in flight at once, nor in one batch
unless merged; memory is bounded by ``max_inflight_bytes`` plus one open batch per lane.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from bisect import bisect_right
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import msgspec

from . import checkpoints, guards, protocol, reasons
from .catalog import Stream
from .errors import StoreError, SyncError, SystemFailure, TransientFailure, store_failure
from .operations.base import Op, Operation
from .reasons import Rejection
from .output import Output
from .rejected.base import RejectedRecord, RejectedStore
from .limits import SEGMENT_IDS_PER_CALL
from .track import BatchResult, TrackClient

_decode = protocol.message_decoder.decode
_EMPTY_BATCH = len(b'{"batch":[]}')
_EMPTY_IDS = len(b'{"ids":[]}')
_OPEN_ID_ROUTES = 16  # open id lists per lane; more routes seal the oldest (bounds memory)
_BATCH_MAX_AGE = 5.0  # an open batch is sent after this long even when no state waits on it
_TICK = 0.1
# A sync allocates a few containers per record, and most live until their batch is answered. With
# CPython's default thresholds (700, 10, 10) the collector then ran every ~150 records and a full pass
# scanned every op in flight plus every object of the imported libraries: ~20% of the CPU of an
# identify sync. The pipeline makes few reference cycles, so collecting far less often is enough.
_GC_THRESHOLDS = (50_000, 50, 100)


def _relax_gc() -> tuple[int, int, int]:
    """Freeze what start-up allocated (never scanned again) and raise the thresholds; returns the old
    thresholds for ``_restore_gc`` (the process may go on, as in tests, after a sync)."""
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    return previous


def _restore_gc(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def _count_records(counts: Counts, epoch: Epoch, read: int) -> None:
    """``read`` RECORD lines of one epoch: counted, and pending in the epoch until each is answered."""
    counts.lines += read
    counts.records += read
    epoch.records += read
    epoch.pending += read


class Epoch:
    """The records between two STATE messages; ``pending`` counts those not yet handled.

    ``reads`` and ``rejects`` split the epoch's records by stream (the catalog key, or the record's own
    (namespace, name) for a stream missing from the catalog): a STREAM state counts only its own stream."""

    __slots__ = ("state", "pending", "records", "rejected", "closed_at", "reads", "rejects", "counted")

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.pending = 0
        self.records = 0
        self.rejected = 0
        self.closed_at: float | None = None
        self.reads: dict[StreamKey, int] = {}  # filled when the epoch closes
        self.rejects: dict[StreamKey, int] = {}
        self.counted: checkpoints.Counted | None = None  # which records the state counts


StreamKey = checkpoints.StreamKey

# A line of input and the epoch it belongs to: enough to reject the record later (lines are re-decoded
# only then, so an in-flight record costs its raw bytes, not a decoded dict).
Ref = tuple[bytes, Epoch]


class Batch:
    """Ops to send in one request, with the input line of each (to reject it if refused).

    The epoch of op ``i`` is the last entry of ``epochs`` whose start (``starts``) is <= i: ops arrive
    in input order, so epochs form runs, and a run costs one comparison per op where a (line, epoch)
    pair and a per-epoch count cost two allocations and a dict update.

    An ordered op is remembered by its key and index only; ``ordered_op`` rebuilds it when a later op
    of the key arrives (rare). Keeping each ``Op`` in an (index, op) pair until the batch was sealed cost
    ~0.4 µs per identify record (bench/pipeline_bench.py, alternated runs): memory that stays alive.
    ``kind`` is the operation of the batch's ordered ops; ``kinds`` names the others (rare: one batch
    mixing, say, person_identify and person_device). A rebuilt op has no ``changes``: they were counted
    when it was built (``Pipeline._handle_lines``), and nothing after that reads them.
    """

    __slots__ = ("bodies", "lines", "starts", "epochs", "size", "keys", "kind", "kinds", "merged", "opened",
                 "rejected")

    def __init__(self, now: float) -> None:
        self.bodies: list[bytes] = []
        self.lines: list[bytes] = []
        self.starts: list[int] = []  # index of the first op of each epoch run
        self.epochs: list[Epoch] = []  # the epoch of each run
        self.size = _EMPTY_BATCH
        self.keys: dict[str, int] = {}  # key -> index of its ordered op in this batch
        self.kind: Operation | None = None
        self.kinds: dict[int, Operation] = {}  # index -> operation, where it is not ``kind``
        self.merged: dict[int, list[Ref]] = {}  # index -> further records folded into that op
        self.opened = now
        self.rejected = 0  # records of this batch refused by Customer.io

    def append(self, body: bytes, line: bytes, epoch: Epoch) -> None:
        if not self.epochs or self.epochs[-1] is not epoch:
            self.starts.append(len(self.bodies))
            self.epochs.append(epoch)
        self.bodies.append(body)
        self.lines.append(line)

    def ordered_op(self, key: str, index: int) -> Op:
        """The ordered op of ``key`` at ``index``, as it was added (or last merged)."""
        return Op(self.bodies[index], key, ordered=True, operation=self.kinds.get(index, self.kind))

    def refs_at(self, index: int) -> list[Ref]:
        ref = (self.lines[index], self.epochs[bisect_right(self.starts, index) - 1])
        extra = self.merged.get(index)
        return [ref, *extra] if extra else [ref]

    def epoch_counts(self) -> dict[Epoch, int]:
        """Records per epoch, merged ones included (what an acknowledgement releases)."""
        counts: dict[Epoch, int] = {}
        ends = [*self.starts[1:], len(self.bodies)]
        for epoch, start, end in zip(self.epochs, self.starts, ends):
            counts[epoch] = counts.get(epoch, 0) + end - start
        for refs in self.merged.values():
            for _, epoch in refs:
                counts[epoch] = counts.get(epoch, 0) + 1
        return counts

    def body(self, indices: list[int] | range) -> bytes:
        return self.joined(b'{"batch":[', indices, b"]}")

    def joined(self, opening: bytes, indices: list[int] | range, closing: bytes) -> bytes:
        """``opening`` + the ops at ``indices`` comma-separated + ``closing``, in one ``join``: adding
        the brackets to a joined 500 KB body copied it twice more (``body`` took 209 ms instead of 104
        ms over a million events)."""
        if len(indices) == len(self.bodies):  # the whole batch (the usual send)
            parts = list(self.bodies)
        else:
            parts = [self.bodies[i] for i in indices]
        if not parts:
            return opening + closing
        parts[0] = opening + parts[0]
        parts[-1] += closing
        return b",".join(parts)


class IdBatch(Batch):
    """The ids of one v1 route (``Op.route``: a manual segment's add or remove call) in one lane,
    sent as ``{"ids":[...]}``. Answered, split and acknowledged exactly like a v2 batch."""

    __slots__ = ("route",)

    def __init__(self, now: float, route: str) -> None:
        Batch.__init__(self, now)
        self.route = route
        self.size = _EMPTY_IDS

    def body(self, indices: list[int] | range) -> bytes:
        return self.joined(b'{"ids":[', indices, b"]}")


class Lane:
    """Sends its sealed batches one at a time, in order."""

    __slots__ = ("open", "queue", "wake", "closing", "id_batches", "id_keys")

    def __init__(self, now: float) -> None:
        self.open = Batch(now)
        self.queue: deque[Batch] = deque()
        self.wake = asyncio.Event()
        self.closing = False
        self.id_batches: dict[str, IdBatch] = {}  # route -> its open id list (oldest first)
        self.id_keys: dict[str, IdBatch] = {}  # key -> the open id list holding it


@dataclass(slots=True)
class Counts:
    lines: int = 0
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    unreadable_lines: int = 0
    states_in: int = 0
    states_out: int = 0
    merged: int = 0
    batches: int = 0
    ops_sent: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    by_object: dict[str, Counter] = field(default_factory=dict)


class Pipeline:
    def __init__(
        self,
        *,
        streams: dict[tuple[str | None, str], Stream],
        client: TrackClient,
        store: RejectedStore,
        output: Output,
        lanes: int = 24,
        batch_max_bytes: int = 500_000,
        max_inflight_bytes: int = 16_000_000,
        state_max_delay: float = 1.0,
        progress_interval: float = 10.0,
        flush_interval: float = 1.0,
        max_rejected_percent: float | None = None,
    ) -> None:
        self.streams = streams
        self.client = client
        self.store = store
        self.out = output
        self.batch_max_bytes = batch_max_bytes
        self.max_inflight_bytes = max_inflight_bytes
        self.state_max_delay = state_max_delay
        self.progress_interval = progress_interval
        self.flush_interval = flush_interval
        self.max_rejected_percent = max_rejected_percent
        self._warned: set[StreamKey] = set()  # streams already warned of for their rejected share
        self._over_limit: SyncError | None = None  # max_rejected_percent exceeded: raised after the drain
        now = time.monotonic()
        self.lanes = [Lane(now) for _ in range(lanes)]
        self._lane_count = lanes
        self._next_lane = 0
        self.epochs: deque[Epoch] = deque([Epoch()])
        self.counts = Counts()
        self._inflight = 0
        self._room = asyncio.Event()
        self._release_wake = asyncio.Event()
        self._input_done = asyncio.Event()  # cuts a grouped-flush wait short: the last states go now
        self._failure: BaseException | None = None
        self._failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop_requested: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._release_lock = asyncio.Lock()
        self._unflushed = 0  # rejected records added since the last store flush
        self._last_flush = 0.0
        self._started = now
        self._tally = checkpoints.Tally()
        self._read_marks: dict[StreamKey, int] = {}  # stream key -> its records_read at the last STATE
        self._unknown_reads: Counter = Counter()  # records of streams missing from the catalog, by key
        self._line_base = 0  # input lines before the current chunk (for true line numbers in logs)
        self._statuses: dict[StreamKey, str] = {}  # last STREAM_STATUS seen per stream

    # --- reading ---------------------------------------------------------------------------------

    async def run(self, chunks: AsyncIterator[list[bytes]]) -> None:
        """Consume every line, deliver everything, emit every honest state; raise SyncError on failure."""
        tasks = [asyncio.create_task(self._lane_loop(lane)) for lane in self.lanes]
        helpers = [asyncio.create_task(self._release_loop()), asyncio.create_task(self._tick_loop())]
        gc_thresholds = _relax_gc()
        try:
            iterator = aiter(chunks)
            while True:
                lines = await self._next_chunk(iterator)
                if lines is None:
                    break
                for record, epoch, rejection, stream in self._handle_lines(lines):
                    await self._reject_record(record, epoch, rejection, stream)
                    self._finish(epoch, 1)
                self._raise_if_failed()
                await self._wait_for_room()
                if self._judge_rejections(final=False):
                    break  # read no more: deliver what was read, emit its states, then stop
            await self._drain(tasks, helpers[0])
            self._judge_rejections(final=True)
            self._warn_incomplete_streams()
            if self._over_limit is not None:
                raise self._over_limit
        finally:
            for task in (*tasks, *helpers):
                task.cancel()
            await asyncio.gather(*tasks, *helpers, return_exceptions=True)
            _restore_gc(gc_thresholds)
        self._raise_if_failed()

    async def _next_chunk(self, iterator: AsyncIterator[list[bytes]]) -> list[bytes] | None:
        """The next chunk of lines, or None at EOF; a failure elsewhere interrupts a slow stdin."""
        step = asyncio.ensure_future(anext(iterator, None))
        await asyncio.wait((step, self._failed, self._stop_requested), return_when=asyncio.FIRST_COMPLETED)
        if not step.done():
            step.cancel()
        self._raise_if_failed()
        if self._stop_requested.done():
            return None  # graceful stop: nothing more is read; what was read is still delivered
        return step.result()

    def stop(self, grace: float) -> None:
        """Graceful stop (SIGTERM): read no more input, deliver what was read and emit the states it
        makes honest. What is still unacknowledged after ``grace`` seconds fails the sync instead."""
        if self._stop_requested.done():
            return
        self._stop_requested.set_result(None)
        asyncio.get_running_loop().call_later(grace, self._fail, TransientFailure(
            f"The sync was stopped (SIGTERM) and its last batches were not acknowledged within {grace:g} s; "
            "every state emitted is backed by acknowledged records."))

    @property
    def stopped(self) -> bool:
        return self._stop_requested.done()

    def _handle_lines(self, lines: list[bytes]) -> list[tuple[Any, Epoch, Rejection, Stream | None]]:
        """One chunk of input lines, in order: each RECORD is built into an op and batched, each STATE
        closes an epoch. Returns the records to reject (``run`` stores them: that may wait on I/O).
        The hot path: one call per chunk, so per line only the work itself remains. The chunk's records
        are added to the counts and to their epoch in one step before a STATE and at the end (nothing
        reads them in between: acknowledgements run only once this returns), ~0.1 µs per record less."""
        rejections: list[tuple[Any, Epoch, Rejection, Stream | None]] = []
        counts, streams, epochs = self.counts, self.streams, self.epochs
        largest_op = self.batch_max_bytes - _EMPTY_BATCH
        epoch = epochs[-1]
        read = 0  # records read into ``epoch`` and not yet counted
        base = self._line_base
        self._line_base += len(lines)
        for number, line in enumerate(lines, base + 1):
            try:
                message = _decode(line)
            except _UNDECODABLE:
                if line and not line.isspace():
                    counts.lines += 1
                    self._handle_odd_line(line, rejections, number)
                continue
            record = message.record
            if record is None or message.type != "RECORD":
                counts.lines += 1
                _count_records(counts, epoch, read)
                read = 0
                self._handle_other(message, line, rejections, number)
                epoch = epochs[-1]
                continue
            read += 1  # pending: released by _finish once sent and acknowledged, or rejected and stored
            stream = streams.get((record.namespace, record.stream))
            if stream is None and record.namespace:
                stream = streams.get((None, record.stream))
            if stream is None:
                self._unknown_reads[(record.namespace, record.stream)] += 1
                rejections.append((record, epoch, unknown_stream(record.stream), None))
                continue
            stream.records_read += 1
            op = stream.operation.build(record.data, stream)
            if type(op) is Rejection:
                rejections.append((record, epoch, op, stream))
                continue
            if op.changes:
                for change in op.changes:
                    stream.changed[change.get("change", "CHANGED")] += 1
            if len(op.body) > largest_op:  # only with a tiny batch_max_bytes
                rejections.append((record, epoch, larger_than_batch(len(op.body), self.batch_max_bytes), stream))
            elif op.route is None:
                self._add(op, line, epoch)
            else:
                self._add_id(op, line, epoch)
        _count_records(counts, epoch, read)
        return rejections

    def _handle_other(self, message: protocol.Message, line: bytes, rejections: list, number: int) -> None:
        """A message that is not a well-formed RECORD: a STATE closes the epoch; a RECORD without its
        record is an odd line; a stream status is remembered; LOG, CONTROL...: nothing to answer."""
        if message.type == "STATE":
            if message.state is not None:
                self._close_epoch(message.state)
        elif message.type == "RECORD":
            self._handle_odd_line(line, rejections, number)
        elif message.type == "TRACE" and message.trace is not None:
            status = protocol.stream_status(message.trace)
            if status is not None:
                self._statuses[self._key_of(*status[0])] = status[1]

    def _key_of(self, namespace: str | None, name: str) -> StreamKey:
        """The key a stream's records are counted under: the catalog's (looked up as records are),
        else the stream's own (namespace, name)."""
        if (namespace, name) in self.streams:
            return (namespace, name)
        if namespace and (None, name) in self.streams:
            return (None, name)
        return (namespace, name)

    def _handle_odd_line(self, line: bytes, rejections: list, number: int) -> None:
        """A line the typed decoder refused: a record we can tie to a stream is rejected with a
        reason; anything else is counted and logged without its content."""
        loose, note = loose_decode(line)
        record = loose.get("record") if isinstance(loose, dict) and loose.get("type") == "RECORD" else None
        if isinstance(record, dict) and isinstance(record.get("stream"), str):
            epoch = self.epochs[-1]
            epoch.records += 1
            epoch.pending += 1
            self.counts.records += 1
            namespace = record.get("namespace") if isinstance(record.get("namespace"), str) else None
            data = record.get("data")
            emitted = record.get("emitted_at")
            loose_record = protocol.Record(
                stream=record["stream"],
                namespace=namespace,
                data=data if isinstance(data, dict) else {"_airbyte_data": data},
                emitted_at=emitted if isinstance(emitted, (int, float)) and not isinstance(emitted, bool) else 0,
            )
            key = self._key_of(namespace, record["stream"])
            stream = self.streams.get(key)
            if stream is not None:
                stream.records_read += 1
            else:
                self._unknown_reads[key] += 1
            rejections.append((loose_record, epoch, malformed_record(data, note), stream))
            return
        self.counts.unreadable_lines += 1
        if self.counts.unreadable_lines <= 10 or self.counts.unreadable_lines % 1000 == 0:
            self.out.log(
                f"Skipped an input line that is not an Airbyte message ({len(line)} bytes, line "
                f"{number}); {self.counts.unreadable_lines} skipped so far.",
                "WARN",
            )

    def _close_epoch(self, state: dict[str, Any]) -> None:
        self.counts.states_in += 1
        epoch = self.epochs[-1]
        epoch.counted = checkpoints.counted_by(state, self._key_of)
        self._tally.check_kind(epoch.counted)
        epoch.reads = self._reads_since_last_state()
        epoch.state = state
        epoch.closed_at = time.monotonic()
        self.epochs.append(Epoch())
        self._release_wake.set()

    def _reads_since_last_state(self) -> dict[StreamKey, int]:
        """Records read per stream since the previous STATE (any stream's): the streams' running
        ``records_read`` against their marks, so the hot path counts nothing per stream."""
        reads: dict[StreamKey, int] = {}
        marks = self._read_marks
        for key, stream in self.streams.items():
            count = stream.records_read - marks.get(key, 0)
            if count:
                reads[key] = count
                marks[key] = stream.records_read
        if self._unknown_reads:
            for key, count in self._unknown_reads.items():
                reads[key] = reads.get(key, 0) + count
            self._unknown_reads.clear()
        return reads

    def _judge_rejections(self, *, final: bool) -> bool:
        """Warn once of a stream rejecting >= 90% of its records; True when one exceeds
        ``max_rejected_percent`` (the sync then ends with a config_error once what was read is handled)."""
        for key, stream in self.streams.items():
            share = guards.share_of(stream, final=final)
            if share is None:
                continue
            if share.percent >= guards.WARN_PERCENT and key not in self._warned:
                self._warned.add(key)
                self.out.log(guards.warning(stream, share), "WARN")
            limit = self.max_rejected_percent
            if limit is not None and share.percent > limit and self._over_limit is None:
                self._over_limit = guards.limit_error(stream, share, limit)
        return self._over_limit is not None

    def _warn_incomplete_streams(self) -> None:
        """Sources that report stream statuses end each stream with COMPLETE; a catalog stream left
        without one may have been cut short upstream. Input without any status (PyAirbyte, scripts)
        says nothing either way."""
        if not self._statuses:
            return
        for key, stream in self.streams.items():
            status = self._statuses.get(key)
            if status != "COMPLETE":
                self.out.log(f"Stream {stream.label} ended without a COMPLETE stream status (last status: "
                             f"{status or 'none'}); the source may not have sent all of its records.", "WARN")

    # --- batching --------------------------------------------------------------------------------

    def _add(self, op: Op, line: bytes, epoch: Epoch) -> None:
        key = op.key
        if key is not None:
            lane = self.lanes[hash(key) % self._lane_count]
        else:
            self._next_lane = (self._next_lane + 1) % self._lane_count
            lane = self.lanes[self._next_lane]
        batch = lane.open
        if op.ordered and key is not None:
            if lane.id_keys and key in lane.id_keys:  # this key's earlier id-list op goes out first
                self._seal_ids(lane, lane.id_keys[key])
            earlier = batch.keys.get(key)
            if earlier is not None:
                if self._merge_into(batch, batch.ordered_op(key, earlier), earlier, op, line, epoch):
                    return
                # Never two unmerged ordered ops of one key in one batch: Customer.io may apply
                # a batch's ops in any order. The next batch of this lane goes after this one.
                self._seal(lane)
                batch = lane.open
        size = batch.size + len(op.body) + (1 if batch.bodies else 0)
        if size > self.batch_max_bytes:
            self._seal(lane)
            batch = lane.open
            size = batch.size + len(op.body)
        if not batch.bodies:
            batch.opened = time.monotonic()  # a batch's age counts from its first op
        batch.append(op.body, line, epoch)
        batch.size = size
        if op.ordered and key is not None:
            index = batch.keys[key] = len(batch.bodies) - 1
            if op.operation is not batch.kind:
                if batch.kind is None:
                    batch.kind = op.operation
                else:
                    batch.kinds[index] = op.operation

    def _merge_into(self, batch: Batch, first: Op, index: int, op: Op, line: bytes, epoch: Epoch) -> bool:
        if first.operation is not op.operation:
            return False
        merged = op.operation.merge(first, op)
        if merged is None:
            return False
        size = batch.size - len(first.body) + len(merged.body)
        if size > self.batch_max_bytes:
            return False
        batch.bodies[index] = merged.body
        batch.size = size
        batch.merged.setdefault(index, []).append((line, epoch))
        self.counts.merged += 1
        return True

    def _seal(self, lane: Lane) -> None:
        batch = lane.open
        lane.open = Batch(time.monotonic())
        if not batch.bodies:
            return
        lane.queue.append(batch)
        self._inflight += batch.size
        batch.keys = {}  # only the open batch merges
        lane.wake.set()

    # --- v1 id lists (segment_membership): one open list per route per lane ------------------------
    # Order per key holds across a lane's v2 batch and its id lists because a key lives in at most one
    # open container of its lane: adding it elsewhere first seals the container that holds it.

    def _add_id(self, op: Op, line: bytes, epoch: Epoch) -> None:
        key = op.key
        assert key is not None and op.route is not None  # routed ops always name their person
        lane = self.lanes[hash(key) % self._lane_count]
        if key in lane.open.keys:
            self._seal(lane)
        holder = lane.id_keys.get(key)
        if holder is not None and holder.route != op.route:
            self._seal_ids(lane, holder)
        ids = lane.id_batches.get(op.route)
        if ids is not None:
            earlier = ids.keys.get(key)
            if earlier is not None:  # the same id again in one call: sent once, both records answered
                ids.merged.setdefault(earlier, []).append((line, epoch))
                self.counts.merged += 1
                return
            if len(ids.bodies) >= SEGMENT_IDS_PER_CALL or ids.size + 1 + len(op.body) > self.batch_max_bytes:
                self._seal_ids(lane, ids)
                ids = None
        if ids is None:
            if len(lane.id_batches) >= _OPEN_ID_ROUTES:
                self._seal_ids(lane, next(iter(lane.id_batches.values())))
            ids = lane.id_batches[op.route] = IdBatch(time.monotonic(), op.route)
        ids.size += len(op.body) + (1 if ids.bodies else 0)
        ids.append(op.body, line, epoch)
        ids.keys[key] = len(ids.bodies) - 1
        lane.id_keys[key] = ids

    def _seal_ids(self, lane: Lane, ids: IdBatch) -> None:
        del lane.id_batches[ids.route]
        for key in ids.keys:
            del lane.id_keys[key]
        lane.queue.append(ids)
        self._inflight += ids.size
        lane.wake.set()

    async def _wait_for_room(self) -> None:
        while self._inflight > self.max_inflight_bytes:
            self._room.clear()
            await self._room.wait()
            self._raise_if_failed()

    async def _drain(self, tasks: list[asyncio.Task], releaser: asyncio.Task) -> None:
        for lane in self.lanes:
            for ids in list(lane.id_batches.values()):
                self._seal_ids(lane, ids)
            self._seal(lane)
            lane.closing = True
            lane.wake.set()
        lanes_done = asyncio.gather(*tasks)
        await asyncio.wait((lanes_done, self._failed), return_when=asyncio.FIRST_COMPLETED)
        if not lanes_done.done():
            # The lanes are cancelled later (run's finally): mark that outcome as seen, or asyncio
            # prints "exception was never retrieved" with a traceback to stderr.
            lanes_done.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._raise_if_failed()
        self._input_done.set()
        await self._release(final=True)
        self._raise_if_failed()

    # --- sending ---------------------------------------------------------------------------------

    async def _lane_loop(self, lane: Lane) -> None:
        try:
            while True:
                if not lane.queue:
                    if lane.closing:
                        return
                    lane.wake.clear()
                    await lane.wake.wait()
                    continue
                batch = lane.queue[0]
                await self._deliver(batch, range(len(batch.bodies)))
                lane.queue.popleft()
                self._acknowledge(batch)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure ends the sync via _fail
            self._fail(exc)

    async def _deliver(self, batch: Batch, indices: list[int] | range) -> None:
        self.counts.batches += 1
        self.counts.ops_sent += len(indices)
        if type(batch) is IdBatch:
            result = await self.client.send_ids(batch.route, batch.body(indices), len(indices))
        else:
            result = await self.client.send_batch(batch.body(indices))
        if result.status == 400:
            await self._split(batch, indices, result)
            return
        refused = self._refused(result, len(indices))
        if refused is None:  # errors that name no op: find them by halves (resending is idempotent)
            await self._split(batch, indices, result)
            return
        for position, error in refused.items():
            for line, epoch in batch.refs_at(indices[position]):
                batch.rejected += 1
                await self._reject_line(line, epoch, api_rejection(error))

    @staticmethod
    def _refused(result: BatchResult, count: int) -> dict[int, dict[str, Any]] | None:
        refused: dict[int, dict[str, Any]] = {}
        for error in result.errors:
            position = error.get("batch_index")
            if type(position) is not int or not 0 <= position < count:
                return None if count > 1 else {0: error}
            refused[position] = error
        return refused

    async def _split(self, batch: Batch, indices: list[int] | range, result: BatchResult) -> None:
        if len(indices) == 1:
            error = result.errors[0] if result.errors else {}
            for line, epoch in batch.refs_at(indices[0]):
                batch.rejected += 1
                await self._reject_line(line, epoch, api_rejection(error))
            return
        middle = len(indices) // 2
        await self._deliver(batch, indices[:middle])
        await self._deliver(batch, indices[middle:])

    def _acknowledge(self, batch: Batch) -> None:
        self._inflight -= batch.size
        self._room.set()
        counts = batch.epoch_counts()
        self.counts.accepted += sum(counts.values()) - batch.rejected
        for epoch, count in counts.items():
            self._finish(epoch, count)

    def _finish(self, epoch: Epoch, count: int) -> None:
        epoch.pending -= count
        if epoch.pending == 0:
            self._release_wake.set()

    # --- rejections ------------------------------------------------------------------------------

    async def _reject_line(self, line: bytes, epoch: Epoch, rejection: Rejection) -> None:
        message = _decode(line)
        record = message.record
        assert record is not None  # only RECORD lines ever reach a batch
        stream = self.streams.get((record.namespace, record.stream)) or self.streams.get((None, record.stream))
        await self._reject_record(record, epoch, rejection, stream)

    async def _reject_record(self, record: protocol.Record, epoch: Epoch, rejection: Rejection,
                             stream: Stream | None) -> None:
        epoch.rejected += 1
        key = (stream.namespace, stream.name) if stream is not None else (record.namespace, record.stream)
        epoch.rejects[key] = epoch.rejects.get(key, 0) + 1
        self.counts.rejected += 1
        self.counts.rejected_by_reason[rejection.reason] += 1
        if stream is not None:
            stream.rejected[rejection.reason] += 1
            if rejection.reason not in stream.first_messages:
                stream.first_messages[rejection.reason] = rejection.message
        meta = record.meta or {}
        changes = meta.get("changes") if isinstance(meta.get("changes"), list) else None
        try:
            await self.store.add(RejectedRecord(
                stream=record.stream,
                namespace=record.namespace,
                data=record.data,
                emitted_at=int(record.emitted_at),
                reason=rejection.reason,
                field=rejection.field,
                message=rejection.message,
                sync_id=stream.sync_id if stream else None,
                generation_id=stream.generation_id if stream else None,
                changes=changes,
            ))
        except StoreError as exc:
            raise store_failure(exc) from None
        if self.store.buffers:  # else nothing to flush: the state behind this record need not wait
            self._unflushed += 1

    # --- states ----------------------------------------------------------------------------------

    async def _release_loop(self) -> None:
        try:
            while True:
                await self._release_wake.wait()
                self._release_wake.clear()
                await self._release(final=False)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure ends the sync via _fail
            self._fail(exc)

    def _ready(self) -> list[Epoch]:
        ready = []
        for epoch in self.epochs:
            if epoch.pending != 0 or epoch.state is None:
                break
            ready.append(epoch)
        return ready

    async def _release(self, *, final: bool) -> None:
        async with self._release_lock:
            await self._release_locked(final)

    async def _release_locked(self, final: bool) -> None:
        ready = self._ready()
        if not ready:
            return
        if self._unflushed:
            wait = self._last_flush + self.flush_interval - time.monotonic()
            if wait > 0 and not final and not self._input_done.is_set():
                # Group flushes: frequent states must not mean tiny files. The end of input (or a
                # graceful stop) ends the wait, so a sync never finishes up to flush_interval late.
                try:
                    await asyncio.wait_for(self._input_done.wait(), wait)
                except TimeoutError:
                    pass
                ready = self._ready()
            await self._flush_store()
        if self._failure is not None:
            return
        for epoch in ready:
            self.epochs.popleft()
            assert epoch.state is not None and epoch.counted is not None
            self._tally.add(epoch.reads, epoch.rejects)
            accepted, rejected = self._tally.take(epoch.counted)
            self.out.emit(protocol.state_message(epoch.state, accepted, rejected))
            self.counts.states_out += 1

    async def _flush_store(self) -> None:
        pending = self._unflushed
        try:
            await self.store.flush()
        except StoreError as exc:
            raise store_failure(exc) from None
        self._unflushed -= pending
        self._last_flush = time.monotonic()

    # --- timers ----------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        next_progress = time.monotonic() + self.progress_interval
        while True:
            await asyncio.sleep(_TICK)
            now = time.monotonic()
            self._seal_waiting_batches(now)
            if now >= next_progress:
                next_progress = now + self.progress_interval
                self.out.log(self.progress_line(now))

    def _seal_waiting_batches(self, now: float) -> None:
        """A state waiting longer than ``state_max_delay`` sends the open batches that may hold its
        records; otherwise an open batch goes out when it is ``_BATCH_MAX_AGE`` old."""
        oldest_wait = None
        for epoch in self.epochs:
            if epoch.state is not None and epoch.pending:
                oldest_wait = epoch.closed_at
                break
        for lane in self.lanes:
            for ids in list(lane.id_batches.values()):
                if (oldest_wait is not None and ids.opened <= oldest_wait
                        and now - oldest_wait >= self.state_max_delay) or now - ids.opened >= _BATCH_MAX_AGE:
                    self._seal_ids(lane, ids)
            batch = lane.open
            if not batch.bodies:
                continue
            waited_on = oldest_wait is not None and batch.opened <= oldest_wait and \
                now - oldest_wait >= self.state_max_delay
            if waited_on or now - batch.opened >= _BATCH_MAX_AGE:
                self._seal(lane)

    # --- failure and reporting -------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            self._failed.set_result(None)
        self._room.set()
        for lane in self.lanes:
            lane.wake.set()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            if isinstance(self._failure, SyncError):
                raise self._failure
            raise SystemFailure(f"Unexpected error: {type(self._failure).__name__}") from self._failure

    def progress_line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._started, 1e-9)
        c, stats = self.counts, self.client.stats
        return (
            f"Progress: {c.records} records read, {c.accepted} accepted, {c.rejected} rejected, "
            f"{c.states_out}/{c.states_in} states emitted, {stats.requests} requests, {stats.retries} retries, "
            f"{c.records / elapsed:,.0f} records/s"
        )


# --- rejections decided here (the operations' own vocabulary lives in reasons.py) -------------------

def larger_than_batch(size: int, limit: int) -> Rejection:
    return Rejection(reasons.OP_TOO_LARGE, None, f"The operation is {size:,} bytes; with batch_max_bytes "
                     f"{limit:,} a batch holds at most {limit - _EMPTY_BATCH:,} bytes of operations.")


def unknown_stream(name: str) -> Rejection:
    return Rejection(reasons.STREAM_NOT_IN_CATALOG, None,
                     f"Stream `{name}` is not in the configured catalog, so no operation is known for it.")


def malformed_record(data: object, note: str | None = None) -> Rejection:
    if not isinstance(data, dict):
        return Rejection(reasons.RECORD_DATA_NOT_OBJECT, "data",
                         f"The record's data is a JSON {type(data).__name__}, not an object.")
    return Rejection(reasons.MALFORMED_RECORD, None, note or "The record message does not follow the Airbyte protocol.")


# What the strict decoder raises for a line that is no Airbyte message: not JSON or the wrong shape,
# bytes that are not UTF-8, nesting deeper than the decoder's recursion limit.
_UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


def loose_decode(line: bytes) -> tuple[Any, str | None]:
    """A line the typed decoder refused, decoded as leniently as is safe, so a record in it can still be
    rejected with a reason: (value or None, why the record is malformed, when it is the encoding).

    Python sources write NaN/Infinity (``json.dumps`` allows them) and broken sources write invalid UTF-8
    or lone surrogate escapes; the stdlib decoder reads them all (bad bytes become U+FFFD). Nesting deeper than the decoder's limit
    (about 1,000 levels) stays unreadable: no writer of the rejected store could encode it either."""
    try:
        return msgspec.json.decode(line), None
    except RecursionError:
        return None, None
    except UnicodeDecodeError:
        note = "The record is not valid UTF-8 (the bad bytes are shown as U+FFFD)."
    except msgspec.DecodeError:  # beyond strict JSON, the stdlib reads NaN, +/-Infinity, lone surrogates
        note = ("The record holds a value strict JSON does not allow (NaN, Infinity or a lone UTF-16 "
                "surrogate escape).")
    try:
        return json.loads(line.decode("utf-8", "replace")), note
    except (ValueError, RecursionError):
        return None, None


def api_rejection(error: dict[str, Any]) -> Rejection:
    """A 207 / 400 error from Customer.io; any of reason, field, message may be missing."""
    reason = error.get("reason")
    field = error.get("field")
    message = error.get("message")
    text = f"Customer.io refused this operation ({reason or 'no reason given'})"
    if isinstance(message, str) and message:
        text += f": {message}"
    return Rejection(reasons.API_REJECTED, field if isinstance(field, str) else None, text)
