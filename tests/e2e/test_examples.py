"""Every folder of examples/ runs through the installed `destination-customer-io` command against the
emulator, and Customer.io's (the emulator's) resulting state must be the one its expected.json describes,
so the examples never rot. Every operation in the registry must have an example.

An example folder holds config.json (its `track_api_base_url` is the placeholder below, the address of
`customerio-emulator --port 8089`, replaced here by the test emulator's URL), catalog.json, records.jsonl
(Airbyte messages, as stdin), optionally setup.jsonl (a sync run first, e.g. to create people before a
merge) and expected.json: per inspection collection (`people`, `events`, `objects`, `relationships`,
`devices`, `suppressed`) a `count` and items the collection must `contain` (each a subset of one
item); `segments` maps a segment id to the emails of its members.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from customerio_emulator.process import EmulatorProcess
from destination_customer_io.operations import OPERATIONS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLACEHOLDER_URL = "http://127.0.0.1:8089"
COMMAND = Path(sys.executable).parent / "destination-customer-io"
# No WORKSPACES: the emulator fixture (conftest.py) serves the default demo-site / demo-key workspace, US.
FOLDERS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and (p / "config.json").exists())


def run(command: str, folder: Path, tmp: Path, url: str, stdin_files: list[Path]) -> list[dict[str, Any]]:
    """The real console script, as a user runs it; returns its Airbyte messages."""
    config = tmp / "config.json"
    config.write_text((folder / "config.json").read_text().replace(PLACEHOLDER_URL, url))
    args = [str(COMMAND), command, "--config", str(config)]
    if command == "write":
        args += ["--catalog", str(folder / "catalog.json")]
    stdin = b"".join(path.read_bytes() for path in stdin_files)
    done = subprocess.run(args, input=stdin, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def matches(expected: Any, actual: Any) -> bool:
    """``expected`` is a subset of ``actual``: dict keys recursively, lists item by item."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            matches(e, a) for e, a in zip(expected, actual))
    return expected == actual


def assert_state(emu: EmulatorProcess, expected: dict[str, Any]) -> None:
    client = emu.client
    for collection, spec in expected.items():
        if collection == "segments":
            emails = {p["cio_id"]: p["email"] for p in client.people()}
            members = {segment: sorted(emails.get(c, c) for c in ids) for segment, ids in client.segments().items()}
            assert members == spec
            continue
        items = getattr(client, collection)()
        assert len(items) == spec["count"], (collection, items)
        for item in spec.get("contains", []):
            assert any(matches(item, actual) for actual in items), (collection, item, items)


def test_every_registered_operation_has_an_example() -> None:
    missing = sorted(set(OPERATIONS) - set(FOLDERS))
    assert not missing, f"operations without an example in examples/: {', '.join(missing)}"


@pytest.mark.parametrize("name", FOLDERS)
def test_example_catalog_uses_its_operation(name: str) -> None:
    catalog = json.loads((EXAMPLES / name / "catalog.json").read_text())
    objects = {entry.get("destination_object_name") for entry in catalog["streams"]}
    assert name in objects
    assert objects <= set(OPERATIONS)


@pytest.mark.parametrize("name", FOLDERS)
def test_example_runs_and_leaves_the_expected_state(emulator: EmulatorProcess, tmp_path: Path, name: str) -> None:
    folder = EXAMPLES / name
    emulator.client.reset()
    (status,) = [m for m in run("check", folder, tmp_path, emulator.url, []) if m["type"] == "CONNECTION_STATUS"]
    assert status["connectionStatus"]["status"] == "SUCCEEDED", status

    syncs = [[folder / "setup.jsonl"]] if (folder / "setup.jsonl").exists() else []
    for stdin_files in [*syncs, [folder / "records.jsonl"]]:
        messages = run("write", folder, tmp_path, emulator.url, stdin_files)
        assert not [m for m in messages if m["type"] == "TRACE"], messages
        states_in = sum(json.loads(line)["type"] == "STATE" for f in stdin_files for line in f.read_text().splitlines())
        states = [m["state"] for m in messages if m["type"] == "STATE"]
        assert len(states) == states_in
        assert all(s.get("destinationStats", {}).get("rejectedRecordCount", 0) == 0 for s in states), states
    assert_state(emulator, json.loads((folder / "expected.json").read_text()))
