"""What a sync counts, and the LOG lines that report it: progress every ``progress_interval_seconds``
(read and answered rates, the backlog between them), then one summary for the whole sync (where the
rejected records went) and one per stream (counts, rejections by reason). A dry run's summary says what
would be sent: nothing was accepted and no state was emitted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .stream import Stream


@dataclass(slots=True)
class Counts:
    """The sync-wide counters, written only through the methods below: one call per chunk of records,
    batch, merge, line that is not a record, or rejection, never one per record read (intake's hot
    loop); anyone may read the attributes."""

    lines: int = 0
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    unreadable_lines: int = 0
    states_in: int = 0
    states_out: int = 0  # STATE messages written: counted by checkpoints.py as it writes each one
    merged: int = 0
    batches: int = 0
    ops_sent: int = 0
    unchanged: int = 0  # skip_unchanged: accepted without being sent
    removed: int = 0  # mirror removals Customer.io accepted
    removals_refused: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    # segment id -> adds of people this sync did not identify first (segments.WatchingBatcher)
    unidentified_adds: Counter = field(default_factory=Counter)

    def read(self, records: int, unchanged: int = 0) -> None:
        """``records`` RECORD lines read, of which ``unchanged`` are accepted as they are read
        (skip_unchanged: already delivered)."""
        self.lines += records
        self.records += records
        self.accepted += unchanged
        self.unchanged += unchanged

    def other_line(self) -> None:
        """A line that is not a well-formed RECORD (STATE, TRACE, LOG, a broken line...)."""
        self.lines += 1

    def odd_record(self) -> None:
        """A broken RECORD line still tied to a stream: a record read (and rejected)."""
        self.records += 1

    def unreadable(self) -> int:
        """A line that is no Airbyte message, skipped; returns how many so far."""
        self.unreadable_lines += 1
        return self.unreadable_lines

    def state_read(self) -> None:
        self.states_in += 1

    def state_emitted(self) -> None:
        self.states_out += 1

    def merge(self) -> None:
        """A record folded into an earlier op of its key (batching.py)."""
        self.merged += 1

    def post(self, ops: int) -> None:
        """One batch of ``ops`` ops posted to Customer.io."""
        self.batches += 1
        self.ops_sent += ops

    def accept(self, count: int) -> None:
        self.accepted += count

    def remove(self, count: int) -> None:
        """``count`` mirror removals Customer.io accepted."""
        self.removed += count

    def refuse_removal(self) -> None:
        self.removals_refused += 1

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.rejected_by_reason[reason] += 1

    def unidentified_add(self, segment: str) -> None:
        """An add to ``segment`` of a person this sync did not identify first."""
        self.unidentified_adds[segment] += 1


def progress_line(counts: Counts, stats: Any, elapsed: float) -> str:
    """``stats``: the client's ``TrackStats`` (requests, retries). Answered: records with an outcome
    (accepted by Customer.io, unchanged, or rejected); the backlog is read but not yet answered."""
    c, elapsed = counts, max(elapsed, 1e-9)
    answered = c.accepted + c.rejected
    return (
        f"Progress: {c.records} records read, {c.accepted} accepted, {c.rejected} rejected, "
        f"{c.states_out}/{c.states_in} states emitted, {stats.requests} requests, {stats.retries} retries; "
        f"read {c.records / elapsed:,.0f} records/s, answered {answered / elapsed:,.0f} records/s, "
        f"backlog {c.records - answered:,} records (read, not yet answered)"
    )


def waiting_part(store: Any, ledger: Any) -> str:
    """What the sync has waited on for long, for the end of a progress line: the rejected-records
    store's and the sync ledger's (or None) ``waiting()`` (``storage/retrying.py``)."""
    waits = [(what, wait) for what, wait in (
        ("the rejected-records store", store.waiting()),
        ("the sync ledger's storage", ledger.waiting() if ledger is not None else None)) if wait]
    return "".join(f"; waiting for {what} {wait}" for what, wait in waits)


def summary(c: Counts, stats: Any, elapsed: float, rejected_to: str | None) -> str:
    """``stats``: the client's ``TrackStats``; ``rejected_to``: where the store keeps rejected records
    (rejected.location), None when not kept."""
    mean_ops = c.ops_sent / c.batches if c.batches else 0.0
    return (
        f"Sync summary: {counted(c.records, 'record')} read, {c.accepted} accepted, {c.rejected} rejected"
        f"{_by_reason(c.rejected_by_reason)}; {counted(c.unreadable_lines, 'unreadable line')} skipped; "
        f"{counted(c.merged, 'identify update')} merged; {_ledger_part(c)}{c.states_out} of {counted(c.states_in, 'state')} emitted; "
        f"{counted(stats.requests, 'request')} ({counted(c.batches, 'batch', 'batches')}, {mean_ops:.0f} ops per "
        f"batch), {counted(stats.retries, 'retry', 'retries')}, {stats.throttled} throttled; "
        f"{_rejected_part(rejected_to)}; {elapsed:.2f} s, {c.records / max(elapsed, 1e-9):,.0f} records/s."
    )


def dry_summary(c: Counts, elapsed: float, rejected_to: str | None, found: dict[str, Any], where: str) -> str:
    """A dry run's summary: what would be sent (``found``: dryrun.DryRun.finish's summary). The pipeline
    counted every op it handed to the dry run as accepted: here they are records that would be sent."""
    runs = found["streams"].values()
    ops, removals, held = (sum(s[key] for s in runs) for key in ("would_send", "would_remove", "removals_held_back"))
    return (
        f"Dry run summary: {counted(c.records, 'record')} read; would send {counted(c.accepted - c.unchanged, 'record')} "
        f"as {counted(ops, 'op')}; {c.rejected} would be rejected{_by_reason(c.rejected_by_reason)}; "
        f"{counted(c.unreadable_lines, 'unreadable line')} skipped; {counted(c.merged, 'identify update')} merged; "
        + (f"{c.unchanged} unchanged (would not be sent again); " if c.unchanged else "")
        + f"would send {counted(removals, 'mirror removal')}" + (f", {held} held back by the guard" if held else "")
        + f"; nothing was sent to Customer.io and no state was emitted ({counted(c.states_in, 'state')} read); "
        f"would-be {_rejected_part(rejected_to)}; ops and summary.json at {where}; {elapsed:.2f} s."
    )


def _rejected_part(rejected_to: str | None) -> str:
    return f"rejected records at {rejected_to}" if rejected_to else \
        "rejected records not kept (object_storage_config is None)"


def _ledger_part(c: Counts) -> str:
    """Unchanged records skipped and mirror removals, when the sync had any."""
    parts = []
    if c.unchanged:
        parts.append(f"{c.unchanged} unchanged (not sent again)")
    if c.removed or c.removals_refused:
        parts.append(f"{counted(c.removed, 'mirror removal')} applied, {c.removals_refused} refused")
    return "".join(part + "; " for part in parts)


def unidentified_warning(counts: Counts) -> str | None:
    """The WARN line about segment adds of people this sync did not identify, if there were any."""
    if not counts.unidentified_adds:
        return None
    per_segment = ", ".join(f"segment {segment}: {n}" for segment, n in sorted(counts.unidentified_adds.items()))
    return (f"At least {sum(counts.unidentified_adds.values())} segment adds concerned people this sync did "
            f"not identify ({per_segment}). Customer.io ignores an add for a person who does not exist (the "
            "call still succeeds), so whoever did not exist yet is not in the segment; set "
            "create_missing_people: true to identify each person before adding them.")


def stream_summary(stream: Stream, dry: bool = False, ledger_note: str = "") -> str:
    """``dry``: a dry run's words (would be sent, would be rejected); ``ledger_note``: what the sync
    ledger says of the stream (ledger/sync.py ``note``: unchanged ops, mirror removals)."""
    counts = stream.counts
    rejected = sum(counts.rejected.values())
    sent, refused = ("would be sent", "would be rejected") if dry else ("accepted", "rejected")
    text = (
        f"Stream {stream.label} -> {stream.operation.object_name}: {counted(counts.records_read, 'record')}, "
        f"{counts.records_read - rejected} {sent}, {rejected} {refused}{_by_reason(counts.rejected)}"
    )
    if counts.changed:  # oversized_attributes drop / truncate: sent, but not as read
        text += (f"; oversized attribute values dropped: {counts.changed['NULLED']}, "
                 f"truncated: {counts.changed['TRUNCATED']}")
    text += ledger_note
    if repeated := stream.count_repeats():  # the ids built since the last chunk checked too
        text += (f"; {repeated} records without an event_id were identical to an earlier one, so "
                 "their derived event id repeated and Customer.io keeps one event for them")
    return text + "."


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``3 records``, ``1 record``: a count and its noun."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _by_reason(rejected: Any) -> str:
    """`` (by reason: code: n, ...)``, or nothing when no record was rejected."""
    reasons = ", ".join(f"{code}: {n}" for code, n in sorted(rejected.items()) if n)
    return f" (by reason: {reasons})" if reasons else ""
