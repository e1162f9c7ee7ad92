"""person_merge: one record -> one ``person/merge`` op (fold the secondary person into the primary).

    {"type":"person","action":"merge","primary":{"email":..},"secondary":{"id":..}}

Each side is read from ``primary_<type>`` / ``secondary_<type>``: the column of the connection's
``identifierType`` first, else the first of ``_id``, ``_email``, ``_cio_id`` holding a value (the two
people of a merge are often known by different identifiers). Customer.io deletes the secondary and
moves its data to the primary, which must already exist. The op is keyed by the primary: it is
applied after that person's earlier ops in the input, but not ordered against the secondary's, which
travel in another lane (see docs/operations.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import reasons
from ..reasons import Rejection
from . import common
from .base import Op, Operation

if TYPE_CHECKING:
    from ..stream import Stream

SIDES = ("primary", "secondary")
_KINDS = ("id", "email", "cio_id")


class PersonMerge(Operation):
    """Merge two people (``append``: each row is one merge)."""

    object_name = "person_merge"
    sync_modes = ("append",)
    json_schema = {"type": "object", "additionalProperties": True,
                   "properties": {f"{side}_{kind}": {"type": "string"} for side in SIDES for kind in _KINDS}}

    def op(self, data: dict[str, Any], who: None, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        primary = _side(data, "primary", stream)
        if isinstance(primary, Rejection):
            return primary
        secondary = _side(data, "secondary", stream)
        if isinstance(secondary, Rejection):
            return secondary
        if common.person_key(*primary) == common.person_key(*secondary):
            column = common.source_field(stream, f"secondary_{secondary[0]}")
            return Rejection(reasons.MERGE_SAME_PERSON, column,
                             f"`{column}` names the same person as the primary; nothing to merge")
        payload = {"type": "person", "action": "merge",
                   "primary": {primary[0]: primary[1]}, "secondary": {secondary[0]: secondary[1]}}
        return self.encoded(payload, common.person_key(*primary))


def _side(data: dict[str, Any], side: str, stream: "Stream") -> tuple[str, str] | Rejection:
    """(kind, value) of one side of the merge: the identifierType column first, then the others."""
    preferred = stream.identifier_type
    for kind in (preferred, *(k for k in _KINDS if k != preferred)):
        field = f"{side}_{kind}"
        value = common.identifier(kind, data.get(field), common.source_field(stream, field))
        if value is not None:
            return value if isinstance(value, Rejection) else (kind, value)
    columns = [common.source_field(stream, f"{side}_{kind}") for kind in (preferred, *_KINDS)]
    others = ", ".join(f"`{c}`" for c in dict.fromkeys(columns[1:]) if c != columns[0])
    return common.missing(columns[0], f" (and so are {others}); a merge needs one identifier per person")
