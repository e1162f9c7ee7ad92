"""What the operations share: field mapping, the one identifier parser, typed values, limits, encoding.

Like the ``utils`` module of Segment's Customer.io integration: identifiers, timestamps and null handling
live here once, so each operation module is only the shape of its op.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable

import msgspec

from .. import limits, reasons, validate, values
from ..reasons import Rejection
if TYPE_CHECKING:
    from ..stream import Stream

# identifierType -> (record field, key in Customer.io's `identifiers`)
IDENTIFIER_FIELDS: dict[str, str] = {"email": "person_email", "id": "person_id", "cio_id": "person_cio_id"}
PERSON_FIELDS = frozenset(IDENTIFIER_FIELDS.values())
# A pragmatic shape check, not RFC 5322: one @, non-empty parts, no whitespace.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_WHOLE_NUMBER = re.compile(r"[0-9]+")

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


# --- identifiers ----------------------------------------------------------------------------------

def identifier(kind: str, raw: Any, column: str, *, limit: bool = True) -> str | Rejection | None:
    """The one identifier parser: a person's ``email`` / ``id`` / ``cio_id`` (``kind``), or any other
    id-like column (``kind="other"``: anonymous_id, object_id, device_token). None when ``raw`` is absent,
    null or blank (the caller says what is missing). Emails are stripped and must be email-shaped; other
    ids are sent exactly as given (integers as their decimal string); at most 150 bytes unless ``limit``
    is False (device tokens have no documented limit and FCM's exceed 150)."""
    if type(raw) is str and 0 < len(raw) <= _SHORT_IDENTIFIER and kind != "email" and not raw.isspace():
        return raw  # the usual id: short enough for any limit, sent as given
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    email = kind == "email"
    if isinstance(raw, str):
        value = raw.strip() if email else raw
    elif isinstance(raw, int) and not isinstance(raw, bool) and not email:
        value = str(raw)
    else:
        return wrong_type(reasons.IDENTIFIER_INVALID, column, raw,
                          "Customer.io needs a string" + ("" if email else " (integers are accepted)"))
    if limit:
        too_long = validate.check_identifier_size(value, column)
        if too_long is not None:
            return too_long
    if email and _EMAIL.fullmatch(value) is None:
        return Rejection(reasons.IDENTIFIER_INVALID, column,
                         f"`{column}` is not an email address (one @ with text on both sides, no spaces)")
    return value


def person_key(kind: str, value: str) -> str:
    """The op key of a person (emails are case-insensitive in Customer.io, the others are not)."""
    return "person:email:" + value.lower() if kind == "email" else f"person:{kind}:{value}"


def ledger_identifiers(identifiers: dict[str, Any]) -> dict[str, Any]:
    """A person's ``identifiers`` as a mirror's ledger keys them: an email lower-cased, as in
    ``person_key``, so one person spelled in two cases is one ledger key (not a member plus a stale key
    whose removal would take that member out again)."""
    email = identifiers.get("email")
    return {**identifiers, "email": email.lower()} if isinstance(email, str) else identifiers


def person_identifier(data: dict[str, Any], stream: "Stream") -> tuple[dict[str, str], str] | Rejection:
    """Customer.io's ``identifiers`` (exactly one, of the stream's identifier type) and the op key."""
    kind = stream.identifier_type
    raw = data.get(IDENTIFIER_FIELDS[kind])
    # The usual value, a short string (<= 37 characters cannot exceed 150 bytes), skips the parser and
    # is keyed in place (``person_key``'s rule: one call less per record, docs/performance.md). The usual
    # email skips the pattern too: one @ with text on both sides, and printable without a space, which
    # excludes every character ``\s`` matches (all whitespace but the space is unprintable), so the
    # pattern would match and no whitespace surrounds it; anything else takes the parser's full rule.
    if type(raw) is str and 0 < len(raw) <= _SHORT_IDENTIFIER:
        if kind == "email":
            name, _, domain = raw.partition("@")
            if name and domain and "@" not in domain and " " not in raw and raw.isprintable():
                return {kind: raw}, "person:email:" + raw.lower()
        elif not raw.isspace():
            return {kind: raw}, f"person:{kind}:{raw}"
    column = source_field(stream, IDENTIFIER_FIELDS[kind])
    value = identifier(kind, raw, column)
    if value is None:
        return missing(column, f"; {stream.identifier_origin} needs it")
    if type(value) is Rejection:
        return value
    return {kind: value}, person_key(kind, value)  # type: ignore[arg-type]


def person_or_anonymous(
    data: dict[str, Any], stream: "Stream"
) -> tuple[dict[str, str], str] | Rejection:
    """The person (by ``identifierType``) when that column holds a value, else ``anonymous_id``:
    what Segment sends for page and screen views. A present but invalid identifier rejects the
    record (it never silently falls back to anonymous)."""
    kind = stream.identifier_type
    column = source_field(stream, IDENTIFIER_FIELDS[kind])
    value = identifier(kind, data.get(IDENTIFIER_FIELDS[kind]), column)
    if value is not None:
        return value if type(value) is Rejection else ({kind: value}, person_key(kind, value))  # type: ignore
    anonymous = identifier("other", data.get("anonymous_id"), source_field(stream, "anonymous_id"))
    if anonymous is None:
        return missing(column, f"; {stream.identifier_origin} needs it, or give an `anonymous_id`")
    if type(anonymous) is Rejection:
        return anonymous
    return {"anonymous_id": anonymous}, "anonymous:" + anonymous  # type: ignore[operator]


def anonymous_identifier(data: dict[str, Any], stream: "Stream") -> tuple[dict[str, str], str] | Rejection:
    """``{"anonymous_id": ...}`` and its op key, for activities of visitors not yet identified."""
    anonymous = field_identifier(data, "anonymous_id", stream)
    if type(anonymous) is Rejection:
        return anonymous
    return {"anonymous_id": anonymous}, "anonymous:" + anonymous  # type: ignore[operator]


def field_identifier(data: dict[str, Any], field: str, stream: "Stream", *, limit: bool = True) -> str | Rejection:
    """A required id-like field (``anonymous_id``, ``object_id``, ``device_token``...), see ``identifier``."""
    column = source_field(stream, field)
    value = identifier("other", data.get(field), column, limit=limit)
    return missing(column) if value is None else value


def whole_number(raw: Any, column: str, example: str, what: str) -> str | Rejection:
    """An id Customer.io writes as a whole number (object type, manual segment): an integer or a string
    of digits, sent as its canonical decimal string ("01" and "1" are one id)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return str(raw)
    if isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw.strip()):
        return str(int(raw.strip()))
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return missing(column)
    # the value stays out of the message: only its type, or that it is not a whole number
    return Rejection(reasons.IDENTIFIER_INVALID, column, f"`{column}` must be a whole number such as "
                     f"{example} ({what}; got a {type(raw).__name__} that is not one)")


def object_identifiers(data: dict[str, Any], stream: "Stream") -> tuple[dict[str, str], str] | Rejection:
    """``{"object_type_id": "<string integer>", "object_id": ...}`` and the object's op key."""
    type_id = whole_number(data.get("object_type_id"), source_field(stream, "object_type_id"),
                           "1", "Customer.io's object type id")
    if type(type_id) is Rejection:
        return type_id
    object_id = field_identifier(data, "object_id", stream)
    if type(object_id) is Rejection:
        return object_id
    return {"object_type_id": type_id, "object_id": object_id}, f"object:{type_id}:{object_id}"  # type: ignore


def missing(column: str, hint: str = "") -> Rejection:
    return Rejection(reasons.IDENTIFIER_MISSING, column, f"`{column}` is missing, null or empty{hint}")


def wrong_type(reason: str, column: str, raw: Any, need: str) -> Rejection:
    return Rejection(reason, column, f"`{column}` holds a value of type {type(raw).__name__}; {need}")


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


# --- removals and activities --------------------------------------------------------------------

CDC_DELETED = "_ab_cdc_deleted_at"  # Airbyte CDC: set (non-null) when the source row was deleted


def is_removal(data: dict[str, Any], stream: "Stream") -> bool:
    """True when this record removes what its operation would add: the stream is in ``soft_delete``
    mode, or Airbyte's CDC marks the row deleted (``_ab_cdc_deleted_at`` non-null)."""
    return stream.destination_sync_mode == "soft_delete" or data.get(CDC_DELETED) is not None


def activity_name(raw: Any, column: str) -> str | Rejection:
    """The name of an event, page (its URL) or screen: a non-blank string of at most 100 bytes."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return Rejection(reasons.EVENT_NAME_MISSING, column, f"`{column}` is missing, null or empty")
    if not isinstance(raw, str):
        return wrong_type(reasons.EVENT_NAME_INVALID, column, raw, "Customer.io needs a string")
    return validate.check_event_name_size(raw, column) or raw


def activity_time(raw: Any, stream: "Stream") -> int | None | Rejection:
    """An event's or view's own time in unix seconds; None when absent (Customer.io then uses arrival time)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    seconds = values.unix_seconds(raw)
    if seconds is None:
        return invalid_timestamp(source_field(stream, "timestamp"), raw, allow_negative=False)
    return seconds


# --- attributes -----------------------------------------------------------------------------------

def attribute_columns(
    data: dict[str, Any], exclude: Iterable[str], stream: "Stream"
) -> dict[str, Any] | Rejection:
    """Every column not in ``exclude``, nulls per ``null_values``, timestamp columns as unix seconds:
    a person's, an object's, a device's or a relationship's attributes."""
    attributes = data.copy()  # a copy and a few deletions: keeps the columns' order
    for field in exclude:
        if field in attributes:  # cheaper than pop(field, None), a call, for the fields absent too
            del attributes[field]
    if None in attributes.values():
        blank = null_replacement(stream)
        if blank is OMIT:
            attributes = {k: v for k, v in attributes.items() if v is not None}
        elif blank is not None:
            attributes = {k: blank if v is None else v for k, v in attributes.items()}
    if stream.timestamp_fields and stream.config.convert_timestamps:
        bad = convert_timestamp_columns(attributes, stream, null_replacement(stream))
        if bad is not None:
            return bad
    return attributes


def fit_attributes(
    attributes: dict[str, Any], stream: "Stream"
) -> tuple[Rejection | None, list[dict[str, str]] | None]:
    """The per-call attribute limits (count, name bytes, value bytes with ``oversized_attributes``),
    applied in place; returns (rejection, Airbyte meta changes)."""
    def field_of(name: str) -> str:
        return source_field(stream, name)

    rejection = validate.check_attribute_count(attributes) or validate.check_attribute_names(
        attributes, field_of
    )
    if rejection is not None:
        return rejection, None
    return validate.fit_attribute_values(attributes, stream.config.oversized_attributes, field_of)


def fitted_attributes(
    data: dict[str, Any], exclude: Iterable[str], stream: "Stream"
) -> tuple[dict[str, Any], list[dict[str, str]] | None] | Rejection:
    """``attribute_columns`` within the per-call limits (``fit_attributes``): (attributes, meta changes)."""
    attributes = attribute_columns(data, exclude, stream)
    if isinstance(attributes, Rejection):
        return attributes
    rejection, changes = fit_attributes(attributes, stream)
    return (attributes, changes) if rejection is None else rejection


def encode_within_limits(payload: dict[str, Any], section: dict[str, Any] | None) -> bytes | Rejection:
    """Encode once; over 32,768 bytes, name the attributes section when it is the bigger problem."""
    body = encode(payload)
    if isinstance(body, Rejection):
        return body
    return validate.check_op_size(
        body, section, section_reason=reasons.ATTRIBUTES_TOO_LARGE,
        section_subject="the attributes object", section_limit=limits.ATTRIBUTES_TOTAL_BYTES,
    ) or body
