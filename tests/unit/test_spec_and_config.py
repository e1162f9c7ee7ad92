"""spec is a superset of Airbyte's Kotlin connector's spec; configs written for it validate unchanged;
bad configs fail with a message naming the field, as a TRACE config_error (or a FAILED check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from destination_customer_io.commands import spec_message
from destination_customer_io.config import S3Storage, parse_config
from destination_customer_io.errors import ConfigurationError

# What Airbyte's published spec for destination-customer-io (0.0.8) declares, property by property:
# path -> (type, enum, default, airbyte_secret). Recorded from its expected-spec-oss.json.
AIRBYTE_PROPERTIES: dict[str, tuple[str, list | None, Any, bool]] = {
    "credentials": ("object", None, None, False),
    "credentials.siteId": ("string", None, None, True),
    "credentials.apiKey": ("string", None, None, True),
    "identifierType": ("string", ["email", "id", "cio_id"], "email", False),
}
AIRBYTE_S3_PROPERTIES: dict[str, tuple[str | None, list | None, Any, bool]] = {
    "storage_type": ("string", ["S3"], "S3", False),
    "access_key_id": ("string", None, None, True),
    "secret_access_key": ("string", None, None, True),
    "role_arn": ("string", None, None, False),
    "s3_bucket_name": ("string", None, None, False),
    "s3_bucket_region": ("string", None, "", False),
    "s3_endpoint": ("string", None, None, False),
    "bucket_path": ("string", None, None, False),
    "format": ("object", None, "CSV", False),
    "compression": ("object", None, None, False),
    "path_format": ("string", None, "{sync_id}/{namespace}/{stream_name}/", False),
    "file_name_format": ("string", None, "{date}_{timestamp}_{part_number}{format_extension}", False),
}
KOTLIN_CONFIG = {
    "credentials": {"siteId": "abc123", "apiKey": "key456"},
    "identifierType": "id",
    "object_storage_config": {
        "storage_type": "S3", "s3_bucket_name": "dlq", "s3_bucket_region": "us-east-1", "bucket_path": "rejected",
        "access_key_id": "AKIA", "secret_access_key": "SECRET",
        "format": {"format_type": "JSONL", "flattening": "Root level flattening"},
        "compression": {"compression_type": "GZIP"},
        "path_format": "{sync_id}/{namespace}/{stream_name}/",
        "file_name_format": "{date}_{timestamp}_{part_number}{format_extension}",
    },
}


def spec_properties() -> dict[str, Any]:
    return spec_message()["spec"]["connectionSpecification"]["properties"]


def lookup(props: dict[str, Any], path: str) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    node = props[head]
    return lookup(node["properties"], rest) if rest else node


@pytest.mark.parametrize("path", sorted(AIRBYTE_PROPERTIES))
def test_airbyte_property_is_kept(path: str) -> None:
    kind, enum, default, secret = AIRBYTE_PROPERTIES[path]
    node = lookup(spec_properties(), path)
    assert node["type"] == kind
    if enum is not None:
        assert node["enum"] == enum
    if default is not None:
        assert node["default"] == default
    assert node.get("airbyte_secret", False) == secret


def s3_branch() -> dict[str, Any]:
    branches = spec_properties()["object_storage_config"]["oneOf"]
    return next(b for b in branches if b["properties"]["storage_type"]["enum"] == ["S3"])


@pytest.mark.parametrize("name", sorted(AIRBYTE_S3_PROPERTIES))
def test_airbyte_s3_property_is_kept(name: str) -> None:
    kind, enum, default, secret = AIRBYTE_S3_PROPERTIES[name]
    node = s3_branch()["properties"][name]
    assert node["type"] == kind
    if enum is not None:
        assert node["enum"] == enum
    if default is not None:
        assert node["default"] == default
    assert node.get("airbyte_secret", False) == secret


def test_spec_keeps_airbyte_requirements_and_modes() -> None:
    spec = spec_message()["spec"]
    connection = spec["connectionSpecification"]
    assert connection["required"] == ["credentials"]
    assert connection["properties"]["credentials"]["required"] == ["siteId", "apiKey"]
    assert s3_branch()["required"] == ["storage_type", "s3_bucket_name", "s3_bucket_region", "bucket_path", "format"]
    assert "us-east-1" in s3_branch()["properties"]["s3_bucket_region"]["enum"]
    storage_types = [b["properties"]["storage_type"]["enum"][0] for b in connection["properties"]["object_storage_config"]["oneOf"]]
    assert storage_types[:2] == ["None", "S3"] and "Local" in storage_types
    assert spec["supportsIncremental"] is True
    assert "append" in spec["supported_destination_sync_modes"]
    assert connection["properties"]["region"]["enum"] == ["auto", "us", "eu"]
    assert connection["properties"]["region"]["default"] == "auto"
    assert connection["properties"]["track_api_base_url"]["airbyte_hidden"] is True


def test_spec_defaults_match_the_typed_config() -> None:
    """Every default the spec shows is the default the connector applies."""
    config = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}})
    for name, node in spec_properties().items():
        if "default" in node and hasattr(config, name):
            assert getattr(config, name) == node["default"], name


def test_a_kotlin_connector_config_validates_unchanged() -> None:
    config = parse_config(KOTLIN_CONFIG)
    assert config.identifierType == "id"
    storage = config.object_storage_config
    assert isinstance(storage, S3Storage)
    assert storage.format.flattening == "Root level flattening"
    assert type(storage.compression).__name__ == "GzipCompression"
    assert config.region == "auto"
    assert parse_config({"credentials": {"siteId": "a", "apiKey": "b"},
                         "object_storage_config": {"storage_type": "None"}}).identifierType == "email"


@pytest.mark.parametrize("raw, expected", [
    ({}, "Object missing required field `credentials`"),
    ({"credentials": {"siteId": "a"}}, "Object missing required field `apiKey` - at `credentials`"),
    ({"credentials": {"siteId": 5, "apiKey": "b"}}, "Expected `str`, got `int` - at `credentials.siteId`"),
    ({"credentials": {"siteId": "a", "apiKey": "b"}, "identifierType": "phone"}, "at `identifierType`"),
    ({"credentials": {"siteId": "a", "apiKey": "b"}, "object_storage_config": {"storage_type": "S3"}},
     "Object missing required field `s3_bucket_name` - at `object_storage_config`"),
    ({"credentials": {"siteId": "a", "apiKey": "b"}, "region": "apac"}, "at `region`"),
    ({"credentials": {"siteId": " ", "apiKey": "b"}}, "`credentials.siteId` must not be empty"),
    ({"credentials": {"siteId": "a", "apiKey": "b"}, "max_requests_per_second": 0},
     "`max_requests_per_second` must be > 0, got 0"),
    ({"credentials": {"siteId": "a", "apiKey": "b"}, "create_missing_people": "yes"},
     "at `create_missing_people`"),
])
def test_bad_config_names_the_field(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_config(raw)
    assert expected in str(raised.value)


def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "destination_customer_io", *args], input=stdin,
                          capture_output=True, timeout=60)


def test_spec_command_prints_one_message() -> None:
    done = run_cli("spec")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["type"] == "SPEC"


def test_write_with_bad_config_is_a_config_error_trace_without_stack(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credentials": {"siteId": "abc", "apiKey": 12345}}))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": []}))
    done = run_cli("write", "--config", str(config), "--catalog", str(catalog))
    assert done.returncode == 1
    (message,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert message["type"] == "TRACE"
    error = message["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert "credentials.apiKey" in error["message"]
    assert "stack_trace" not in error and b"Traceback" not in done.stderr


def test_check_with_bad_config_is_a_failed_status(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{not json")
    done = run_cli("check", "--config", str(config))
    assert done.returncode == 0
    (message,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert message["connectionStatus"]["status"] == "FAILED"
    assert "not valid JSON" in message["connectionStatus"]["message"]
