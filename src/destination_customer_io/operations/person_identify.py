"""person_identify: one record -> one ``person/identify`` op (create or update a person's attributes).

    {"type":"person","action":"identify","identifiers":{"email":..},
     "attributes":{...every other column...},"timestamp":<now, unix seconds>}

The stream's identifier (its primary key's identifier column, else ``identifierType``) goes to
``identifiers``. The identifier columns are never attributes, as in Airbyte's Kotlin connector, unless
``send_other_identifiers`` is on: then the other two are sent as the attributes Customer.io gives meaning
to (``person_email`` -> ``email``, ``person_id`` -> ``id``; ``person_cio_id`` is immutable in Customer.io
and is never sent as an attribute), which can change a person's identifiers. Sync mode ``update``
adds ``"_update": true`` (update existing people only, never create). ``timestamp`` is the build time:
Customer.io orders attribute updates by it when calls arrive out of order.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import msgspec

from .. import limits, reasons, validate
from ..reasons import Rejection
from . import common
from .base import Op, Operation, Who

if TYPE_CHECKING:
    from ..stream import Stream

# identifierType -> the other identifier columns sent as attributes: (attribute, column).
_SECONDARIES: dict[str, tuple[tuple[str, str], ...]] = {
    "email": (("id", "person_id"),),
    "id": (("email", "person_email"),),
    "cio_id": (("email", "person_email"), ("id", "person_id")),
}
_PERSON_FIELDS = tuple(common.PERSON_FIELDS)
_NOTHING_RENAMED: dict[str, str] = {}  # never mutated: _add_secondary_identifiers copies on write
_ENCODE = common.ENCODER.encode
_DECODE = msgspec.json.Decoder(dict[str, Any]).decode
_SHORT_NAME = limits.ATTRIBUTE_NAME_BYTES // 4  # names this short cannot exceed 150 bytes
# A body this short cannot hold a 1,000-byte value (every value is a substring of the body) nor 300
# attributes (each needs at least `"x":0,`, 6 bytes): the per-value checks are skipped.
_VALUES_SHORTCUT_BYTES = limits.ATTRIBUTE_VALUE_BYTES


class _IdentifyOp(msgspec.Struct, gc=False):
    """An identify op, encoded as the dict ``{"type", "action", "identifiers", "attributes",
    "timestamp"}`` would be (the same bytes): a Struct's field names are encoded once, not per op
    (docs/performance.md)."""

    type: str
    action: str
    identifiers: dict[str, str]
    attributes: dict[str, Any]
    timestamp: int


class PersonIdentify(Operation):
    """Create or update a person (``append_dedup``), or update only (``update``)."""

    object_name = "person_identify"
    print_omits = ("timestamp",)  # the build time, new at each send: not part of what makes it unchanged
    sync_modes = ("append_dedup", "update")
    json_schema = {"type": "object", "additionalProperties": True, "properties": {
        "person_email": {"type": "string"}, "person_id": {"type": "string"}, "person_cio_id": {"type": "string"}}}
    matching_keys = (("person_email",), ("person_id",), ("person_cio_id",))
    person = "required"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock  # injectable so tests can pin the op timestamp

    def op(self, data: dict[str, Any], who: Who, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        attributes = common.attribute_columns(data, _PERSON_FIELDS, stream)
        if type(attributes) is not dict:
            return attributes  # type: ignore[return-value]
        renamed = _NOTHING_RENAMED
        if stream.config.send_other_identifiers:
            renamed = _add_secondary_identifiers(attributes, data, stream)  # type: ignore[assignment]
            if type(renamed) is Rejection:
                return renamed  # type: ignore[return-value]
        if stream.destination_sync_mode == "update":
            attributes["_update"] = True
        payload = _IdentifyOp("person", "identify", who[0], attributes, int(self._clock()))
        return self._checked_op(payload, who[1], stream, renamed)

    def merge(self, earlier: Op, later: Op) -> Op | None:
        """One op with ``earlier``'s attributes updated by ``later``'s, or None when it would break a
        limit or the two differ in kind (``_update`` on one only): then they go in separate batches.

        The payloads are decoded again from the bodies: a merge is rare (one person twice in one open
        batch), and keeping every op's dict until its batch is sealed costs more than decoding the few
        merged ones (docs/performance.md, "Operations")."""
        previous, payload = _DECODE(earlier.body), _DECODE(later.body)
        old, new = previous["attributes"], payload["attributes"]
        if old.get("_update") != new.get("_update"):
            return None
        attributes = {**old, **new}
        if validate.check_attribute_count(attributes) is not None:
            return None
        payload["attributes"] = attributes
        body = common.encode(payload)
        if isinstance(body, Rejection) or len(body) > limits.OP_BYTES:
            return None
        changes = (earlier.changes or []) + (later.changes or []) or None
        return Op(body, later.key, ordered=True, operation=self, changes=changes)

    # --- steps ------------------------------------------------------------------------------------

    def _checked_op(
        self, payload: _IdentifyOp, key: str, stream: "Stream", renamed: dict[str, str]
    ) -> Op | Rejection:
        """Encode once; the per-attribute checks run only when a limit could be broken."""
        attributes = payload.attributes
        if len(attributes) > limits.ATTRIBUTES_PER_CALL:
            rejection = validate.check_attribute_count(attributes)
            if rejection is not None:
                return rejection
        if attributes and not attributes.keys() <= stream.short_names:
            if max(map(len, attributes)) > _SHORT_NAME:
                rejection = validate.check_attribute_names(attributes, _field_namer(stream, renamed))
                if rejection is not None:
                    return rejection
            else:
                stream.remember_short_names(attributes)
        try:
            body = _ENCODE(payload)
        except common.ENCODE_ERRORS as exc:
            return common.unencodable(exc)
        changes = None
        if len(body) > _VALUES_SHORTCUT_BYTES:
            rejection, changes = validate.fit_attribute_values(
                attributes, stream.config.oversized_attributes, _field_namer(stream, renamed)
            )
            if rejection is not None:
                return rejection
            if changes:
                body = _ENCODE(payload)
            rejection = validate.check_op_size(
                body, attributes, section_reason=reasons.ATTRIBUTES_TOO_LARGE,
                section_subject="the attributes object", section_limit=limits.ATTRIBUTES_TOTAL_BYTES,
            )
            if rejection is not None:
                return rejection
        return Op(body, key, ordered=True, operation=self, changes=changes)


def _add_secondary_identifiers(
    attributes: dict[str, Any], data: dict[str, Any], stream: "Stream"
) -> dict[str, str] | Rejection:
    """Set ``email`` / ``id`` from the identifier columns not used as the identifier; returns
    attribute name -> identifier field for those set. A null or blank one is left out whatever
    ``null_values`` says: clearing a person's email or id by accident is worse than not setting it."""
    renamed = _NOTHING_RENAMED
    for kind, field in _SECONDARIES[stream.identifier_type]:
        raw = data.get(field)
        if raw is None or (type(raw) is str and (not raw or raw.isspace())):
            continue
        value = common.identifier(kind, raw, common.source_field(stream, field))
        if type(value) is Rejection:
            return value
        attributes[kind] = value
        renamed = {**renamed, kind: field}
    return renamed


def _field_namer(stream: "Stream", renamed: dict[str, str]) -> Callable[[str], str]:
    """attribute name -> the column the user knows (only built on the error/change path)."""

    def field_of(name: str) -> str:
        return common.source_field(stream, renamed.get(name, name))

    return field_of
