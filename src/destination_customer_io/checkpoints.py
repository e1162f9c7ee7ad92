"""Checkpoints: when a STATE may leave, and with which counts, so the platform's checksum holds.

    RECORD lines ... STATE  = one Epoch: its records are ``pending`` until each is accepted by
                              Customer.io or stored as rejected (the pipeline calls ``finish``)
    release                 the oldest epochs whose records are all handled, in input order, after one
                              store flush makes every rejected record before them durable (flushes are
                              grouped: at most one per ``flush_interval`` while input keeps coming)

The platform (airbyte-platform ``StateCheckSumCountEventHandler.validateStateChecksum``) checks, for every
STREAM or GLOBAL state a destination echoes, that
``destinationStats.recordCount + destinationStats.rejectedRecordCount == sourceStats.recordCount``:

    STREAM state of stream S   the records of S since S's previous STREAM state
    GLOBAL state               the records of every stream since the previous GLOBAL state
    LEGACY state (or a STREAM  every record since the previous such state; the platform checks nothing
    state naming no stream)
    ``recordCount``            accepted records only; rejected ones go to ``rejectedRecordCount`` alone

A record counts for the stream it names: a stream of the catalog under the catalog's key, any other
under its own (namespace, name), so a RECORD of a stream missing from the catalog is counted (rejected)
on a state that names that stream. A line that names no stream (not JSON, truncated) is in no count.
The pipeline releases states in input order and only when nothing before them is pending, so when a
state is released every record it counts has an outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

from . import protocol
from .catalog import Stream, stream_key
from .errors import StoreError, SystemFailure, store_failure
from .output import Output
from .rejected.base import RejectedStore

if TYPE_CHECKING:
    from .summary import Counts

StreamKey = tuple[str | None, str]


@dataclass(frozen=True, slots=True)
class Counted:
    """What one STATE counts: ``kind`` STREAM (with the stream's ``key``), GLOBAL or LEGACY."""

    kind: str
    key: StreamKey | None = None


def counted_by(state: dict[str, Any], resolve: Callable[[str | None, str], StreamKey]) -> Counted:
    """The records ``state`` counts; ``resolve`` maps a descriptor's (namespace, name) to the key its
    records are counted under (the catalog's, where the catalog has that stream)."""
    kind = state.get("type")
    if kind == "GLOBAL":
        return Counted("GLOBAL")
    if kind == "STREAM":
        stream = state.get("stream")
        descriptor = stream.get("stream_descriptor") if isinstance(stream, dict) else None
        name = descriptor.get("name") if isinstance(descriptor, dict) else None
        if isinstance(name, str):
            namespace = descriptor.get("namespace")  # type: ignore[union-attr]
            return Counted("STREAM", resolve(namespace if isinstance(namespace, str) else None, name))
    return Counted("LEGACY")


class Tally:
    """Per-stream totals of released epochs, handed out to the states that count them.

    One STREAM state takes (and clears) its stream's records; a GLOBAL state takes every stream's since
    the previous GLOBAL state; a LEGACY state every record since the previous LEGACY state. An input
    that mixes STREAM and GLOBAL states has no consistent count: ``check_kind`` refuses it."""

    def __init__(self) -> None:
        self._by_stream: dict[StreamKey, list[int]] = {}  # key -> [records, rejected], since its state
        self._global = [0, 0]
        self._legacy = [0, 0]
        self._kinds: set[str] = set()

    def check_kind(self, counted: Counted) -> None:
        self._kinds.add(counted.kind)
        if {"STREAM", "GLOBAL"} <= self._kinds:
            raise SystemFailure(
                "The input mixes STREAM and GLOBAL states; the Airbyte platform never sends both in one "
                "sync, and the records each would count are undefined, so the sync stops here. Every state "
                "emitted before this point was honest."
            )

    def add(self, reads: dict[StreamKey, int], rejects: dict[StreamKey, int]) -> None:
        """One released epoch's records and rejections, by stream."""
        for key, count in reads.items():
            self._entry(key)[0] += count
            self._global[0] += count
            self._legacy[0] += count
        for key, count in rejects.items():
            self._entry(key)[1] += count
            self._global[1] += count
            self._legacy[1] += count

    def take(self, counted: Counted) -> tuple[int, int]:
        """(accepted, rejected) for a state counting ``counted``; its counter starts again from zero."""
        if counted.kind == "STREAM":
            records, rejected = self._by_stream.pop(counted.key, (0, 0))  # type: ignore[arg-type]
        elif counted.kind == "GLOBAL":
            (records, rejected), self._global = self._global, [0, 0]
            self._by_stream.clear()
        else:
            (records, rejected), self._legacy = self._legacy, [0, 0]
        return records - rejected, rejected

    def _entry(self, key: StreamKey) -> list[int]:
        entry = self._by_stream.get(key)
        if entry is None:
            entry = self._by_stream[key] = [0, 0]
        return entry


class Epoch:
    """The records between two STATE messages; ``pending`` counts those not yet handled.

    ``reads`` and ``rejects`` split the epoch's records by stream (the catalog key, or the record's own
    (namespace, name) for a stream missing from the catalog): a STREAM state counts only its own stream."""

    __slots__ = ("state", "pending", "closed_at", "reads", "rejects", "counted")

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.pending = 0
        self.closed_at: float | None = None
        self.reads: dict[StreamKey, int] = {}  # filled when the epoch closes
        self.rejects: dict[StreamKey, int] = {}
        self.counted: Counted | None = None  # which records the state counts


class Checkpoints:
    """The input's epochs, oldest first, and the release of their states with honest counts.

    ``wake`` is set when an epoch may have become releasable; ``input_done`` cuts a grouped-flush wait
    short (the last states go at once); ``unflushed`` counts rejected records the store has not yet made
    durable. ``counts.states_out`` is counted here and only here, as each STATE is written: an awaited
    release must not add a count read before its await. Every count here, the epochs' too, is written
    through the methods below (``read``, ``read_unknown``, ``rejected``, ``buffered``, ``finish``,
    ``close_epoch``, ``end_of_input``), never from outside."""

    def __init__(self, streams: dict[StreamKey, Stream], store: RejectedStore, out: Output,
                 flush_interval: float, emit_states: bool = True, counts: Counts | None = None) -> None:
        self.streams = streams
        self.store = store
        self.out = out
        self.flush_interval = flush_interval
        self.emit_states = emit_states  # False in a dry run: epochs are settled, their states withheld
        self.counts = counts
        self.epochs: deque[Epoch] = deque([Epoch()])
        self.wake = asyncio.Event()
        self.input_done = asyncio.Event()
        self.unflushed = 0
        self.unknown_reads: Counter = Counter()  # records of streams missing from the catalog, by key
        self._tally = Tally()
        self._read_marks: dict[StreamKey, int] = {}  # stream key -> its records_read at the last STATE
        self._last_flush = 0.0
        self._lock = asyncio.Lock()

    def key_of(self, namespace: str | None, name: str) -> StreamKey:
        """The key a stream's records are counted under: the catalog's (looked up as records are),
        else the stream's own (namespace, name)."""
        return stream_key(self.streams, namespace, name) or (namespace, name)

    @property
    def current(self) -> Epoch:
        """The epoch the records read now belong to (closed by the next STATE)."""
        return self.epochs[-1]

    def read(self, epoch: Epoch, count: int) -> None:
        """``count`` records of ``epoch`` read: pending until each is handled (``finish``)."""
        epoch.pending += count

    def read_unknown(self, key: StreamKey) -> None:
        """A record of a stream missing from the catalog read: counted under its own key."""
        self.unknown_reads[key] += 1

    def rejected(self, epoch: Epoch, key: StreamKey) -> None:
        """A record of ``epoch`` stored as rejected, counted under ``key`` on the states that count it."""
        epoch.rejects[key] = epoch.rejects.get(key, 0) + 1

    def buffered(self) -> None:
        """A rejected record the store holds in a buffer: the next state waits for a flush."""
        self.unflushed += 1

    def end_of_input(self) -> None:
        """Nothing more will be read: a grouped-flush wait ends, the last states go at once."""
        self.input_done.set()

    def finish(self, epoch: Epoch, count: int) -> None:
        """``count`` records of ``epoch`` are handled (accepted, or stored as rejected)."""
        epoch.pending -= count
        if epoch.pending == 0:
            self.wake.set()

    def close_epoch(self, state: dict[str, Any]) -> None:
        """A STATE: the current epoch ends with it, counting what ``counted_by`` says; a new one opens."""
        epoch = self.epochs[-1]
        epoch.counted = counted_by(state, self.key_of)
        self._tally.check_kind(epoch.counted)
        epoch.reads = self._reads_since_last_state()
        epoch.state = state
        epoch.closed_at = time.monotonic()
        self.epochs.append(Epoch())
        self.wake.set()

    def _reads_since_last_state(self) -> dict[StreamKey, int]:
        """Records read per stream since the previous STATE (any stream's): the streams' running
        ``records_read`` against their marks, so the hot path counts nothing per stream."""
        reads: dict[StreamKey, int] = {}
        marks = self._read_marks
        for key, stream in self.streams.items():
            count = stream.counts.records_read - marks.get(key, 0)
            if count:
                reads[key] = count
                marks[key] = stream.counts.records_read
        if self.unknown_reads:
            for key, count in self.unknown_reads.items():
                reads[key] = reads.get(key, 0) + count
            self.unknown_reads.clear()
        return reads

    def oldest_wait(self) -> float | None:
        """When the oldest state still waiting on records was read, or None."""
        for epoch in self.epochs:
            if epoch.state is not None and epoch.pending:
                return epoch.closed_at
        return None

    def _ready(self) -> list[Epoch]:
        ready = []
        for epoch in self.epochs:
            if epoch.pending != 0 or epoch.state is None:
                break
            ready.append(epoch)
        return ready

    async def release(self, *, final: bool, failed: Callable[[], bool],
                      before: Sequence[Callable[[], Awaitable[None]]] = ()) -> None:
        """Emit the state of every releasable epoch, in input order (a dry run settles epochs without
        emitting their states). ``before`` make what the states vouch for durable elsewhere too (the
        sync ledger's deltas, the retry queue's new refusals), after the store flush; ``failed`` is
        asked then: a failed sync emits no further state."""
        async with self._lock:
            await self._release_locked(final, failed, before)

    async def _release_locked(self, final: bool, failed: Callable[[], bool],
                              before: Sequence[Callable[[], Awaitable[None]]]) -> None:
        ready = self._ready()
        if not ready:
            return
        if self.unflushed:
            wait = self._last_flush + self.flush_interval - time.monotonic()
            if wait > 0 and not final and not self.input_done.is_set():
                # Group flushes: frequent states must not mean tiny files. The end of input (or a
                # graceful stop) ends the wait, so a sync never finishes up to flush_interval late.
                try:
                    await asyncio.wait_for(self.input_done.wait(), wait)
                except TimeoutError:
                    pass
                ready = self._ready()
            await self._flush_store()
        for durable in before:
            await durable()
        if failed():
            return
        for epoch in ready:
            self.epochs.popleft()
            assert epoch.state is not None and epoch.counted is not None
            self._tally.add(epoch.reads, epoch.rejects)
            accepted, rejected = self._tally.take(epoch.counted)
            if self.emit_states:
                self.out.emit(protocol.state_message(epoch.state, accepted, rejected))
                if self.counts is not None:
                    self.counts.state_emitted()

    async def _flush_store(self) -> None:
        pending = self.unflushed
        try:
            await self.store.flush()
        except StoreError as exc:
            raise store_failure(exc) from None
        self.unflushed -= pending
        self._last_flush = time.monotonic()
