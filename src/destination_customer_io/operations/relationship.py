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

The op carries who and which object it relates as data (``RelationshipOp``): the sync ledger's key is
that pair, written from them as it is built rather than read back out of the encoded body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..reasons import Rejection
from . import common
from .base import Op, Operation, Who

if TYPE_CHECKING:
    from ..stream import Stream

_OP_FIELDS = common.PERSON_FIELDS | {"object_type_id", "object_id", common.CDC_DELETED}
_PERSON_COLUMNS = ("person_email", "person_id", "person_cio_id")


class RelationshipOp(Op, kw_only=True, gc=False):
    """A relationship op and its identity: the person's ``identifiers`` and the object's, and whether
    it unrelates them. ``Relationship.ledger_entry`` reads these, never the body."""

    person: dict[str, str]
    target: dict[str, str]
    removes: bool


class Relationship(Operation):
    """Relate a person to an object (``append_dedup``), or unrelate them (``soft_delete``);
    ``overwrite`` mirrors the stream into the person's relationships (docs/mirror.md)."""

    object_name = "relationship"
    sync_modes = ("append_dedup", "soft_delete", "overwrite")
    json_schema = {"type": "object", "required": ["object_type_id", "object_id"], "additionalProperties": True,
                   "properties": {**{field: {"type": "string"} for field in _PERSON_COLUMNS},
                                  "object_type_id": {"type": "string"}, "object_id": {"type": "string"}}}
    matching_keys = tuple((person, "object_type_id", "object_id") for person in _PERSON_COLUMNS)
    person = "required"
    idempotent = True

    def op(self, data: dict[str, Any], who: Who, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        target = common.object_identifiers(data, stream)
        if isinstance(target, Rejection):
            return target
        relationship: dict[str, Any] = {"identifiers": target[0]}
        changes = attributes = None
        if common.is_removal(data, stream):
            action = "delete_relationships"
        else:
            action = "add_relationships"
            fitted = common.fitted_attributes(data, _OP_FIELDS, stream)
            if isinstance(fitted, Rejection):
                return fitted
            attributes, changes = fitted
            if attributes:
                relationship["relationship_attributes"] = attributes
        payload = {"type": "person", "action": action, "identifiers": who[0], "cio_relationships": [relationship]}
        body = common.encode_within_limits(payload, attributes)
        if type(body) is Rejection:
            return body
        return RelationshipOp(body, who[1], ordered=self.ordered, operation=self, changes=changes,  # type: ignore[arg-type]
                              person=who[0], target=target[0], removes=action == "delete_relationships")

    def ledger_entry(self, op: Op) -> tuple[bytes, bool]:
        """The key text is the removal op of the pair, the person's email lower-cased (``removal_op``)."""
        assert isinstance(op, RelationshipOp)  # the sync ledger marks only the ops ``op`` built
        removal = {"type": "person", "action": "delete_relationships",
                   "identifiers": common.ledger_identifiers(op.person),
                   "cio_relationships": [{"identifiers": op.target}]}
        text = msgspec.json.encode([op.key, msgspec.json.encode(removal).decode()])
        return text, op.removes

    def removal_op(self, text: bytes) -> Op:
        key, body = msgspec.json.decode(text)
        return Op(body.encode(), key, ordered=True, operation=self)
