"""Rolling files: rows buffered per stream into parts, for any object sink (S3, Local), each part sealed
at a size and uploaded in the background, every row durable once ``flush`` returns.

    add()   -> the row joins its stream's open part; a part reaching ``part_max_bytes`` (or the
               largest part, when all open parts exceed ``buffer_max_bytes``) is sealed and uploaded
               by a background task in a worker thread.
    flush() -> seals every open part and waits until every upload begun so far is acknowledged.
    close() -> flush, then release the sink.

What a part holds (its encoder) and how it is named (its keys) are the caller's: the rejected-records
format (``rejected/``), and with ``LinesPart`` / ``GzipLinesPart`` (rows already JSON lines) the sync log
(``synclog.py``) and the retry queue (``retry.py``). Memory stays bounded whatever the number of rows: open
parts hold at most ``buffer_max_bytes`` and at most ``max_pending_uploads`` sealed parts wait for upload (``add``
waits when there are more), so the peak is about ``buffer_max_bytes + max_pending_uploads *
part_max_bytes`` (56 MiB by default). An upload that fails in a way that may pass (a timeout, a lost
connection, a 5xx, an I/O error that may pass) is retried until ``options.retry`` runs out
(``retrying.py``): a stalled or failing store ends the sync within ``retry_max_seconds`` plus about one
``request_timeout``. After a failed upload the store is broken: every later ``add``/``flush`` raises the
same :class:`StoreError`, so nothing is lost silently.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import LocalStorage, S3Storage, StorageConfig
from ..errors import StoreError
from .local import LocalSink
from .options import StoreOptions
from .retrying import Retrier, Wait


class Row(Protocol):
    """What a part holds a row of: its stream picks the part."""

    stream: str
    namespace: str | None


class PartEncoder(Protocol):
    """One part's rows, encoded as they are added (``rejected/formats.py``)."""

    @property
    def size(self) -> int: ...  # uncompressed bytes so far

    @property
    def rows(self) -> int: ...

    def write(self, row: Any, raw_id: str) -> int: ...  # returns bytes added

    def finish(self) -> bytes: ...  # the file body; called once, in a worker thread



class Lines:
    """Ready JSON lines of one stream: ``count`` rows in ``lines`` (the sync log's, the retry queue's)."""

    __slots__ = ("stream", "namespace", "lines", "count")

    def __init__(self, stream: str, namespace: str | None, lines: bytes, count: int = 1) -> None:
        self.stream, self.namespace, self.lines, self.count = stream, namespace, lines, count


class LinesPart:
    """A ``PartEncoder`` of ``Lines``: one file's lines, joined once in ``finish``."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.size = 0
        self.rows = 0

    def write(self, row: Lines, raw_id: str) -> int:
        self._chunks.append(row.lines)
        self.size += len(row.lines)
        self.rows += row.count
        return len(row.lines)

    def finish(self) -> bytes:
        return b"".join(self._chunks)


class GzipLinesPart(LinesPart):
    """``LinesPart`` gzipped once, in ``finish`` (a worker thread)."""

    def finish(self) -> bytes:
        return gzip.compress(LinesPart.finish(self), mtime=0)

class Keys(Protocol):
    """Names the parts (``rejected/keys.py``'s ``KeyTemplate``)."""

    @property
    def extension(self) -> str: ...

    def render(self, *, stream: str, namespace: str | None, part_number: int, timestamp_ms: int,
               uuid: str) -> str: ...


class Sink(Protocol):
    """Where finished parts go. ``put`` is blocking and runs in a worker thread."""

    step: str  # what a put is, for progress lines: "S3 PutObject"

    @property
    def target(self) -> str: ...  # the bucket / directory, for error messages

    def put(self, key: str, body: bytes) -> None: ...  # durable on return, or raises StoreError (one attempt)

    def close(self) -> None: ...


@dataclass(slots=True)
class _OpenPart:
    stream: str
    namespace: str | None
    number: int
    started_ms: int
    encoder: PartEncoder


@dataclass(slots=True)
class _Uploads:
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    written_keys: set[str] = field(default_factory=set)


class RollingFiles:
    """Rows into rolling files of one sink; ``rejected.open_store``'s store for S3 and Local."""

    buffers = True  # rows wait in open parts until flush() uploads them

    def __init__(self, sink: Sink, keys: Keys, new_encoder: Callable[[], PartEncoder], *,
                 options: StoreOptions | None = None, clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._keys = keys
        self._new_encoder = new_encoder
        self._options = options or StoreOptions()
        self._clock = clock
        self._open: dict[tuple[str | None, str], _OpenPart] = {}
        self._next_part: dict[tuple[str | None, str], int] = {}
        self._buffered = 0
        self._uploads = _Uploads()
        self._retrier = Retrier(self._options.retry)
        self._slots = asyncio.Semaphore(self._options.max_concurrent_uploads)
        self._error: StoreError | None = None
        self._dirty = False  # something was added since the last flush
        self._closed = False
        self._count = 0
        self._objects = 0

    @property
    def count(self) -> int:
        return self._count

    @property
    def objects_written(self) -> int:
        return self._objects

    @property
    def target(self) -> str:
        return self._sink.target

    def waiting(self) -> Wait | None:
        """What an upload has waited on for long, or None."""
        return self._retrier.waiting()

    def __repr__(self) -> str:
        return f"RollingFiles({self._sink!r}, records={self._count}, objects={self._objects})"

    async def add(self, row: Row) -> None:
        self.add_nowait(row)
        await self._wait_for_room()

    def add_nowait(self, row: Row) -> None:
        """``add`` for a caller that cannot wait here (the sync log, from delivery's callbacks): it
        awaits ``room`` at its own pace instead."""
        self._raise_if_unusable()
        stream_key = (row.namespace, row.stream)
        part = self._open.get(stream_key) or self._start_part(row)
        self._buffered += part.encoder.write(row, str(uuid.uuid4()))
        self._count += 1
        self._dirty = True
        if part.encoder.size >= self._options.part_max_bytes:
            self._seal(stream_key)
        while self._buffered > self._options.buffer_max_bytes and self._open:
            self._seal(max(self._open, key=lambda k: self._open[k].encoder.size))

    async def room(self) -> None:
        """Returns once at most ``max_pending_uploads`` sealed parts wait (raises a failed upload's error)."""
        await self._wait_for_room()

    async def flush(self) -> None:
        self._raise_if_unusable()
        if not self._dirty and not self._uploads.tasks:
            return  # nothing new: no request, no empty object
        self._dirty = False
        for stream_key in list(self._open):
            self._seal(stream_key)
        # every part sealed before this point has its task in the set already
        pending = list(self._uploads.tasks)
        if pending:
            await asyncio.wait(pending)
        self._raise_if_unusable()

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self.flush()
        finally:
            self._closed = True
            if self._uploads.tasks:  # after a failure: let running threads end before closing
                await asyncio.wait(list(self._uploads.tasks))
            await asyncio.to_thread(self._sink.close)

    # --- internals -------------------------------------------------------------------------------

    def _raise_if_unusable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise StoreError("The rejected-records store is closed", step="add", target=self.target)

    def _start_part(self, row: Row) -> _OpenPart:
        stream_key = (row.namespace, row.stream)
        number = self._next_part.get(stream_key, 0)
        self._next_part[stream_key] = number + 1
        part = _OpenPart(row.stream, row.namespace, number, int(self._clock() * 1000),
                         self._new_encoder())
        self._open[stream_key] = part
        return part

    def _seal(self, stream_key: tuple[str | None, str]) -> None:
        part = self._open.pop(stream_key)
        self._buffered -= part.encoder.size
        if part.encoder.rows == 0:
            return
        key = self._unique_key(part)
        task = asyncio.get_running_loop().create_task(self._upload(key, part.encoder))
        self._uploads.tasks.add(task)
        task.add_done_callback(self._uploads.tasks.discard)

    def _unique_key(self, part: _OpenPart) -> str:
        key = self._keys.render(stream=part.stream, namespace=part.namespace, part_number=part.number,
                                timestamp_ms=part.started_ms, uuid=str(uuid.uuid4()))
        # A file_name_format without {part_number}/{uuid} could name two parts alike; never overwrite.
        candidate, n = key, 0
        while candidate in self._uploads.written_keys:
            n += 1
            candidate = _with_suffix(key, f"-{n}", self._keys.extension)
        self._uploads.written_keys.add(candidate)
        return candidate

    async def _upload(self, key: str, encoder: PartEncoder) -> None:
        async with self._slots:
            if self._error is not None:
                return  # broken already: the sync ends, spare the requests
            try:
                await asyncio.to_thread(self._encode_and_put, key, encoder)
                self._objects += 1
            except StoreError as exc:
                self._error = self._error or exc
            except Exception as exc:  # noqa: BLE001 - a sink bug must still fail the sync, not vanish
                # only the type: an unexpected message could carry anything
                self._error = self._error or StoreError(
                    f"Writing rejected records to {self.target} failed unexpectedly "
                    f"({type(exc).__name__})", step="upload", target=self.target)

    def _encode_and_put(self, key: str, encoder: PartEncoder) -> None:
        # compression / CSV rendering happen here, off the event loop, once whatever the retries
        body = encoder.finish()
        # the budget is shared: when one upload gives up, the others give up after their attempt
        self._retrier.call(self._sink.step, lambda: self._sink.put(key, body))

    async def _wait_for_room(self) -> None:
        while len(self._uploads.tasks) > self._options.max_pending_uploads:
            await asyncio.wait(list(self._uploads.tasks), return_when=asyncio.FIRST_COMPLETED)
        self._raise_if_unusable()


def open_sink(storage: StorageConfig, options: StoreOptions) -> tuple[Sink, str]:
    """The sink of S3 or Local storage, and the head of its keys (S3: ``bucket_path/``; Local: none)."""
    if isinstance(storage, S3Storage):
        from .aws import sync_timeouts
        from .s3 import S3Sink

        head = storage.bucket_path.strip("/")
        return S3Sink(storage, sync_timeouts(options.request_timeout)), f"{head}/" if head else ""
    assert isinstance(storage, LocalStorage)  # storage None keeps no files
    return LocalSink(storage.destination_path), ""


def _with_suffix(key: str, suffix: str, extension: str) -> str:
    if extension and key.endswith(extension):
        return key[: -len(extension)] + suffix + extension
    return key + suffix
