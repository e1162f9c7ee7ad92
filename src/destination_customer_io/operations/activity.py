"""The activity path: what person_event, person_anonymous_event, person_page and person_screen share.

An activity is something a person (or an anonymous visitor) did: a name (event name, URL or screen
name, at most 100 bytes), a deterministic ULID (``activity_id``, so a retried or replayed record is one
event), an optional time, and its data (every column that is not an op field). Activities are not
``ordered``: each carries its own time and id, so their order of arrival does not change the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from .. import limits, reasons, validate, values
from ..reasons import Rejection
from . import common, typed
from .base import Op, Operation, Who

if TYPE_CHECKING:
    from ..stream import Stream

_SHORT_NAME = limits.EVENT_NAME_BYTES // 4  # a name this short cannot exceed 100 bytes
_SECONDS_BOUND = 10**11  # ints in [0, this) are unix seconds as they are (see values.unix_seconds)
_ENCODE = common.ENCODER.encode
_OP_BYTES = limits.OP_BYTES


def activity_schema(name_field: str, *, person: bool) -> dict[str, Any]:
    """The discover schema of an activity: who, its name field, ``event_id``, ``timestamp``."""
    properties: dict[str, Any] = {field: {"type": "string"} for field in common.PERSON_FIELDS} if person else {}
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
    """The ``id`` of an activity (see ``values.seeded_event_ulid``; ``event_ids: source``:
    ``values.source_event_ulid``). Derived ids are kept on the stream, to count those that repeat one
    sent earlier in the sync (identical records: ``Stream.count_repeats``)."""
    if stream.config.event_ids == "source":
        return values.source_event_ulid(event_id)
    ms = 0 if seconds is None else seconds * 1000
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        derived = stream.record_ids.ulid(ms, record)  # seeded_event_ulid's own rule (seeded_record_ulid)
        stream.new_ids.append(derived)  # checked for repeats with the chunk's others (Stream.count_repeats)
        return derived
    return values.seeded_event_ulid(event_id, ms, stream.id_seed, record)


class _UsualActivity(msgspec.Struct, gc=False):
    """The op of an activity with an id, a time and data, as ``_activity_op`` would make it (the same
    bytes, in the same order): a Struct's field names are encoded once, not per op (docs/performance.md)."""

    type: str
    action: str
    identifiers: dict[str, str]
    name: str
    id: str
    timestamp: int
    attributes: dict[str, Any]


def _activity_op(action: str, identifiers: dict[str, str], name: str, op_id: str | None, seconds: int | None,
                 activity: dict[str, Any]) -> dict[str, Any]:
    """The op of an activity without an id, a time or data: only what it has, in the usual order."""
    op: dict[str, Any] = {"type": "person", "action": action, "identifiers": identifiers, "name": name}
    if op_id is not None:
        op["id"] = op_id
    if seconds is not None:
        op["timestamp"] = seconds
    if activity:
        op["attributes"] = activity
    return op


class ActivityOperation(Operation):
    """Subclasses declare ``action`` (the Track API action), ``name_field`` (the column sent as
    ``name``), ``op_fields`` (the columns that are not activity data) and who the activity is about
    (``person``, or their own ``who``); ``string_properties``, the data properties Customer.io's contract
types as strings (a page view's)."""

    sync_modes = ("append",)
    ordered = False
    action: ClassVar[str]
    name_field: ClassVar[str]
    op_fields: ClassVar[tuple[str, ...]]
    string_properties: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        # The declarations ``op`` reads per record, in one instance attribute (see Operation.__init__).
        self._declared = (self.name_field, self.op_fields, self.string_properties, self.action)

    def op(self, data: dict[str, Any], who: Who, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        name_field, op_fields, string_properties, action = self._declared
        name = data.get(name_field)
        if not (type(name) is str and 0 < len(name) <= _SHORT_NAME and not name.isspace()):
            name = common.activity_name(name, common.source_field(stream, name_field))
            if type(name) is Rejection:
                return name
        seconds = data.get("timestamp")
        if not (type(seconds) is int and 0 <= seconds < _SECONDS_BOUND):
            seconds = common.activity_time(seconds, stream)
            if type(seconds) is Rejection:
                return seconds
        activity = data.copy()  # a copy and a few deletions: keeps the columns' order
        for field in op_fields:
            if field in activity:  # cheaper than pop(field, None), a call, for the fields absent too
                del activity[field]
        if activity and stream.timestamp_fields and stream.config.convert_timestamps:
            # Activity data keeps nulls and blanks as they are (null_values is about profiles).
            bad = common.convert_timestamp_columns(activity, stream, "")
            if bad is not None:
                return bad
        if string_properties and not string_properties.isdisjoint(activity):
            bad = typed.page_properties(activity, string_properties, stream)
            if bad is not None:
                return bad
        event_id = data.get("event_id")
        try:
            if event_id is None and stream.config.event_ids == "derived":
                # The usual activity: activity_id's derived rule, without its call (docs/performance.md).
                op_id: str | None = stream.record_ids.ulid(0 if seconds is None else seconds * 1000, record)
                stream.new_ids.append(op_id)  # type: ignore[arg-type]
            else:
                op_id = activity_id(event_id, seconds, stream, record)  # type: ignore[arg-type]
            if op_id is not None and seconds is not None and activity:  # the usual op
                body = _ENCODE(_UsualActivity("person", action, who[0], name, op_id, seconds, activity))
            else:
                body = _ENCODE(_activity_op(action, who[0], name, op_id, seconds, activity))
        except common.ENCODE_ERRORS as exc:  # a value JSON cannot hold (object, lone surrogate...)
            return common.unencodable(exc)
        if len(body) > _OP_BYTES:  # the op limit is below the event-data limit: name the bigger problem
            return validate.check_op_size(  # type: ignore[return-value]
                body, activity, section_reason=reasons.EVENT_DATA_TOO_LARGE,
                section_subject="the event data", section_limit=limits.EVENT_DATA_BYTES,
            )
        return Op(body, who[1], ordered=False, operation=self)
