"""The ``write`` pipeline: lines -> ops -> lanes -> batches -> Customer.io -> acknowledgements -> states.

    stdin lines --decode--> RECORD --Operation.build--> Op --route by key--> Lane   (batching.py)
                  |                        \\-> Rejection --------------------------> rejected store
                  \\-> STATE: closes the current epoch                              (checkpoints.py)
    Lane: one batch on the wire at a time (retries included), so ops of one key are applied in order
    (a segment call of people of several lanes is a barrier across them: segments.py).
    Batch answered (answers.py): refused ops -> rejected store; the rest accepted; epochs' counts drop.
    Releaser: an epoch whose records are all handled, and all earlier epochs too, has its STATE emitted,
    after one store flush makes every rejected record before it durable (checkpoints.py).

This module only orchestrates: it reads chunks, runs one sender task per lane, the releaser and a
timer, and turns any failure into the end of the sync. Properties it keeps (and tests prove): a STATE
never precedes an unhandled earlier record; states leave in input order; two ordered ops of one key are
never in flight at once, nor in one batch unless merged; memory is bounded by ``max_inflight_bytes``
plus one open batch per lane.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import TYPE_CHECKING, AsyncIterator

from . import guards, protocol
from .batching import Batch, Batcher, IdBatch, Lane
from .catalog import Stream, find_stream
from .checkpoints import Checkpoints, Epoch
from .errors import ConfigurationError, StoreError, SyncError, SystemFailure, TransientFailure, store_failure
from .output import Output
from .reasons import Rejection
from .rejected.base import RejectedStore
from .intake import Intake
from .rejections import rejected_record
from .segments import Barriers, WatchingBatcher, refusals_of, watches
from .summary import Counts, progress_line, waiting_part
from .track import TrackClient

if TYPE_CHECKING:  # only streams with a sync ledger need these (and numpy): a plain sync never loads them
    from .dryrun import DryRun
    from .ledger.keeper import Keeper
    from .mirroring import MirrorJudge

_decode = protocol.message_decoder.decode
_TICK = 0.1
# Ops stay alive until their batch is answered and the pipeline makes few reference cycles, so the
# collector's default thresholds mostly rescan live data: collect far less often (docs/performance.md).
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
        keeper: Keeper | None = None,
        mirror: MirrorJudge | None = None,
        dry: DryRun | None = None,
    ) -> None:
        self.streams = streams
        self.client = client
        self.store = store
        self.out = output
        self.batch_max_bytes = batch_max_bytes
        self.max_inflight_bytes = max_inflight_bytes
        self.state_max_delay = state_max_delay
        self.progress_interval = progress_interval
        self.counts = Counts()
        wakes = self._wakes = [asyncio.Event() for _ in range(lanes)]  # a lane's sender has work
        batcher = WatchingBatcher if watches(streams) else Batcher  # counts adds of unidentified people
        self._batcher = batcher(lanes, batch_max_bytes, self.counts, lambda lane: wakes[lane.index].set())
        self.lanes = self._batcher.lanes
        self._keeper = keeper  # the sync ledger's files, when a stream keeps a ledger
        self._mirror = mirror
        self._removing: Epoch | None = None  # the epoch of mirror removals, once they are queued
        self._dry = dry  # a dry run: batches go to it instead of Customer.io, and no state is emitted
        self._checkpoints = Checkpoints(streams, store, output, flush_interval,
                                        before_release=keeper.persist if keeper is not None else None,
                                        emit_states=dry is None, counts=self.counts)
        self._guard = guards.RejectionGuard(streams, output.log, max_rejected_percent)
        self._room = asyncio.Event()
        self._failure: BaseException | None = None
        self.verdict: ConfigurationError | None = None  # a guard's: raised once all read is delivered
        self._failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop_requested: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barriers = Barriers(self._failed)
        self._started = time.monotonic()
        self._intake = Intake(streams, self.counts, self._checkpoints, self._batcher, output)

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
                for record, epoch, rejection, stream in self._intake.handle_lines(lines):
                    await self._reject_record(record, epoch, rejection, stream)
                    self._checkpoints.finish(epoch, 1)
                self._raise_if_failed()
                await self._wait_for_room()
                if self._guard.judge(final=False):
                    break  # read no more: deliver what was read, emit its states, then stop
            if self._mirror is not None:
                await self._remove_mirrored()
            await self._drain(tasks)
            self._guard.judge(final=True)
            for warning in guards.incomplete_streams(self.streams, self._intake.statuses):
                self.out.log(warning, "WARN")
            failure = self._guard.over_limit or (self._mirror.failure() if self._mirror is not None else None)
            if self._keeper is not None:
                await self._keeper.persist()
                if failure is None and not self.stopped:  # a snapshot marks a completed sync
                    await self._keeper.compact()
            if failure is not None:
                self.verdict = failure
                raise failure
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

    async def _wait_for_room(self) -> None:
        while self._batcher.inflight > self.max_inflight_bytes:
            self._room.clear()
            await self._room.wait()
            self._raise_if_failed()

    async def _drain(self, tasks: list[asyncio.Task]) -> None:
        self._batcher.seal_all()
        for lane in self.lanes:
            lane.closing = True
            self._wakes[lane.index].set()
        lanes_done = asyncio.gather(*tasks)
        await asyncio.wait((lanes_done, self._failed), return_when=asyncio.FIRST_COMPLETED)
        if not lanes_done.done():
            # The lanes are cancelled later (run's finally): mark that outcome as seen, or asyncio
            # prints "exception was never retrieved" with a traceback to stderr.
            lanes_done.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._raise_if_failed()
        self._checkpoints.input_done.set()
        await self._release(final=True)
        self._raise_if_failed()

    # --- mirror removals -------------------------------------------------------------------------

    async def _settle(self) -> None:
        """Seal every open batch and wait until each lane has had all it holds answered."""
        self._batcher.seal_all()
        while any(lane.queue for lane in self.lanes):
            await asyncio.sleep(0.01)
            self._raise_if_failed()

    async def _remove_mirrored(self) -> None:
        """Once every op of the input is answered: the mirror streams' removals (mirroring.py)."""
        from .mirroring import queue_removals  # mirror streams only: it loads the ledger (numpy)
        await self._settle()
        self._guard.judge(final=True)  # every answer is in: a stream over max_rejected_percent removes nothing
        halted = "the sync was stopped" if self.stopped else \
            "max_rejected_percent was exceeded" if self._guard.over_limit is not None else \
            "the input carried a source's TRACE error" if self._intake.source_error else None
        self._removing = Epoch()
        queued = await queue_removals(self._mirror, self._keeper, self.streams, self._intake.statuses,  # type: ignore[arg-type]
                                      halted, self._removing, self._batcher, self._wait_for_room)
        if queued:
            await self._settle()

    # --- sending ---------------------------------------------------------------------------------

    async def _lane_loop(self, lane: Lane) -> None:
        wake = self._wakes[lane.index]
        try:
            while True:
                if not lane.queue:
                    if lane.closing:
                        return
                    wake.clear()
                    await wake.wait()
                    continue
                batch = lane.queue[0]
                if type(batch) is IdBatch and len(batch.lanes) > 1:
                    await self._barriers.meet(batch, lane, self._deliver, self._acknowledge)
                    self._raise_if_failed()
                    continue
                await self._deliver(batch)
                lane.queue.popleft()
                self._acknowledge(batch)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure ends the sync via _fail
            self._fail(exc)

    async def _deliver(self, batch: Batch) -> None:
        """Send the batch (halved while Customer.io's answer names no op) and store what it refused."""
        if self._dry is not None:
            await self._dry.take(batch, removal=self._removing is not None and self._removing in batch.epochs)
            return
        if batch.marks and self._keeper is not None:
            await self._keeper.write_ahead(batch.marks.values())
        async for index, rejection in refusals_of(batch, self.client, self.counts, self.batch_max_bytes):
            batch.marks.pop(index, None)  # refused: the ledger records nothing of it
            for line, epoch in batch.refs_at(index):
                batch.rejected += 1
                await self._reject_line(line, epoch, rejection)

    def _acknowledge(self, batch: Batch) -> None:
        self._batcher.inflight -= batch.size
        self._room.set()
        counts = batch.epoch_counts()
        removals = self._removing is not None and self._removing in counts
        if removals:
            self.counts.removed += sum(counts.values()) - batch.rejected
        else:
            self.counts.accepted += sum(counts.values()) - batch.rejected
        for mark in batch.marks.values():
            mark.book.delivered(mark)
            mark.book.removed += removals
        for epoch, count in counts.items():
            self._checkpoints.finish(epoch, count)

    # --- rejections ------------------------------------------------------------------------------

    async def _reject_line(self, line: bytes, epoch: Epoch, rejection: Rejection) -> None:
        record = _decode(line).record
        assert record is not None  # only RECORD lines ever reach a batch
        stream = find_stream(self.streams, record.namespace, record.stream)
        await self._reject_record(record, epoch, rejection, stream)

    async def _reject_record(self, record: protocol.Record, epoch: Epoch, rejection: Rejection,
                             stream: Stream | None) -> None:
        key = (stream.namespace, stream.name) if stream is not None else (record.namespace, record.stream)
        if epoch is self._removing:  # a refused mirror removal: stored, but no record of any state
            self.counts.removals_refused += 1
        else:
            self._count_rejection(key, epoch, rejection, stream)
        try:
            await self.store.add(rejected_record(record, rejection, stream))
        except StoreError as exc:
            raise store_failure(exc) from None
        if self.store.buffers:  # else nothing to flush: the state behind this record need not wait
            self._checkpoints.unflushed += 1

    def _count_rejection(self, key: tuple, epoch: Epoch, rejection: Rejection, stream: Stream | None) -> None:
        epoch.rejects[key] = epoch.rejects.get(key, 0) + 1
        self.counts.rejected += 1
        self.counts.rejected_by_reason[rejection.reason] += 1
        if stream is not None:
            stream.rejected[rejection.reason] += 1
            if rejection.reason not in stream.first_messages:
                stream.first_messages[rejection.reason] = rejection.message

    # --- states and timers -----------------------------------------------------------------------

    async def _release_loop(self) -> None:
        wake = self._checkpoints.wake
        try:
            while True:
                await wake.wait()
                wake.clear()
                await self._release(final=False)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure ends the sync via _fail
            self._fail(exc)

    async def _release(self, *, final: bool) -> None:
        await self._checkpoints.release(final=final, failed=lambda: self._failure is not None)

    async def _tick_loop(self) -> None:
        next_progress = time.monotonic() + self.progress_interval
        while True:
            await asyncio.sleep(_TICK)
            now = time.monotonic()
            self._batcher.seal_waiting(now, self._checkpoints.oldest_wait(), self.state_max_delay)
            if now >= next_progress:
                next_progress = now + self.progress_interval
                elapsed, waits = now - self._started, waiting_part(self.store, self._keeper)
                self.out.log(progress_line(self.counts, self.client.stats, elapsed) + waits)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            self._failed.set_result(None)
        self._room.set()
        for wake in self._wakes:
            wake.set()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            if isinstance(self._failure, SyncError):
                raise self._failure
            raise SystemFailure(f"Unexpected error: {type(self._failure).__name__}") from self._failure
