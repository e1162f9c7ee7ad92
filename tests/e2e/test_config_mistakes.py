"""A new user's configuration mistakes, through the real CLI: caught early and explained (issue 15).

Unknown (misspelt) keys warn in every command with the closest spec key; a rejected-records store that
cannot be written fails `write` before anything is sent; validation messages say what is allowed, where
a JSON file breaks and what was given; a secret value never appears, even in the wrong field.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import CONNECTOR, base_config, configured_stream, record_line, run_connector
from tests.support.s3 import MotoS3

TYPO_WARNING = ("Unknown config keys, ignored: `identifier_type` (did you mean `identifierType`?), "
                "`regoin` (did you mean `region`?), `oversized_attribute` (did you mean "
                "`oversized_attributes`?).")


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    server = MotoS3(enforce_auth=False).start()
    server.create_bucket("rejected-records")
    yield server
    server.stop()


def _status(run: Any) -> dict[str, Any]:
    (status,) = run.of_type("CONNECTION_STATUS")
    return status["connectionStatus"]


def _catalog() -> dict[str, Any]:
    return {"streams": [configured_stream("people", "person_identify", mode="append_dedup")]}


def _people(count: int) -> list[str]:
    return [record_line("people", {"person_email": f"p{i}@example.com", "plan": "pro"}) for i in range(count)]


# --- 1. unknown keys ---------------------------------------------------------------------------------

def test_misspelt_keys_warn_in_every_command_and_in_checks_answer(emu: EmulatorProcess, tmp_path: Path) -> None:
    config = base_config(emu.url, identifier_type="id", regoin="eu", oversized_attribute="drop")
    warning = {"type": "LOG", "log": {"level": "WARN", "message": TYPO_WARNING}}
    check = run_connector(tmp_path, "check", config)
    discover = run_connector(tmp_path, "discover", config)
    write = run_connector(tmp_path, "write", config, _catalog(), _people(3))

    assert check.messages == [warning, {"type": "CONNECTION_STATUS", "connectionStatus": {
        "status": "SUCCEEDED", "message": f"Connected to Customer.io (region us, {emu.url[7:]}). {TYPO_WARNING}"}}]
    assert discover.messages[0] == warning and discover.returncode == 0
    assert write.messages[0] == warning and write.returncode == 0  # still accepted: other versions' keys


def test_nested_misspelt_keys_and_a_failed_check_still_name_them(tmp_path: Path) -> None:
    config = {"credentials": {"siteId": "site-4d1e", "api_key": "key-8c2f"}, "object_storage_config": {
        "storage_type": "Local", "destination_path": str(tmp_path / "r"), "path_fromat": "{stream_name}/"}}
    check = run_connector(tmp_path, "check", config)

    assert check.logs == ["Unknown config keys, ignored: `credentials.api_key` (did you mean `apiKey`?), "
                          "`object_storage_config.path_fromat` (did you mean `path_format`?)."]
    assert _status(check) == {"status": "FAILED", "message": (
        "Invalid config: Object missing required field `apiKey` - at `credentials` " + check.logs[0])}


def test_a_config_without_unknown_keys_logs_no_warning(emu: EmulatorProcess, tmp_path: Path) -> None:
    check = run_connector(tmp_path, "check", base_config(emu.url))
    assert check.of_type("LOG") == []


# --- 4. the rejected-records store is probed before anything is sent --------------------------------

def _s3(moto: MotoS3, bucket: str = "rejected-records") -> dict[str, Any]:
    return {"storage_type": "S3", "s3_bucket_name": bucket, "s3_bucket_region": "us-east-1",
            "bucket_path": "dlq", "s3_endpoint": moto.endpoint, "access_key_id": "AKIADEMO",
            "secret_access_key": "demo-secret-key", "format": {"format_type": "JSONL"}}


def test_a_missing_bucket_fails_write_before_sending_anything(emu: EmulatorProcess, moto: MotoS3,
                                                             tmp_path: Path) -> None:
    config = base_config(emu.url, object_storage_config=_s3(moto, "no-such-bucket"))
    write = run_connector(tmp_path, "write", config, _catalog(), _people(5))  # no rejection at all

    assert write.returncode == 1 and write.states == []
    assert [(e["failure_type"], e["message"]) for e in write.errors] == [("config_error", (
        "The rejected-records storage cannot be written; nothing was sent. Rejected-records bucket "
        "'no-such-bucket': PutObject failed: NoSuchBucket: The specified bucket does not exist "
        "(check s3_bucket_name)"))]
    assert emu.client.requests() == []


def test_check_says_where_the_probe_object_went(emu: EmulatorProcess, moto: MotoS3, tmp_path: Path) -> None:
    check = run_connector(tmp_path, "check", base_config(emu.url, object_storage_config=_s3(moto)))
    assert _status(check) == {"status": "SUCCEEDED", "message": (
        f"Connected to Customer.io (region us, {emu.url[7:]}). Rejected-records storage verified: a probe "
        f"object was written, listed and deleted at s3://rejected-records/dlq/_check_test_<random hex> "
        f"({moto.endpoint}).")}
    assert moto.objects("rejected-records") == {}


def test_a_writable_bucket_is_probed_then_the_sync_runs(emu: EmulatorProcess, moto: MotoS3,
                                                         tmp_path: Path) -> None:
    write = run_connector(tmp_path, "write", base_config(emu.url, object_storage_config=_s3(moto)),
                          _catalog(), _people(5))
    assert write.returncode == 0 and write.errors == []
    assert len(emu.client.people()) == 5 and moto.objects("rejected-records") == {}


# --- 7. validation messages --------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"identifierType": "Email"},
     "Invalid config: Invalid enum value 'Email' - at `identifierType`; allowed: `email`, `id`, `cio_id`"),
    ({"object_storage_config": {"storage_type": "S4"}},
     "Invalid config: Invalid value 'S4' - at `object_storage_config.storage_type`; allowed: `None`, `S3`, "
     "`Local`"),
    ({"track_api_base_url": "127.0.0.1:8089"},
     "Invalid config: `track_api_base_url` must be an http:// or https:// URL with a host (e.g. "
     "`http://127.0.0.1:8089`), got `127.0.0.1:8089`"),
], ids=["enum", "storage_type", "url_without_scheme"])
def test_validation_messages_say_what_is_allowed(change: dict[str, Any], message: str, tmp_path: Path) -> None:
    config = {**base_config("http://127.0.0.1:1"), **change}
    check = run_connector(tmp_path, "check", config)
    write = run_connector(tmp_path, "write", config, _catalog(), [])

    assert _status(check) == {"status": "FAILED", "message": message}
    assert [(e["failure_type"], e["message"]) for e in write.errors] == [("config_error", message)]


@pytest.mark.parametrize("broken", ["config", "catalog"])
def test_malformed_json_gives_line_and_column(broken: str, tmp_path: Path) -> None:
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(base_config("http://127.0.0.1:1")))
    catalog.write_text(json.dumps(_catalog()))
    target = config if broken == "config" else catalog
    target.write_text('{"streams": [],\n  "oops" 1}')
    done = subprocess.run([*CONNECTOR, "write", "--config", str(config), "--catalog", str(catalog)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)

    (error,) = [json.loads(line)["trace"]["error"] for line in done.stdout.splitlines()]
    assert done.returncode == 1 and error["failure_type"] == "config_error"
    assert error["message"] == (f"{broken.capitalize()} file {target} is not valid JSON: Expecting ':' "
                                f"delimiter at line 2 column 10")


def test_an_invalid_bucket_name_says_what_a_valid_one_looks_like(emu: EmulatorProcess, tmp_path: Path) -> None:
    storage = {"storage_type": "S3", "s3_bucket_name": "s3://my bucket/rejected", "bucket_path": "p",
               "s3_bucket_region": "us-east-1", "s3_endpoint": "http://127.0.0.1:1",
               "access_key_id": "AKIADEMO", "secret_access_key": "demo-secret-key"}
    check = run_connector(tmp_path, "check", base_config(emu.url, object_storage_config=storage))
    assert _status(check) == {"status": "FAILED", "message": (
        "Rejected-records bucket 's3://my bucket/rejected': PutObject failed: 's3://my bucket/rejected' is "
        "not a valid bucket name: give the name alone (no s3:// and no path: the path goes in bucket_path), "
        "3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, "
        "e.g. 'my-rejected-records' (check s3_bucket_name)")}
    assert "regex" not in check.stdout.decode()


# --- 8. secrets are masked in every message, even before the config validates -------------------------

@pytest.mark.parametrize("command", ["check", "write"])
def test_a_secret_in_the_wrong_field_is_masked(command: str, tmp_path: Path) -> None:
    config = {**base_config("http://127.0.0.1:1", api_key="demo-key-7f3a"), "identifierType": "demo-key-7f3a"}
    run = run_connector(tmp_path, command, config, _catalog() if command == "write" else None, [])

    expected = ("Invalid config: Invalid enum value '***' - at `identifierType`; allowed: `email`, `id`, "
                "`cio_id`")
    text = _status(run)["message"] if command == "check" else run.errors[0]["message"]
    assert text == expected
    assert b"demo-key-7f3a" not in run.stdout + run.stderr


def test_a_secret_under_a_misspelt_key_is_masked_too(tmp_path: Path) -> None:
    config = {"credentials": {"siteId": "site-9b2c", "api_key": "key-under-a-typo"},
              "identifierType": "key-under-a-typo"}
    run = run_connector(tmp_path, "check", config)
    assert b"key-under-a-typo" not in run.stdout + run.stderr
    assert _status(run)["status"] == "FAILED"
