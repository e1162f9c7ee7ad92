"""PyAirbyte drives the connector as a user's notebook would: a real `source-faker` (installed by
PyAirbyte from PyPI into its own venv) feeds `users` as person_identify and `purchases` as person_event
through `stream_mappings`, and the installed `destination-customer-io` executable writes them to the
emulator. Asserts what the emulator holds, record by record.

Needs the `pyairbyte` extra: skipped without it in the normal run; `make test-pyairbyte` (CI, after
`make test`) installs it into .venv-pyairbyte and runs these with PYAIRBYTE_REQUIRED=1, which turns the
skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from customerio_emulator.process import EmulatorProcess, start_emulator_process

if os.environ.get("PYAIRBYTE_REQUIRED") and importlib.util.find_spec("airbyte") is None:
    raise ImportError("PYAIRBYTE_REQUIRED is set but PyAirbyte (`airbyte`) is not installed")

pytestmark = [
    pytest.mark.pyairbyte,
    pytest.mark.skipif(importlib.util.find_spec("airbyte") is None,
                       reason="PyAirbyte is not installed (make test-pyairbyte)"),
]

FAKER = "airbyte-source-faker==7.2.1"  # pinned: the assertions rely on its streams' columns
USERS = 25
DESTINATION = Path(sys.executable).parent / "destination-customer-io"
MAPPINGS = [
    # faker's users carry an integer `id` and an `email`; purchases only a `user_id`: so people are
    # identified by id, and email becomes the person's email attribute (send_other_identifiers).
    {"stream": "users", "object": "person_identify", "fields": {"person_id": "id", "person_email": "email"}},
    {"stream": "purchases", "object": "person_event",
     "fields": {"person_id": "user_id", "event_name": {"const": "purchase"}, "event_id": "id",
                "timestamp": "purchased_at"}},
]


@pytest.fixture(scope="module")
def ab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The `airbyte` module, imported offline: no registry look-ups, no telemetry (loopback + PyPI only)."""
    patch = pytest.MonkeyPatch()
    work = tmp_path_factory.mktemp("pyairbyte")
    patch.setenv("AIRBYTE_OFFLINE_MODE", "1")
    patch.setenv("DO_NOT_TRACK", "1")
    patch.setenv("AIRBYTE_LOGGING_ROOT", str(work / "logs"))
    patch.setenv("AIRBYTE_CACHE_ROOT", str(work / "cache"))
    # PyAirbyte installs sources with `uv` (a dependency of its own): find it in this venv.
    patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    import airbyte

    yield airbyte
    patch.undo()


@pytest.fixture(scope="module")
def source(ab: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    faker = ab.get_source("source-faker", config={"count": USERS, "seed": 7, "parallelism": 1},
                          pip_url=FAKER, install_root=tmp_path_factory.mktemp("connectors"))
    faker.select_streams(["users", "purchases"])
    return faker


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with start_emulator_process() as emu:
        yield emu


@pytest.fixture()
def destination(ab: Any, emulator: EmulatorProcess) -> Any:
    emulator.client.reset()
    config = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"}, "identifierType": "id",
              "send_other_identifiers": True, "track_api_base_url": emulator.url, "stream_mappings": MAPPINGS}
    return ab.get_destination("destination-customer-io", config=config, local_executable=str(DESTINATION))


def test_destination_check_and_spec_through_pyairbyte(destination: Any) -> None:
    destination.check()  # raises when the connection fails
    assert "stream_mappings" in destination.config_spec["properties"]


def test_source_straight_to_customer_io(source: Any, destination: Any, emulator: EmulatorProcess) -> None:
    destination.write(source, cache=False, state_cache=False)

    people = emulator.client.people()
    assert len(people) == USERS
    assert all(p["id"] and "@" in (p["email"] or "") for p in people)  # id <- id, email <- email
    events = emulator.client.events()
    assert events and {e["name"] for e in events} == {"purchase"}
    assert {e["identifiers"]["id"] for e in events} <= {p["id"] for p in people}


def test_read_result_record_by_record_and_replay_without_duplicates(
        ab: Any, source: Any, destination: Any, emulator: EmulatorProcess, tmp_path: Path) -> None:
    read = source.read(cache=ab.new_local_cache("faker", cache_dir=tmp_path / "duckdb"))
    users = list(read["users"])
    purchases = list(read["purchases"])

    destination.write(read)
    people = {p["id"]: p for p in emulator.client.people()}
    assert people.keys() == {str(u["id"]) for u in users}
    for user in users:
        person = people[str(user["id"])]
        assert person["email"] == user["email"]
        assert person["attributes"]["name"] == user["name"]
    events = emulator.client.events()
    assert len(events) == len(purchases)
    assert sorted(e["identifiers"]["id"] for e in events) == sorted(str(p["user_id"]) for p in purchases)

    destination.write(read)  # the same rows again: event ids derive from `id`, so nothing is duplicated
    assert len(emulator.client.events()) == len(purchases)
    assert emulator.client.counters()["duplicates"] == len(purchases)
