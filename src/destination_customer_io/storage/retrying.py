"""A store's requests retried within the sync's retry budget, so a stalled or failing store ends the sync
in ``retry_max_seconds`` (plus about one request timeout), whatever the SDK would do on its own.

    retrier = Retrier(RetryPolicy(max_seconds=config.retry_max_seconds, ...))   # one per store
    retrier.call("S3 PutObject", lambda: sink.put(key, body))   # blocking: from a worker thread

A :class:`StoreError` marked ``transient`` (a timeout, a lost connection, a 5xx or throttling answer, an
I/O error that may pass) is retried with the Track client's backoff (``pacing.RetryPolicy``); any other
is raised at once. The budget starts with the first failed attempt since the last success and is shared
by every thread of the store: a stall ends all of its uploads at one deadline, not one each.
``waiting()`` names what has been waited on for long, for the progress lines: ``(S3 PutObject) for 12 s,
3 attempts failed, the last ReadTimeout``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import StoreError
from ..pacing import RetryPolicy

T = TypeVar("T")
# A request outstanding this long is named in the progress lines even before an attempt failed.
SLOW_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Wait:
    """What a store request has waited on: ``S3 PutObject`` for 12 s, 3 attempts failed, the last
    with ``ReadTimeout``."""

    step: str
    seconds: float
    failures: int
    last: str

    def __str__(self) -> str:
        text = f"({self.step}) for {self.seconds:.0f} s"
        if self.failures:
            text += f", {self.failures} attempt{'s' if self.failures > 1 else ''} failed, the last {self.last}"
        return text


@dataclass(slots=True)
class _Call:
    step: str
    started: float
    failures: int = 0
    last: str = ""  # what the last failed attempt met (an AWS code, an errno name)


class Retrier:
    def __init__(self, policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()  # the store's worker threads share the calls and the budget
        self._calls: dict[int, _Call] = {}
        self._ids = itertools.count()
        self._failing_since: float | None = None

    def call(self, step: str, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it returns, raises a StoreError that is not transient, or the budget
        is spent (then the last transient StoreError, saying how long it was retried)."""
        with self._lock:
            ident = next(self._ids)
            self._calls[ident] = _Call(step, self._clock())
        try:
            number = 0
            while True:
                started = self._clock()
                try:
                    result = attempt()
                except StoreError as exc:
                    if not exc.transient:
                        raise
                    failure = exc
                else:
                    with self._lock:
                        self._failing_since = None
                    return result
                self._sleep(self._pause(ident, number, started, failure))
                number += 1
        finally:
            with self._lock:
                del self._calls[ident]

    def _pause(self, ident: int, number: int, started: float, exc: StoreError) -> float:
        """The pause before the next attempt; raises when that attempt would start past the budget."""
        with self._lock:
            since = self._failing_since = started if self._failing_since is None else min(
                self._failing_since, started)
            call = self._calls[ident]
            call.failures += 1
            call.last = exc.code or exc.step
        pause = self.policy.delay(number, None)
        spent = self._clock() - since
        if spent + pause > self.policy.max_seconds:
            raise StoreError(f"{exc}; still failing after {spent:.1f} s (retry_max_seconds: "
                             f"{self.policy.max_seconds:g})", step=exc.step, target=exc.target,
                             code=exc.code, transient=True)
        return pause

    def waiting(self) -> Wait | None:
        """The oldest request, when it has failed or run ``SLOW_SECONDS``; None when nothing is
        waited on for long."""
        with self._lock:
            oldest = min(self._calls.values(), key=lambda c: c.started, default=None)
            if oldest is None:
                return None
            wait = Wait(oldest.step, self._clock() - oldest.started, oldest.failures, oldest.last)
        return wait if wait.failures or wait.seconds >= SLOW_SECONDS else None
