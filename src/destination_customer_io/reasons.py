"""The rejection-reason vocabulary: every ``rejected_reason`` the mapping can write, with one line each.

A rejected record carries one of these codes in ``rejected_reason``, the field as the user knows it (the
source column) in ``rejected_field`` and a sentence with the actual and the allowed size in
``rejected_message``. ``DESCRIPTIONS`` is what the README lists; a test keeps it complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one record cannot be sent: ``reason`` is a code from the vocabulary below, ``field`` the field as the user knows it: the source column (``person_email``,
    ``plan``; the mapped column when ``field_map`` renames) or None for the whole record, ``message`` a
    sentence with the actual and the allowed size, never the value itself (it may be personal data)."""

    reason: str
    field: str | None
    message: str


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
ATTRIBUTE_VALUE_NOT_STRING: Final = "attribute_value_not_string"
DEVICE_PLATFORM_INVALID: Final = "device_platform_invalid"
MERGE_SAME_PERSON: Final = "merge_same_person"
SYNC_MODE_UNSUPPORTED: Final = "sync_mode_unsupported"
# Decided by the pipeline, not by an operation:
STREAM_NOT_IN_CATALOG: Final = "stream_not_in_catalog"
RECORD_DATA_NOT_OBJECT: Final = "record_data_not_object"
MALFORMED_RECORD: Final = "malformed_record"
API_REJECTED: Final = "api_rejected"

DESCRIPTIONS: Final[dict[str, str]] = {
    IDENTIFIER_MISSING: "An identifier column is absent, null, empty or blank: the person's (chosen by "
    "`identifierType`), or `anonymous_id`, `object_type_id`, `object_id`, `device_token`, `segment_id`, "
    "`primary_*` / `secondary_*`.",
    IDENTIFIER_INVALID: "An identifier is not a string (ids also accept integers), an email is not email-shaped, "
    "or `object_type_id` / `segment_id` is not a whole number.",
    IDENTIFIER_TOO_LONG: "An identifier (person, `anonymous_id`, `object_id`) is longer than 150 UTF-8 bytes.",
    EVENT_NAME_MISSING: "`event_name` (page: `url`, screen: `screen_name`) is absent, null, empty or blank.",
    EVENT_NAME_INVALID: "`event_name` (page: `url`, screen: `screen_name`) is not a string.",
    EVENT_NAME_TOO_LONG: "`event_name` (page: `url`, screen: `screen_name`) is longer than 100 UTF-8 bytes.",
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
    ATTRIBUTE_VALUE_NOT_STRING: "A device attribute, or a page view's `referrer` / `path` / `search` / `title` / "
    "`url` property, holds an object or an array (`keywords`: anything but an array of scalars): Customer.io's "
    "published contract takes strings there (other scalars are sent as their text).",
    DEVICE_PLATFORM_INVALID: "person_device: `platform` is absent or not `ios` / `android` (any case).",
    MERGE_SAME_PERSON: "person_merge: the primary and the secondary are the same identifier.",
    SYNC_MODE_UNSUPPORTED: "The stream's sync mode asks for something Customer.io does not document for this "
    "operation (object_identify in `update` mode: `_update` is documented for people only).",
    STREAM_NOT_IN_CATALOG: "The record's stream is not in the configured catalog, so no operation is known for it.",
    RECORD_DATA_NOT_OBJECT: "The record's `data` is not a JSON object.",
    MALFORMED_RECORD: "The RECORD message does not follow the Airbyte protocol (e.g. `emitted_at` is not a number).",
    API_REJECTED: "Customer.io refused the operation (a 207 entry, or a 400 isolated to this one operation); "
    "its reason and message follow in `rejected_message`.",
}

# What to change when a stream rejects (nearly) everything for one reason: the sentence ends the warning.
HINTS: Final[dict[str, str]] = {
    IDENTIFIER_MISSING: "map the column that holds the identifier to it, or pick the identifier the data has "
    "(identifierType, or the stream's matching key)",
    IDENTIFIER_INVALID: "check that the identifier column holds what identifierType names (email addresses "
    "for `email`), or pick another identifier",
    EVENT_NAME_MISSING: "map a column to `event_name` (page: `url`, screen: `screen_name`), or set it with "
    '{"const": "..."} in stream_mappings',
    INVALID_TIMESTAMP: "send unix seconds or ISO-8601 date-times, or set convert_timestamps to false if the "
    "timestamp-typed columns are not dates",
    ATTRIBUTE_VALUE_TOO_LONG: "set oversized_attributes to `drop` or `truncate`, or leave the long column out",
    STREAM_NOT_IN_CATALOG: "add the stream to the configured catalog",
    API_REJECTED: "read the rejected records' `rejected_message`: it is Customer.io's own reason",
}


def hint(reason: str) -> str:
    return HINTS.get(reason, f"see `{reason}` in docs/rejected.md")
