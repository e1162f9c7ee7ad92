"""Fault injection for the Track endpoints: latency, injected 429/5xx, dropped connections, hangs and a
requests-per-second limit (token bucket).

Configured at start-up or at run time with JSON (`GET/POST /_emulator/faults`); the format is
`FaultConfig`'s fields, documented in docs/emulator.md. Randomness comes from a seedable RNG.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import time
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("status", "drop_before", "drop_after", "hang", "pass")


@dataclass
class FaultConfig:
    """What to inject. Rates are probabilities in [0, 1]; the schedule runs before anything random."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0  # extra uniform random latency in [0, jitter]
    error_rate: float = 0.0
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    retry_after: float | None = None  # Retry-After seconds on injected 429s; None = no header
    drop_before_rate: float = 0.0  # close the connection before applying the request
    drop_after_rate: float = 0.0  # apply the request, then close the connection without answering
    rate_limit_rps: float | None = None
    rate_limit_burst: int | None = None  # default: max(1, rps)
    # Steps: {"count": N, "status": 503[, "retry_after": 2]} or {"count": N, "action": "drop_before" |
    # "drop_after" | "hang" | "pass"}; each Track request consumes one count of the first step.
    schedule: list[dict[str, Any]] = field(default_factory=list)
    seed: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "FaultConfig":
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        config = cls(**data)
        config.check()
        return config

    def check(self) -> None:
        for name in ("error_rate", "drop_before_rate", "drop_after_rate"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency must be >= 0")
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise ValueError("rate_limit_rps must be > 0")
        if not self.error_statuses or not all(isinstance(s, int) and 400 <= s <= 599 for s in self.error_statuses):
            raise ValueError("error_statuses must be a non-empty list of 4xx/5xx codes")
        for step in self.schedule:
            _check_step(step)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_step(step: Any) -> None:
    if not isinstance(step, dict):
        raise ValueError("a schedule step must be an object")
    count = step.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ValueError("schedule count must be a positive integer")
    if "status" in step:
        if not isinstance(step["status"], int) or not 100 <= step["status"] <= 599:
            raise ValueError("schedule status must be an HTTP status code")
    elif step.get("action") not in ACTIONS[1:]:
        raise ValueError(f"a schedule step needs a status or an action in {ACTIONS[1:]}")


@dataclass(frozen=True)
class Decision:
    """What to do with one request: action in ACTIONS; status and retry_after for "status"."""

    action: str = "pass"
    status: int = 0
    retry_after: float | None = None
    source: str = ""


PASS = Decision()


class TokenBucket:
    """Classic token bucket: `rate` tokens per second, at most `burst` stored."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FaultInjector:
    """Holds the active FaultConfig and its running state (remaining schedule, buckets, RNG)."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.counters: dict[str, int] = {}
        self.set(config or FaultConfig())

    def set(self, config: FaultConfig) -> None:
        self.config = config
        self.schedule: collections.deque[list[Any]] = collections.deque(
            [step.get("count", 1), step] for step in config.schedule
        )
        self.rng = random.Random(config.seed)
        self.buckets: dict[str, TokenBucket] = {}

    @property
    def active(self) -> bool:
        c = self.config
        return bool(
            self.schedule
            or c.latency_ms
            or c.latency_jitter_ms
            or c.error_rate
            or c.drop_before_rate
            or c.drop_after_rate
            or c.rate_limit_rps
        )

    def to_json(self) -> dict[str, Any]:
        data = self.config.to_json()
        data["schedule_remaining"] = [{**step, "count": left} for left, step in self.schedule]
        data["injected"] = dict(self.counters)
        return data

    def latency(self) -> float:
        """Seconds to wait before answering."""
        c = self.config
        extra = self.rng.uniform(0.0, c.latency_jitter_ms) if c.latency_jitter_ms else 0.0
        return (c.latency_ms + extra) / 1000.0

    def decide(self, site_id: str) -> Decision:
        decision = self._decide(site_id)
        if decision.action != "pass":
            key = str(decision.status) if decision.action == "status" else decision.action
            self.counters[key] = self.counters.get(key, 0) + 1
        return decision

    def _decide(self, site_id: str) -> Decision:
        if self.schedule:
            return self._next_scheduled()
        c = self.config
        if c.rate_limit_rps and not self._bucket(site_id).take():
            return Decision("status", 429, c.retry_after, "rate_limit")
        if c.error_rate and self.rng.random() < c.error_rate:
            status = self.rng.choice(c.error_statuses)
            return Decision("status", status, c.retry_after if status == 429 else None, "random")
        if c.drop_before_rate and self.rng.random() < c.drop_before_rate:
            return Decision("drop_before", source="random")
        if c.drop_after_rate and self.rng.random() < c.drop_after_rate:
            return Decision("drop_after", source="random")
        return PASS

    def _next_scheduled(self) -> Decision:
        entry = self.schedule[0]
        entry[0] -= 1
        if entry[0] <= 0:
            self.schedule.popleft()
        step = entry[1]
        if "status" in step:
            retry_after = step.get("retry_after", self.config.retry_after if step["status"] == 429 else None)
            return Decision("status", step["status"], retry_after, "schedule")
        return Decision(step["action"], source="schedule")

    def _bucket(self, site_id: str) -> TokenBucket:
        bucket = self.buckets.get(site_id)
        if bucket is None:
            rps = float(self.config.rate_limit_rps or 1.0)
            burst = self.config.rate_limit_burst or max(1, int(rps))
            bucket = self.buckets[site_id] = TokenBucket(rps, burst)
        return bucket
