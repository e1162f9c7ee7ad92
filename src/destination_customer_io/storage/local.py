"""The Local sink (files under ``destination_path``, same keys as S3) and its check.

Durability: each part is written to a hidden temp file beside its final name, fsync'ed, renamed into
place (atomic on POSIX) and the directory fsync'ed, so a reader sees a whole file or none. An I/O error
that may pass (``may_pass``: EIO, a full disk or quota, a network file system's hiccup) is a transient
StoreError: retried within the budget (``retrying.py``), then a ``transient_error``.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

from ..errors import StoreError
from .names import PROBE_PREFIX

COPY_PART = 1 << 20  # a file copied 1 MiB at a time: a ledger snapshot never whole in memory

# errno values that say "not now" rather than "never" (EACCES, EROFS, ENOTDIR... are never)
_PASSING_ERRNOS = frozenset(getattr(errno, name) for name in (
    "EIO", "ENOSPC", "EDQUOT", "EBUSY", "ESTALE", "ENOLCK", "EHOSTDOWN") if hasattr(errno, name))


def may_pass(exc: OSError) -> bool:
    """Whether the same write may succeed later; the stdlib's own transient kinds (blocked,
    interrupted, timed out, connection lost) and the errnos above."""
    return (isinstance(exc, (BlockingIOError, InterruptedError, TimeoutError, ConnectionError))
            or exc.errno in _PASSING_ERRNOS)


def io_error(exc: OSError, message: str, *, step: str, target: str) -> StoreError:
    """``exc`` as a StoreError: ``message``, then the errno name and text."""
    code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return StoreError(f"{message}: {code}: {exc.strerror or exc}", step=step, target=target, code=code,
                      transient=may_pass(exc))


class LocalSink:
    step = "file write"  # what a progress line says is waited on

    def __init__(self, destination_path: str) -> None:
        self._root = Path(destination_path)

    def __repr__(self) -> str:
        return f"LocalSink({str(self._root)!r})"

    @property
    def target(self) -> str:
        return str(self._root)

    def put(self, key: str, body: bytes) -> None:
        final = self._resolve(key)
        step = "MakeDirectory"
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            step = "WriteFile"
            write_durably(final, body)
        except OSError as exc:
            raise self._error(exc, step, final) from None

    def close(self) -> None:
        return None

    def _resolve(self, key: str) -> Path:
        final = self._root / key
        # keys are sanitised already; this guards against a bucket_path / path_format with ".."
        if not final.resolve().is_relative_to(self._root.resolve()):
            raise StoreError(f"Rejected-records path {key!r} leaves destination_path {self._root}",
                             step="ResolvePath", target=self.target)
        return final

    def _error(self, exc: OSError, step: str, path: Path) -> StoreError:
        return io_error(exc, f"Rejected-records directory '{self._root}': {step} failed for {path}",
                        step=step, target=self.target)


def write_durably(final: Path, body: bytes | Path) -> None:
    """``body`` (bytes, or a file copied in parts) as ``final``: whole or not at all."""
    temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as handle:
            if isinstance(body, Path):
                with open(body, "rb") as source:
                    shutil.copyfileobj(source, handle, COPY_PART)
            else:
                handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(final.parent)


def _fsync_directory(directory: Path) -> None:
    # makes the rename itself durable; a no-op where directories cannot be opened (Windows)
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_local(destination_path: str) -> str | None:
    """Create the directory, write, list and delete a probe file; None when it all works."""
    root = Path(destination_path)
    probe = root / f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    step = "MakeDirectory"
    try:
        root.mkdir(parents=True, exist_ok=True)
        step = "WriteFile"
        write_durably(probe, b"check")
        step = "ListDirectory"
        if probe.name not in os.listdir(root):
            return f"Rejected-records directory '{root}': the probe file written was not listed"
        step = "DeleteFile"
        probe.unlink()
        return None
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        return f"Rejected-records directory '{root}': {step} failed: {code}: {exc.strerror or exc}"
