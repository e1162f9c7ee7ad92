"""person_event: one record -> one ``person/event`` op (something a person did).

    {"type":"person","action":"event","identifiers":{"email":..},"name":<event_name>,
     "id":<ULID>,"timestamp":<unix seconds, only when the record has one>,"attributes":{event data}}

Event data is every column except the identifier columns, ``event_name``, ``event_id`` and ``timestamp``.
``id`` is deterministic (see ``values.seeded_event_ulid``), so a retried or replayed record is one event;
with ``event_ids: source`` it is the record's own ``event_id`` when that is a ULID, the ULID derived
from it when not (``values.source_event_ulid``), or absent.
Without a timestamp none is sent and Customer.io uses the arrival time.
"""

from __future__ import annotations

from typing import Any

from .activity import ActivityOperation


class PersonEvent(ActivityOperation):
    """Track an event for a person (``append``)."""

    object_name = "person_event"
    # Exactly Airbyte's Kotlin connector's entry (the platform maps columns by it): superset by addition only.
    json_schema: dict[str, Any] = {
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
    person = "required"
    action = "event"
    name_field = "event_name"
    op_fields = ("person_email", "person_id", "person_cio_id", "event_name", "event_id", "timestamp")
