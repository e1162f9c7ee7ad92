"""person_anonymous_event: one record -> one ``person/event`` op for an anonymous visitor.

    {"type":"person","action":"event","identifiers":{"anonymous_id":..},"name":<event_name>,
     "id":<ULID>,"timestamp":<unix seconds, when given>,"attributes":{event data}}

Customer.io keeps the event under the anonymous id and attaches it to the person once an identify
names that anonymous id. Event data is every column except ``anonymous_id``, ``event_name``,
``event_id`` and ``timestamp``; ids, names, timestamps and limits follow ``person_event``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..reasons import Rejection
from . import common
from .person_page import ActivityOperation, activity_schema

if TYPE_CHECKING:
    from ..catalog import Stream


class PersonAnonymousEvent(ActivityOperation):
    """Track an event of an anonymous visitor (``append``)."""

    object_name = "person_anonymous_event"
    action = "event"
    name_field = "event_name"
    op_fields = frozenset({"anonymous_id", "event_name", "event_id", "timestamp"})

    def schema(self) -> dict[str, Any]:
        return activity_schema(self.name_field, person=False)

    def who(self, data: dict[str, Any], stream: "Stream") -> tuple[dict[str, str], str] | Rejection:
        anonymous = common.field_identifier(data, "anonymous_id", stream)
        if isinstance(anonymous, Rejection):
            return anonymous
        return {"anonymous_id": anonymous}, "anonymous:" + anonymous
