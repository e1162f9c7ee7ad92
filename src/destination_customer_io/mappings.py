"""`stream_mappings`, the config's stream -> operation map for catalogs without data activation: indexed,
checked against the configured catalog, and the hints that name a likely typo when a name matches nothing."""

from __future__ import annotations

from typing import Any, Sequence

from .config import StreamMapping
from .errors import ConfigurationError


def label(namespace: str | None, name: str) -> str:
    return f"{namespace}.{name}" if namespace else name


def _closest(name: str, candidates: list[str]) -> str:
    """The names among ``candidates`` closest to ``name`` (a typo's likely meaning), quoted, or ""."""
    import difflib  # only a mapping naming an unknown stream needs it: not loaded at every start

    return ", ".join(f"`{c}`" for c in difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.75))


def typo_hint(name: str, mapped: list[str]) -> str:
    """Point at a mapping whose stream name is close to this stream's: a typo in the mapping."""
    close = _closest(name, mapped)
    return f" (`stream_mappings` has {close}: a typo of `{name}`?)" if close else ""


def namespace_hint(mappings: dict[tuple[str | None, str], StreamMapping], name: str) -> str:
    """Point at a mapping for this stream name in another namespace: the likely mistake."""
    others = [label(namespace, stream) for namespace, stream in mappings if stream == name]
    return f" (`stream_mappings` has {', '.join(f'`{o}`' for o in others)}: check its namespace)" if others else ""


def index_mappings(
    mappings: Sequence[StreamMapping], operations: dict[str, Any]
) -> dict[tuple[str | None, str], StreamMapping]:
    """``stream_mappings`` by (namespace, stream); two entries for one stream or an unknown operation
    are config errors (a silently ignored entry would send records to the wrong place or nowhere)."""
    index: dict[tuple[str | None, str], StreamMapping] = {}
    for mapping in mappings:
        named = label(mapping.namespace, mapping.stream)
        if (mapping.namespace, mapping.stream) in index:
            raise ConfigurationError(f"`stream_mappings` maps stream `{named}` twice; keep one entry")
        if mapping.object not in operations:
            raise ConfigurationError(
                f"`stream_mappings` maps stream `{named}` to `{mapping.object}`, which is not a Customer.io "
                f"operation; use one of: {', '.join(sorted(operations))}"
            )
        index[(mapping.namespace, mapping.stream)] = mapping
    return index


def check_mapping_agrees(entry: dict[str, Any], mapping: StreamMapping, label: str) -> None:
    """On the platform the catalog names the operation too; the mapping's fields were written for its
    own ``object``, so two different answers cannot both be right."""
    chosen = entry.get("destination_object_name")
    if chosen and chosen != mapping.object:
        raise ConfigurationError(
            f"Stream `{label}` has destination_object_name `{chosen}` but its `stream_mappings` entry says "
            f"`{mapping.object}`; make them agree or remove the mapping"
        )


def check_mappings_used(
    mappings: dict[tuple[str | None, str], StreamMapping],
    used: set[tuple[str | None, str]],
    streams: dict[tuple[str | None, str], Any],
) -> None:
    """A mapping that matched no configured stream is most likely a typo in a stream name."""
    unused = [key for key in mappings if key not in used]
    if unused:
        present = ", ".join(f"`{label(*key)}`" for key in streams) or "none"
        close = _closest(unused[0][1], [name for _, name in streams])
        raise ConfigurationError(
            f"`stream_mappings` names stream `{label(*unused[0])}`, which is not in the configured catalog "
            f"(its streams: {present}); fix the name" + (f" (did you mean {close}?)" if close else "")
            + ", or remove the mapping if the stream is not in this sync"
        )


def mapped_timestamps(columns: frozenset[str], mapping: StreamMapping | None) -> frozenset[str]:
    """Timestamp-typed source columns under their mapped names: the field map renames columns before
    the operation converts them, so a renamed date column must stay a timestamp."""
    if mapping is None or not columns:
        return columns
    renamed = {source: target for target, source in mapping.fields.items() if isinstance(source, str)}
    return frozenset(renamed.get(column, column) for column in columns)
