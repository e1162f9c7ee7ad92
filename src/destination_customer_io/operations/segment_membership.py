"""segment_membership: one record -> one id in a v1 manual-segment call (add or remove a person).

    POST /api/v1/segments/{segment_id}/add_customers?id_type=email     {"ids":["a@b.co", ...]}
    POST /api/v1/segments/{segment_id}/remove_customers?id_type=email  {"ids":[...]}

Not a v2 batch op: the op's ``route`` is the call's path and its ``body`` one JSON id; the pipeline
gathers the ids of one route in one lane into calls of at most 1,000 (``limits.SEGMENT_IDS_PER_CALL``).
``id_type`` is the connection's ``identifierType``. ``append_dedup`` adds; ``soft_delete``, or a row with
``_ab_cdc_deleted_at`` set, removes. The ids are keyed by their person and ``ordered``, so a person
identified earlier in the input exists before being added (Customer.io ignores unknown people).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import common
from .base import DiscoverEntry, Op, Operation
from .. import reasons
from ..reasons import Rejection

if TYPE_CHECKING:
    from ..catalog import Stream

_SEGMENT_ID = re.compile(r"[0-9]+")
_PERSON_COLUMNS = ("person_email", "person_id", "person_cio_id")


def _schema() -> dict[str, Any]:
    properties: dict[str, Any] = {field: {"type": "string"} for field in _PERSON_COLUMNS}
    properties["segment_id"] = {"type": "integer"}
    return {"type": "object", "required": ["segment_id"], "additionalProperties": True,
            "properties": properties}


class SegmentMembership(Operation):
    """Add a person to a manual segment (``append_dedup``), or remove them (``soft_delete``)."""

    object_name = "segment_membership"
    sync_modes = ("append_dedup", "soft_delete")
    person = "required"

    def discover(self) -> list[DiscoverEntry]:
        keys = [["segment_id", person] for person in _PERSON_COLUMNS]
        return [DiscoverEntry(self.object_name, mode, _schema(), [list(k) for k in keys])
                for mode in self.sync_modes]

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        person = common.person_identifier(data, stream)
        if isinstance(person, Rejection):
            return person
        segment_id = _segment_id(data.get("segment_id"), common.source_field(stream, "segment_id"))
        if isinstance(segment_id, Rejection):
            return segment_id
        ((kind, value),) = person[0].items()
        action = "remove_customers" if common.is_removal(data, stream) else "add_customers"
        body = common.encode(value)  # type: ignore[arg-type]
        if isinstance(body, Rejection):
            return body
        return Op(body, person[1], ordered=True, operation=self,
                  route=f"/api/v1/segments/{segment_id}/{action}?id_type={kind}")


def _segment_id(raw: Any, column: str) -> str | Rejection:
    """A manual segment's id: a whole number (an integer, or a string of digits)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return str(raw)
    if isinstance(raw, str) and _SEGMENT_ID.fullmatch(raw.strip()):
        return str(int(raw.strip()))
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return common.missing(column)
    return Rejection(reasons.IDENTIFIER_INVALID, column,
                     f"`{column}` must be a whole number such as 7 (a manual segment's id; "
                     f"got a {type(raw).__name__} that is not one)")
