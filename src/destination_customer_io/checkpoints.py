"""Checkpoint counts: which records each echoed STATE counts, so the platform's checksum holds.

The platform (airbyte-platform ``StateCheckSumCountEventHandler.validateStateChecksum``) checks, for every
STREAM or GLOBAL state a destination echoes, that
``destinationStats.recordCount + destinationStats.rejectedRecordCount == sourceStats.recordCount``:

    STREAM state of stream S   the records of S since S's previous STREAM state
    GLOBAL state               the records of every stream since the previous GLOBAL state
    LEGACY state (or a STREAM  every record since the previous such state; the platform checks nothing
    state naming no stream)
    ``recordCount``            accepted records only; rejected ones go to ``rejectedRecordCount`` alone

A record counts for the stream it names: a stream of the catalog under the catalog's key, any other
under its own (namespace, name), so a RECORD of a stream missing from the catalog is counted (rejected)
on a state that names that stream. A line that names no stream (not JSON, truncated) is in no count.
The pipeline releases states in input order and only when nothing before them is pending, so when a
state is released every record it counts has an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .errors import SystemFailure

StreamKey = tuple[str | None, str]


@dataclass(frozen=True, slots=True)
class Counted:
    """What one STATE counts: ``kind`` STREAM (with the stream's ``key``), GLOBAL or LEGACY."""

    kind: str
    key: StreamKey | None = None


def counted_by(state: dict[str, Any], resolve: Callable[[str | None, str], StreamKey]) -> Counted:
    """The records ``state`` counts; ``resolve`` maps a descriptor's (namespace, name) to the key its
    records are counted under (the catalog's, where the catalog has that stream)."""
    kind = state.get("type")
    if kind == "GLOBAL":
        return Counted("GLOBAL")
    if kind == "STREAM":
        stream = state.get("stream")
        descriptor = stream.get("stream_descriptor") if isinstance(stream, dict) else None
        name = descriptor.get("name") if isinstance(descriptor, dict) else None
        if isinstance(name, str):
            namespace = descriptor.get("namespace")  # type: ignore[union-attr]
            return Counted("STREAM", resolve(namespace if isinstance(namespace, str) else None, name))
    return Counted("LEGACY")


class Tally:
    """Per-stream totals of released epochs, handed out to the states that count them.

    One STREAM state takes (and clears) its stream's records; a GLOBAL state takes every stream's since
    the previous GLOBAL state; a LEGACY state every record since the previous LEGACY state. An input
    that mixes STREAM and GLOBAL states has no consistent count: ``check_kind`` refuses it."""

    def __init__(self) -> None:
        self._by_stream: dict[StreamKey, list[int]] = {}  # key -> [records, rejected], since its state
        self._global = [0, 0]
        self._legacy = [0, 0]
        self._kinds: set[str] = set()

    def check_kind(self, counted: Counted) -> None:
        self._kinds.add(counted.kind)
        if {"STREAM", "GLOBAL"} <= self._kinds:
            raise SystemFailure(
                "The input mixes STREAM and GLOBAL states; the Airbyte platform never sends both in one "
                "sync, and the records each would count are undefined, so the sync stops here. Every state "
                "emitted before this point was honest."
            )

    def add(self, reads: dict[StreamKey, int], rejects: dict[StreamKey, int]) -> None:
        """One released epoch's records and rejections, by stream."""
        for key, count in reads.items():
            self._entry(key)[0] += count
            self._global[0] += count
            self._legacy[0] += count
        for key, count in rejects.items():
            self._entry(key)[1] += count
            self._global[1] += count
            self._legacy[1] += count

    def take(self, counted: Counted) -> tuple[int, int]:
        """(accepted, rejected) for a state counting ``counted``; its counter starts again from zero."""
        if counted.kind == "STREAM":
            records, rejected = self._by_stream.pop(counted.key, (0, 0))  # type: ignore[arg-type]
        elif counted.kind == "GLOBAL":
            (records, rejected), self._global = self._global, [0, 0]
            self._by_stream.clear()
        else:
            (records, rejected), self._legacy = self._legacy, [0, 0]
        return records - rejected, rejected

    def _entry(self, key: StreamKey) -> list[int]:
        entry = self._by_stream.get(key)
        if entry is None:
            entry = self._by_stream[key] = [0, 0]
        return entry
