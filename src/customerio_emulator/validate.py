"""Validation of Track API v2 operations: returns the first problem as (reason, field, message).

Checks what Customer.io documents (exactly one identifier, required fields per type/action, byte limits
from the emulator's own `limits.py`, ULID event ids). Timestamps are NOT validated here: the real
service replaces an invalid timestamp with "now" instead of rejecting it (see `timestamps.py`).
The reason codes are stable and documented in docs/emulator.md.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import orjson

from .limits import (
    ATTRIBUTE_NAME_BYTES,
    ATTRIBUTE_VALUE_BYTES,
    ATTRIBUTES_PER_CALL,
    ATTRIBUTES_TOTAL_BYTES,
    EVENT_DATA_BYTES,
    EVENT_NAME_BYTES,
    IDENTIFIER_BYTES,
    OP_BYTES,
)

Problem = tuple[str, str, str]  # (reason, field, message)

PERSON_IDENTIFIERS = frozenset({"id", "email", "cio_id", "phone"})
MERGE_IDENTIFIERS = frozenset({"id", "email", "cio_id"})
ANONYMOUS_OK_ACTIONS = frozenset({"event", "page", "screen"})
DEVICE_PLATFORMS = frozenset({"ios", "android"})
# Crockford base32, 26 chars; the first char is <= 7 because a ULID is 128 bits. Case-insensitive per spec.
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)
_TYPE_ID = re.compile(r"[0-9]+")
_dumps = orjson.dumps
_CONTROL_KEYS = frozenset({"_update"})  # flags, not attributes: they do not count against the limits


def utf8_len(text: str) -> int:
    # A str of n characters is at most 4n UTF-8 bytes: skip the encode for short strings.
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def value_bytes(value: Any) -> int:
    """Size of an attribute value: UTF-8 bytes of a string, serialised JSON of anything else."""
    if type(value) is str:
        return utf8_len(value)
    if value is None or type(value) is bool:
        return 4 if value is not False else 5
    try:
        return len(_dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return len(str(value).encode("utf-8"))


def check_identifier_value(value: Any, field: str) -> Problem | None:
    if type(value) is int:
        value = str(value)
    if type(value) is not str or not value:
        return ("invalid_identifier", field, f"{field} must be a non-empty string")
    if utf8_len(value) > IDENTIFIER_BYTES:
        return ("identifier_too_long", field, f"{field} is longer than {IDENTIFIER_BYTES} bytes")
    return None


def check_person_identifiers(
    identifiers: Any, field: str = "identifiers", allowed: frozenset[str] = PERSON_IDENTIFIERS
) -> Problem | None:
    """Exactly one known identifier, a non-empty string (an integer id is accepted) of <= 150 bytes."""
    if type(identifiers) is dict and len(identifiers) == 1:
        # Fast path for the usual shape: one short string identifier (<= 37 chars is <= 148 bytes).
        for key, value in identifiers.items():
            if key in allowed and type(value) is str and 0 < len(value) <= 37 and (key != "email" or "@" in value):
                return None
    if not isinstance(identifiers, dict):
        return ("missing_identifier", field, f"{field} is required and must be an object")
    present = [k for k, v in identifiers.items() if v is not None]
    if not present:
        return ("missing_identifier", field, f"{field} must hold one of {', '.join(sorted(allowed))}")
    for key in present:
        if key not in allowed:
            return ("invalid_identifier", f"{field}.{key}", f"{key} is not an identifier here")
    if len(present) > 1:
        return ("multiple_identifiers", field, f"{field} must hold exactly one identifier")
    key = present[0]
    value = identifiers[key]
    if key != "id" and type(value) is not str:
        return ("invalid_identifier", f"{field}.{key}", f"{field}.{key} must be a string")
    problem = check_identifier_value(value, f"{field}.{key}")
    if problem is None and key == "email" and "@" not in value:
        return ("invalid_identifier", f"{field}.email", "email must contain @")
    return problem


def check_attributes(attributes: Any, field: str = "attributes") -> Problem | None:
    """Attribute limits: count, name bytes, value bytes, total bytes (names + values)."""
    if attributes is None:
        return None
    if not isinstance(attributes, dict):
        return ("invalid_field", field, f"{field} must be an object")
    count = len(attributes) - sum(1 for k in _CONTROL_KEYS if k in attributes)
    if count > ATTRIBUTES_PER_CALL:
        return ("too_many_attributes", field, f"more than {ATTRIBUTES_PER_CALL} attributes")
    total = 0
    for name, value in attributes.items():
        name_len = utf8_len(name)
        if name_len > ATTRIBUTE_NAME_BYTES:
            return (
                "attribute_name_too_long",
                f"{field}.{name}",
                f"attribute name longer than {ATTRIBUTE_NAME_BYTES} bytes",
            )
        size = value_bytes(value)
        if size > ATTRIBUTE_VALUE_BYTES:
            return (
                "attribute_value_too_long",
                f"{field}.{name}",
                f"attribute value longer than {ATTRIBUTE_VALUE_BYTES} bytes",
            )
        total += name_len + size
    if total > ATTRIBUTES_TOTAL_BYTES:
        return ("attributes_too_large", field, f"attributes larger than {ATTRIBUTES_TOTAL_BYTES} bytes")
    return None


def check_event_fields(
    op: dict[str, Any], data_field: str = "attributes", op_size: int | None = None
) -> Problem | None:
    """name (required, <= 100 bytes), id (ULID if present), data (<= 100,000 bytes serialised).

    `op_size`, when known, lets the data size check be skipped: data cannot be larger than its op.
    """
    name = op.get("name")
    if type(name) is not str or not name:
        return ("missing_field", "name", "name is required and must be a non-empty string")
    if len(name) > EVENT_NAME_BYTES // 4 and utf8_len(name) > EVENT_NAME_BYTES:
        return ("event_name_too_long", "name", f"name longer than {EVENT_NAME_BYTES} bytes")
    event_id = op.get("id")
    if event_id is not None and (type(event_id) is not str or _ULID.fullmatch(event_id) is None):
        return ("invalid_event_id", "id", "id must be a ULID (26 Crockford base32 characters)")
    data = op.get(data_field)
    if data is not None:
        if not isinstance(data, dict):
            return ("invalid_field", data_field, f"{data_field} must be an object")
        if (op_size is None or op_size > EVENT_DATA_BYTES) and len(_dumps(data)) > EVENT_DATA_BYTES:
            return ("event_data_too_large", data_field, f"event data larger than {EVENT_DATA_BYTES} bytes")
    return None


def check_object_identifiers(identifiers: Any, field: str = "identifiers") -> Problem | None:
    if not isinstance(identifiers, dict):
        return ("missing_identifier", field, f"{field} must hold object_type_id and object_id")
    type_id = identifiers.get("object_type_id")
    if type(type_id) is not str or _TYPE_ID.fullmatch(type_id) is None:
        return ("invalid_identifier", f"{field}.object_type_id", "object_type_id must be a string integer")
    if identifiers.get("object_id") is None:
        return ("missing_identifier", f"{field}.object_id", "object_id is required")
    return check_identifier_value(identifiers["object_id"], f"{field}.object_id")


def check_relationships(
    op: dict[str, Any], required: bool, target: Callable[[Any, str], Problem | None]
) -> Problem | None:
    """`cio_relationships`: a list of {identifiers, relationship_attributes}; `target` checks identifiers."""
    rels = op.get("cio_relationships")
    if rels is None:
        return ("missing_field", "cio_relationships", "cio_relationships is required") if required else None
    if not isinstance(rels, list) or (required and not rels):
        return ("invalid_field", "cio_relationships", "cio_relationships must be a non-empty list")
    for index, rel in enumerate(rels):
        field = f"cio_relationships.{index}"
        if not isinstance(rel, dict):
            return ("invalid_field", field, "a relationship must be an object")
        problem = target(rel.get("identifiers"), f"{field}.identifiers") or check_attributes(
            rel.get("relationship_attributes"), f"{field}.relationship_attributes"
        )
        if problem:
            return problem
    return None


def _person_target(identifiers: Any, field: str) -> Problem | None:
    return check_person_identifiers(identifiers, field, MERGE_IDENTIFIERS)


def _anonymous_target(identifiers: Any, field: str) -> Problem | None:
    return check_person_identifiers(identifiers, field, frozenset({"anonymous_id"}))


# --- per type/action checks (identifiers were already checked by the caller where they apply) ---


def _person_identify(op: dict[str, Any]) -> Problem | None:
    return check_attributes(op.get("attributes")) or check_relationships(op, False, check_object_identifiers)


def _person_event(op: dict[str, Any], op_size: int | None = None) -> Problem | None:
    return check_event_fields(op, "attributes", op_size)


def _person_plain(op: dict[str, Any]) -> Problem | None:
    return None


def _person_relationships(op: dict[str, Any]) -> Problem | None:
    return check_relationships(op, True, check_object_identifiers)


def _device(op: dict[str, Any], need_platform: bool) -> Problem | None:
    device = op.get("device")
    if not isinstance(device, dict):
        return ("missing_field", "device", "device is required and must be an object")
    token = device.get("token")
    if type(token) is not str or not token:
        return ("missing_field", "device.token", "device.token is required")
    if need_platform and device.get("platform") not in DEVICE_PLATFORMS:
        return ("invalid_field", "device.platform", "device.platform must be ios or android")
    if need_platform:
        return check_attributes(device.get("attributes"), "device.attributes")
    return None


def _person_merge(op: dict[str, Any]) -> Problem | None:
    return check_person_identifiers(op.get("primary"), "primary", MERGE_IDENTIFIERS) or (
        check_person_identifiers(op.get("secondary"), "secondary", MERGE_IDENTIFIERS)
    )


def _object_identify(op: dict[str, Any]) -> Problem | None:
    return check_attributes(op.get("attributes")) or check_relationships(op, False, _person_target)


def _object_identify_anonymous(op: dict[str, Any]) -> Problem | None:
    return check_attributes(op.get("attributes")) or check_relationships(op, False, _anonymous_target)


def _object_relationships(op: dict[str, Any]) -> Problem | None:
    return check_relationships(op, True, _person_target)


def _delivery_event(op: dict[str, Any]) -> Problem | None:
    identifiers = op.get("identifiers")
    if not isinstance(identifiers, dict) or identifiers.get("id") is None:
        return ("missing_identifier", "identifiers.id", "identifiers.id (the delivery id) is required")
    problem = check_identifier_value(identifiers["id"], "identifiers.id")
    if problem:
        return problem
    name = op.get("name")
    if type(name) is not str or not name:
        return ("missing_field", "name", "name is required")
    attributes = op.get("attributes")
    if not isinstance(attributes, dict) or not attributes.get("device_token"):
        return ("missing_field", "attributes.device_token", "attributes.device_token is required")
    return None


PERSON_CHECKS: dict[str, Callable[[dict[str, Any]], Problem | None]] = {
    "identify": _person_identify,
    "event": _person_event,
    "page": _person_event,
    "screen": _person_event,
    "delete": _person_plain,
    "suppress": _person_plain,
    "unsuppress": _person_plain,
    "add_relationships": _person_relationships,
    "delete_relationships": _person_relationships,
    "add_device": lambda op: _device(op, True),
    "delete_device": lambda op: _device(op, False),
    "merge": _person_merge,
}
OBJECT_CHECKS: dict[str, Callable[[dict[str, Any]], Problem | None]] = {
    "identify": _object_identify,
    "identify_anonymous": _object_identify_anonymous,
    "delete": _person_plain,
    "add_relationships": _object_relationships,
    "delete_relationships": _object_relationships,
}


def validate_op(op: Any, op_size: int | None = None) -> Problem | None:
    """Validate one v2 operation; `op_size` is its serialised size in bytes when known."""
    if op_size is not None and op_size > OP_BYTES:
        return ("op_too_large", "", f"operation larger than {OP_BYTES} bytes")
    if not isinstance(op, dict):
        return ("invalid_op", "", "an operation must be a JSON object")
    op_type = op.get("type")
    action = op.get("action")
    if op_type == "person":
        check = PERSON_CHECKS.get(action)  # type: ignore[arg-type]
        if check is None:
            return ("invalid_action", "action", f"unknown person action {action!r}")
        if action != "merge":
            allowed = (
                PERSON_IDENTIFIERS | {"anonymous_id"} if action in ANONYMOUS_OK_ACTIONS else PERSON_IDENTIFIERS
            )
            problem = check_person_identifiers(op.get("identifiers"), "identifiers", allowed)
            if problem:
                return problem
        return check(op, op_size) if check is _person_event else check(op)
    if op_type == "object":
        check = OBJECT_CHECKS.get(action)  # type: ignore[arg-type]
        if check is None:
            return ("invalid_action", "action", f"unknown object action {action!r}")
        return check_object_identifiers(op.get("identifiers")) or check(op)
    if op_type == "delivery":
        if action != "event":
            return ("invalid_action", "action", f"unknown delivery action {action!r}")
        return _delivery_event(op)
    return ("invalid_type", "type", "type must be person, object or delivery")
