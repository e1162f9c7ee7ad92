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
from .base import Op, Operation, Who

if TYPE_CHECKING:
    from ..stream import Stream

_IDENTIFIER_FIELDS = frozenset({"object_type_id", "object_id"})


class ObjectOperation(Operation):
    """An op about one object: ``who`` is its ``object_type_id`` and ``object_id``."""

    json_schema = {"type": "object", "required": ["object_type_id", "object_id"], "additionalProperties": True,
                   "properties": {"object_type_id": {"type": "string"}, "object_id": {"type": "string"}}}
    idempotent = True
    who = staticmethod(common.object_identifiers)


class ObjectIdentify(ObjectOperation):
    """Create or update an object (``append_dedup``)."""

    object_name = "object_identify"
    sync_modes = ("append_dedup",)
    matching_keys = (("object_type_id", "object_id"),)

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        if stream.destination_sync_mode == "update":  # refused before anything is read
            return Rejection(reasons.SYNC_MODE_UNSUPPORTED, None,
                             "object_identify cannot update only: Customer.io documents no update-only "
                             "flag for objects; use append_dedup (create or update)")
        return super().build(data, stream)

    def op(self, data: dict[str, Any], who: Who, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        fitted = common.fitted_attributes(data, _IDENTIFIER_FIELDS, stream)
        if isinstance(fitted, Rejection):
            return fitted
        attributes, changes = fitted
        payload = {"type": "object", "action": "identify", "identifiers": who[0], "attributes": attributes}
        return self.encoded(payload, who[1], attributes, changes)
