"""stdout, the only channel to Airbyte: one JSON message per line, secrets scrubbed from LOG and TRACE.

STATE messages are written byte-faithful (they are the source's checkpoint); LOG and TRACE text passes
through the scrubber, so a secret that reaches an error message never reaches the user. A reader that
closes stdout ends the sync (OutputClosed), quietly: nothing more is written.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, BinaryIO

from . import protocol

_REDACTED = "***"


class OutputClosed(Exception):
    """stdout's reader went away (``| head -1``, a killed orchestrator): the sync cannot report any
    more, so it ends; every later message is dropped."""


class Output:
    def __init__(self, stream: BinaryIO | None = None, *, secrets: list[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self.closed = False
        self._secrets = sorted({s for s in (secrets or []) if s}, key=len, reverse=True)

    def add_secrets(self, secrets: list[str]) -> None:
        self._secrets = sorted(set(self._secrets) | {s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text

    def emit(self, message: dict[str, Any]) -> None:
        if self.closed:
            return  # nobody reads any more: what was not written is simply not emitted
        try:
            self._stream.write(protocol.encode(message) + b"\n")
            self._stream.flush()
        except BrokenPipeError:
            self._reader_left()
            raise OutputClosed("stdout was closed by its reader") from None

    def _reader_left(self) -> None:
        self.closed = True
        # The unwritten bytes stay in the buffer and the interpreter's exit would try to flush them
        # again ("Exception ignored ... BrokenPipeError"): point the descriptor at /dev/null instead.
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # in-memory streams (tests)
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)

    def log(self, text: str, level: str = "INFO") -> None:
        self.emit(protocol.log_message(level, self.scrub(text)))

    def error(self, text: str, failure_type: str, internal: str | None = None,
              exc: BaseException | None = None) -> None:
        message = protocol.trace_error(
            self.scrub(text), failure_type, self.scrub(internal) if internal else None
        )
        if exc is not None:
            stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            message["trace"]["error"]["stack_trace"] = self.scrub(stack)
        self.emit(message)
