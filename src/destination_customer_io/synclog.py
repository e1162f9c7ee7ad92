"""The sync log (``sync_log: true``): every input record's outcome, and one row per sync, in the store.

    <path>/_customerio_sync_log/records/<namespace>/<stream>/<started ms>_<run>_<part>.jsonl.gz
    <path>/_customerio_sync_log/runs/<started ms>_<run>.jsonl.gz

A record row: ``run_id``, ``sync_id``, ``stream``, ``namespace``, ``key`` (who the op is about, as
``identifier:value``; null when no op was built), ``operation`` (the stream's), ``action`` (the Track
API action or v1 route sent; null when nothing was sent), ``outcome`` (``accepted``, ``unchanged``,
``rejected``, ``removed``; ``retried``: a record of ``retry_refused``'s queue, its reason null when
Customer.io took it), ``reason`` (a rejection's code), ``time``. The run row: start, end,
per-stream counts of each outcome, and a fingerprint of the config with its secrets removed.

The pipeline calls one :class:`SyncLog` at one named point per outcome: ``unchanged`` (intake: the
ledger's filter), ``rejected`` (a record rejected before sending, as the pipeline stores it),
``refused`` and ``acknowledged`` (delivery). Off, it is None and never imported. Rows are added to
rolling files (``storage/rolling.py``) without waiting; ``room`` (awaited once per input chunk) bounds
the uploads waiting. The rows of every record before a state are durable before it leaves: the log is
flushed at the checkpoints' release point (``before_release``), its rows counted as waiting for a flush
(``buffered``) so that flushes are grouped as the rejected records' are (docs/rejected.md).
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import orjson

from .config import Config, LocalStorage, S3Storage
from .errors import StoreError, store_failure
from .storage.names import s3_safe
from .storage.objects import open_objects
from .storage.options import StoreOptions, within
from .storage.rolling import GzipLinesPart, Lines, RollingFiles, open_sink

if TYPE_CHECKING:
    from .batching import Batch
    from .operations.base import Op
    from .reasons import Rejection
    from .stream import Stream

FOLDER = "_customerio_sync_log"
EXTENSION = ".jsonl.gz"
_FAILED = "Could not write the sync log"
_decode = msgspec.json.decode


class _Target(msgspec.Struct):
    """What a row reads of a v2 op: msgspec skips the rest (attributes, data) without building it."""

    type: str | None = None
    action: str | None = None
    identifiers: dict[str, Any] | None = None
    anonymous_id: Any = None


_target = msgspec.json.Decoder(_Target).decode


class _Keys:
    extension = EXTENSION

    def __init__(self, prefix: str, started_ms: int, run_id: str) -> None:
        self._head = f"{prefix.strip('/')}/records/" if prefix.strip("/") else "records/"
        self._name = f"{started_ms}_{run_id}"

    def render(self, *, stream: str, namespace: str | None, part_number: int, timestamp_ms: int,
               uuid: str) -> str:
        return (f"{self._head}{s3_safe(namespace or '') or '_'}/{s3_safe(stream)}/"
                f"{self._name}_{part_number}{EXTENSION}")


def fingerprint(config: Config) -> str:
    """sha256 of the config without its credentials and with every secret value blanked: it tells two
    configs apart and gives no secret away."""
    secrets = set(config.secrets())

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k != "credentials"}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return "<secret>" if isinstance(value, str) and value in secrets else value

    text = orjson.dumps(clean(msgspec.to_builtins(config)), option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(text).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=64)
def _id_type(route: str) -> str:
    """The identifier a v1 id list's ids are (``?id_type=email``; Customer.io's default: ``id``)."""
    return parse_qs(urlsplit(route).query).get("id_type", ["id"])[0]


def _about(body: bytes, route: str | None) -> tuple[str | None, str | None]:
    """(key, action) of an op's encoded body: its identifiers as ``name:value``, its action (a v1 id
    list: the id, and the route)."""
    if route is not None:
        return f"{_id_type(route)}:{_decode(body)}", route
    op = _target(body)
    if op.identifiers:
        key: str | None = ",".join(f"{name}:{value}" for name, value in op.identifiers.items())
    else:
        key = f"anonymous_id:{op.anonymous_id}" if op.anonymous_id is not None else None
    return key, f"{op.type}.{op.action}" if op.action and op.type else op.action


class SyncLog:
    """One sync's log; ``records`` are the rolling files of record rows."""

    def __init__(self, config: Config, sync_id: int | None, options: StoreOptions,
                 clock: Any = time.time, retrying: Any = None) -> None:
        storage = within(config.object_storage_config, FOLDER)
        assert isinstance(storage, (S3Storage, LocalStorage))  # refuse_config refused storage None
        self.run_id = uuid.uuid4().hex[:12]
        self.sync_id = sync_id
        self.started = _now()
        self._started_ms = int(clock() * 1000)
        self._fingerprint = fingerprint(config)
        self._storage, self._options = storage, options
        self._counts: dict[tuple[str | None, str], Counter[str]] = {}
        self._refused: dict[Batch, set[int]] = {}
        self.retrying = retrying  # retry_refused: the retried records' epoch (their rows say ``retried``)
        self._pending: dict[tuple[str | None, str], list[bytes]] = {}  # the rows of the current call
        self.buffered: Any = None  # checkpoints.buffered: told of each call's rows (a state waits for a flush)
        sink, prefix = open_sink(storage, options)
        self.records = RollingFiles(sink, _Keys(prefix, self._started_ms, self.run_id), GzipLinesPart,
                                    options=options, clock=clock)

    # --- the named points ---------------------------------------------------------------------------

    def unchanged(self, op: Op, stream: Stream) -> None:
        """Intake: the ledger found ``op`` delivered as it is (skip_unchanged); nothing is sent."""
        key, action = _about(op.body, op.route)
        self._row(stream.name, stream.namespace, key, stream, action, "unchanged", None, _now())
        self._add()

    def rejected(self, record: Any, rejection: Rejection, stream: Stream | None) -> None:
        """A record rejected before sending (invalid, unknown stream, malformed), as it is stored."""
        self._row(record.stream, record.namespace, None, stream, None, "rejected", rejection.reason, _now())
        self._add()

    def refused(self, batch: Batch, index: int, rejection: Rejection) -> None:
        """Delivery: Customer.io refused op ``index`` of ``batch``: a row per record it carried."""
        self._refused.setdefault(batch, set()).add(index)
        key, action = _about(batch.bodies[index], getattr(batch, "route", None))
        at, retrying = _now(), self.retrying
        for _, epoch, stream in batch.refs_at(index):
            outcome = "retried" if epoch is retrying and retrying is not None else "rejected"
            self._row(stream.name, stream.namespace, key, stream, action, outcome, rejection.reason, at)
        self._add()

    def acknowledged(self, batch: Batch, removals: bool) -> None:
        """Delivery: every op of ``batch`` not refused was applied: ``accepted`` (``removed``: the mirror
        removals, which no input record made)."""
        refused = self._refused.pop(batch, ())
        route, outcome, at = getattr(batch, "route", None), "removed" if removals else "accepted", _now()
        retrying = self.retrying
        for index, body in enumerate(batch.bodies):
            if index in refused:
                continue
            key, action = _about(body, route)
            for _, epoch, stream in batch.refs_at(index):
                said = "retried" if epoch is retrying and retrying is not None else outcome
                self._row(stream.name, stream.namespace, key, stream, action, said, None, at)
        self._add()

    # --- files --------------------------------------------------------------------------------------

    def _row(self, name: str, namespace: str | None, key: str | None, stream: Stream | None,
             action: str | None, outcome: str, reason: str | None, at: str) -> None:
        line = orjson.dumps({
            "run_id": self.run_id, "sync_id": self.sync_id, "stream": name, "namespace": namespace,
            "key": key, "operation": stream.operation.object_name if stream is not None else None,
            "action": action, "outcome": outcome, "reason": reason, "time": at}) + b"\n"
        counts = self._counts.get((namespace, name))
        if counts is None:
            counts = self._counts[(namespace, name)] = Counter()
        counts[outcome] += 1
        self._pending.setdefault((namespace, name), []).append(line)

    def _add(self) -> None:
        """The rows of one call, one add per stream (a rolling file's row is a run of lines here: one
        add per record would cost more than the row itself)."""
        pending, self._pending = self._pending, {}
        try:
            for (namespace, name), lines in pending.items():
                self.records.add_nowait(Lines(name, namespace, b"".join(lines), len(lines)))
        except StoreError as exc:  # an upload failed: the store fails the sync as the rejected store does
            raise store_failure(exc, _FAILED) from None
        if self.buffered is not None:
            self.buffered()

    async def before_release(self) -> None:
        """The checkpoints' release point: the rows of every record before the state made durable."""
        try:
            await self.records.flush()
        except StoreError as exc:
            raise store_failure(exc, _FAILED) from None

    async def room(self) -> None:
        """Waits while more parts than the store allows wait for upload (bounded memory)."""
        try:
            await self.records.room()
        except StoreError as exc:
            raise store_failure(exc, _FAILED) from None

    async def close(self, completed: bool) -> None:
        """The record files flushed, then the run row written (``completed``: the sync ended normally)."""
        try:
            try:
                await self.records.close()
            finally:
                await self._write_run(completed)
        except StoreError as exc:
            raise store_failure(exc, _FAILED) from None

    async def _write_run(self, completed: bool) -> None:
        streams = [{"namespace": ns, "stream": name, **dict(sorted(counts.items()))}
                   for (ns, name), counts in sorted(self._counts.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))]
        row = {"run_id": self.run_id, "sync_id": self.sync_id, "started": self.started, "ended": _now(),
               "completed": completed, "streams": streams, "config_fingerprint": self._fingerprint}
        objects = open_objects(self._storage, self._options)
        assert objects is not None
        body = gzip.compress(orjson.dumps(row) + b"\n", mtime=0)
        await asyncio.to_thread(objects.put, f"runs/{self._started_ms}_{self.run_id}{EXTENSION}", body)
