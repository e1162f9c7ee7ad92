"""Every folder of examples/ runs through the installed `destination-customer-io` command against the
emulator, and Customer.io's (the emulator's) resulting state must be the one its expected.json describes,
so the examples never rot. Every operation in the registry must have an example.

An example folder holds config.json (its `track_api_base_url` is the placeholder below, the address of
`customerio-emulator --port 8089`, replaced here by the test emulator's URL; a Local store's path under
/tmp/destination-customer-io-examples is replaced by a temporary directory), catalog.json, records.jsonl
(Airbyte messages, as stdin), optionally setup.jsonl (a sync run first, e.g. to create people before a
merge, with setup-catalog.json when the first sync's catalog differs, as a mirror's generation_id does)
and expected.json: per inspection collection (`people`, `events`, `objects`, `relationships`,
`devices`, `suppressed`) a `count` and items the collection must `contain` (each a subset of one
item); `segments` maps a segment id to the emails of its members; `after_setup`, the same checks after
the setup sync (a mirror's removal shows only against what the first sync added). A folder is named after its operation,
optionally with a suffix after "-" (`segment_membership-mirror`).
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
PLACEHOLDER_STORE = "/tmp/destination-customer-io-examples"
COMMAND = Path(sys.executable).parent / "destination-customer-io"
# No WORKSPACES: the emulator fixture (conftest.py) serves the default demo-site / demo-key workspace, US.
FOLDERS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and (p / "config.json").exists())


def run(command: str, folder: Path, tmp: Path, url: str, stdin_files: list[Path],
        catalog: str = "catalog.json") -> list[dict[str, Any]]:
    """The real console script, as a user runs it; returns its Airbyte messages."""
    config = tmp / "config.json"
    text = (folder / "config.json").read_text()
    config.write_text(text.replace(PLACEHOLDER_URL, url).replace(PLACEHOLDER_STORE, str(tmp / "store")))
    args = [str(COMMAND), command, "--config", str(config)]
    if command == "write":
        args += ["--catalog", str(folder / catalog)]
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


def operation_of(folder: str) -> str:
    return folder.partition("-")[0]


def test_every_registered_operation_has_an_example() -> None:
    missing = sorted(set(OPERATIONS) - {operation_of(name) for name in FOLDERS})
    assert not missing, f"operations without an example in examples/: {', '.join(missing)}"


@pytest.mark.parametrize("name", FOLDERS)
def test_example_catalog_uses_its_operation(name: str) -> None:
    for path in (EXAMPLES / name).glob("*catalog.json"):
        catalog = json.loads(path.read_text())
        objects = {entry.get("destination_object_name") for entry in catalog["streams"]}
        assert operation_of(name) in objects
        assert objects <= set(OPERATIONS)


@pytest.mark.parametrize("name", FOLDERS)
def test_example_runs_and_leaves_the_expected_state(emulator: EmulatorProcess, tmp_path: Path, name: str) -> None:
    folder = EXAMPLES / name
    emulator.client.reset()
    (status,) = [m for m in run("check", folder, tmp_path, emulator.url, []) if m["type"] == "CONNECTION_STATUS"]
    assert status["connectionStatus"]["status"] == "SUCCEEDED", status

    setup_catalog = "setup-catalog.json" if (folder / "setup-catalog.json").exists() else "catalog.json"
    syncs = [([folder / "setup.jsonl"], setup_catalog)] if (folder / "setup.jsonl").exists() else []
    expected = json.loads((folder / "expected.json").read_text())
    for stdin_files, catalog in [*syncs, ([folder / "records.jsonl"], "catalog.json")]:
        if stdin_files[0].name == "records.jsonl" and "after_setup" in expected:
            assert_state(emulator, expected.pop("after_setup"))
        messages = run("write", folder, tmp_path, emulator.url, stdin_files, catalog)
        assert not [m for m in messages if m["type"] == "TRACE"], messages
        states_in = sum(json.loads(line)["type"] == "STATE" for f in stdin_files for line in f.read_text().splitlines())
        states = [m["state"] for m in messages if m["type"] == "STATE"]
        assert len(states) == states_in
        assert all(s.get("destinationStats", {}).get("rejectedRecordCount", 0) == 0 for s in states), states
    assert_state(emulator, expected)
