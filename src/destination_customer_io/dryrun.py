"""Dry run: every step up to the send runs, and the ops that would be sent are written to the store.

    <store>/_customerio_dry_run/<UTC time>/
        <stream>-00000.jsonl      one line per op that would be sent: {"path": ..., "op": {...}} (with
                                  create_missing_people, each segment add's identify-only op first)
        <stream>-held-removals.jsonl   removals a mirror guard would hold back (none sent)
        rejected/...              the records that would be rejected, in the usual rejected-records format
        summary.json              per stream: records, would add / update / send by action, unchanged,
                                  would remove, held back, rejected by reason

``DryRun`` is a sender (delivery.py): each sealed batch is written here instead of posted, and none of
its ops is refused, so mapping, validation, ledger look-ups, mirror removals and guards run as in a real
sync. Nothing reaches Customer.io, the ledger's files are not written (it is opened read-only), and no
STATE is emitted: a platform that saw states would advance its cursors past records that were never
delivered.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

from .batching import Batch, IdBatch
from .stream import Stream
from .reasons import Rejection
from .segments import identify_ops
from .storage.names import s3_safe
from .storage.objects import Objects

PART_BYTES = 8_000_000  # a part file is written once this much is buffered


@dataclass
class _StreamRun:
    label: str
    operation: str
    buffer: bytearray = field(default_factory=bytearray)
    parts: list[str] = field(default_factory=list)
    ops: int = 0
    by_action: Counter = field(default_factory=Counter)
    added: int = 0
    updated: int = 0
    removals: int = 0


@dataclass
class DryStats:
    """What the summary line reads from a client: nothing was requested."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    by_status: dict = field(default_factory=dict)


class DryRunClient:
    """Stands in for the Track API client: never called for ops (``DryRun`` is the sender), it only
    answers the summary's questions."""

    def __init__(self) -> None:
        self.stats = DryStats()

    def describe_host(self) -> str:
        return "nowhere (dry run)"


class DryRun:
    """Collects the ops of one dry run per stream and writes them, in parts, to ``objects``."""

    def __init__(self, objects: Objects, streams: dict, now: datetime | None = None) -> None:
        self.objects = objects
        self.streams = streams
        moment = now or datetime.now(timezone.utc)
        self.prefix = f"_customerio_dry_run/{moment:%Y%m%dT%H%M%S.%f}Z/"
        self.runs: dict[int, _StreamRun] = {}
        self.held: dict[str, int] = {}
        self.ledger: Any = None  # the sync's ledger (ledger/sync.py), when a stream keeps one

    @property
    def where(self) -> str:
        return f"{self.objects.root}/{self.prefix}"

    async def refusals(self, batch: Batch) -> AsyncIterator[tuple[int, Rejection]]:
        """The ops of ``batch`` written as they would have been sent; a dry run refuses none."""
        await self.take(batch)
        return
        yield  # an async generator that yields nothing

    async def take(self, batch: Batch) -> None:
        """The ops of ``batch``, as they would have been sent (an op with no input line: a removal)."""
        path = batch.route if type(batch) is IdBatch else "/api/v2/batch"
        if type(batch) is IdBatch and batch.creates:  # create_missing_people: listed, not counted as ops
            for index, op in enumerate(identify_ops(batch)):
                run = self._run(batch.streams[index])
                run.buffer += b'{"path":"/api/v2/batch","op":' + op + b"}\n"
                run.by_action["identify"] += 1
        for index, body in enumerate(batch.bodies):
            run = self._run(batch.streams[index])
            run.ops += 1
            run.buffer += b'{"path":' + json.dumps(path).encode() + b',"op":' + body + b"}\n"
            self._classify(run, batch, index, body, path)
            if len(run.buffer) >= PART_BYTES:
                await self._write_part(run)

    def _run(self, stream: Stream) -> _StreamRun:
        run = self.runs.get(id(stream))
        if run is None:
            run = self.runs[id(stream)] = _StreamRun(stream.label, stream.operation.object_name)
        return run

    def _classify(self, run: _StreamRun, batch: Batch, index: int, body: bytes, path: str) -> None:
        if batch.lines[index] is None:  # no input line made it: a mirror removal
            run.removals += 1
            return
        known = self.ledger.known(batch, index) if self.ledger is not None else None
        if known is not None:
            if known:
                run.updated += 1
            else:
                run.added += 1
        if path != "/api/v2/batch":
            run.by_action[path.rsplit("/", 1)[-1].split("?")[0]] += 1
        else:
            start = body.find(b'"action":"')
            run.by_action[body[start + 10:body.find(b'"', start + 10)].decode() if start >= 0 else "?"] += 1

    async def _write_part(self, run: _StreamRun) -> None:
        name = f"{self.prefix}{s3_safe(run.label)}-{len(run.parts):05d}.jsonl"
        body, run.buffer = bytes(run.buffer), bytearray()
        await asyncio.to_thread(self.objects.put, name, body)
        run.parts.append(name)

    async def hold(self, stream: Stream, path: Path, count: int) -> str:
        """Removals a mirror guard would hold back (``path``: a JSONL file): listed beside the ops, never sent."""
        name = f"{self.prefix}{s3_safe(stream.label)}-held-removals.jsonl"
        await asyncio.to_thread(self.objects.put_file, name, path)
        self.held[stream.label] = count
        return f"{self.objects.root}/{name}"

    async def finish(self, guard_messages: list[str]) -> dict[str, Any]:
        """Writes the last parts and ``summary.json``; returns the summary."""
        for run in self.runs.values():
            if run.buffer:
                await self._write_part(run)
        summary = {"dry_run": True, "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "streams": {stream.label: self._stream_summary(stream) for stream in self.streams.values()},
                   "guard": guard_messages}
        await asyncio.to_thread(self.objects.put, self.prefix + "summary.json",
                                json.dumps(summary, indent=2).encode())
        return summary

    def _stream_summary(self, stream: Stream) -> dict[str, Any]:
        run = self.runs.get(id(stream)) or _StreamRun(stream.label, stream.operation.object_name)
        return {"operation": run.operation, "records": stream.counts.records_read, "would_send": run.ops - run.removals,
                "by_action": dict(run.by_action), "would_add": run.added, "would_update": run.updated,
                "unchanged": self.ledger.unchanged(stream) if self.ledger is not None else 0,
                "would_remove": run.removals,
                "removals_held_back": self.held.get(stream.label, 0),
                "rejected": dict(stream.counts.rejected), "files": [f"{self.objects.root}/{p}" for p in run.parts]}
