"""spec.json (what Airbyte users see, kept byte for byte) and the typed config (config.py, what the connector
applies) say the same thing, property by property and both ways: names, types, allowed values, defaults,
required keys and secrets. The spec is the one place for titles, descriptions, order and UI hints; the
typed config is the one place for behaviour; this test is what ties the two, and the configuration
reference of docs/customer-io.md to both.

The few places where they differ on purpose are listed below, each with its reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from destination_customer_io.config import Config, parse_config
from destination_customer_io.rawconfig import SAFETY_KEYS, connection_spec, secret_values

ROOT = Path(__file__).resolve().parents[2]

# Keys Airbyte's published spec (and so ours) requires that the connector can do without: it applies
# the default, so a config missing them still works.
SPEC_ONLY_REQUIRED = {
    "object_storage_config.S3": {"s3_bucket_region", "format"},
    "object_storage_config.S3.format.CSV": {"flattening"},
    "object_storage_config.Local.format.CSV": {"flattening"},
}
# A plain string in the typed config that the spec offers as a list to pick from (a new AWS region must
# not need a connector release to work from a JSON config).
SPEC_ONLY_ENUM = {"object_storage_config.S3.s3_bucket_region"}
# Defaults the typed config applies that the spec does not show: an empty list or map, or an object
# whose spec shows no default (Airbyte's spec shows none for these).
UNSHOWN_DEFAULTS = {"object_storage_config", "object_storage_config.S3.compression",
                    "object_storage_config.Local.compression", "stream_mappings", "stream_mappings[].fields"}

_SCALARS = {mi.StrType: "string", mi.BoolType: "boolean", mi.IntType: "integer", mi.FloatType: "number"}


def _without_none(t: mi.Type) -> mi.Type:
    if isinstance(t, mi.UnionType):
        kept = [member for member in t.types if not isinstance(member, mi.NoneType)]
        return kept[0] if len(kept) == 1 else mi.UnionType(tuple(kept))
    return t


def _branches(t: mi.Type) -> list[mi.StructType] | None:
    """The tagged structs of a union (``storage_type``, ``format_type``...), or None for anything else."""
    if isinstance(t, mi.UnionType) and all(isinstance(m, mi.StructType) for m in t.types):
        return list(t.types)
    return None


def _compare(schema: dict[str, Any], t: mi.Type, path: str) -> list[str]:
    """What differs between one spec property and the typed config's field at ``path``."""
    t = _without_none(t)
    problems: list[str] = []
    structs = _branches(t)
    if structs is not None:
        by_tag = {s.tag: s for s in structs}
        spec_branches = {b["properties"][structs[0].tag_field]["enum"][0]: b for b in schema["oneOf"]}
        if set(by_tag) != set(spec_branches):
            return [f"{path}: branches {sorted(spec_branches)} in the spec, {sorted(by_tag)} in the config"]
        for tag, branch in spec_branches.items():
            label = branch["title"].split(":")[0].split()[0]  # "Local directory" -> Local, "CSV: ..." -> CSV
            problems += _compare_struct(branch, by_tag[tag], f"{path}.{label}")
        return problems
    if isinstance(t, mi.StructType):
        return _compare_struct(schema, t, path)
    if isinstance(t, mi.ListType):
        if schema.get("type") != "array":
            return [f"{path}: a list in the config, {schema.get('type')} in the spec"]
        return _compare(schema["items"], t.item_type, f"{path}[]")
    if isinstance(t, mi.DictType):
        if schema.get("type") != "object" or "properties" in schema:
            problems.append(f"{path}: a free-form map in the config, not in the spec")
        return problems
    if isinstance(t, mi.LiteralType):
        # (msgspec reports the values sorted: the order users see is the spec's to choose)
        if schema.get("type") != "string" or set(schema.get("enum", ())) != set(t.values):
            problems.append(f"{path}: allows {list(t.values)} in the config, {schema.get('enum')} in the spec")
        return problems
    wanted = _SCALARS[type(t)]
    if schema.get("type") != wanted:
        problems.append(f"{path}: {wanted} in the config, {schema.get('type')} in the spec")
    if "enum" in schema and path not in SPEC_ONLY_ENUM:
        problems.append(f"{path}: the spec offers {schema['enum']}, the config takes any {wanted}")
    return problems


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _compare_struct(schema: dict[str, Any], t: mi.StructType, path: str) -> list[str]:
    properties = schema.get("properties", {})
    fields = {f.encode_name: f for f in t.fields}
    tag = {t.tag_field} if t.tag_field else set()
    problems = [f"{_at(path, name)}: in the spec, not in the config"
                for name in sorted(set(properties) - set(fields) - tag)]
    problems += [f"{_at(path, name)}: in the config, not in the spec" for name in sorted(set(fields) - set(properties))]
    if t.tag_field and properties.get(t.tag_field, {}).get("default") != t.tag:
        problems.append(f"{path}.{t.tag_field}: the spec's default is not the branch's tag {t.tag!r}")
    required_in_config = {name for name, f in fields.items() if f.required} | tag
    required_in_spec = set(schema.get("required", []))
    if required_in_spec - required_in_config != SPEC_ONLY_REQUIRED.get(path, set()):
        problems.append(f"{path}: the spec requires {sorted(required_in_spec - required_in_config)} beyond the "
                        "config (listed in SPEC_ONLY_REQUIRED?)")
    if required_in_config - required_in_spec:
        problems.append(f"{path}: the config requires {sorted(required_in_config - required_in_spec)}, "
                        "the spec does not")
    for name in sorted(set(fields) & set(properties)):
        problems += _compare(properties[name], fields[name].type, _at(path, name))
        problems += _compare_default(properties[name], fields[name], _at(path, name))
    return problems


def _compare_default(schema: dict[str, Any], f: mi.Field, path: str) -> list[str]:
    if f.required:
        return [f"{path}: a default in the spec, none in the config"] if "default" in schema else []
    default = f.default if f.default is not mi.NODEFAULT else f.default_factory()
    if isinstance(default, msgspec.Struct):  # an object's default is shown as its tag (format: "CSV")
        default = msgspec.to_builtins(default).get(type(default).__struct_config__.tag_field)
    if "default" in schema:
        shown = schema["default"]
        same = shown is default if isinstance(shown, bool) or isinstance(default, bool) else shown == default
        return [] if same else [f"{path}: default {shown!r} in the spec, {default!r} in the config"]
    if default is None or path in UNSHOWN_DEFAULTS:
        return []
    return [f"{path}: default {default!r} in the config, none shown in the spec"]


def test_spec_and_typed_config_agree_both_ways() -> None:
    assert _compare_struct(connection_spec(), mi.type_info(Config), "") == []


def _secret_paths(schema: dict[str, Any], path: str = "") -> set[str]:
    found = set()
    for name, node in schema.get("properties", {}).items():
        if node.get("airbyte_secret"):
            found.add(f"{path}{name}")
        found |= _secret_paths(node, f"{path}{name}.")
        for branch in node.get("oneOf", []):
            found |= _secret_paths(branch, f"{path}{name}.")
    return found


def test_secrets_are_the_same_in_the_spec_the_typed_config_and_the_raw_masking() -> None:
    """The spec marks what is secret (``airbyte_secret``); ``Config.secrets`` (the output scrubber) and
    ``rawconfig.secret_values`` (masking before validation) must find exactly those values."""
    assert _secret_paths(connection_spec()) == {
        "credentials.siteId", "credentials.apiKey",
        "object_storage_config.access_key_id", "object_storage_config.secret_access_key"}
    raw = {"credentials": {"siteId": "site-secret", "apiKey": "api-secret"},
           "object_storage_config": {"storage_type": "S3", "s3_bucket_name": "bucket-name",
                                     "bucket_path": "bucket-path", "s3_bucket_region": "us-east-1",
                                     "access_key_id": "key-id-secret", "secret_access_key": "key-secret",
                                     "role_arn": "arn:aws:iam::1:role/r", "s3_endpoint": "http://127.0.0.1:1"},
           "ledger_scope": "scope-name", "track_api_base_url": "http://127.0.0.1:2"}
    secrets = {"site-secret", "api-secret", "key-id-secret", "key-secret"}
    config = parse_config(raw)
    assert set(config.secrets()) == secrets
    assert set(secret_values(raw)) == secrets
    assert not any(secret in repr(config) for secret in secrets)


def test_safety_keys_are_spec_properties_and_config_fields() -> None:
    properties = connection_spec()["properties"]
    for key in SAFETY_KEYS:
        assert key in properties and key in Config.__struct_fields__, key


def _reference_rows() -> dict[str, str]:
    """docs/customer-io.md's configuration reference: field -> its default cell (both tables)."""
    text = (ROOT / "docs" / "customer-io.md").read_text(encoding="utf-8")
    section = text.split("## Configuration reference", 1)[1].split("### Stream mappings", 1)[0]
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `([\w.]+)` \| ([^|]+) \|", section, re.M)}


def _documented(cell: str, expected: Any) -> Any:
    if cell == "required":
        return msgspec.NODEFAULT
    if cell.startswith(("unset", "none")):
        return None
    text = cell.strip("`")
    if isinstance(expected, str):  # `null` is the word null_values takes, not JSON's null
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@pytest.mark.parametrize("name", [f for f in Config.__struct_fields__ if f != "credentials"]
                         + ["credentials.siteId", "credentials.apiKey"])
def test_the_configuration_reference_documents_each_field_with_its_default(name: str) -> None:
    rows = _reference_rows()
    assert name in rows, f"docs/customer-io.md#configuration-reference lacks `{name}`"
    owner, _, leaf = name.rpartition(".")
    info = mi.type_info(Config)
    struct = next(f.type for f in info.fields if f.name == owner) if owner else info
    field = next(f for f in struct.fields if f.name == leaf)
    expected = msgspec.NODEFAULT if field.required else (
        field.default if field.default is not mi.NODEFAULT else field.default_factory())
    if isinstance(expected, msgspec.Struct):
        expected = msgspec.to_builtins(expected)
    documented = _documented(rows[name], expected)
    assert documented == expected and type(documented) is type(expected) or \
        isinstance(expected, float) and documented == expected, (name, rows[name])


def test_the_configuration_reference_names_only_fields_and_hides_what_the_spec_hides() -> None:
    rows = _reference_rows()
    fields = set(Config.__struct_fields__) - {"credentials"} | {"credentials.siteId", "credentials.apiKey"}
    assert set(rows) == fields
    text = (ROOT / "docs" / "customer-io.md").read_text(encoding="utf-8")
    hidden_table = text.split("Hidden settings", 1)[1].split("### Stream mappings", 1)[0]
    documented_hidden = set(re.findall(r"^\| `(\w+)` \|", hidden_table, re.M))
    spec_hidden = {name for name, node in connection_spec()["properties"].items() if node.get("airbyte_hidden")}
    assert documented_hidden == spec_hidden
