"""object_delete: one record -> one ``object/delete`` op (the object and its relationships go).

    {"type":"object","action":"delete","identifiers":{"object_type_id":"1","object_id":"acme"}}

Identifiers are read as for ``object_identify``; other columns are ignored. The op is ``ordered`` and
keyed ``object:<type>:<id>``, so it follows that object's earlier identifies in the input. It is not
ordered against relationship ops, which are keyed by their person (see docs/operations.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import common
from ..reasons import Rejection
from .base import DiscoverEntry, Op, Operation
from .object_identify import object_schema

if TYPE_CHECKING:
    from ..catalog import Stream


class ObjectDelete(Operation):
    """Delete an object and its relationships (``append``: each row deletes one object)."""

    object_name = "object_delete"
    sync_modes = ("append",)

    def discover(self) -> list[DiscoverEntry]:
        return [DiscoverEntry(self.object_name, "append", object_schema())]

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        target = common.object_identifiers(data, stream)
        if isinstance(target, Rejection):
            return target
        body = common.encode({"type": "object", "action": "delete", "identifiers": target[0]})
        if isinstance(body, Rejection):
            return body
        return Op(body, target[1], ordered=True, operation=self)

    def merge(self, earlier: Op, later: Op) -> Op | None:
        return common.fold_identical(earlier, later)
