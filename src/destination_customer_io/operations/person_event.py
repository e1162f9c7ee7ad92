"""person_event: one record -> one ``person/event`` op (something a person did).

    {"type":"person","action":"event","identifiers":{"email":..},"name":<event_name>,
     "id":<ULID>,"timestamp":<unix seconds, only when the record has one>,"attributes":{event data}}

Event data is every column except the identifier columns, ``event_name``, ``event_id`` and ``timestamp``.
``id`` is deterministic (see ``values.seeded_event_ulid``), so a retried or replayed record is one event;
with ``event_ids: source`` it is the record's own ``event_id``, as given, or absent.
Without a timestamp none is sent and Customer.io uses the arrival time.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .. import limits, reasons, validate, values
from ..reasons import Rejection
from . import common
from .base import DiscoverEntry, Op, Operation

if TYPE_CHECKING:
    from ..catalog import Stream

_OP_FIELDS = ("person_email", "person_id", "person_cio_id", "event_name", "event_id", "timestamp")
_SHORT_NAME = limits.EVENT_NAME_BYTES // 4
_ENCODE = common.ENCODER.encode
_SECONDS_BOUND = 10**11  # ints below are unix seconds (see values.unix_seconds)
# Exactly Airbyte's Kotlin connector's entry (the platform maps columns by it): superset by addition only.
_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event_name"],
    "additionalProperties": True,
    "properties": {
        "person_email": {"type": "string"},
        "person_id": {"type": "string"},
        "person_cio_id": {"type": "string"},
        "event_name": {"type": "string"},
        "event_id": {"type": "string"},
        "timestamp": {"type": "integer"},
    },
}


class PersonEvent(Operation):
    """Track an event for a person (``append``)."""

    object_name = "person_event"
    sync_modes = ("append",)
    person = "required"

    def discover(self) -> list[DiscoverEntry]:
        return [DiscoverEntry(self.object_name, "append", copy.deepcopy(_EVENT_SCHEMA))]

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        record = data  # the id hashes the record as read, before mapping or conversion
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        person = common.person_identifier(data, stream)
        if type(person) is not tuple:
            return person  # type: ignore[return-value]
        name = data.get("event_name")
        # Fast path: a non-blank string of <= 25 characters cannot exceed 100 bytes.
        if not (type(name) is str and 0 < len(name) <= _SHORT_NAME and not name.isspace()):
            name = common.activity_name(name, common.source_field(stream, "event_name"))
            if isinstance(name, Rejection):
                return name
        seconds = data.get("timestamp")
        if not (type(seconds) is int and 0 <= seconds < _SECONDS_BOUND):
            seconds = common.activity_time(seconds, stream)
            if isinstance(seconds, Rejection):
                return seconds
        event_data = _event_data(data)
        if event_data and stream.timestamp_fields and stream.config.convert_timestamps:
            # Event data keeps nulls and blanks as they are (null_values is about profile attributes).
            bad = common.convert_timestamp_columns(event_data, stream, "")
            if bad is not None:
                return bad
        user_id = data.get("event_id")
        op: dict[str, Any] = {
            "type": "person",
            "action": "event",
            "identifiers": person[0],
            "name": name,
            "id": None,
        }
        if seconds is not None:
            op["timestamp"] = seconds
        if event_data:
            op["attributes"] = event_data
        try:
            if stream.config.event_ids == "source":
                if (op_id := values.source_event_id(user_id)) is None:
                    del op["id"]
                else:
                    op["id"] = op_id
            elif user_id is None:  # the usual case, without the dispatch of values.seeded_event_ulid
                op["id"] = values.seeded_record_ulid(
                    0 if seconds is None else seconds * 1000, stream.id_seed, record
                )
                if stream.repeats.repeated(op["id"]):
                    stream.repeated_ids += 1
            else:
                op["id"] = values.seeded_event_ulid(
                    user_id, 0 if seconds is None else seconds * 1000, stream.id_seed, record
                )
            body = _ENCODE(op)
        except common.ENCODE_ERRORS as exc:  # a value JSON cannot hold (object, lone surrogate...)
            return common.unencodable(exc)
        if len(body) > limits.OP_BYTES:
            # The op limit (32,768) is below the event-data limit (100,000): name the bigger problem.
            return validate.check_op_size(  # type: ignore[return-value]
                body, event_data, section_reason=reasons.EVENT_DATA_TOO_LARGE,
                section_subject="the event data", section_limit=limits.EVENT_DATA_BYTES,
            )
        return Op(body, person[1], ordered=False, operation=self)


def _event_data(data: dict[str, Any]) -> dict[str, Any]:
    """Every column that is not an op field (a copy and a few deletes beat a filtering comprehension)."""
    event_data = data.copy()
    pop = event_data.pop
    for field in _OP_FIELDS:
        pop(field, None)
    return event_data
