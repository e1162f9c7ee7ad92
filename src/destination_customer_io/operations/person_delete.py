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
from .base import Op, Operation, Who

if TYPE_CHECKING:
    from ..stream import Stream
    from ..reasons import Rejection


class _WholePerson(Operation):
    """An action on a person with no other fields (``append``: each row is one action)."""

    sync_modes = ("append",)
    json_schema = {"type": "object", "additionalProperties": True,
                   "properties": {field: {"type": "string"} for field in sorted(common.PERSON_FIELDS)}}
    person = "required"
    idempotent = True  # deleting twice is deleting once
    action: ClassVar[str]

    def op(self, data: dict[str, Any], who: Who, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        return self.encoded({"type": "person", "action": self.action, "identifiers": who[0]}, who[1])


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
