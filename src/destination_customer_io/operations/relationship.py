"""relationship: one record -> one ``person/add_relationships`` op, or ``delete_relationships``.

    {"type":"person","action":"add_relationships","identifiers":{"email":..},
     "cio_relationships":[{"identifiers":{"object_type_id":"1","object_id":"acme"},
                           "relationship_attributes":{...every other column...}}]}
    {"type":"person","action":"delete_relationships","identifiers":{"email":..},
     "cio_relationships":[{"identifiers":{"object_type_id":"1","object_id":"acme"}}]}

``append_dedup`` adds the relationship (or updates its attributes); ``soft_delete``, or a row with
``_ab_cdc_deleted_at`` set, removes it. Relationship attributes follow the object rules (``null`` or
``""`` removes one). The op is ``ordered`` and keyed by the person: it follows the person's identify
in the input, but is not ordered against ops keyed by the object (object_identify, object_delete).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import common
from ..reasons import Rejection
from .base import DiscoverEntry, Op, Operation

if TYPE_CHECKING:
    from ..catalog import Stream

_OP_FIELDS = common.PERSON_FIELDS | {"object_type_id", "object_id", common.CDC_DELETED}
_PERSON_COLUMNS = ("person_email", "person_id", "person_cio_id")


def _schema() -> dict[str, Any]:
    properties: dict[str, Any] = {field: {"type": "string"} for field in _PERSON_COLUMNS}
    properties.update({"object_type_id": {"type": "string"}, "object_id": {"type": "string"}})
    return {"type": "object", "required": ["object_type_id", "object_id"], "additionalProperties": True,
            "properties": properties}


class Relationship(Operation):
    """Relate a person to an object (``append_dedup``), or unrelate them (``soft_delete``)."""

    object_name = "relationship"
    sync_modes = ("append_dedup", "soft_delete")
    person = "required"

    def discover(self) -> list[DiscoverEntry]:
        keys = [[person, "object_type_id", "object_id"] for person in _PERSON_COLUMNS]
        return [DiscoverEntry(self.object_name, mode, _schema(), [list(k) for k in keys])
                for mode in self.sync_modes]

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        person = common.person_identifier(data, stream)
        if isinstance(person, Rejection):
            return person
        target = common.object_identifiers(data, stream)
        if isinstance(target, Rejection):
            return target
        relationship: dict[str, Any] = {"identifiers": target[0]}
        changes = None
        attributes = None
        if common.is_removal(data, stream):
            action = "delete_relationships"
        else:
            action = "add_relationships"
            attributes = common.attribute_columns(data, _OP_FIELDS, stream)
            if isinstance(attributes, Rejection):
                return attributes
            rejection, changes = common.fit_attributes(attributes, stream)
            if rejection is not None:
                return rejection
            if attributes:
                relationship["relationship_attributes"] = attributes
        payload = {"type": "person", "action": action, "identifiers": person[0],
                   "cio_relationships": [relationship]}
        body = common.encode_within_limits(payload, attributes)
        if isinstance(body, Rejection):
            return body
        return Op(body, person[1], ordered=True, operation=self, changes=changes)

    def merge(self, earlier: Op, later: Op) -> Op | None:
        return common.fold_identical(earlier, later)
