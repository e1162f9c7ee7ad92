"""Rejection-share guards: a stream that rejects (nearly) everything is said loudly, or stops the sync.

    share >= 90% (after 1,000 records of the stream, and at the end)  -> one WARN per stream, quoting the
                                                                         top reason's first message
    share > max_rejected_percent (same checkpoints; unset = never)    -> ConfigurationError, raised by
                                                                         the pipeline once what was read
                                                                         is delivered and its states out

The share is rejected / read so far: records still in flight count as not rejected, so a check before
the end can only understate it.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import reasons
from .catalog import Stream
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
    read = stream.records_read
    if read == 0 or (read < MIN_RECORDS and not final) or not stream.rejected:
        return None
    top, top_count = stream.rejected.most_common(1)[0]
    return Share(sum(stream.rejected.values()), read, top, top_count)


def warning(stream: Stream, share: Share) -> str:
    return (f"Stream {stream.label}: {share.rejected:,} of {share.read:,} records ({share.percent:.0f}%) were "
            f"rejected, {share.top_count:,} of them as `{share.top}`: \"{stream.first_messages.get(share.top, '')}\". "
            f"To fix it: {reasons.hint(share.top)}.")


def limit_error(stream: Stream, share: Share, limit: float) -> ConfigurationError:
    return ConfigurationError(
        f"Stream `{stream.label}` rejected {share.percent:.1f}% of its {share.read:,} records, more than "
        f"max_rejected_percent ({limit:g}%); the top reason is `{share.top}` ({share.top_count:,} records): "
        f"\"{stream.first_messages.get(share.top, '')}\". To fix it: {reasons.hint(share.top)}. The records read "
        "so far were delivered or stored as rejected, and their states emitted."
    )
