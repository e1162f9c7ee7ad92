"""A decoded config.json read against the spec, before (and whatever) the typed parse says about it.

Three questions the typed config cannot answer: which keys the spec does not know (a typo such as
``identifier_type`` would otherwise be ignored: the spec allows extra keys, configs from other versions
carry some), which values the spec marks ``airbyte_secret`` (masked in every message, even when the
config fails validation), and which values a field allows (for an error message).

An unknown key is a warning, except a near miss of a safety key (``SAFETY_KEYS``): ignoring
``"dryrun": true`` would sync for real, so ``safety_typos`` makes it a config_error (the rule:
``near_miss``; docs/customer-io.md#configuration-reference).
"""

from __future__ import annotations

import json
import pkgutil
import re
from dataclasses import dataclass
from typing import Any, Iterator


@dataclass(frozen=True, slots=True)
class UnknownKey:
    path: str  # dotted, e.g. ``object_storage_config.bucket_paht``
    suggestion: str | None  # the closest key the spec knows at that place

    def describe(self) -> str:
        hint = f" (did you mean `{self.suggestion}`?)" if self.suggestion else ""
        return f"`{self.path}`{hint}"


# Keys whose silent absence makes a sync do what the user meant to prevent.
SAFETY_KEYS = ("dry_run", "max_mirror_removal_percent", "max_rejected_percent", "mirror_without_stream_status")


def safety_typos(found: list[UnknownKey]) -> str | None:
    """The config_error for unknown top-level keys that are near misses of a safety key, or None."""
    misses = [(key.path, [safe for safe in SAFETY_KEYS if near_miss(key.path, safe)]) for key in found
              if "." not in key.path]
    misses = [(path, meant) for path, meant in misses if meant]
    if not misses:
        return None
    named = "; ".join(f"`{path}` (did you mean {' or '.join(f'`{m}`' for m in meant)}?)" for path, meant in misses)
    return (f"Unknown config key{'s' if len(misses) > 1 else ''} close to a safety setting, so nothing was "
            f"sent: {named}. Ignoring it would sync without the safety it asks for: spell it as the spec does.")


def near_miss(key: str, safe: str) -> bool:
    """``key`` is meant as ``safe``: case aside, one edit away (insert, delete, substitute, swap two
    neighbours: ``dryrun``, ``dry-run``, ``max_rejected_precent``), or its words abbreviate ``safe``'s
    in order, keeping the first and last (``max_mirror_removal_pct``, ``max_rej_pct``,
    ``mirror_without_status``): each word starts as its word does and its letters follow in it."""
    lowered = key.lower()
    if _one_edit(lowered, safe):
        return True
    words, full = _words(key), safe.split("_")
    if len(words) < 2 or not _abbreviates(words[0], full[0]) or not _abbreviates(words[-1], full[-1]):
        return False
    rest = iter(full[1:-1])
    return all(any(_abbreviates(word, candidate) for candidate in rest) for word in words[1:-1])


def _words(key: str) -> list[str]:
    """``maxRejected-pct`` -> max, rejected, pct."""
    return [w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", key)]


def _abbreviates(word: str, full: str) -> bool:
    letters = iter(full[1:])
    return word[:1] == full[:1] and all(char in letters for char in word[1:])


def _one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein (optimal string alignment) distance exactly 1."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def connection_spec() -> dict[str, Any]:
    return json.loads(spec_text())["connectionSpecification"]


def spec_text() -> bytes:
    """The connector's spec.json, as packaged. ``pkgutil.get_data``, not ``importlib.resources.files``:
    the latter's readers import zipfile, ~2 MB of RSS at every start (docs/performance.md)."""
    data = pkgutil.get_data(__package__, "spec.json")
    if data is None:  # a loader that cannot read package data: not one Python installs with
        raise FileNotFoundError(f"{__package__}/spec.json")
    return data


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
    import difflib  # only a config with an unknown key needs it: not loaded at every start

    found = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return found[0] if found else None
