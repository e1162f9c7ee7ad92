"""The operation registry: Customer.io operation name (Airbyte ``destination_object_name``) -> instance.

Adding an operation is one module under ``operations/`` plus one line in ``_ALL`` below.
"""

from __future__ import annotations

from .base import DiscoverEntry, Op, Operation, Rejection
from .object_delete import ObjectDelete
from .object_identify import ObjectIdentify
from .person_anonymous_event import PersonAnonymousEvent
from .person_delete import PersonDelete, PersonSuppress, PersonUnsuppress
from .person_device import PersonDevice
from .person_event import PersonEvent
from .person_identify import PersonIdentify
from .person_merge import PersonMerge
from .person_page import PersonPage, PersonScreen
from .relationship import Relationship
from .segment_membership import SegmentMembership

_ALL: tuple[Operation, ...] = (
    PersonIdentify(),
    PersonEvent(),
    PersonAnonymousEvent(),
    PersonPage(),
    PersonScreen(),
    PersonDelete(),
    PersonSuppress(),
    PersonUnsuppress(),
    PersonDevice(),
    PersonMerge(),
    ObjectIdentify(),
    ObjectDelete(),
    Relationship(),
    SegmentMembership(),
)

OPERATIONS: dict[str, Operation] = {operation.object_name: operation for operation in _ALL}


def discover_entries() -> list[DiscoverEntry]:
    """The ``operations`` of the ``discover`` answer, in registry order (``.to_json()`` each)."""
    return [entry for operation in _ALL for entry in operation.discover()]


__all__ = [
    "OPERATIONS", "DiscoverEntry", "Op", "Operation", "Rejection", "discover_entries",
]
