"""The state of one emulated workspace: people and their indexes, events, objects, relationships,
devices, manual segments, suppressions, counters and "notices" (the silent failures Customer.io does not
report in the response, such as an Attribute Update Failure).

This module only stores and looks up; `apply.py` decides what each operation does to the state.
"""

from __future__ import annotations

import collections
from typing import Any, NamedTuple

from .config import WorkspaceConfig

NOTICES_KEPT = 1_000
# Identifier kinds a person can be looked up by; email is case-insensitive, the others are exact.
LOOKUP_KINDS = ("id", "email", "cio_id", "phone")

IdentKey = tuple[str, str]  # (kind, normalised value)
PersonKey = tuple[str, str]  # ("cio", cio_id) or ("anon", anonymous_id): a relationship's person side
ObjectKey = tuple[str, str]  # (object_type_id, object_id)


def ident_key(kind: str, value: Any) -> IdentKey:
    text = str(value)
    return (kind, text.lower() if kind == "email" else text)


class Person:
    """One person profile. Identifiers live beside the attributes, not inside them."""

    __slots__ = (
        "cio_id",
        "id",
        "email",
        "phone",
        "attributes",
        "attribute_timestamps",
        "devices",
        "invalid_timestamp",
    )

    def __init__(self, cio_id: str) -> None:
        self.cio_id = cio_id
        self.id: str | None = None
        self.email: str | None = None
        self.phone: str | None = None
        self.attributes: dict[str, Any] = {}
        # Per attribute: the timestamp of the op that last set it (an older op never overwrites it).
        self.attribute_timestamps: dict[str, float] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.invalid_timestamp = False

    def ident_keys(self) -> list[IdentKey]:
        keys = [("cio_id", self.cio_id)]
        for kind in ("id", "email", "phone"):
            value = getattr(self, kind)
            if value is not None:
                keys.append(ident_key(kind, value))
        return keys


class Event(NamedTuple):
    """A stored event, page, screen or delivery event: the field names of the plain tuples kept in
    `Workspace.events` (read them with `Event._make(raw)`).

    Stored as exact tuples on purpose: once a tuple holds only atoms and atom-only dicts, CPython's GC
    stops tracking it (it never does that for tuple subclasses), so millions of stored events do not
    slow every full collection down.
    """

    kind: str
    name: str
    id: str | None
    timestamp: int
    data: Any
    identifiers: Any
    cio_id: str | None
    anonymous_id: str | None
    invalid_timestamp: bool
    received_at: float


def new_counters() -> dict[str, Any]:
    return {
        "requests": 0,
        "ops": 0,
        "ops_rejected": 0,
        "bytes_received": 0,
        "status": {},
        "duplicates": 0,
        "invalid_timestamps": 0,
        "attribute_update_failures": 0,
        "update_only_skipped": 0,
        "suppressed_ignored": 0,
        "person_not_found": 0,
        "merge_failures": 0,
        "redirects": 0,
    }


class Workspace:
    """All state of one workspace. `reset()` empties it (the config stays)."""

    def __init__(self, config: WorkspaceConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.people: dict[str, Person] = {}
        self.index: dict[IdentKey, Person] = {}  # every identifier of every person, cio_id included
        self.events: list[tuple[Any, ...]] = []  # Event fields, as exact tuples
        self.event_ids: set[str] = set()
        self.device_owner: dict[str, str] = {}  # device token -> cio_id
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.relationships: dict[tuple[PersonKey, ObjectKey], dict[str, Any]] = {}
        self.segments: dict[str, dict[str, None]] = {}  # segment id -> ordered set of cio_ids
        self.suppressed: dict[IdentKey, int] = {}  # identifier -> suppression group
        self.suppression_groups: dict[int, list[IdentKey]] = {}
        self.counters: dict[str, Any] = new_counters()
        self.notices: collections.deque[dict[str, Any]] = collections.deque(maxlen=NOTICES_KEPT)
        self._next_cio = 0
        self._next_group = 0

    # --- counters and notices ---

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def count_status(self, status: int) -> None:
        by_status = self.counters["status"]
        key = str(status)
        by_status[key] = by_status.get(key, 0) + 1

    def notice(self, counter: str, message: str, **details: Any) -> None:
        """Record a silent failure: the request still answered 200, as Customer.io's does."""
        self.counters[counter] += 1
        self.notices.append({"kind": counter, "message": message, **details})

    # --- people ---

    def find(self, kind: str, value: Any) -> Person | None:
        return self.index.get(ident_key(kind, value))

    def create_person(self) -> Person:
        self._next_cio += 1
        # Short lowercase hex like Customer.io's cio_ids; deterministic so tests can predict them.
        person = Person(format(0xA0000000 + self._next_cio, "x"))
        self.people[person.cio_id] = person
        self.index[("cio_id", person.cio_id)] = person
        return person

    def set_identifier(self, person: Person, kind: str, value: Any) -> None:
        """Give `person` a new id/email/phone (None removes it), keeping the index in step."""
        old = getattr(person, kind)
        if old is not None:
            self.index.pop(ident_key(kind, old), None)
        if value is None:
            setattr(person, kind, None)
            return
        text = str(value)
        setattr(person, kind, text)
        self.index[ident_key(kind, text)] = person

    def remove_person(self, person: Person) -> None:
        for key in person.ident_keys():
            if self.index.get(key) is person:
                del self.index[key]
        self.people.pop(person.cio_id, None)
        for token in person.devices:
            if self.device_owner.get(token) == person.cio_id:
                del self.device_owner[token]
        for members in self.segments.values():
            members.pop(person.cio_id, None)
        person_key = ("cio", person.cio_id)
        for rel_key in [k for k in self.relationships if k[0] == person_key]:
            del self.relationships[rel_key]

    # --- suppression ---

    def is_suppressed(self, kind: str, value: Any) -> bool:
        return bool(self.suppressed) and ident_key(kind, value) in self.suppressed

    def suppress(self, keys: list[IdentKey]) -> None:
        self._next_group += 1
        self.suppression_groups[self._next_group] = keys
        for key in keys:
            self.suppressed[key] = self._next_group

    def unsuppress(self, key: IdentKey) -> bool:
        group = self.suppressed.get(key)
        if group is None:
            return False
        for member in self.suppression_groups.pop(group, []):
            self.suppressed.pop(member, None)
        return True
