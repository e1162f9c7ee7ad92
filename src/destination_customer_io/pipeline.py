"""The ``write`` pipeline: lines -> ops -> lanes -> batches -> Customer.io -> acknowledgements -> states.

    stdin lines --decode--> RECORD --Operation.build--> Op --route by key--> Lane   (batching.py)
                  |                        \\-> Rejection --------------------------> rejected store
                  \\-> STATE: closes the current epoch                              (checkpoints.py)
    Lane: one batch on the wire at a time (retries included), so ops of one key are applied in order
    (a segment call of people of several lanes is a barrier across them: segments.py).
    Lanes sent through a sender and each op settled (delivery.py): refused ops -> rejected store; the
    rest accepted; epochs' counts drop.
    Releaser: an epoch whose records are all handled, and all earlier epochs too, has its STATE emitted,
    after one store flush makes every rejected record before it durable (checkpoints.py).

This module only orchestrates: it reads chunks, runs one delivery task per lane, the releaser and a
timer, and turns any failure into the end of the sync. Properties it keeps (and tests prove): a STATE
never precedes an unhandled earlier record; states leave in input order; two ordered ops of one key are
never in flight at once, nor in one batch unless merged; memory is bounded by ``max_inflight_bytes``
plus one open batch per lane.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable

from . import guards
from .batching import Batcher
from .catalog import Stream
from .checkpoints import Checkpoints, Epoch
from .delivery import Delivery, Sender, TrackSender
from .errors import ConfigurationError, SyncError, SystemFailure, TransientFailure
from .intake import Intake
from .output import Output
from .rejected.base import RejectedStore
from .segments import WatchingBatcher, watches
from .summary import Counts, progress_line, waiting_part

if TYPE_CHECKING:  # only streams with a sync ledger need it (and numpy): a plain sync never loads it
    from .ledger.sync import SyncLedger

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
        client: Any,
        store: RejectedStore,
        output: Output,
        lanes: int = 24,
        batch_max_bytes: int = 500_000,
        max_inflight_bytes: int = 16_000_000,
        state_max_delay: float = 1.0,
        progress_interval: float = 10.0,
        flush_interval: float = 1.0,
        max_rejected_percent: float | None = None,
        ledger: SyncLedger | None = None,
        sender: Sender | None = None,
        emit_states: bool = True,
    ) -> None:
        """``client`` answers the progress line's questions (track.TrackClient); ``sender`` takes the
        sealed batches (delivery.py; by default to ``client``); ``emit_states`` False settles epochs but
        withholds their states (a dry run)."""
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
        self._ledger = ledger  # when a stream keeps a sync ledger: told at its named points
        self._checkpoints = Checkpoints(streams, store, output, flush_interval, emit_states=emit_states,
                                        counts=self.counts)
        self._guard = guards.RejectionGuard(streams, output.log, max_rejected_percent)
        self._failure: BaseException | None = None
        self.verdict: ConfigurationError | None = None  # a guard's: raised once all read is delivered
        self._failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop_requested: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._delivery = Delivery(sender or TrackSender(client, self.counts, batch_max_bytes), self._batcher,
                                  self._checkpoints, self.counts, store, wakes, self._failed, ledger)
        self._room = self._delivery.room
        self._started = time.monotonic()
        self._intake = Intake(streams, self.counts, self._checkpoints, self._batcher, output, ledger)

    # --- reading ---------------------------------------------------------------------------------

    async def run(self, chunks: AsyncIterator[list[bytes]]) -> None:
        """Consume every line, deliver everything, emit every honest state; raise SyncError on failure."""
        tasks = [asyncio.create_task(self._supervised(self._delivery.lane(lane))) for lane in self.lanes]
        helpers = [asyncio.create_task(self._supervised(self._release_loop())),
                   asyncio.create_task(self._tick_loop())]
        gc_thresholds = _relax_gc()
        try:
            iterator = aiter(chunks)
            while True:
                lines = await self._next_chunk(iterator)
                if lines is None:
                    break
                for record, epoch, rejection, stream in self._intake.handle_lines(lines):
                    await self._delivery.reject(record, epoch, rejection, stream)
                    self._checkpoints.finish(epoch, 1)
                self._raise_if_failed()
                await self._wait_for_room()
                if self._guard.judge(final=False):
                    break  # read no more: deliver what was read, emit its states, then stop
            if self._ledger is not None and self._ledger.judge is not None:
                await self._remove_mirrored(self._ledger)
            await self._drain(tasks)
            self._guard.judge(final=True)
            for warning in guards.incomplete_streams(self.streams, self._intake.statuses):
                self.out.log(warning, "WARN")
            failure = self._guard.over_limit or (self._ledger.failure() if self._ledger is not None else None)
            if self._ledger is not None:  # a snapshot marks a completed sync
                await self._ledger.finish(completed=failure is None and not self.stopped)
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
            # The lanes are cancelled later (run's finally): take that outcome as seen, or asyncio
            # prints "exception was never retrieved" with a traceback to stderr.
            lanes_done.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._raise_if_failed()
        self._checkpoints.end_of_input()
        await self._release(final=True)
        self._raise_if_failed()

    # --- mirror removals -------------------------------------------------------------------------

    async def _settle(self) -> None:
        """Seal every open batch and wait until each lane has had all it holds answered."""
        self._batcher.seal_all()
        while any(lane.queue for lane in self.lanes):
            await asyncio.sleep(0.01)
            self._raise_if_failed()

    async def _remove_mirrored(self, ledger: SyncLedger) -> None:
        """Once every op of the input is answered: the mirror streams' removals (ledger/mirror.py)."""
        await self._settle()
        self._guard.judge(final=True)  # every answer is in: a stream over max_rejected_percent removes nothing
        halted = "the sync was stopped" if self.stopped else \
            "max_rejected_percent was exceeded" if self._guard.over_limit is not None else \
            "the input carried a source's TRACE error" if self._intake.source_error else None
        removing = self._delivery.removals = Epoch()
        queued = await ledger.queue_removals(self._intake.statuses, halted, removing, self._batcher,
                                             self._checkpoints, self._wait_for_room)
        if queued:
            await self._settle()

    # --- supervision ---------------------------------------------------------------------------

    async def _supervised(self, work: Awaitable[None]) -> None:
        """Runs a lane or the releaser: any failure in it ends the sync (``_fail``)."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure ends the sync via _fail
            self._fail(exc)

    # --- states and timers -----------------------------------------------------------------------

    async def _release_loop(self) -> None:
        wake = self._checkpoints.wake
        while True:
            await wake.wait()
            wake.clear()
            await self._release(final=False)

    async def _release(self, *, final: bool) -> None:
        await self._checkpoints.release(final=final, failed=lambda: self._failure is not None,
                                        before=self._ledger.before_release if self._ledger is not None else None)

    async def _tick_loop(self) -> None:
        next_progress = time.monotonic() + self.progress_interval
        while True:
            await asyncio.sleep(_TICK)
            now = time.monotonic()
            self._batcher.seal_waiting(now, self._checkpoints.oldest_wait(), self.state_max_delay)
            if now >= next_progress:
                next_progress = now + self.progress_interval
                elapsed, waits = now - self._started, waiting_part(self.store, self._ledger)
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
