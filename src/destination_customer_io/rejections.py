"""The rejections the pipeline decides (the operations' own are built where they check): a record of a
stream missing from the catalog, a record that does not follow the protocol, an op larger than a batch,
an op Customer.io refused. Codes and their descriptions: ``reasons.py``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import msgspec

from . import protocol, reasons
from .reasons import Rejection
from .rejected.base import RejectedRecord

if TYPE_CHECKING:
    from .stream import Stream

NOT_UTF8 = "The record is not valid UTF-8 (the bad bytes are shown as U+FFFD)."
NOT_STRICT_JSON = ("The record holds a value strict JSON does not allow (NaN, Infinity or a lone UTF-16 "
                   "surrogate escape).")


def unknown_stream(name: str) -> Rejection:
    return Rejection(reasons.STREAM_NOT_IN_CATALOG, None,
                     f"Stream `{name}` is not in the configured catalog, so no operation is known for it.")


def larger_than_batch(size: int, limit: int, room: int) -> Rejection:
    """An op of ``size`` bytes where a batch of ``limit`` bytes has ``room`` for operations."""
    return Rejection(reasons.OP_TOO_LARGE, None, f"The operation is {size:,} bytes; with batch_max_bytes "
                     f"{limit:,} a batch holds at most {room:,} bytes of operations.")


def malformed_record(data: object, note: str | None = None) -> Rejection:
    if not isinstance(data, dict):
        return Rejection(reasons.RECORD_DATA_NOT_OBJECT, "data",
                         f"The record's data is a JSON {type(data).__name__}, not an object.")
    return Rejection(reasons.MALFORMED_RECORD, None, note or "The record message does not follow the Airbyte protocol.")


def api_rejection(error: dict[str, Any]) -> Rejection:
    """A 207 / 400 error from Customer.io; any of reason, field, message may be missing."""
    reason = error.get("reason")
    field = error.get("field")
    message = error.get("message")
    text = f"Customer.io refused this operation ({reason or 'no reason given'})"
    if isinstance(message, str) and message:
        text += f": {message}"
    return Rejection(reasons.API_REJECTED, field if isinstance(field, str) else None, text)


def rejected_record(record: protocol.Record, rejection: Rejection, stream: Stream | None) -> RejectedRecord:
    """What the rejected store keeps of a refused record: the record as read, why, and the sync's ids."""
    meta = record.meta or {}
    changes = meta.get("changes") if isinstance(meta.get("changes"), list) else None
    return RejectedRecord(
        stream=record.stream,
        namespace=record.namespace,
        data=record.data,
        emitted_at=int(record.emitted_at),
        reason=rejection.reason,
        field=rejection.field,
        message=rejection.message,
        sync_id=stream.sync_id if stream else None,
        generation_id=stream.generation_id if stream else None,
        changes=changes,
    )


def odd_record(line: bytes) -> tuple[protocol.Record, Rejection] | None:
    """A line the typed decoder refused that still holds a RECORD naming its stream: the record as well
    as it can be read, and why it is rejected; None for anything else (counted, never stored)."""
    loose, note = loose_decode(line)
    record = loose.get("record") if isinstance(loose, dict) and loose.get("type") == "RECORD" else None
    if not isinstance(record, dict) or not isinstance(record.get("stream"), str):
        return None
    namespace = record.get("namespace") if isinstance(record.get("namespace"), str) else None
    data = record.get("data")
    emitted = record.get("emitted_at")
    read = protocol.Record(
        stream=record["stream"],
        namespace=namespace,
        data=data if isinstance(data, dict) else {"_airbyte_data": data},
        emitted_at=emitted if isinstance(emitted, (int, float)) and not isinstance(emitted, bool) else 0,
    )
    return read, malformed_record(data, note)


def loose_decode(line: bytes) -> tuple[Any, str | None]:
    """A line the typed decoder refused, decoded as leniently as is safe, so a record in it can still be
    rejected with a reason: (value or None, why the record is malformed, when it is the encoding).

    Python sources write NaN/Infinity (``json.dumps`` allows them) and broken sources write invalid UTF-8
    or lone surrogate escapes; the stdlib decoder reads them all (bad bytes become U+FFFD). Nesting deeper
    than the decoder's limit (about 1,000 levels) stays unreadable: no writer of the rejected store could
    encode it either."""
    try:
        return msgspec.json.decode(line), None
    except RecursionError:
        return None, None
    except UnicodeDecodeError:
        note = NOT_UTF8
    except msgspec.DecodeError:  # beyond strict JSON, the stdlib reads NaN, +/-Infinity, lone surrogates
        note = NOT_STRICT_JSON
    try:
        return json.loads(line.decode("utf-8", "replace")), note
    except (ValueError, RecursionError):
        return None, None
