"""stdout, the only channel to Airbyte: one JSON message per line, secrets scrubbed from LOG and TRACE.

STATE messages are written byte-faithful (they are the source's checkpoint); LOG and TRACE text passes
through the scrubber, so a secret that reaches an error message never reaches the user.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, BinaryIO

from . import protocol

_REDACTED = "***"


class Output:
    def __init__(self, stream: BinaryIO | None = None, *, secrets: list[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._secrets = sorted({s for s in (secrets or []) if s}, key=len, reverse=True)

    def add_secrets(self, secrets: list[str]) -> None:
        self._secrets = sorted(set(self._secrets) | {s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text

    def emit(self, message: dict[str, Any]) -> None:
        self._stream.write(protocol.encode(message) + b"\n")
        self._stream.flush()

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
