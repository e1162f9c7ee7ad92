"""A decoded config.json read against the spec, before (and whatever) the typed parse says about it.

Three questions the typed config cannot answer: which keys the spec does not know (a typo such as
``identifier_type`` would otherwise be ignored: the spec allows extra keys, configs from other versions
carry some), which values the spec marks ``airbyte_secret`` (masked in every message, even when the
config fails validation), and which values a field allows (for an error message).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterator


@dataclass(frozen=True, slots=True)
class UnknownKey:
    path: str  # dotted, e.g. ``object_storage_config.bucket_paht``
    suggestion: str | None  # the closest key the spec knows at that place

    def describe(self) -> str:
        hint = f" (did you mean `{self.suggestion}`?)" if self.suggestion else ""
        return f"`{self.path}`{hint}"


def connection_spec() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("spec.json").read_text(encoding="utf-8")
    return json.loads(text)["connectionSpecification"]


def unknown_keys(raw: Any, spec: dict[str, Any] | None = None) -> list[UnknownKey]:
    """Keys of ``raw`` that no spec property names, at every level the spec describes."""
    return [UnknownKey(f"{path}.{key}" if path else key, _closest(key, list(node["properties"])))
            for path, node, value in _objects(raw, spec or connection_spec())
            for key in value if key not in node["properties"]]


def unknown_keys_sentence(found: list[UnknownKey]) -> str:
    return ("Unknown config keys, ignored: " if len(found) > 1 else "Unknown config key, ignored: ") + \
        ", ".join(key.describe() for key in found) + "."


def secret_values(raw: Any, spec: dict[str, Any] | None = None) -> list[str]:
    """The values at ``airbyte_secret`` properties, as text (an integer key is still a secret)."""
    found: list[str] = []
    for _path, node, value in _objects(raw, spec or connection_spec()):
        properties = node["properties"]
        for key, secret in value.items():
            # a secret under a misspelt name (`api_key`) is a secret all the same
            name = key if key in properties else _closest(key, list(properties))
            schema = properties.get(name) if name else None
            if isinstance(schema, dict) and schema.get("airbyte_secret") and \
                    isinstance(secret, (str, int, float)) and not isinstance(secret, bool):
                found.append(str(secret))
    return [s for s in found if s.strip()]


def allowed_values(raw: Any, path: str, spec: dict[str, Any] | None = None) -> list[Any]:
    """The enum values the spec allows at ``path`` (dotted), following the ``oneOf`` branch ``raw``
    takes; for a branch's discriminator (``storage_type``...), every branch's value."""
    node, value = spec or connection_spec(), raw
    *parents, last = path.split(".")
    for key in parents:
        node = (node.get("properties") or {}).get(key) or {}
        value = value.get(key) if isinstance(value, dict) else None
        node = _branch(node, value) or node
    candidates = [node, *[b for b in node.get("oneOf") or () if isinstance(b, dict)]]
    allowed: list[Any] = []
    for candidate in candidates:
        for option in ((candidate.get("properties") or {}).get(last) or {}).get("enum") or ():
            if option not in allowed:
                allowed.append(option)
    return allowed


# --- walking -----------------------------------------------------------------------------------------

def _objects(value: Any, node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every (dotted path, schema node with properties, the raw object it describes), depth first."""
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            yield from _objects(item, node["items"], f"{path}[{index}]")
        return
    if not isinstance(value, dict):
        return
    node = _branch(node, value) or node
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return  # free-form (stream_mappings' `fields`): any key is right
    yield path, node, value
    for name, schema in properties.items():
        if name in value and isinstance(schema, dict):
            yield from _objects(value[name], schema, f"{path}.{name}" if path else name)


def _branch(node: dict[str, Any], value: Any) -> dict[str, Any] | None:
    """The ``oneOf`` branch ``value`` selects: the one whose single-valued enum properties (the
    discriminator, e.g. ``storage_type``) all match."""
    if not isinstance(value, dict):
        return None
    for branch in node.get("oneOf") or ():
        tags = {name: schema["enum"][0] for name, schema in (branch.get("properties") or {}).items()
                if isinstance(schema, dict) and len(schema.get("enum") or ()) == 1}
        if tags and all(value.get(name) == tag for name, tag in tags.items()):
            return branch
    return None


def _closest(key: str, known: list[str]) -> str | None:
    found = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return found[0] if found else None
