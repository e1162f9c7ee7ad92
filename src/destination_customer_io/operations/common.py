"""Helpers every person operation shares: field mapping, the person identifier, typed values, encoding.

Like the ``utils`` module of Segment's Customer.io integration: identifiers, timestamps and null handling
live here once, so each operation module is only the shape of its op.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from .. import limits, reasons, validate, values
from .base import Rejection

if TYPE_CHECKING:
    from ..catalog import Stream

# identifierType -> (record field, key in Customer.io's `identifiers`)
IDENTIFIER_FIELDS: dict[str, str] = {"email": "person_email", "id": "person_id", "cio_id": "person_cio_id"}
PERSON_FIELDS = frozenset(IDENTIFIER_FIELDS.values())
# A pragmatic shape check, not RFC 5322: one @, non-empty parts, no whitespace.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

_SHORT_IDENTIFIER = limits.IDENTIFIER_BYTES // 4
ENCODER = msgspec.json.Encoder()
OMIT: Any = object()  # null_values=omit: leave the attribute out

_NULL_REPLACEMENT: dict[str, Any] = {"omit": OMIT, "null": None, "empty_string": ""}


# --- field mapping -------------------------------------------------------------------------------

def apply_field_map(data: dict[str, Any], field_map: dict[str, Any]) -> dict[str, Any]:
    """Rename source columns to operation fields (``{"person_email": "email"}``: field <- column) and
    set constants (``{"event_name": {"const": "purchase"}}``). Unmapped columns stay as they are.
    A mapped column that is absent leaves its field absent. Returns ``data`` itself when nothing maps."""
    if not field_map:
        return data
    out = dict(data)
    picked: dict[str, Any] = {}
    for target, source in field_map.items():
        if isinstance(source, dict):
            picked[target] = source.get("const")
        elif source in data:
            picked[target] = data[source]
    for source in field_map.values():  # remove renamed columns first, so a target may reuse a name
        if isinstance(source, str):
            out.pop(source, None)
    out.update(picked)
    return out


def source_field(stream: "Stream", field: str) -> str:
    """The column the user knows for operation field ``field`` (for ``rejected_field``)."""
    source = stream.field_map.get(field) if stream.field_map else None
    return source if isinstance(source, str) else field


# --- the person -----------------------------------------------------------------------------------

def person_identifier(data: dict[str, Any], stream: "Stream") -> tuple[dict[str, str], str] | Rejection:
    """Customer.io's ``identifiers`` (exactly one) and the op key, or why the record has none."""
    kind = stream.config.identifierType
    raw = data.get(IDENTIFIER_FIELDS[kind])
    # Fast path for the usual value: a short string (<= 37 characters cannot exceed 150 bytes).
    if type(raw) is str and 0 < len(raw) <= _SHORT_IDENTIFIER:
        if kind == "email":
            if _EMAIL.fullmatch(raw) is not None:  # also proves there is no surrounding whitespace
                # Emails are case-insensitive in Customer.io, ids are not: one person, one key.
                return {kind: raw}, "person:email:" + raw.lower()
        elif not raw.isspace():
            return {kind: raw}, f"person:{kind}:{raw}"
    value = identifier_value(kind, raw, stream)
    if isinstance(value, Rejection):
        return value
    key = "person:email:" + value.lower() if kind == "email" else f"person:{kind}:{value}"
    return {kind: value}, key


def identifier_value(kind: str, raw: Any, stream: "Stream") -> str | Rejection:
    """The identifier to send, checked: emails are stripped and must be email-shaped; ids and cio_ids
    are sent exactly as given (integers become their decimal string); nothing is ever sent as "null"."""
    field = IDENTIFIER_FIELDS[kind]
    if isinstance(raw, str):
        value = raw.strip() if kind == "email" else raw
        if not value.strip():
            return _missing(field, stream)
    elif isinstance(raw, int) and not isinstance(raw, bool) and kind != "email":
        value = str(raw)
    elif raw is None:
        return _missing(field, stream)
    else:
        return Rejection(
            reasons.IDENTIFIER_INVALID, source_field(stream, field),
            f"`{source_field(stream, field)}` holds a value of type {type(raw).__name__}; "
            "Customer.io needs a string"
            + ("" if kind == "email" else " (integers are accepted)"),
        )
    too_long = validate.check_identifier_size(value, source_field(stream, field))
    if too_long is not None:
        return too_long
    if kind == "email" and _EMAIL.fullmatch(value) is None:
        return Rejection(
            reasons.IDENTIFIER_INVALID, source_field(stream, field),
            f"`{source_field(stream, field)}` is not an email address (one @ with text on both sides, no spaces)",
        )
    return value


def _missing(field: str, stream: "Stream") -> Rejection:
    column = source_field(stream, field)
    return Rejection(
        reasons.IDENTIFIER_MISSING, column,
        f"`{column}` is missing, null or empty; identifierType `{stream.config.identifierType}` needs it",
    )


# --- typed values ---------------------------------------------------------------------------------

def null_replacement(stream: "Stream") -> Any:
    """What a null attribute becomes under ``null_values``: OMIT, None or ""."""
    return _NULL_REPLACEMENT[stream.config.null_values]


def invalid_timestamp(field: str, value: Any, *, allow_negative: bool) -> Rejection:
    earliest = "0001-01-01" if allow_negative else "1970-01-01"
    return Rejection(
        reasons.INVALID_TIMESTAMP, field,
        f"`{field}` (type {type(value).__name__}) is not a timestamp: expected unix seconds, milliseconds, "
        f"microseconds or nanoseconds, or an ISO-8601 date-time, between {earliest} and 9999-12-31",
    )


def convert_timestamp_columns(
    fields: dict[str, Any], stream: "Stream", blank: Any
) -> Rejection | None:
    """Turn the columns the stream's schema types as timestamps into unix seconds, in place.

    Only schema-typed columns are touched (never guessed from a string's shape). A blank string counts
    as null and becomes ``blank`` (OMIT removes it). Pre-1970 dates are allowed here (birthdays).
    """
    for column in stream.timestamp_fields:
        value = fields.get(column)
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            if blank is OMIT:
                del fields[column]
            else:
                fields[column] = blank
            continue
        seconds = values.unix_seconds(value, allow_negative=True)
        if seconds is None:
            return invalid_timestamp(column, value, allow_negative=True)
        fields[column] = seconds
    return None


# What msgspec raises for a value JSON cannot hold (an object, a lone surrogate, an int over 2**64...).
ENCODE_ERRORS = (msgspec.EncodeError, TypeError, OverflowError, UnicodeEncodeError)


def unencodable(exc: Exception) -> Rejection:
    return Rejection(
        reasons.INVALID_VALUE, None, f"the record cannot be encoded as JSON ({type(exc).__name__})"
    )


def encode(op: dict[str, Any]) -> bytes | Rejection:
    try:
        return ENCODER.encode(op)
    except ENCODE_ERRORS as exc:
        return unencodable(exc)
