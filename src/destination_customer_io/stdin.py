"""Standard input in chunks of whole lines, read in a daemon thread so the event loop keeps sending.

``write`` consumes ``read_line_chunks(sys.stdin.buffer)``; a line longer than ``MAX_LINE_BYTES`` is
replaced by a marker the pipeline counts as unreadable (its content never held in memory).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import AsyncIterator, BinaryIO, Callable

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 64 << 20  # a longer line cannot be a record Customer.io would take; skipped, counted


def _unlocked_read(source: BinaryIO) -> Callable[[int], bytes]:
    """``os.read`` on the file descriptor when there is one: a daemon thread blocked inside a buffered
    reader holds its lock, and the interpreter aborts at exit when it cannot take that lock."""
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):  # in-memory streams (tests)
        return getattr(source, "read1", source.read)
    return lambda size: os.read(fd, size)


def _read_in_daemon_thread(read: Callable[[int], bytes], size: int) -> asyncio.Future[bytes]:
    """``read(size)`` in a daemon thread. Not ``asyncio.to_thread``: its worker is joined when the
    loop and the interpreter shut down, so a read blocked on a quiet stdin pipe kept a failed or
    stopped sync alive for ever. One thread per chunk (~1 MiB) costs microseconds."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()

    def settle(data: bytes | None, exc: BaseException | None) -> None:
        if future.done():  # cancelled meanwhile: the sync no longer wants this chunk
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(data or b"")

    def work() -> None:
        data, error = None, None
        try:
            data = read(size)
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            error = exc
        try:
            loop.call_soon_threadsafe(settle, data, error)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    threading.Thread(target=work, name="stdin-reader", daemon=True).start()
    return future


async def read_line_chunks(source: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[list[bytes]]:
    """Whole lines in chunks of about ``chunk_bytes``; the blocking read runs in a worker thread so the
    event loop keeps sending meanwhile. Works for pipes and regular files alike."""
    read = _unlocked_read(source)
    pending: list[bytes] = []
    pending_size = 0
    oversized = False
    while True:
        data = await _read_in_daemon_thread(read, chunk_bytes)
        if not data:
            break
        if b"\n" not in data:
            if not oversized:
                pending.append(data)
                pending_size += len(data)
                if pending_size > MAX_LINE_BYTES:
                    pending, pending_size, oversized = [], 0, True
            continue
        lines = data.split(b"\n")
        if oversized:
            lines[0] = b"\x00oversized line"  # not JSON: counted as an unreadable line, content dropped
            oversized = False
        elif pending:
            lines[0] = b"".join(pending) + lines[0]
        last = lines.pop()
        pending, pending_size = ([last], len(last)) if last else ([], 0)
        yield lines
    if pending and not oversized:
        yield [b"".join(pending)]
