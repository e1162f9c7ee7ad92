"""Strict-contract mode: every request checked against Customer.io's published Track API document.

The document is ``published/customer-io-track-api-openapi.json``, a verbatim copy (source and date in
the README beside it). It is OpenAPI 3.1, whose schemas are JSON Schema 2020-12, so ``jsonschema``
checks request bodies and parameters against them as written; its ``$ref``s resolve inside the
document. What is checked, for a request on a Track route:

- the path and method are an operation of the document, its path and query parameters fit their
  schemas (required ones present; a path or query value is read as an integer where the schema says
  integer, as OpenAPI's "simple" and "form" styles do);
- ``Authorization`` is HTTP Basic (the document's only security scheme); a request with a body sends
  ``Content-Type: application/json`` (the only media type the document declares);
- the body fits the operation's ``requestBody`` schema; a ``/api/v2/batch`` body is checked as its
  wrapper, then entry by entry (``entry_refusal``), so a refused entry is a 207 for that entry alone.

``format`` is an annotation in JSON Schema 2020-12; only the document's ``ulid`` / ``ULID`` (event
``id``s) are asserted, as the ULID spec defines them. Deviations the connector keeps on purpose are
allowed by name in ``ALLOWED_DEVIATIONS`` (each with its reason and evidence), never by changing the
document: an entry the document refuses is accepted only if one named deviation applies to it and the
entry, rewritten as that deviation says, fits the document.

``jsonschema`` is imported here only: the emulator needs it only in strict mode (the ``contract``
extra), and the connector never.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

DOCUMENT = Path(__file__).parent / "published" / "customer-io-track-api-openapi.json"
BATCH_PATH = "/api/v2/batch"
ENTITY_PATH = "/api/v2/entity"
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}")
_METHODS = ("get", "put", "post", "delete", "patch")
_BASE = "urn:customer-io:track-api"  # the document's URI in the validators' registry


@dataclass(frozen=True)
class Refusal:
    """Why the document refuses a request: the field (a JSON path, a parameter or a header) and a message."""

    field: str
    message: str


@dataclass(frozen=True)
class Deviation:
    """A request shape the document refuses that the connector sends on purpose, with its evidence."""

    name: str
    reason: str
    evidence: str
    applies: Callable[[Any], bool]
    as_documented: Callable[[dict[str, Any]], dict[str, Any]]


def _anonymous_identifiers(entry: Any) -> bool:
    identifiers = entry.get("identifiers") if isinstance(entry, dict) else None
    return (isinstance(identifiers, dict) and list(identifiers) == ["anonymous_id"]
            and isinstance(identifiers["anonymous_id"], str))


def _with_id_identifier(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "identifiers": {"id": entry["identifiers"]["anonymous_id"]}}


V2_ANONYMOUS_IDENTIFIERS = Deviation(
    name="v2-anonymous-identifiers",
    reason="a v2 batch entry about a visitor known only by an anonymous id names them as "
           '`"identifiers": {"anonymous_id": ...}`, which the document\'s identifiers `oneOf` '
           "(id, email, phone, cio_id) lacks",
    evidence="Customer.io's own Segment destination sends exactly this: segmentio/action-destinations, "
             "packages/destination-actions/src/destinations/customerio/utils.ts (`resolveIdentifiers` "
             "returns `{ anonymous_id }` when a payload has no person id or email, `buildPayload` sends it "
             "as `identifiers`, `sendBatch` posts `{ batch }` to `/api/v2/batch`, v2 per versioning-info.ts)",
    applies=_anonymous_identifiers,
    as_documented=_with_id_identifier,  # the same entry, its visitor named as a documented identifier
)

ALLOWED_DEVIATIONS: tuple[Deviation, ...] = (V2_ANONYMOUS_IDENTIFIERS,)


class Contract:
    """The published document, compiled into validators per operation."""

    def __init__(self, document: dict[str, Any]) -> None:
        from jsonschema import Draft202012Validator, FormatChecker  # the contract extra (docstring)
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.document = document
        registry = Registry().with_resource(_BASE, Resource.from_contents(document, default_specification=DRAFT202012))
        formats = FormatChecker(formats=())
        for name in ("ulid", "ULID"):
            formats.checks(name)(lambda value: not isinstance(value, str) or _ULID.fullmatch(value) is not None)

        def compile_(pointer: str) -> Any:
            # By reference, so the schema's own "#/components/..." refs resolve inside the document.
            return Draft202012Validator({"$ref": f"{_BASE}#{pointer}"}, registry=registry, format_checker=formats)

        self._compile = compile_
        self._routes = [(_template(path), path) for path in document["paths"]]
        batch = _body_pointer(BATCH_PATH, "post")
        self._entry = compile_(batch + "/properties/batch/items")
        # The wrapper alone (its entries are checked one by one): the batch schema without "items".
        wrapper = self._resolve({"$ref": "#" + batch})
        plain = {**wrapper, "properties": {"batch": {k: v for k, v in wrapper["properties"]["batch"].items()
                                                     if k != "items"}}}
        self._batch_wrapper = Draft202012Validator(plain, format_checker=formats)
        self._validators: dict[str, Any] = {}
        self._kinds = self._entry_kinds(batch + "/properties/batch/items")

    # --- requests ---

    def request_refusal(self, method: str, path: str, query: Mapping[str, str],
                        headers: Mapping[str, str], body: bytes) -> Refusal | None:
        """Why the document refuses this request (a ``/api/v2/batch`` body: only its wrapper), or None."""
        found = self._operation(method, path)
        if isinstance(found, Refusal):
            return found
        operation, parameters, path_values, template = found
        refused = self._parameters(parameters, path_values, query)
        if refused is not None:
            return refused
        if operation.get("security", [{"Tracking-API-Key": []}]) and not (
                headers.get("Authorization", "").startswith("Basic ")):
            return Refusal("Authorization", "the Track API takes HTTP Basic credentials (site id, API key)")
        media = (operation.get("requestBody") or {}).get("content", {})
        if not body:
            return None
        if "application/json" not in media:
            return Refusal("body", f"{method} {path} takes no request body")
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return Refusal("Content-Type", f"the body must be sent as application/json, not {content_type or 'untyped'}")
        try:
            data = json.loads(body)
        except ValueError as exc:
            return Refusal("body", f"malformed JSON: {exc}")
        if path == BATCH_PATH:
            return _first_error(self._batch_wrapper, data)
        if path == ENTITY_PATH:  # one entity payload: what a batch entry is (named deviations included)
            return self.entry_refusal(data)
        return _first_error(self._validator(_body_pointer(template, method.lower())), data)

    def entry_refusal(self, entry: Any) -> Refusal | None:
        """Why the document refuses one entry of a ``/api/v2/batch`` body, unless a named deviation
        allows it; None when it fits."""
        if self._entry.is_valid(entry):
            return None
        for deviation in ALLOWED_DEVIATIONS:
            if deviation.applies(entry):
                entry = deviation.as_documented(entry)  # what is wrong besides the allowed deviation
                if self._entry.is_valid(entry):
                    return None
                break
        # The document's discriminator (type, action) names the one schema the entry means: its errors
        # say what is wrong, where the anyOf's would list every other kind of entry too.
        kind = (entry.get("type"), entry.get("action")) if isinstance(entry, dict) else None
        pointer = self._kinds.get(kind) if isinstance(kind, tuple) and all(isinstance(k, str) for k in kind) else None
        return _first_error(self._validator(pointer) if pointer else self._entry, entry) or Refusal(
            "body", "the entry fits none of the document's batch entries")

    def _entry_kinds(self, items: str) -> dict[tuple[str, str], str]:
        """(type, action) -> the JSON pointer of the batch-entry schema with those enums."""
        kinds: dict[tuple[str, str], str] = {}
        stack = [items]
        while stack:
            pointer = stack.pop()
            node = self._resolve({"$ref": "#" + pointer})
            for keyword in ("anyOf", "oneOf"):
                for i, branch in enumerate(node.get(keyword, ())):
                    stack.append(branch["$ref"].removeprefix("#") if "$ref" in branch else f"{pointer}/{keyword}/{i}")
            if "anyOf" in node or "oneOf" in node:
                continue
            for type_ in self._enum(node, "type"):
                for action in self._enum(node, "action"):
                    kinds[(type_, action)] = pointer
        return kinds

    def _enum(self, node: dict[str, Any], name: str) -> list[str]:
        node = self._resolve(node)
        found = list(node.get("properties", {}).get(name, {}).get("enum", ()))
        for part in node.get("allOf", ()):
            found += self._enum(part, name)
        return found

    # --- parts ---

    def _operation(self, method: str, path: str) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]], dict[str, str], str] | Refusal:
        for pattern, template in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            item = self.document["paths"][template]
            operation = item.get(method.lower())
            if operation is None or method.lower() not in _METHODS:
                return Refusal("path", f"{method} is not an operation of {template} in the published document")
            parameters = [self._parameter(p, f"{_escaped(template)}{where}/parameters/{i}")
                          for where, node in (("", item), ("/" + method.lower(), operation))
                          for i, p in enumerate(node.get("parameters", ()))]
            return operation, parameters, match.groupdict(), template
        return Refusal("path", f"{path} is not a path of the published document")

    def _parameters(self, parameters: list[tuple[str, dict[str, Any]]], path_values: Mapping[str, str],
                    query: Mapping[str, str]) -> Refusal | None:
        for pointer, parameter in parameters:
            where, name = parameter["in"], parameter["name"]
            given = path_values if where == "path" else query if where == "query" else None
            if given is None:
                continue  # header parameters: the document's only one (X-Workspace-Id) is optional
            if name not in given:
                if parameter.get("required"):
                    return Refusal(name, f"the {where} parameter {name} is required")
                continue
            schema = self._resolve(parameter.get("schema", {}))
            refused = _first_error(self._validator(pointer + "/schema"), _typed(given[name], schema))
            if refused is not None:
                return Refusal(name, f"the {where} parameter {name}: {refused.message}")
        return None

    def _parameter(self, node: dict[str, Any], pointer: str) -> tuple[str, dict[str, Any]]:
        """A parameter and the JSON pointer of where it is defined (its ``$ref`` target, if any)."""
        if "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
        return pointer, self._resolve(node)

    def _validator(self, pointer: str) -> Any:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = self._validators[pointer] = self._compile(pointer)
        return validator

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                key = part.replace("~1", "/").replace("~0", "~")
                target = target[int(key)] if isinstance(target, list) else target[key]
            node = target
        return node


def _escaped(template: str) -> str:
    """The JSON pointer of a path item (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return "/paths/" + template.replace("~", "~0").replace("/", "~1")


def _body_pointer(template: str, method: str) -> str:
    return f"{_escaped(template)}/{method}/requestBody/content/application~1json/schema"


def _template(path: str) -> re.Pattern[str]:
    """``/api/v1/segments/{segment_id}/add_customers`` -> a pattern with a group per parameter."""
    parts = re.split(r"\{(\w+)\}", path)
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(pattern)


def _typed(value: str, schema: dict[str, Any]) -> Any:
    """A path or query value as OpenAPI reads it: an integer where the schema's type is integer."""
    if schema.get("type") == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if schema.get("type") == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _first_error(validator: Any, data: Any) -> Refusal | None:
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(data))
    if error is None:
        return None
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return Refusal(field or "body", error.message if len(error.message) <= 300 else error.message[:297] + "...")


@lru_cache(maxsize=1)
def load() -> Contract:
    """The published document's contract (parsed and compiled once per process)."""
    return Contract(json.loads(DOCUMENT.read_text(encoding="utf-8")))
