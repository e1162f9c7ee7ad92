"""The end-of-sync LOG lines: one for the whole sync, one per stream (counts, rejections by reason)."""

from __future__ import annotations

from typing import Any

from .catalog import Stream


def summary(pipeline: Any, elapsed: float) -> str:
    c, stats = pipeline.counts, pipeline.client.stats
    mean_ops = c.ops_sent / c.batches if c.batches else 0.0
    return (
        f"Sync summary: {_n(c.records, 'record')} read, {c.accepted} accepted, {c.rejected} rejected"
        f"{_by_reason(c.rejected_by_reason)}; {_n(c.unreadable_lines, 'unreadable line')} skipped; "
        f"{_n(c.merged, 'identify update')} merged; {c.states_out} of {_n(c.states_in, 'state')} emitted; "
        f"{_n(stats.requests, 'request')} ({_n(c.batches, 'batch', 'batches')}, {mean_ops:.0f} ops per "
        f"batch), {_n(stats.retries, 'retry', 'retries')}, {stats.throttled} throttled; {elapsed:.2f} s, "
        f"{c.records / max(elapsed, 1e-9):,.0f} records/s."
    )


def stream_summary(stream: Stream) -> str:
    rejected = sum(stream.rejected.values())
    text = (
        f"Stream {stream.label} -> {stream.operation.object_name}: {_n(stream.records_read, 'record')}, "
        f"{stream.records_read - rejected} accepted, {rejected} rejected{_by_reason(stream.rejected)}"
    )
    if stream.changed:  # oversized_attributes drop / truncate: sent, but not as read
        text += (f"; oversized attribute values dropped: {stream.changed['NULLED']}, "
                 f"truncated: {stream.changed['TRUNCATED']}")
    if stream.repeated_ids:
        text += (f"; {stream.repeated_ids} records without an event_id were identical to an earlier one, so "
                 "their derived event id repeated and Customer.io keeps one event for them")
    return text + "."


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _by_reason(rejected: Any) -> str:
    """`` (by reason: code: n, ...)``, or nothing when no record was rejected."""
    reasons = ", ".join(f"{code}: {n}" for code, n in sorted(rejected.items()) if n)
    return f" (by reason: {reasons})" if reasons else ""
