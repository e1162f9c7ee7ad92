"""Customer.io's documented limits, checked before sending: each broken limit becomes a :class:`Rejection`.

All sizes are UTF-8 bytes (Customer.io counts bytes, not characters). Messages state the actual and the
allowed size and never contain the value itself (it may be personal data). The checks are written so a
small record costs almost nothing: a string of ``n`` characters is at most ``4n`` bytes, and every part of
an op is a substring of its encoded body, so short strings and short bodies skip the byte counting.
"""

from __future__ import annotations

from typing import Any, Callable

import msgspec

from . import limits, reasons
from .reasons import Rejection

_ENCODER = msgspec.json.Encoder()
# Control keys Customer.io reads inside `attributes` that are not attributes of the person.
CONTROL_ATTRIBUTES = frozenset({"_update"})

NULLED = "NULLED"
TRUNCATED = "TRUNCATED"
SIZE_LIMIT_REASON = "DESTINATION_FIELD_SIZE_LIMITATION"


def utf8_size(text: str) -> int:
    # surrogatepass: a lone surrogate still has a size; the encoder reports it as invalid_value later.
    return len(text.encode("utf-8", "surrogatepass"))


def oversize(text: str, limit: int) -> int | None:
    """The UTF-8 size of ``text`` when it is over ``limit`` bytes, else None (cheap for short text)."""
    if len(text) * 4 <= limit:  # at most 4 bytes per character: cannot be over
        return None
    size = utf8_size(text)
    return size if size > limit else None


def too_large(reason: str, subject: str, field: str | None, size: int, limit: int) -> Rejection:
    return Rejection(
        reason, field, f"{subject} is {size:,} bytes; Customer.io allows at most {limit:,} bytes"
    )


def check_identifier_size(value: str, field: str) -> Rejection | None:
    size = oversize(value, limits.IDENTIFIER_BYTES)
    if size is None:
        return None
    return too_large(reasons.IDENTIFIER_TOO_LONG, f"identifier `{field}`", field, size, limits.IDENTIFIER_BYTES)


def check_event_name_size(name: str, field: str) -> Rejection | None:
    size = oversize(name, limits.EVENT_NAME_BYTES)
    if size is None:
        return None
    return too_large(reasons.EVENT_NAME_TOO_LONG, "the event name", field, size, limits.EVENT_NAME_BYTES)


def check_attribute_count(attributes: dict[str, Any]) -> Rejection | None:
    count = len(attributes) - sum(1 for key in CONTROL_ATTRIBUTES if key in attributes)
    if count <= limits.ATTRIBUTES_PER_CALL:
        return None
    return Rejection(
        reasons.TOO_MANY_ATTRIBUTES,
        None,
        f"the record sets {count:,} attributes; Customer.io allows at most "
        f"{limits.ATTRIBUTES_PER_CALL:,} per call",
    )


def check_attribute_names(attributes: dict[str, Any], field_of: Callable[[str], str]) -> Rejection | None:
    limit = limits.ATTRIBUTE_NAME_BYTES
    if not attributes or max(map(len, attributes)) * 4 <= limit:  # one C-level pass for the usual case
        return None
    for name in attributes:
        size = oversize(name, limit)
        if size is not None:
            return too_large(reasons.ATTRIBUTE_NAME_TOO_LONG, "the attribute name", field_of(name), size, limit)
    return None


def value_size(value: Any) -> int | None:
    """Bytes Customer.io counts for one attribute value when it may be over the limit, else None:
    a string's UTF-8 bytes, a nested value's JSON; numbers, bools and null are always small."""
    if isinstance(value, str):
        return oversize(value, limits.ATTRIBUTE_VALUE_BYTES)
    if isinstance(value, (dict, list)):
        try:
            size = len(_ENCODER.encode(value))
        except (msgspec.EncodeError, TypeError, OverflowError, UnicodeEncodeError):
            return None  # not JSON (a lone surrogate): the op's encoding rejects it as invalid_value
        return size if size > limits.ATTRIBUTE_VALUE_BYTES else None
    return None


def truncate_utf8(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-8 bytes, cut at a character boundary."""
    return text.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")


def fit_attribute_values(
    attributes: dict[str, Any], policy: str, field_of: Callable[[str], str]
) -> tuple[Rejection | None, list[dict[str, str]] | None]:
    """Apply ``oversized_attributes`` to values over 1,000 bytes, changing ``attributes`` in place.

    ``reject``: the first oversized value rejects the record. ``drop``: the attribute is removed (NULLED).
    ``truncate``: strings are cut at a character boundary (TRUNCATED); nested values are removed (NULLED),
    since half a JSON document is not a value anyone wants. Returns (rejection, Airbyte meta changes).
    """
    limit = limits.ATTRIBUTE_VALUE_BYTES
    changes: list[dict[str, str]] | None = None
    for name, value in list(attributes.items()):
        size = value_size(value)
        if size is None:
            continue
        field = field_of(name)
        if policy == "reject":
            return too_large(reasons.ATTRIBUTE_VALUE_TOO_LONG, f"attribute `{name}`", field, size, limit), None
        if policy == "truncate" and isinstance(value, str):
            attributes[name] = truncate_utf8(value, limit)
            change = TRUNCATED
        else:
            del attributes[name]
            change = NULLED
        changes = changes or []
        changes.append({"field": field, "change": change, "reason": SIZE_LIMIT_REASON})
    return None, changes


def check_op_size(
    body: bytes, section: dict[str, Any] | None, *, section_reason: str, section_subject: str,
    section_limit: int,
) -> Rejection | None:
    """The encoded op against 32,768 bytes. When it is over, name the bigger problem first: the section
    (attributes / event data) over its own limit, else the op as a whole."""
    if len(body) <= limits.OP_BYTES:
        return None
    if section:
        section_size = len(_ENCODER.encode(section))
        if section_size > section_limit:
            return too_large(section_reason, section_subject, None, section_size, section_limit)
    return too_large(reasons.OP_TOO_LARGE, "the encoded operation", None, len(body), limits.OP_BYTES)
