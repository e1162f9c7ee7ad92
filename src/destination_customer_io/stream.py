"""A configured stream as the operations read it: a frozen spec, and the objects that own what changes.

    Stream         frozen: name, namespace, operation, sync mode, config, identifier, field map,
                   timestamp columns (catalog.py resolves them once, before the first record)
    StreamCounts   what a sync counts of the stream (records read, rejections by reason, values changed
                   to fit, repeated derived ids): written through its methods only
    caches         the derived ids' buffer (values.RecordIds), the sync's repeated-id window
                   (values.RepeatWindow) and the ids built since it last checked them, the attribute
                   names known short: each written by its owner's methods, never assigned

It sits below the operations (they read it) and names their contract as a protocol, so no module here
imports one above it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from . import values
from .config import Config
from .reasons import Rejection

SHORT_NAMES_KEPT = 10_000
SKIPPABLE = frozenset({"person_identify", "object_identify"})  # what skip_unchanged applies to


class StreamOperation(Protocol):
    """What a stream needs of its operation (operations/base.py ``Operation`` is one)."""

    object_name: str
    sync_modes: tuple[str, ...]
    person: str | None

    def build(self, data: dict[str, Any], stream: Stream) -> Any: ...

    def removal_op(self, text: bytes) -> Any: ...


class StreamCounts:
    """What one sync counted of one stream, for states, guards and the summary."""

    __slots__ = ("records_read", "rejected", "changed", "first_messages", "repeated_ids")

    def __init__(self) -> None:
        self.records_read = 0
        self.rejected: Counter = Counter()  # rejections by reason code
        # Attribute values changed to fit Customer.io's limits (oversized_attributes drop/truncate), by
        # Airbyte change type: NULLED (dropped), TRUNCATED.
        self.changed: Counter = Counter()
        self.first_messages: dict[str, str] = {}  # the first message of each reason (quoted by guards)
        # Derived event ids that repeated one already sent in this sync (identical records; counted in
        # a window shared by every stream of the sync, see values.RepeatWindow).
        self.repeated_ids = 0

    def read(self, count: int = 1) -> None:
        self.records_read += count

    def reject(self, rejection: Rejection) -> None:
        self.rejected[rejection.reason] += 1
        if rejection.reason not in self.first_messages:
            self.first_messages[rejection.reason] = rejection.message

    def change(self, changes: Iterable[dict[str, str]]) -> None:
        self.changed.update(change.get("change", "CHANGED") for change in changes)

    def repeat(self, count: int = 1) -> None:
        self.repeated_ids += count


@dataclass(frozen=True, slots=True)
class Stream:
    """One configured stream and everything an operation needs to map its records."""

    name: str
    namespace: str | None
    operation: StreamOperation
    destination_sync_mode: str
    config: Config
    json_schema: dict[str, Any] = field(default_factory=dict)
    primary_key: list[list[str]] | None = None
    generation_id: int | None = None
    sync_id: int | None = None
    # How people are identified on this stream: the identifier column its primary key names (the
    # matching key the user picked), else the config's identifierType; "" = derive in __post_init__.
    identifier_type: str = ""
    identifier_origin: str = ""  # for messages: "identifierType `email`" or "the stream's primary key"
    # Columns whose schema says they hold a timestamp (format date-time / airbyte_type timestamp_*).
    timestamp_fields: frozenset[str] = frozenset()
    # operation field <- source column (or {"const": v}); empty when records already carry the names.
    field_map: dict[str, Any] = field(default_factory=dict)
    counts: StreamCounts = field(default_factory=StreamCounts, repr=False, compare=False)
    repeats: values.RepeatWindow = field(default_factory=values.RepeatWindow, repr=False, compare=False)
    # Derived ids built since they were last checked against ``repeats`` (``count_repeats``, once a chunk):
    # one append per event instead of a call (docs/performance.md).
    new_ids: list[str] = field(default_factory=list, repr=False, compare=False)
    # The stream's part of every record id, encoded once (values.id_seed), and the derived ids' own
    # buffer that starts with it (values.RecordIds).
    id_seed: bytes = field(init=False, repr=False, compare=False)
    record_ids: values.RecordIds = field(init=False, repr=False, compare=False)
    # Attribute names already seen short enough for any name limit: a subset test of a record's names
    # against it is cheaper than measuring each name again (docs/performance.md). Bounded by
    # SHORT_NAMES_KEPT; added to by ``remember_short_names`` only.
    short_names: set[str] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        seed = values.id_seed(self.name, self.namespace)
        object.__setattr__(self, "id_seed", seed)  # derived once, as the spec is made
        object.__setattr__(self, "record_ids", values.RecordIds(seed))
        if not self.identifier_type:
            object.__setattr__(self, "identifier_type", self.config.identifierType)
        if not self.identifier_origin:
            object.__setattr__(self, "identifier_origin", f"identifierType `{self.identifier_type}`")

    def count_repeats(self) -> int:
        """The derived ids built since the last call checked against the sync's window, their repeats
        counted; the stream's repeats so far."""
        if self.new_ids:
            self.counts.repeat(self.repeats.count(self.new_ids))
            self.new_ids.clear()
        return self.counts.repeated_ids

    def remember_short_names(self, names: Any) -> None:
        if len(self.short_names) < SHORT_NAMES_KEPT:
            self.short_names.update(names)

    @property
    def mirror(self) -> bool:
        """``overwrite`` on a set-like operation: Customer.io follows the stream, removals included."""
        return self.destination_sync_mode == "overwrite" and "overwrite" in self.operation.sync_modes

    @property
    def creates_people(self) -> bool:
        """``create_missing_people``, whose default is on for mirror streams (a mirror promises that the
        segment equals the table) and off otherwise."""
        setting = self.config.create_missing_people
        return self.mirror if setting is None else setting

    @property
    def skips_unchanged(self) -> bool:
        return self.config.skip_unchanged and self.operation.object_name in SKIPPABLE

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name
