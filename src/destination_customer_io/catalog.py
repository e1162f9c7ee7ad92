"""The configured catalog, resolved: each input stream bound to its Customer.io operation and settings.

Built once before the first record; the pipeline looks streams up by ``(namespace, name)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import values
from .config import Config, StreamMapping, read_json_file
from .errors import ConfigurationError
from .mappings import (check_mapping_agrees, check_mappings_used, index_mappings, label, mapped_timestamps,
                       namespace_hint, typo_hint)
from .operations.base import Operation
from .stream import SKIPPABLE, Stream, StreamCounts  # noqa: F401 - re-exported: the streams as catalog.py resolves them


def stream_key(streams: dict[tuple[str | None, str], Stream], namespace: str | None,
               name: str) -> tuple[str | None, str] | None:
    """The catalog key a record or state of (``namespace``, ``name``) belongs to: the exact key, else
    (when the input names a namespace) the catalog's namespace-less stream of that name; None when the
    catalog has neither. (The pipeline's hot path tries the exact key inline first.)"""
    if (namespace, name) in streams:
        return (namespace, name)
    if namespace and (None, name) in streams:
        return (None, name)
    return None


def find_stream(streams: dict[tuple[str | None, str], Stream], namespace: str | None, name: str) -> Stream | None:
    key = stream_key(streams, namespace, name)
    return None if key is None else streams[key]
# identifierType -> its record column (the matching keys discover offers for people)
IDENTIFIER_COLUMNS = {"email": "person_email", "id": "person_id", "cio_id": "person_cio_id"}
_IDENTIFIER_OF_COLUMN = {column: kind for kind, column in IDENTIFIER_COLUMNS.items()}


def identifier_from_primary_key(primary_key: Any, field_map: dict[str, Any], label: str) -> str | None:
    """The identifierType a stream's ``primary_key`` picks (``[["person_id"]]`` -> ``id``), or None when
    it names no identifier column. Keys name source columns where ``stream_mappings`` renames them."""
    if not isinstance(primary_key, list):
        return None
    renamed = {source: target for target, source in field_map.items() if isinstance(source, str)}
    found = []
    for path in primary_key:
        if isinstance(path, list) and len(path) == 1 and isinstance(path[0], str):
            kind = _IDENTIFIER_OF_COLUMN.get(renamed.get(path[0], path[0]))
            if kind is not None and kind not in found:
                found.append(kind)
    if len(found) > 1:
        columns = ", ".join(f"`{IDENTIFIER_COLUMNS[kind]}`" for kind in found)
        raise ConfigurationError(f"Stream `{label}`: its primary key names {columns}; a person is matched by one "
                          "identifier, so pick one of them as the matching key")
    return found[0] if found else None


def check_identifier_column(stream: Stream, needs: str | None) -> None:
    """Before anything is sent: a stream whose schema lists its columns must have the identifier column
    its operation will read, or every record would be rejected. ``needs`` is the operation's ``person``
    (``required``, ``or_anonymous``, None)."""
    properties = stream.json_schema.get("properties") if isinstance(stream.json_schema, dict) else None
    if not needs or not isinstance(properties, dict) or not properties:
        return
    target = IDENTIFIER_COLUMNS[stream.identifier_type]
    source = stream.field_map.get(target, target) if stream.field_map else target
    if not isinstance(source, str) or source in properties:
        return  # a constant, or present
    if needs == "or_anonymous" and stream.field_map.get("anonymous_id", "anonymous_id") in properties:
        return
    like = [name for name in properties if name in _IDENTIFIER_OF_COLUMN or name == "anonymous_id"
            or "email" in name.lower() or name.lower() == "id" or name.lower().endswith("_id")]
    raise ConfigurationError(
        f"Stream `{stream.label}` ({stream.operation.object_name}) identifies people by `{source}` "
        f"({stream.identifier_origin}), but its schema has no such column; identifier-like columns it has: "
        + (", ".join(f"`{name}`" for name in like) or "none")
        + ". Map the right column to it, pick another matching key, or set identifierType."
    )


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
        raise ConfigurationError("The configured catalog must be an object with a `streams` list")
    return raw


# --- resolution: the configured catalog + stream_mappings -> one Stream per stream ------------------

def resolve_streams(config: Config, catalog: dict[str, Any]) -> dict[tuple[str | None, str], Stream]:
    """Bind each configured stream to its operation; a stream we cannot place is a config error."""
    from .operations import OPERATIONS

    mappings = index_mappings(config.stream_mappings, OPERATIONS)
    repeats = values.RepeatWindow()  # one window for the sync: ids of different streams never collide
    used: set[tuple[str | None, str]] = set()
    streams: dict[tuple[str | None, str], Stream] = {}
    for entry in catalog["streams"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("stream"), dict):
            raise ConfigurationError("Every configured stream needs a `stream` object")
        info = entry["stream"]
        name, namespace = info.get("name"), info.get("namespace")
        if not isinstance(name, str):
            raise ConfigurationError("A configured stream has no `name`")
        mapping = mappings.get((namespace, name)) or mappings.get((None, name))
        if mapping is not None:
            used.add((mapping.namespace, mapping.stream))
            check_mapping_agrees(entry, mapping, label(namespace, name))
        operation, mode = _operation_of(entry, mapping, mappings, namespace, name, OPERATIONS)
        schema = info.get("json_schema") if isinstance(info.get("json_schema"), dict) else {}
        field_map = dict(mapping.fields) if mapping else {}
        keyed = identifier_from_primary_key(entry.get("primary_key"), field_map, label(namespace, name)) \
            if operation.person else None
        stream = Stream(
            name=name,
            namespace=namespace,
            operation=operation,
            destination_sync_mode=mode,
            config=config,
            json_schema=schema,
            primary_key=entry.get("primary_key"),
            generation_id=entry.get("generation_id"),
            sync_id=entry.get("sync_id"),
            timestamp_fields=mapped_timestamps(timestamp_columns(schema), mapping)
            if config.convert_timestamps else frozenset(),
            field_map=field_map,
            identifier_type=keyed or config.identifierType,
            identifier_origin=f"the stream's primary key `{_source_column(field_map, IDENTIFIER_COLUMNS[keyed])}`"
            if keyed else "",
            repeats=repeats,
        )
        check_identifier_column(stream, operation.person)
        streams[(namespace, name)] = stream
    check_mappings_used(mappings, used, streams)
    return streams


def _source_column(field_map: dict[str, Any], field: str) -> str:
    """The source column the user named for operation field ``field`` (messages name what they know)."""
    source = field_map.get(field)
    return source if isinstance(source, str) else field


def _operation_of(entry: dict[str, Any], mapping: StreamMapping | None,
                  mappings: dict[tuple[str | None, str], StreamMapping], namespace: str | None, name: str,
                  operations: dict[str, Operation]) -> tuple[Operation, str]:
    """The stream's operation (the catalog's destination_object_name, else its mapping's, else its
    name) and sync mode; an unknown operation or a mode it does not implement is a config error."""
    object_name = entry.get("destination_object_name") or (mapping.object if mapping else None) or name
    operation = operations.get(object_name)
    if operation is None:
        raise ConfigurationError(
            f"Stream `{label(namespace, name)}` maps to no Customer.io operation (`{object_name}`): set its "
            f"destination_object_name or a `stream_mappings` entry to one of: {', '.join(sorted(operations))}"
            + (namespace_hint(mappings, name) or typo_hint(name, [stream for _, stream in mappings]))
        )
    mode = str(entry.get("destination_sync_mode") or "append")
    _check_mode(mode, operation, label(namespace, name), activation=bool(entry.get("destination_object_name")))
    return operation, mode


# How a warehouse destination would write the stream: what catalogs without data activation carry
# (PyAirbyte sends append_dedup for a stream with a primary key, overwrite for a replace). They ask an
# operation for nothing, so they mean its first mode.
_WAREHOUSE_MODES = frozenset({"append", "append_dedup", "overwrite"})


def _check_mode(mode: str, operation: Operation, label: str, *, activation: bool) -> None:
    """A data-activation stream (it names its destination_object_name) asks for one of the modes the
    operation implements (``append`` means its first); any stream may ask for ``update`` or
    ``soft_delete`` only where the operation has it. Refused up front rather than every record."""
    if mode in operation.sync_modes or mode == "append" or (not activation and mode in _WAREHOUSE_MODES):
        return
    raise ConfigurationError(
        f"Stream `{label}` asks for sync mode `{mode}`, which `{operation.object_name}` does not support "
        f"(it supports: {', '.join(operation.sync_modes)})"
    )
