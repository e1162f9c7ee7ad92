"""Batching: ops routed to lanes by key, gathered into batches (v2) and id lists (v1), merged, sealed.

    Op --key--> Lane (hash of the person key; keyless ops round-robin)
         route None  -> the lane's open Batch       ``{"batch":[op,op,...]}``, at most batch_max_bytes
         route set   -> the open IdBatch of the route, shared by every lane: ``{"ids":[id,id,...]}``,
                        at most SEGMENT_IDS_PER_CALL ids
    sealed -> the lane's queue, sent in order by the pipeline (one request of a lane at a time);
              an IdBatch goes to the queue of every lane holding one of its people (a barrier)

Per-person order: two ordered ops of one key are never in one batch unless merged (Customer.io may apply
a batch's ops in any order), and a key lives in at most one open container, so adding it elsewhere
first seals the container that holds it. An id list packs people of many lanes into one call, so it is
a barrier: sealed, it first seals each of its lanes' open batch that holds an earlier op of one of its
people, then joins the queue of each of those lanes; the pipeline sends it once every one of them has
reached it (every earlier op of each of its people answered), and none of them goes on before it is
answered (every later op waits). Ids join queues only when sealed, all at once, so barriers keep one
order in every lane and cannot wait on each other. No I/O here and no asyncio: the pipeline is told of
each sealed batch through ``on_sealed`` and wakes the lane's sender itself.
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_right
from collections import deque
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from .limits import SEGMENT_IDS_PER_CALL
from .operations.base import Op, Operation

if TYPE_CHECKING:
    from .stream import Stream
    from .checkpoints import Epoch
    from .summary import Counts

EMPTY_BATCH = len(b'{"batch":[]}')
EMPTY_IDS = len(b'{"ids":[]}')
# What a waiting id op holds beside its ~20-byte body (its raw line, key, the ledger's mark and key text):
# counted in ``Batcher.inflight`` so max_inflight_bytes bounds a mirror's memory too (docs/performance.md,
# "Issue 25: the engine as built": a 1M-member mirror read its whole input while 16 MB of ids waited).
ID_OP_HELD = 600
OPEN_ID_ROUTES = 64  # open id lists (of all lanes); more routes seal the oldest (bounds memory)
BATCH_MAX_AGE = 5.0  # an open batch is sent after this long even when no state waits on it

# Ops stay alive until their batch is answered and the pipeline makes few reference cycles, so the
# collector's default thresholds mostly rescan live data: collect far less often (docs/performance.md).
_GC_THRESHOLDS = (50_000, 50, 100)


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """While a sync runs: what start-up allocated is frozen (never scanned again) and the collector's
    thresholds raised; both undone afterwards (the process may go on, as in tests, after a sync)."""
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


# A line of input, the epoch it belongs to and its stream: enough to reject the record later. The line is
# kept raw (decoded again only to store a refused record's data), so an in-flight record costs its bytes,
# not a decoded dict. None for an op no input line made (a mirror removal).
Ref = tuple["bytes | None", "Epoch", "Stream"]


class Batch:
    """Ops to send in one request, with the input line and the stream of each (to reject it if refused).

    The epoch of op ``i`` is the last entry of ``epochs`` whose start (``starts``) is <= i: ops arrive
    in input order, so epochs form runs: one comparison per op (figures: docs/performance.md).

    An ordered op is remembered by its key and index only; ``ordered_op`` rebuilds it when a later op
    of the key arrives (rare), so no ``Op`` stays alive until the batch is sealed.
    ``kind`` is the operation of the batch's ordered ops; ``kinds`` names the others (rare: one batch
    mixing, say, person_identify and person_device). A rebuilt op has no ``changes``: they were counted
    when it was built (``Intake.handle_lines``), and nothing after that reads them.
    """

    __slots__ = ("bodies", "lines", "streams", "starts", "epochs", "size", "keys", "kind", "kinds", "merged",
                 "opened", "rejected")

    def __init__(self, now: float) -> None:
        self.bodies: list[bytes] = []
        self.lines: list[bytes | None] = []  # None: an op no input line made (a mirror removal)
        self.streams: list[Stream] = []
        self.starts: list[int] = []  # index of the first op of each epoch run
        self.epochs: list[Epoch] = []  # the epoch of each run
        self.size = EMPTY_BATCH
        self.keys: dict[str, int] = {}  # key -> index of its ordered op in this batch
        self.kind: Operation | None = None
        self.kinds: dict[int, Operation] = {}  # index -> operation, where it is not ``kind``
        self.merged: dict[int, list[Ref]] = {}  # index -> further records folded into that op
        self.opened = now
        self.rejected = 0  # records of this batch refused by Customer.io

    @property
    def weight(self) -> int:
        """What it counts in ``Batcher.inflight`` while it waits: its body bytes (an id list: more)."""
        return self.size

    def append(self, body: bytes, line: bytes | None, epoch: Epoch, stream: Stream) -> None:
        if not self.epochs or self.epochs[-1] is not epoch:
            self.starts.append(len(self.bodies))
            self.epochs.append(epoch)
        self.bodies.append(body)
        self.lines.append(line)
        self.streams.append(stream)

    def ordered_op(self, key: str, index: int) -> Op:
        """The ordered op of ``key`` at ``index``, as it was added (or last merged)."""
        return Op(self.bodies[index], key, ordered=True, operation=self.kinds.get(index, self.kind))

    def refs_at(self, index: int) -> list[Ref]:
        ref = (self.lines[index], self.epochs[bisect_right(self.starts, index) - 1], self.streams[index])
        extra = self.merged.get(index)
        return [ref, *extra] if extra else [ref]

    def epoch_counts(self) -> dict[Epoch, int]:
        """Records per epoch, merged ones included (what an acknowledgement releases)."""
        counts: dict[Epoch, int] = {}
        ends = [*self.starts[1:], len(self.bodies)]
        for epoch, start, end in zip(self.epochs, self.starts, ends):
            counts[epoch] = counts.get(epoch, 0) + end - start
        for refs in self.merged.values():
            for _, epoch, _ in refs:
                counts[epoch] = counts.get(epoch, 0) + 1
        return counts

    def body(self, indices: list[int] | range) -> bytes:
        return self.joined(b'{"batch":[', indices, b"]}")

    def joined(self, opening: bytes, indices: list[int] | range, closing: bytes) -> bytes:
        """``opening`` + the ops at ``indices`` comma-separated + ``closing``, in one ``join`` (adding
        the brackets to a joined body would copy it twice more)."""
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
    """The ids of one v1 route (``Op.route``: a manual segment's add or remove call), of any lane,
    sent as ``{"ids":[...]}``. Answered, split and acknowledged exactly like a v2 batch, once, although
    it sits in the queue of each lane in ``lanes`` (the lanes of its people)."""

    __slots__ = ("route", "creates", "lanes", "held")

    def __init__(self, now: float, route: str, creates: bool = False) -> None:
        Batch.__init__(self, now)
        self.route = route
        self.creates = creates  # identify each person before the call (segments.py)
        self.size = EMPTY_IDS
        self.lanes: dict[int, Lane] = {}  # lane index -> lane, in the order its people arrived
        self.held = 0  # bytes its ops hold beside their bodies (``ID_OP_HELD`` each, plus the raw line)

    @property
    def weight(self) -> int:
        return self.size + self.held

    def body(self, indices: list[int] | range) -> bytes:
        return self.joined(b'{"ids":[', indices, b"]}")


class Lane:
    """One open batch and the sealed batches waiting to be sent, in order."""

    __slots__ = ("index", "open", "queue", "closing")

    def __init__(self, index: int, now: float) -> None:
        self.index = index
        self.open = Batch(now)
        self.queue: deque[Batch] = deque()
        self.closing = False


class Batcher:
    """Adds ops to their lane's open containers and seals them into the lane's queue.

    ``inflight`` counts the bytes of sealed, unacknowledged batches (the pipeline subtracts a batch's
    ``size`` when it is answered); ``counts.merged`` the records folded into an earlier op of their key."""

    __slots__ = ("lanes", "_count", "_next", "batch_max_bytes", "inflight", "counts", "_on_sealed",
                 "id_batches", "id_keys")

    def __init__(self, lanes: int, batch_max_bytes: int, counts: Counts,
                 on_sealed: Callable[[Lane], None]) -> None:
        now = time.monotonic()
        self.lanes = [Lane(index, now) for index in range(lanes)]
        self._count = lanes
        self._next = 0
        self.batch_max_bytes = batch_max_bytes
        self.inflight = 0
        self.counts = counts
        self._on_sealed = on_sealed
        self.id_batches: dict[tuple[str, bool], IdBatch] = {}  # (route, creates) -> its open id list
        self.id_keys: dict[str, IdBatch] = {}  # key -> the open id list holding it

    def add(self, op: Op, line: bytes | None, epoch: Epoch, stream: Stream) -> Batch:
        """A v2 op (``op.route`` is None) into its lane's open batch; returns the batch now holding it
        (merged into an earlier op of its key, when ``op.body`` is not the batch's last body)."""
        key = op.key
        if key is not None:
            lane = self.lanes[hash(key) % self._count]
        else:
            self._next = (self._next + 1) % self._count
            lane = self.lanes[self._next]
        batch = lane.open
        if op.ordered and key is not None:
            if self.id_keys and key in self.id_keys:  # this key's earlier id-list op goes out first
                self.seal_ids(self.id_keys[key])
                batch = lane.open  # the id list sealed the lane's open batch first if it held the key
            earlier = batch.keys.get(key)
            if earlier is not None:
                if self._merge_into(batch, batch.ordered_op(key, earlier), earlier, op, (line, epoch, stream)):
                    return batch
                # Never two unmerged ordered ops of one key in one batch: Customer.io may apply
                # a batch's ops in any order. The next batch of this lane goes after this one.
                self.seal(lane)
                batch = lane.open
        size = batch.size + len(op.body) + (1 if batch.bodies else 0)
        if size > self.batch_max_bytes:
            self.seal(lane)
            batch = lane.open
            size = batch.size + len(op.body)
        bodies = batch.bodies
        if not bodies:
            batch.opened = time.monotonic()  # a batch's age counts from its first op
        if not batch.epochs or batch.epochs[-1] is not epoch:  # Batch.append written in place: per op
            batch.starts.append(len(bodies))
            batch.epochs.append(epoch)
        bodies.append(op.body)
        batch.lines.append(line)
        batch.streams.append(stream)
        batch.size = size
        if op.ordered and key is not None:
            index = batch.keys[key] = len(bodies) - 1
            if op.operation is not batch.kind:
                if batch.kind is None:
                    batch.kind = op.operation
                else:
                    batch.kinds[index] = op.operation
        return batch

    def _merge_into(self, batch: Batch, first: Op, index: int, op: Op, ref: Ref) -> bool:
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
        batch.merged.setdefault(index, []).append(ref)
        self.counts.merge()
        return True

    def seal(self, lane: Lane) -> None:
        batch = lane.open
        lane.open = Batch(time.monotonic())
        if not batch.bodies:
            return
        lane.queue.append(batch)
        self.inflight += batch.size
        batch.keys = {}  # only the open batch merges
        self._on_sealed(lane)

    def add_id(self, op: Op, line: bytes | None, epoch: Epoch, stream: Stream) -> IdBatch:
        """A v1 op (``op.route`` set: segment_membership) into the open id list of its route; returns
        that list (the id already in it, when ``op.body`` is not its last body)."""
        key = op.key
        assert key is not None and op.route is not None  # routed ops always name their person
        slot = (op.route, op.creates)
        holder = self.id_keys.get(key)
        if holder is not None and (holder.route, holder.creates) != slot:
            self.seal_ids(holder)
        ids = self.id_batches.get(slot)
        if ids is not None:
            earlier = ids.keys.get(key)
            if earlier is not None:  # the same id again in one call: sent once, both records answered
                ids.merged.setdefault(earlier, []).append((line, epoch, stream))
                self.counts.merge()
                return ids
            if len(ids.bodies) >= SEGMENT_IDS_PER_CALL or ids.size + 1 + len(op.body) > self.batch_max_bytes:
                self.seal_ids(ids)
                ids = None
        if ids is None:
            if len(self.id_batches) >= OPEN_ID_ROUTES:
                self.seal_ids(next(iter(self.id_batches.values())))
            ids = self.id_batches[slot] = IdBatch(time.monotonic(), op.route, op.creates)
        ids.size += len(op.body) + (1 if ids.bodies else 0)
        ids.held += ID_OP_HELD + (len(line) if line is not None else 0)
        ids.append(op.body, line, epoch, stream)
        ids.keys[key] = len(ids.bodies) - 1
        self.id_keys[key] = ids
        lane = self.lanes[hash(key) % self._count]
        ids.lanes.setdefault(lane.index, lane)
        return ids

    def seal_ids(self, ids: IdBatch) -> None:
        """The id list to the queue of each lane of its people, after the open batch of such a lane
        when that batch holds an earlier op of one of them (later ones sealed the list first)."""
        del self.id_batches[(ids.route, ids.creates)]
        keys = ids.keys
        for key in keys:
            del self.id_keys[key]
        for lane in ids.lanes.values():
            if lane.open.keys and not lane.open.keys.keys().isdisjoint(keys.keys()):
                self.seal(lane)
        for lane in ids.lanes.values():
            lane.queue.append(ids)
        self.inflight += ids.weight
        for lane in ids.lanes.values():
            self._on_sealed(lane)

    def seal_all(self) -> None:
        """The end of input: every open container goes to its lane's queue."""
        for ids in list(self.id_batches.values()):
            self.seal_ids(ids)
        for lane in self.lanes:
            self.seal(lane)

    def seal_waiting(self, now: float, oldest_wait: float | None, state_max_delay: float) -> None:
        """A state waiting (since ``oldest_wait``) longer than ``state_max_delay`` sends the open batches
        that may hold its records; otherwise an open batch goes out when it is ``BATCH_MAX_AGE`` old."""
        for ids in list(self.id_batches.values()):
            if (oldest_wait is not None and ids.opened <= oldest_wait
                    and now - oldest_wait >= state_max_delay) or now - ids.opened >= BATCH_MAX_AGE:
                self.seal_ids(ids)
        for lane in self.lanes:
            batch = lane.open
            if not batch.bodies:
                continue
            waited_on = oldest_wait is not None and batch.opened <= oldest_wait and \
                now - oldest_wait >= state_max_delay
            if waited_on or now - batch.opened >= BATCH_MAX_AGE:
                self.seal(lane)
