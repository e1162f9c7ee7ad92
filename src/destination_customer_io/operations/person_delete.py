"""person_delete, person_suppress, person_unsuppress: one record -> one op on the whole person.

    {"type":"person","action":"delete"|"suppress"|"unsuppress","identifiers":{"email":..}}

delete removes the person (a later identify can re-create them); suppress deletes them and blocks
their identifiers from ever being re-created; unsuppress frees the identifiers again. Only the
identifier column is read; every other column is ignored. The ops are ``ordered`` and keyed by the
person, so an identify before a delete in the input is applied before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from . import common
from ..reasons import Rejection
from .base import DiscoverEntry, Op, Operation

if TYPE_CHECKING:
    from ..catalog import Stream


class _WholePerson(Operation):
    """An action on a person with no other fields (``append``: each row is one action)."""

    sync_modes = ("append",)
    person = "required"
    action: ClassVar[str]

    def discover(self) -> list[DiscoverEntry]:
        schema = {"type": "object", "additionalProperties": True,
                  "properties": {field: {"type": "string"} for field in sorted(common.PERSON_FIELDS)}}
        return [DiscoverEntry(self.object_name, "append", schema)]

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        person = common.person_identifier(data, stream)
        if isinstance(person, Rejection):
            return person
        body = common.encode({"type": "person", "action": self.action, "identifiers": person[0]})
        if isinstance(body, Rejection):
            return body
        return Op(body, person[1], ordered=True, operation=self)

    def merge(self, earlier: Op, later: Op) -> Op | None:
        return common.fold_identical(earlier, later)  # deleting twice is deleting once


class PersonDelete(_WholePerson):
    """Delete a person."""

    object_name = "person_delete"
    action = "delete"


class PersonSuppress(_WholePerson):
    """Delete a person and keep their identifiers from being re-created."""

    object_name = "person_suppress"
    action = "suppress"


class PersonUnsuppress(_WholePerson):
    """Allow a suppressed person's identifiers again."""

    object_name = "person_unsuppress"
    action = "unsuppress"
