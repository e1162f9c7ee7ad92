"""object_identify: one record -> one ``object/identify`` op (create or update an object).

    {"type":"object","action":"identify","identifiers":{"object_type_id":"1","object_id":"acme"},
     "attributes":{...every other column...}}

``object_type_id`` is sent as Customer.io's string integer (an integer column is accepted). For
objects Customer.io documents that ``null`` or ``""`` removes an attribute: with ``null_values``
``null`` / ``empty_string`` a null column removes that attribute, and an empty string column always
does. Customer.io documents no update-only flag for objects (``_update`` is documented for people
only), so ``update`` mode is not offered and a stream configured with it has its records rejected
(``sync_mode_unsupported``) rather than silently creating objects. Ops are ``ordered`` and keyed
``object:<type>:<id>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import reasons
from ..reasons import Rejection
from . import common
from .base import DiscoverEntry, Op, Operation

if TYPE_CHECKING:
    from ..catalog import Stream

_IDENTIFIER_FIELDS = frozenset({"object_type_id", "object_id"})


def object_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["object_type_id", "object_id"], "additionalProperties": True,
            "properties": {"object_type_id": {"type": "string"}, "object_id": {"type": "string"}}}


class ObjectIdentify(Operation):
    """Create or update an object (``append_dedup``)."""

    object_name = "object_identify"
    sync_modes = ("append_dedup",)

    def discover(self) -> list[DiscoverEntry]:
        return [DiscoverEntry(self.object_name, "append_dedup", object_schema(),
                              [["object_type_id", "object_id"]])]

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        if stream.destination_sync_mode == "update":
            return Rejection(reasons.SYNC_MODE_UNSUPPORTED, None,
                             "object_identify cannot update only: Customer.io documents no update-only "
                             "flag for objects; use append_dedup (create or update)")
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        target = common.object_identifiers(data, stream)
        if isinstance(target, Rejection):
            return target
        attributes = common.attribute_columns(data, _IDENTIFIER_FIELDS, stream)
        if isinstance(attributes, Rejection):
            return attributes
        rejection, changes = common.fit_attributes(attributes, stream)
        if rejection is not None:
            return rejection
        payload = {"type": "object", "action": "identify", "identifiers": target[0], "attributes": attributes}
        body = common.encode_within_limits(payload, attributes)
        if isinstance(body, Rejection):
            return body
        return Op(body, target[1], ordered=True, operation=self, changes=changes)

    def merge(self, earlier: Op, later: Op) -> Op | None:
        return common.fold_identical(earlier, later)

