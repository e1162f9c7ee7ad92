"""segment_membership: one record -> one id in a v1 manual-segment call (add or remove a person).

    POST /api/v1/segments/{segment_id}/add_customers?id_type=email     {"ids":["a@b.co", ...]}
    POST /api/v1/segments/{segment_id}/remove_customers?id_type=email  {"ids":[...]}

Not a v2 batch op: the op's ``route`` is the call's path and its ``body`` one JSON id; the pipeline
gathers the ids of one route in one lane into calls of at most 1,000 (``limits.SEGMENT_IDS_PER_CALL``).
``id_type`` is the stream's identifier (its primary key's identifier column, else ``identifierType``).
``append_dedup`` adds; ``soft_delete``, or a row with ``_ab_cdc_deleted_at`` set, removes. The ids are
keyed by their person and ``ordered``, so a person identified earlier in the input exists before being
added (Customer.io ignores unknown people). With ``create_missing_people`` (default: on for mirror
streams) an add identifies its person first, with the same identifier only (``creates``; segments.py):

    POST /api/v2/batch  {"batch":[{"type":"person","action":"identify","identifiers":{"email":"a@b.co"}},...]}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..reasons import Rejection
from . import common
from .base import Op, Operation, Who

if TYPE_CHECKING:
    from ..stream import Stream

_PERSON_COLUMNS = ("person_email", "person_id", "person_cio_id")


class SegmentMembership(Operation):
    """Add a person to a manual segment (``append_dedup``), or remove them (``soft_delete``);
    ``overwrite`` mirrors the stream into the segment (docs/mirror.md)."""

    object_name = "segment_membership"
    sync_modes = ("append_dedup", "soft_delete", "overwrite")
    json_schema = {"type": "object", "required": ["segment_id"], "additionalProperties": True,
                   "properties": {**{field: {"type": "string"} for field in _PERSON_COLUMNS},
                                  "segment_id": {"type": "integer"}}}
    matching_keys = tuple(("segment_id", person) for person in _PERSON_COLUMNS)
    person = "required"

    def op(self, data: dict[str, Any], who: Who, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        segment_id = common.whole_number(data.get("segment_id"), common.source_field(stream, "segment_id"),
                                         "7", "a manual segment's id")
        if isinstance(segment_id, Rejection):
            return segment_id
        ((kind, value),) = who[0].items()
        action = "remove_customers" if common.is_removal(data, stream) else "add_customers"
        body = common.encode(value)  # type: ignore[arg-type]
        if isinstance(body, Rejection):
            return body
        # A person known by cio_id exists (Customer.io assigned it): nothing to create.
        creates = action == "add_customers" and kind != "cio_id" and stream.creates_people
        return Op(body, who[1], ordered=True, operation=self,
                  route=f"/api/v1/segments/{segment_id}/{action}?id_type={kind}", creates=creates)

    def ledger_entry(self, op: Op) -> tuple[bytes, bool]:
        segment, _, rest = (op.route or "").removeprefix("/api/v1/segments/").partition("/")
        action, _, query = rest.partition("?")
        removal = f"/api/v1/segments/{segment}/remove_customers?{query}"
        kind = query.removeprefix("id_type=")
        body = msgspec.json.encode(common.ledger_identifiers({kind: msgspec.json.decode(op.body)})[kind])
        return msgspec.json.encode([op.key, removal, body.decode()]), action == "remove_customers"

    def removal_op(self, text: bytes) -> Op:
        key, route, body = msgspec.json.decode(text)
        return Op(body.encode(), key, ordered=True, operation=self, route=route)
