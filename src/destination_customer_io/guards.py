"""Rejection-share guards: a stream that rejects (nearly) everything is said loudly, or stops the sync.

    share >= 90% (after 1,000 records of the stream, and at the end)  -> one WARN per stream, quoting the
                                                                         top reason's first message
    share > max_rejected_percent (same checkpoints; unset = never)    -> ConfigurationError, raised by
                                                                         the pipeline once what was read
                                                                         is delivered and its states out

The share is rejected / read so far: records still in flight count as not rejected, so a check before
the end can only understate it. Also here: the end-of-sync warning for streams the source left without a
COMPLETE stream status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import reasons
from .stream import Stream
from .errors import ConfigurationError

MIN_RECORDS = 1_000
WARN_PERCENT = 90.0


@dataclass(frozen=True, slots=True)
class Share:
    rejected: int
    read: int
    top: str  # the most frequent reason
    top_count: int

    @property
    def percent(self) -> float:
        return 100.0 * self.rejected / self.read


def share_of(stream: Stream, *, final: bool) -> Share | None:
    """The stream's rejected share, or None before it can be judged (too few records, none rejected)."""
    counts = stream.counts
    read = counts.records_read
    if read == 0 or (read < MIN_RECORDS and not final) or not counts.rejected:
        return None
    top, top_count = counts.rejected.most_common(1)[0]
    return Share(sum(counts.rejected.values()), read, top, top_count)


def warning(stream: Stream, share: Share) -> str:
    first = stream.counts.first_messages.get(share.top, "")
    return (f"Stream {stream.label}: {share.rejected:,} of {share.read:,} records ({share.percent:.0f}%) were "
            f"rejected, {share.top_count:,} of them as `{share.top}`: \"{first}\". "
            f"To fix it: {reasons.hint(share.top)}.")


def limit_error(stream: Stream, share: Share, limit: float) -> ConfigurationError:
    first = stream.counts.first_messages.get(share.top, "")
    return ConfigurationError(
        f"Stream `{stream.label}` rejected {share.percent:.1f}% of its {share.read:,} records, more than "
        f"max_rejected_percent ({limit:g}%); the top reason is `{share.top}` ({share.top_count:,} records): "
        f"\"{first}\". To fix it: {reasons.hint(share.top)}. The records read "
        "so far were delivered or stored as rejected, and their states emitted."
    )


class RejectionGuard:
    """Judges every stream's share at each chunk and at the end; ``over_limit`` is the error to raise
    once what was read is handled (the first stream over ``max_rejected_percent``)."""

    def __init__(self, streams: dict[tuple[str | None, str], Stream], log: Callable[[str, str], None],
                 max_rejected_percent: float | None) -> None:
        self.streams = streams
        self.log = log
        self.limit = max_rejected_percent
        self.warned: set[tuple[str | None, str]] = set()  # streams already warned of
        self.over_limit: ConfigurationError | None = None

    def judge(self, *, final: bool) -> bool:
        """Warn once of a stream rejecting >= WARN_PERCENT of its records; True when one exceeds the
        limit (the sync then ends with a config_error once what was read is handled)."""
        for key, stream in self.streams.items():
            share = share_of(stream, final=final)
            if share is None:
                continue
            if share.percent >= WARN_PERCENT and key not in self.warned:
                self.warned.add(key)
                self.log(warning(stream, share), "WARN")
            if self.limit is not None and share.percent > self.limit and self.over_limit is None:
                self.over_limit = limit_error(stream, share, self.limit)
        return self.over_limit is not None


def incomplete_streams(streams: dict[tuple[str | None, str], Stream],
                       statuses: dict[tuple[str | None, str], str]) -> list[str]:
    """Sources that report stream statuses end each stream with COMPLETE; a catalog stream left without
    one may have been cut short upstream. Input without any status (PyAirbyte, scripts) says nothing
    either way. Returns the warnings, one per such stream."""
    if not statuses:
        return []
    warnings = []
    for key, stream in streams.items():
        status = statuses.get(key)
        if status != "COMPLETE":
            warnings.append(f"Stream {stream.label} ended without a COMPLETE stream status (last status: "
                            f"{status or 'none'}); the source may not have sent all of its records.")
    return warnings
