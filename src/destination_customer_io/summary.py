"""What a sync counts, and the LOG lines that report it: progress every ``progress_interval_seconds``,
then one summary for the whole sync and one per stream (counts, rejections by reason)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .catalog import Stream


@dataclass(slots=True)
class Counts:
    lines: int = 0
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    unreadable_lines: int = 0
    states_in: int = 0
    states_out: int = 0
    merged: int = 0
    batches: int = 0
    ops_sent: int = 0
    unchanged: int = 0  # skip_unchanged: accepted without being sent
    removed: int = 0  # mirror removals Customer.io accepted
    removals_refused: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)


def progress_line(counts: Counts, stats: Any, elapsed: float) -> str:
    """``stats``: the client's ``TrackStats`` (requests, retries)."""
    c, elapsed = counts, max(elapsed, 1e-9)
    return (
        f"Progress: {c.records} records read, {c.accepted} accepted, {c.rejected} rejected, "
        f"{c.states_out}/{c.states_in} states emitted, {stats.requests} requests, {stats.retries} retries, "
        f"{c.records / elapsed:,.0f} records/s"
    )


def waiting_part(store: Any, keeper: Any) -> str:
    """What the sync has waited on for long, for the end of a progress line: the rejected-records
    store's and the sync ledger's (``keeper``, or None) ``waiting()`` (``rejected/retrying.py``)."""
    waits = [(what, wait) for what, wait in (
        ("the rejected-records store", store.waiting()),
        ("the sync ledger's storage", keeper.objects.waiting() if keeper is not None else None)) if wait]
    return "".join(f"; waiting for {what} {wait}" for what, wait in waits)


def summary(pipeline: Any, elapsed: float) -> str:
    c, stats = pipeline.counts, pipeline.client.stats
    mean_ops = c.ops_sent / c.batches if c.batches else 0.0
    return (
        f"Sync summary: {_n(c.records, 'record')} read, {c.accepted} accepted, {c.rejected} rejected"
        f"{_by_reason(c.rejected_by_reason)}; {_n(c.unreadable_lines, 'unreadable line')} skipped; "
        f"{_n(c.merged, 'identify update')} merged; {_ledger_part(c)}{c.states_out} of {_n(c.states_in, 'state')} emitted; "
        f"{_n(stats.requests, 'request')} ({_n(c.batches, 'batch', 'batches')}, {mean_ops:.0f} ops per "
        f"batch), {_n(stats.retries, 'retry', 'retries')}, {stats.throttled} throttled; {elapsed:.2f} s, "
        f"{c.records / max(elapsed, 1e-9):,.0f} records/s."
    )


def _ledger_part(c: Counts) -> str:
    """Unchanged records skipped and mirror removals, when the sync had any."""
    parts = []
    if c.unchanged:
        parts.append(f"{c.unchanged} unchanged (not sent again)")
    if c.removed or c.removals_refused:
        parts.append(f"{_n(c.removed, 'mirror removal')} applied, {c.removals_refused} refused")
    return "".join(part + "; " for part in parts)


def stream_summary(stream: Stream) -> str:
    rejected = sum(stream.rejected.values())
    text = (
        f"Stream {stream.label} -> {stream.operation.object_name}: {_n(stream.records_read, 'record')}, "
        f"{stream.records_read - rejected} accepted, {rejected} rejected{_by_reason(stream.rejected)}"
    )
    if stream.changed:  # oversized_attributes drop / truncate: sent, but not as read
        text += (f"; oversized attribute values dropped: {stream.changed['NULLED']}, "
                 f"truncated: {stream.changed['TRUNCATED']}")
    book = stream.book
    if book is not None and book.unchanged_count:
        text += f"; {book.unchanged_count} unchanged, not sent again"
    if book is not None and book.mirror:
        text += f"; mirror: {book.removed} removed, {book.removal_note}"
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
