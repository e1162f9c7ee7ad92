"""object_delete: one record -> one ``object/delete`` op (the object and its relationships go).

    {"type":"object","action":"delete","identifiers":{"object_type_id":"1","object_id":"acme"}}

Identifiers are read as for ``object_identify``; other columns are ignored. The op is ``ordered`` and
keyed ``object:<type>:<id>``, so it follows that object's earlier identifies in the input. It is not
ordered against relationship ops, which are keyed by their person (see docs/operations.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Op, Operation, Who
from .object_identify import ObjectOperation

if TYPE_CHECKING:
    from ..stream import Stream
    from ..reasons import Rejection


class ObjectDelete(ObjectOperation):
    """Delete an object and its relationships (``append``: each row deletes one object)."""

    object_name = "object_delete"
    sync_modes = ("append",)

    def op(self, data: dict[str, Any], who: Who, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        return self.encoded({"type": "object", "action": "delete", "identifiers": who[0]}, who[1])
