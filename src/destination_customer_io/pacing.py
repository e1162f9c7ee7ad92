"""How fast and how often the client asks: backoff between retries, Retry-After, the AIMD gate that
adapts concurrency and request rate to Customer.io's 429s, and the hard cap ``max_requests_per_second``
above both."""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import random
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in total time (not in attempts)."""

    max_seconds: float = 300.0
    initial: float = 0.5
    maximum: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        jittered = random.uniform(0, min(self.maximum, self.initial * (2 ** attempt)))
        if retry_after is not None:
            # Honour the server's word, plus a little jitter so lanes do not return in lockstep.
            return max(retry_after, 0.0) + jittered * 0.1
        return jittered


# When the request the current task is sending started (set by the gate), so a 429 can tell whether
# it was sent before or after the last cut.
_STARTED: contextvars.ContextVar[float] = contextvars.ContextVar("gate_started", default=0.0)
_RATE_CUT = 0.7  # multiplicative decrease of the request rate on 429
_RATE_GROWTH = 1.1  # per second since the last cut, while requests succeed
_MIN_RATE = 2.0


class RateCap:
    """At most ``per_second`` request starts in any one-second window (a sliding window, not a token
    bucket: a bucket lets a full bucket plus a second's refill through in one window, twice the cap).

    The first second's worth starts at once; each later start waits until the start ``count`` places
    earlier is ``window`` seconds old, and ``window / count`` after the previous start. The spacing
    keeps later seconds free of bursts: a burst at each window's edge lets a few milliseconds of network
    jitter put two seconds' worth into one second as the server sees it. A fractional cap keeps the
    average: 0.5/s is one start per 2 s, 2.5/s is 2 starts per 0.8 s. Starts are reserved in call
    order, so they never go backwards.
    """

    def __init__(self, per_second: float) -> None:
        self.count = max(1, int(per_second))
        self.window = self.count / per_second
        self._starts: deque[float] = deque(maxlen=self.count)

    def reserve(self, earliest: float) -> float:
        """The start time of the next request, at ``earliest`` or later; reserved at once (no await)."""
        start = earliest
        if len(self._starts) == self.count:  # past the start-up burst
            start = max(start, self._starts[0] + self.window, self._starts[-1] + self.window / self.count)
        elif self._starts:
            start = max(start, self._starts[-1])
        self._starts.append(start)
        return start

    async def wait(self) -> None:
        """Sleep until a start is allowed (a request the gate does not cover: a redirect's next hop)."""
        now = time.monotonic()
        start = self.reserve(now)
        if start > now:
            await asyncio.sleep(start - now)


class ConcurrencyGate:
    """AIMD on requests in flight and on the request rate: on 429, halve the concurrency and pace
    request starts at 70% of the rate measured over the last second; on success, grow back (the rate
    by 10% per second; unpaced again once it is far above what is being sent).

    Concurrency alone cannot keep a requests/s limit: with fast answers even one request in flight
    exceeds it, and measured 429s were two thirds of all answers. Only a 429 for a request started
    after the last cut cuts again (the burst in flight when the limit was hit counts once).

    ``cap`` (``max_requests_per_second``): a ceiling above all this; the adaptation only goes lower.
    """

    def __init__(self, maximum: int, cap: float | None = None) -> None:
        self.maximum = maximum
        self.cap = RateCap(cap) if cap is not None else None
        self.limit = float(maximum)
        self.rate: float | None = None  # requests/s; None: unpaced until the first 429
        self._active = 0
        self._changed = asyncio.Condition()
        self._next_start = 0.0
        self._cut_at = float("-inf")
        self._grown_at = 0.0
        self._starts: deque[float] = deque(maxlen=256)

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._active < max(1, int(self.limit)))
            self._active += 1
        now = time.monotonic()
        start = now if self.rate is None else max(now, self._next_start)
        if self.cap is not None:
            start = self.cap.reserve(start)
        if self.rate is not None:
            self._next_start = start + 1.0 / self.rate
        if start > now:
            await asyncio.sleep(start - now)
        self._starts.append(start)
        _STARTED.set(start)

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def throttled(self) -> None:
        if _STARTED.get() < self._cut_at:
            return  # sent before the last cut, which already answered this burst
        now = time.monotonic()
        measured = self._measured_rate(now)
        base = measured if self.rate is None else min(self.rate, measured)
        self.rate = max(_MIN_RATE, base * _RATE_CUT)
        self.limit = max(1.0, self.limit / 2)
        self._cut_at = self._grown_at = now

    def succeeded(self) -> None:
        if self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / max(1.0, self.limit))
        if self.rate is not None:
            now = time.monotonic()
            self.rate *= _RATE_GROWTH ** (now - self._grown_at)
            self._grown_at = now
            if self.rate > 4 * self._measured_rate(now):
                self.rate = None  # far above what is being sent: no limit near, stop pacing

    def _measured_rate(self, now: float) -> float:
        recent = [s for s in self._starts if s >= now - 1.0]
        if len(recent) < 2:
            return self.rate or 1.0
        return len(recent) / max(now - recent[0], 1e-3)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
