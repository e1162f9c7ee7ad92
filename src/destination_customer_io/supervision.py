"""How a sync ends early: the first failure of any of its tasks, or a graceful stop (SIGTERM).

    supervised(work)   a lane, the releaser or the timer: any exception in it is the sync's failure
    fail(exc)          the first failure is kept; reading and every waiting task are woken to see it
    raise_if_failed()  the failure as a SyncError (an unexpected exception becomes a SystemFailure)
    stop(grace)        read no more; what is unacknowledged ``grace`` seconds later fails the sync
    next_chunk(..)     the next chunk of input, unless a failure or a stop comes first
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable

from .errors import SyncError, SystemFailure, TransientFailure


class Supervisor:
    """One sync's failure and stop; ``wake`` is called on failure so nothing waits past it."""

    def __init__(self, wake: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self.failure: BaseException | None = None
        self.failed: asyncio.Future[None] = loop.create_future()
        self.stop_requested: asyncio.Future[None] = loop.create_future()
        self._wake = wake

    async def supervised(self, work: Awaitable[None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure ends the sync via fail
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
            self.failed.set_result(None)
        self._wake()

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            if isinstance(self.failure, SyncError):
                raise self.failure
            raise SystemFailure(f"Unexpected error: {type(self.failure).__name__}") from self.failure

    def stop(self, grace: float) -> None:
        """Graceful stop (SIGTERM): read no more input, deliver what was read and emit the states it
        makes honest. What is still unacknowledged after ``grace`` seconds fails the sync instead."""
        if self.stop_requested.done():
            return
        self.stop_requested.set_result(None)
        asyncio.get_running_loop().call_later(grace, self.fail, TransientFailure(
            f"The sync was stopped (SIGTERM) and its last batches were not acknowledged within {grace:g} s; "
            "every state emitted is backed by acknowledged records."))

    @property
    def stopped(self) -> bool:
        return self.stop_requested.done()

    async def next_chunk(self, iterator: AsyncIterator[list[bytes]]) -> list[bytes] | None:
        """The next chunk of lines, or None at EOF; a failure elsewhere interrupts a slow stdin."""
        step = asyncio.ensure_future(anext(iterator, None))
        await asyncio.wait((step, self.failed, self.stop_requested), return_when=asyncio.FIRST_COMPLETED)
        if not step.done():
            step.cancel()
        self.raise_if_failed()
        if self.stopped:
            return None  # graceful stop: nothing more is read; what was read is still delivered
        return step.result()
