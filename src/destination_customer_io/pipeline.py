"""The ``write`` pipeline's wiring: intake, lanes, delivery, checkpoints, and the end of a sync.

    chunks of stdin lines -> Intake (intake.py): RECORD -> Op -> lane (batching.py); STATE -> epoch
    one task per lane     -> Delivery (delivery.py): a batch at a time through the sender, each op settled
    the releaser          -> Checkpoints (checkpoints.py): a settled epoch's STATE, after a store flush
    a timer               -> open batches sealed when a state waits or they are old; the progress line
    the end               -> mirror removals (ledger/), the last batches, the last states, the guards

Any failure in a task ends the sync (supervision.py): reading stops and ``run`` raises it. Properties kept
(and proved by tests): a STATE never precedes an unhandled earlier record; states leave in input order;
two ordered ops of one key are never in flight at once, nor in one batch unless merged; reading waits
while ``max_inflight_bytes`` of batches wait.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, AsyncIterator

from . import guards
from .batching import Batcher, relaxed_gc
from .stream import Stream
from .checkpoints import Checkpoints, Epoch
from .delivery import Delivery, Sender, TrackSender
from .errors import ConfigurationError
from .intake import Intake
from .output import Output
from .rejected.base import RejectedStore
from .segments import WatchingBatcher, watches
from .summary import Counts, progress_line, waiting_part
from .supervision import Supervisor

if TYPE_CHECKING:  # only streams with a sync ledger need it (and sqlite3): a plain sync never loads it
    from .ledger.sync import SyncLedger
    from .synclog import SyncLog

_TICK = 0.1


class Pipeline:
    """One ``write`` sync. ``client`` answers the progress line's questions (track.TrackClient);
    ``sender`` takes the sealed batches (delivery.py; by default to ``client``); ``emit_states`` False
    settles epochs but withholds their states (a dry run); ``ledger`` when a stream keeps one;
    ``sync_log`` (synclog.py) and ``retry`` (retry.py: sent first) when on, told outcomes at named points."""

    def __init__(self, *, streams: dict[tuple[str | None, str], Stream], client: Any, store: RejectedStore,
                 output: Output, lanes: int = 24, batch_max_bytes: int = 500_000,
                 max_inflight_bytes: int = 16_000_000, state_max_delay: float = 1.0,
                 progress_interval: float = 10.0, flush_interval: float = 1.0,
                 max_rejected_percent: float | None = None, ledger: SyncLedger | None = None,
                 sender: Sender | None = None, emit_states: bool = True, sync_log: SyncLog | None = None,
                 retry: Any = None) -> None:
        self.streams, self.client, self.store, self.out = streams, client, store, output
        self.max_inflight_bytes = max_inflight_bytes
        self.state_max_delay = state_max_delay
        self.progress_interval = progress_interval
        self.counts = Counts()
        self.verdict: ConfigurationError | None = None  # a guard's: raised once all read is delivered
        wakes = self._wakes = [asyncio.Event() for _ in range(lanes)]  # a lane's sender has work
        batcher = WatchingBatcher if watches(streams) else Batcher  # counts adds of unidentified people
        self._batcher = batcher(lanes, batch_max_bytes, self.counts, lambda lane: wakes[lane.index].set())
        self.lanes = self._batcher.lanes
        self._ledger = ledger
        self._checkpoints = Checkpoints(streams, store, output, flush_interval, emit_states=emit_states,
                                        counts=self.counts)
        self._guard = guards.RejectionGuard(streams, output.log, max_rejected_percent)
        self._supervisor = supervisor = Supervisor(self._wake_all)
        self._delivery = Delivery(sender or TrackSender(client, self.counts, batch_max_bytes), self._batcher,
                                  self._checkpoints, self.counts, store, wakes, supervisor.failed, ledger,
                                  sync_log, retry)
        self._room = self._delivery.room
        self._raise_if_failed = supervisor.raise_if_failed
        self._intake = Intake(streams, self.counts, self._checkpoints, self._batcher, output, ledger, sync_log)
        self._log = sync_log
        self._started = time.monotonic()

    async def run(self, chunks: AsyncIterator[list[bytes]]) -> None:
        """Consume every line, deliver everything, emit every honest state; raise SyncError on failure."""
        failure: Exception | None = None
        with relaxed_gc():
            async with asyncio.TaskGroup() as group:
                supervised = self._supervisor.supervised
                lanes = [group.create_task(supervised(self._delivery.lane(lane))) for lane in self.lanes]
                helpers = [group.create_task(supervised(self._release_loop())),
                           group.create_task(supervised(self._tick_loop()))]
                try:
                    await self._sync(chunks, lanes)
                except Exception as exc:  # noqa: BLE001 - raised as itself once the group has ended
                    failure = exc
                finally:
                    for task in (*lanes, *helpers):
                        task.cancel()
        if failure is not None:
            raise failure
        self._raise_if_failed()

    async def _sync(self, chunks: AsyncIterator[list[bytes]], lanes: list[asyncio.Task]) -> None:
        if (retry := self._delivery.retry) is not None:  # first, under an epoch no state counts
            await retry.queue(self._batcher, self._checkpoints, self.streams)
        await self._read(aiter(chunks))
        if self._ledger is not None and self._ledger.judge is not None:
            await self._remove_mirrored(self._ledger)
        await self._drain(lanes)
        self._guard.judge(final=True)
        for warning in guards.incomplete_streams(self.streams, self._intake.statuses):
            self.out.log(warning, "WARN")
        failure = self._guard.over_limit or (self._ledger.failure() if self._ledger is not None else None)
        if self._ledger is not None:  # a snapshot marks a completed sync
            await self._ledger.finish(completed=failure is None and not self.stopped)
        if failure is not None:
            self.verdict = failure
            raise failure

    async def _read(self, iterator: AsyncIterator[list[bytes]]) -> None:
        """Every chunk through intake; its rejections stored. Stops early on a guard or a stop."""
        while (lines := await self._supervisor.next_chunk(iterator)) is not None:
            for record, epoch, rejection, stream in self._intake.handle_lines(lines):
                await self._delivery.reject(record, epoch, rejection, stream)
                self._checkpoints.finish(epoch, 1)
                if self._log is not None:
                    self._log.rejected(record, rejection, stream)
            self._raise_if_failed()
            if self._log is not None:
                await self._log.room()
            await self._wait_for_room()
            if self._guard.judge(final=False):
                return  # read no more: deliver what was read, emit its states, then stop

    def stop(self, grace: float) -> None:
        """Graceful stop (SIGTERM): read no more, deliver what was read (supervision.py)."""
        self._supervisor.stop(grace)

    @property
    def stopped(self) -> bool:
        return self._supervisor.stopped

    async def _wait_for_room(self) -> None:
        while self._batcher.inflight > self.max_inflight_bytes:
            self._room.clear()
            await self._room.wait()
            self._raise_if_failed()

    async def _drain(self, lanes: list[asyncio.Task]) -> None:
        self._batcher.seal_all()
        for lane in self.lanes:
            lane.closing = True
            self._wakes[lane.index].set()
        lanes_done = asyncio.gather(*lanes)
        await asyncio.wait((lanes_done, self._supervisor.failed), return_when=asyncio.FIRST_COMPLETED)
        if not lanes_done.done():
            # The lanes are cancelled later (run's finally): take that outcome as seen, or asyncio
            # prints "exception was never retrieved" with a traceback to stderr.
            lanes_done.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._raise_if_failed()
        self._checkpoints.end_of_input()
        await self._release(final=True)
        self._raise_if_failed()

    async def _remove_mirrored(self, ledger: SyncLedger) -> None:
        """Once every op of the input is answered: the mirror streams' removals (ledger/mirror.py)."""
        await self._delivery.settle()
        self._raise_if_failed()
        self._guard.judge(final=True)  # every answer is in: a stream over max_rejected_percent removes nothing
        halted = "the sync was stopped" if self.stopped else \
            "max_rejected_percent was exceeded" if self._guard.over_limit is not None else \
            "the input carried a source's TRACE error" if self._intake.source_error else None
        removing = self._delivery.removals = Epoch()
        if await ledger.queue_removals(self._intake.statuses, halted, removing, self._batcher,
                                       self._checkpoints, self._wait_for_room):
            await self._delivery.settle()
            self._raise_if_failed()

    async def _release_loop(self) -> None:
        wake = self._checkpoints.wake
        while True:
            await wake.wait()
            wake.clear()
            await self._release(final=False)

    async def _release(self, *, final: bool) -> None:
        await self._checkpoints.release(final=final, failed=lambda: self._supervisor.failure is not None,
                                        before=self._ledger.before_release if self._ledger is not None else None)

    def _wake_all(self) -> None:
        """A failure: reading and every lane stop waiting, to see it."""
        self._room.set()
        for wake in self._wakes:
            wake.set()

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
