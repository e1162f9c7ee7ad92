"""Airbyte protocol messages this connector reads (typed, msgspec) and writes (encoded JSON lines).

Reads: RECORD, STATE (kept raw, re-emitted with destinationStats), TRACE and anything else (ignored).
Writes: SPEC, CONNECTION_STATUS, DESTINATION_CATALOG, STATE, LOG, TRACE (ERROR).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec


# ``gc=False``: one of each is decoded per input line and neither can be part of a reference cycle (the
# data they hold is tracked on its own), so the collector need not track them (docs/performance.md).
class Record(msgspec.Struct, frozen=True, gc=False):
    stream: str
    data: dict[str, Any]
    emitted_at: int | float = 0
    namespace: str | None = None
    meta: dict[str, Any] | None = None


class Message(msgspec.Struct, frozen=True, gc=False):
    type: str
    record: Record | None = None
    state: dict[str, Any] | None = None
    trace: dict[str, Any] | None = None


message_decoder = msgspec.json.Decoder(Message)
# What the strict decoder raises for a line that is no Airbyte message: not JSON or the wrong shape,
# bytes that are not UTF-8, nesting deeper than the decoder's recursion limit.
UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)
_encoder = msgspec.json.Encoder()


def encode(message: dict[str, Any]) -> bytes:
    return _encoder.encode(message)


def now_ms() -> float:
    return float(time.time() * 1000)


def log_message(level: str, text: str) -> dict[str, Any]:
    return {"type": "LOG", "log": {"level": level, "message": text}}


def trace_error(text: str, failure_type: str, internal: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": text, "failure_type": failure_type}
    if internal:
        error["internal_message"] = internal
    return {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error}}


def stream_status(trace: dict[str, Any]) -> tuple[tuple[str | None, str], str] | None:
    """((namespace, name), status) of a ``STREAM_STATUS`` trace, or None for any other trace."""
    if trace.get("type") != "STREAM_STATUS":
        return None
    body = trace.get("stream_status")
    descriptor = body.get("stream_descriptor") if isinstance(body, dict) else None
    name = descriptor.get("name") if isinstance(descriptor, dict) else None
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(name, str) or not isinstance(status, str):
        return None
    namespace = descriptor.get("namespace")  # type: ignore[union-attr]
    return (namespace if isinstance(namespace, str) else None, name), status


def state_message(state: dict[str, Any], accepted: int, rejected: int) -> dict[str, Any]:
    """The input state plus ``destinationStats``: ``recordCount`` the accepted records, rejected ones
    only in ``rejectedRecordCount`` (counts as floats, as the platform expects)."""
    stats: dict[str, float] = {"recordCount": float(accepted)}
    if rejected > 0:
        stats["rejectedRecordCount"] = float(rejected)
    return {"type": "STATE", "state": {**state, "destinationStats": stats}}
