"""person_anonymous_event: one record -> one ``person/event`` op for an anonymous visitor.

    {"type":"person","action":"event","identifiers":{"anonymous_id":..},"name":<event_name>,
     "id":<ULID>,"timestamp":<unix seconds, when given>,"attributes":{event data}}

Customer.io keeps the event under the anonymous id and attaches it to the person once an identify
names that anonymous id. Event data is every column except ``anonymous_id``, ``event_name``,
``event_id`` and ``timestamp``; ids, names, timestamps and limits follow ``person_event``.
"""

from __future__ import annotations

from . import common
from .activity import ActivityOperation, activity_schema


class PersonAnonymousEvent(ActivityOperation):
    """Track an event of an anonymous visitor (``append``)."""

    object_name = "person_anonymous_event"
    json_schema = activity_schema("event_name", person=False)
    who = staticmethod(common.anonymous_identifier)
    action = "event"
    name_field = "event_name"
    op_fields = ("anonymous_id", "event_name", "event_id", "timestamp")
