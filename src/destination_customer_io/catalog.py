"""The configured catalog, resolved: each input stream bound to its Customer.io operation and settings.

Built once before the first record; the pipeline looks streams up by ``(namespace, name)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import values
from .config import Config, ConfigError, read_json_file
from .operations.base import Operation


@dataclass(slots=True)
class Stream:
    """One configured stream and everything an operation needs to map its records."""

    name: str
    namespace: str | None
    operation: Operation
    destination_sync_mode: str
    config: Config
    json_schema: dict[str, Any] = field(default_factory=dict)
    primary_key: list[list[str]] | None = None
    generation_id: int | None = None
    sync_id: int | None = None
    # Columns whose schema says they hold a timestamp (format date-time / airbyte_type timestamp_*).
    timestamp_fields: frozenset[str] = frozenset()
    # operation field <- source column (or {"const": v}); empty when records already carry the names.
    field_map: dict[str, Any] = field(default_factory=dict)
    # Counted during write, for the summary: records read, and rejections by reason code.
    records_read: int = 0
    rejected: Counter = field(default_factory=Counter)
    # Attribute values changed to fit Customer.io's limits (oversized_attributes drop/truncate), by
    # Airbyte change type: NULLED (dropped), TRUNCATED.
    changed: Counter = field(default_factory=Counter)
    # The stream's part of every record id, encoded once (values.id_seed).
    id_seed: bytes = field(init=False, repr=False, compare=False)
    # Attribute names already seen short enough for any name limit: a subset test of a record's names
    # against it is ~2x cheaper than measuring each name again. Bounded by SHORT_NAMES_KEPT.
    short_names: set[str] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.id_seed = values.id_seed(self.name, self.namespace)

    def remember_short_names(self, names: Any) -> None:
        if len(self.short_names) < SHORT_NAMES_KEPT:
            self.short_names.update(names)

    @property
    def identifier_type(self) -> str:
        return self.config.identifierType

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


SHORT_NAMES_KEPT = 10_000
_TIMESTAMP_TYPES = {"timestamp_with_timezone", "timestamp_without_timezone"}


def timestamp_columns(json_schema: dict[str, Any]) -> frozenset[str]:
    """Top-level columns typed as timestamps by the stream's JSON schema (never guessed from values)."""
    props = json_schema.get("properties") if isinstance(json_schema, dict) else None
    if not isinstance(props, dict):
        return frozenset()
    found = set()
    for name, spec in props.items():
        if not isinstance(spec, dict):
            continue
        if spec.get("format") == "date-time" or spec.get("airbyte_type") in _TIMESTAMP_TYPES:
            found.add(name)
            continue
        for alt in spec.get("oneOf") or spec.get("anyOf") or ():
            if isinstance(alt, dict) and (
                alt.get("format") == "date-time" or alt.get("airbyte_type") in _TIMESTAMP_TYPES
            ):
                found.add(name)
                break
    return frozenset(found)


def load_catalog_json(path: str | Path) -> dict[str, Any]:
    raw = read_json_file(path, "Catalog")
    if not isinstance(raw, dict) or not isinstance(raw.get("streams"), list):
        raise ConfigError("The configured catalog must be an object with a `streams` list")
    return raw
