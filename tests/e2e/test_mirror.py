"""Mirror mode, end to end: an ``overwrite`` segment_membership / relationship stream is the truth and the
emulator's workspace follows it, removals included; the guard, stream statuses, the first sync, a reset
ledger and two connections sharing a bucket. Each test asserts the exact requests the emulator received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import Run, base_config, configured_stream, record_line, run_connector, state_line

SITE, KEY = "site-mirror", "key-mirror-secret"
OTHER_SITE, OTHER_KEY = "site-mirror-2", "key-mirror-2-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"},
              {"site_id": OTHER_SITE, "api_key": OTHER_KEY, "region": "us"}]
USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])


def status_line(name: str, status: str = "COMPLETE") -> str:
    return json.dumps({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0, "stream_status": {
        "stream_descriptor": {"name": name}, "status": status}}})


def members_stream(name: str = "vips", generation: int = 1, object_name: str = "segment_membership") -> dict:
    stream = configured_stream(name, object_name, mode="overwrite")
    stream["generation_id"] = generation
    stream["minimum_generation_id"] = generation
    return stream


def config(emu: EmulatorProcess, store: Path, site: str = SITE, key: str = KEY, **extra: Any) -> dict:
    storage = {"storage_type": "Local", "destination_path": str(store), "format": {"format_type": "JSONL"}}
    return base_config(emu.url, site, key, object_storage_config=storage, **{"lanes": 1, **extra})


def people(emu: EmulatorProcess, tmp: Path, emails: list[str], site: str = SITE, key: str = KEY) -> None:
    lines = [record_line("users", {"person_email": e}) for e in emails]
    run = run_connector(tmp, "write", base_config(emu.url, site, key), {"streams": [USERS]}, lines)
    assert run.returncode == 0, run.stdout + run.stderr


def mirror(emu: EmulatorProcess, tmp: Path, store: Path, emails: list[str], generation: int, *,
           segment: int = 7, statuses: bool = True, name: str = "vips", site: str = SITE, key: str = KEY,
           **extra: Any) -> Run:
    lines = [record_line(name, {"person_email": e, "segment_id": segment}) for e in emails]
    lines.append(state_line(name, generation))
    if statuses:
        lines.append(status_line(name))
    catalog = {"streams": [members_stream(name, generation)]}
    return run_connector(tmp, "write", config(emu, store, site, key, **extra), catalog, lines)


def segment(emu: EmulatorProcess, number: int = 7, site: str = SITE) -> list[str]:
    by_cio = {p["cio_id"]: p["email"] for p in emu.client.people(site_id=site)}
    return sorted(by_cio[cio] for cio in emu.client.segments(site_id=site).get(str(number), []))


def segment_calls(emu: EmulatorProcess, site: str = SITE) -> list[tuple[str, list[str]]]:
    return [(r["path"].rsplit("/", 1)[-1], sorted(r["body"]["ids"])) for r in emu.client.requests(site_id=site)
            if r["path"].startswith("/api/v1/segments")]


EMAILS = [f"p{i}@example.com" for i in range(6)]


def test_a_second_generation_removes_who_left_and_only_them(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    first = mirror(emu, tmp_path, store, EMAILS[:3], 1)
    assert first.returncode == 0, first.stdout + first.stderr
    assert segment(emu) == EMAILS[:3]
    assert segment_calls(emu) == [("add_customers", EMAILS[:3])]  # a first sync never removes
    before = len(segment_calls(emu))
    second = mirror(emu, tmp_path, store, [EMAILS[0], EMAILS[2], EMAILS[3]], 2)
    assert second.returncode == 0, second.stdout + second.stderr
    assert segment(emu) == [EMAILS[0], EMAILS[2], EMAILS[3]]
    assert segment_calls(emu)[before:] == [("add_customers", [EMAILS[0], EMAILS[2], EMAILS[3]]),
                                           ("remove_customers", [EMAILS[1]])]
    assert [s["destinationStats"] for s in second.states] == [{"recordCount": 3.0}]
    assert any("1 mirror removal applied" in line for line in second.logs)


def test_one_person_spelled_in_another_case_stays_a_member(emu: EmulatorProcess, tmp_path: Path) -> None:
    # Emails are case-insensitive in Customer.io: the same person in another case in the next generation
    # must not leave a stale ledger key behind whose removal takes them out of the segment again.
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    first = mirror(emu, tmp_path, store, [EMAILS[0].upper(), EMAILS[1]], 1)
    assert first.returncode == 0, first.stdout + first.stderr
    second = mirror(emu, tmp_path, store, [EMAILS[0], EMAILS[1].capitalize()], 2)
    assert second.returncode == 0, second.stdout + second.stderr
    assert segment(emu) == EMAILS[:2]
    assert segment_calls(emu) == [("add_customers", sorted([EMAILS[0].upper(), EMAILS[1]])),
                                  ("add_customers", sorted([EMAILS[0], EMAILS[1].capitalize()]))]


def test_a_relationship_spelled_in_another_case_stays(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"

    def relate(emails: list[str], generation: int) -> Run:
        lines = [record_line("accounts", {"person_email": e, "object_type_id": "1", "object_id": "acme"})
                 for e in emails] + [state_line("accounts", generation), status_line("accounts")]
        catalog = {"streams": [members_stream("accounts", generation, "relationship")]}
        return run_connector(tmp_path, "write", config(emu, store), catalog, lines)

    people(emu, tmp_path, EMAILS[:1])
    assert relate([EMAILS[0].upper()], 1).returncode == 0
    second = relate([EMAILS[0]], 2)
    assert second.returncode == 0, second.stdout + second.stderr
    assert [(r["email"], r["object_id"]) for r in emu.client.relationships(site_id=SITE)] == [(EMAILS[0], "acme")]
    actions = [op["action"] for r in emu.client.requests(site_id=SITE) if r["path"] == "/api/v2/batch"
               for op in r["body"]["batch"]]
    assert actions == ["identify", "add_relationships", "add_relationships"]  # the person, then no removal
