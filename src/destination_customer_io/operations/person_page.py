"""person_page and person_screen: one record -> one ``person/page`` or ``person/screen`` op (a view).

    {"type":"person","action":"page","identifiers":{"email":..} or {"anonymous_id":..},
     "name":<url>,"id":<ULID>,"timestamp":<unix seconds, when given>,"attributes":{view data}}

Screen views are the same with ``action: screen`` and ``name`` <- ``screen_name``. The person is the
``identifierType`` column when it holds a value, else ``anonymous_id`` (as Segment sends views). The
view's ``name`` (the URL) obeys the event-name limit of 100 bytes (the emulator and, we assume,
Customer.io apply it to page names too), so a longer URL is rejected, never truncated.

``ActivityOperation`` is the shape shared with ``person_anonymous_event``: name, deterministic ULID
(``values.event_ulid``, so a retried or replayed record is one view), optional timestamp, data.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from .. import limits, reasons, validate, values
from ..reasons import Rejection
from . import common
from .base import DiscoverEntry, Op, Operation

if TYPE_CHECKING:
    from ..catalog import Stream

_PERSON_PROPERTIES: dict[str, Any] = {field: {"type": "string"} for field in common.PERSON_FIELDS}


def activity_schema(name_field: str, *, person: bool) -> dict[str, Any]:
    """The discover schema of an activity: who, its name field, ``event_id``, ``timestamp``."""
    properties: dict[str, Any] = dict(_PERSON_PROPERTIES) if person else {}
    properties.update({
        "anonymous_id": {"type": "string"},
        name_field: {"type": "string"},
        "event_id": {"type": "string"},
        "timestamp": {"type": "integer"},
    })
    required = [name_field] if person else ["anonymous_id", name_field]
    return {"type": "object", "required": required, "additionalProperties": True,
            "properties": dict(sorted(properties.items()))}


def activity_id(event_id: Any, seconds: int | None, stream: "Stream", record: dict[str, Any]) -> str | None:
    """The ``id`` of an activity (see ``values.seeded_event_ulid``; ``event_ids: source`` sends the
    record's own ``event_id`` or none). Derived ids that repeat one sent earlier in the sync (identical
    records) are counted on the stream."""
    if stream.config.event_ids == "source":
        return values.source_event_id(event_id)
    derived = values.seeded_event_ulid(event_id, 0 if seconds is None else seconds * 1000, stream.id_seed, record)
    if (event_id is None or (isinstance(event_id, str) and not event_id.strip())) \
            and stream.repeats.repeated(derived):
        stream.repeated_ids += 1
    return derived


class ActivityOperation(Operation):
    """Something a person (or an anonymous visitor) did: an event, a page view, a screen view.

    Subclasses set ``action`` (the Track API action), ``name_field`` (the column sent as ``name``)
    and implement ``who`` (identifiers and op key). Activities are not ``ordered``: each carries its
    own time and id, so their order of arrival does not change the result.
    """

    sync_modes = ("append",)
    action: ClassVar[str]
    name_field: ClassVar[str]
    op_fields: ClassVar[frozenset[str]]  # columns that are not view/event data

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def who(self, data: dict[str, Any], stream: "Stream") -> tuple[dict[str, str], str] | Rejection:
        raise NotImplementedError

    def discover(self) -> list[DiscoverEntry]:
        # a deep copy: a caller editing its answer must not change the next one
        return [DiscoverEntry(self.object_name, "append", copy.deepcopy(self.schema()))]

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        record = data  # the id hashes the record as read, before mapping or conversion
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        who = self.who(data, stream)
        if isinstance(who, Rejection):
            return who
        name = common.activity_name(data.get(self.name_field), common.source_field(stream, self.name_field))
        if isinstance(name, Rejection):
            return name
        seconds = common.activity_time(data.get("timestamp"), stream)
        if isinstance(seconds, Rejection):
            return seconds
        activity = {k: v for k, v in data.items() if k not in self.op_fields}
        if activity and stream.timestamp_fields and stream.config.convert_timestamps:
            # Activity data keeps nulls and blanks as they are (null_values is about profiles).
            bad = common.convert_timestamp_columns(activity, stream, "")
            if bad is not None:
                return bad
        op: dict[str, Any] = {"type": "person", "action": self.action, "identifiers": who[0], "name": name}
        try:
            op_id = activity_id(data.get("event_id"), seconds, stream, record)
        except common.ENCODE_ERRORS as exc:
            return common.unencodable(exc)
        if op_id is not None:
            op["id"] = op_id
        if seconds is not None:
            op["timestamp"] = seconds
        if activity:
            op["attributes"] = activity
        body = common.encode(op)
        if isinstance(body, Rejection):
            return body
        if len(body) > limits.OP_BYTES:  # name the bigger problem (see validate.check_op_size)
            return validate.check_op_size(  # type: ignore[return-value]
                body, activity, section_reason=reasons.EVENT_DATA_TOO_LARGE,
                section_subject="the event data", section_limit=limits.EVENT_DATA_BYTES,
            )
        return Op(body, who[1], ordered=False, operation=self)


class _View(ActivityOperation):
    """A page or screen view of a person, or of an anonymous visitor."""

    person = "or_anonymous"

    def schema(self) -> dict[str, Any]:
        return activity_schema(self.name_field, person=True)

    def who(self, data: dict[str, Any], stream: "Stream") -> tuple[dict[str, str], str] | Rejection:
        return common.person_or_anonymous(data, stream)


class PersonPage(_View):
    """A page view (``append``): ``url`` is sent as the view's name."""

    object_name = "person_page"
    action = "page"
    name_field = "url"
    op_fields = common.PERSON_FIELDS | {"anonymous_id", "url", "event_id", "timestamp"}


class PersonScreen(_View):
    """A mobile screen view (``append``): ``screen_name`` is sent as the view's name."""

    object_name = "person_screen"
    action = "screen"
    name_field = "screen_name"
    op_fields = common.PERSON_FIELDS | {"anonymous_id", "screen_name", "event_id", "timestamp"}
