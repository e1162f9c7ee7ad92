"""The rejection-reason vocabulary: every ``rejected_reason`` the mapping can write, with one line each.

A rejected record carries one of these codes in ``rejected_reason``, the field as the user knows it (the
source column) in ``rejected_field`` and a sentence with the actual and the allowed size in
``rejected_message``. ``DESCRIPTIONS`` is what the README lists; a test keeps it complete.
"""

from __future__ import annotations

from typing import Final

IDENTIFIER_MISSING: Final = "identifier_missing"
IDENTIFIER_INVALID: Final = "identifier_invalid"
IDENTIFIER_TOO_LONG: Final = "identifier_too_long"
EVENT_NAME_MISSING: Final = "event_name_missing"
EVENT_NAME_INVALID: Final = "event_name_invalid"
EVENT_NAME_TOO_LONG: Final = "event_name_too_long"
INVALID_TIMESTAMP: Final = "invalid_timestamp"
ATTRIBUTE_NAME_TOO_LONG: Final = "attribute_name_too_long"
ATTRIBUTE_VALUE_TOO_LONG: Final = "attribute_value_too_long"
TOO_MANY_ATTRIBUTES: Final = "too_many_attributes"
ATTRIBUTES_TOO_LARGE: Final = "attributes_too_large"
EVENT_DATA_TOO_LARGE: Final = "event_data_too_large"
OP_TOO_LARGE: Final = "op_too_large"
INVALID_VALUE: Final = "invalid_value"

DESCRIPTIONS: Final[dict[str, str]] = {
    IDENTIFIER_MISSING: "The identifier column chosen by `identifierType` is absent, null, empty or blank.",
    IDENTIFIER_INVALID: "The identifier is not a string (ids also accept integers), or an email is not email-shaped.",
    IDENTIFIER_TOO_LONG: "The identifier is longer than 150 UTF-8 bytes.",
    EVENT_NAME_MISSING: "`event_name` is absent, null, empty or blank.",
    EVENT_NAME_INVALID: "`event_name` is not a string.",
    EVENT_NAME_TOO_LONG: "`event_name` is longer than 100 UTF-8 bytes.",
    INVALID_TIMESTAMP: "A timestamp (the event's `timestamp` or a column typed as a timestamp) cannot be read "
    "as unix seconds/milliseconds/microseconds/nanoseconds or ISO-8601, or is out of range.",
    ATTRIBUTE_NAME_TOO_LONG: "An attribute name is longer than 150 UTF-8 bytes.",
    ATTRIBUTE_VALUE_TOO_LONG: "An attribute value is longer than 1,000 UTF-8 bytes (nested values: their JSON) "
    "and `oversized_attributes` is `reject`.",
    TOO_MANY_ATTRIBUTES: "The record would set more than 300 attributes in one call.",
    ATTRIBUTES_TOO_LARGE: "The attributes together are larger than 100,000 bytes of JSON.",
    EVENT_DATA_TOO_LARGE: "The event data is larger than 100,000 bytes of JSON.",
    OP_TOO_LARGE: "The encoded operation is larger than 32,768 bytes, Customer.io's limit for one operation.",
    INVALID_VALUE: "A value cannot be encoded as JSON.",
}
