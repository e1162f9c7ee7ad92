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


def test_no_removal_without_a_complete_status(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    assert mirror(emu, tmp_path, store, EMAILS[:4], 1).returncode == 0
    before = len(segment_calls(emu))
    # INCOMPLETE: the source failed part-way; nothing may be removed
    lines = [record_line("vips", {"person_email": EMAILS[0], "segment_id": 7}), state_line("vips", 2),
             status_line("vips", "INCOMPLETE")]
    run = run_connector(tmp_path, "write", config(emu, store), {"streams": [members_stream("vips", 2)]}, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    assert segment_calls(emu)[before:] == [("add_customers", [EMAILS[0]])]
    assert any("nothing removed: its stream status is INCOMPLETE" in line for line in run.logs)
    # no stream status at all (PyAirbyte, scripts): nothing removed, and a warning says how to allow it
    run = mirror(emu, tmp_path, store, EMAILS[:1], 3, statuses=False)
    assert run.returncode == 0
    assert segment_calls(emu)[before + 1:] == [("add_customers", [EMAILS[0]])]
    assert any("set mirror_without_stream_status: true" in line for line in run.logs)
    assert segment(emu) == EMAILS[:4]
    # ... which removes once the user says the input is complete
    run = mirror(emu, tmp_path, store, EMAILS[:1], 4, statuses=False, mirror_without_stream_status=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert segment_calls(emu)[before + 2:] == [("add_customers", [EMAILS[0]]),
                                               ("remove_customers", EMAILS[1:4])]
    assert segment(emu) == EMAILS[:1]


def test_mirror_needs_object_storage(emu: EmulatorProcess, tmp_path: Path) -> None:
    lines = [record_line("vips", {"person_email": EMAILS[0], "segment_id": 7}), state_line("vips", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY), {"streams": [members_stream()]}, lines)
    assert run.returncode == 1 and run.states == []
    assert [e["failure_type"] for e in run.errors] == ["config_error"]
    assert "object_storage_config is None" in run.errors[0]["message"]
    assert emu.client.requests(site_id=SITE) == []


def relationships(emu: EmulatorProcess) -> list[tuple[str, str]]:
    return sorted((r["email"], r["object_id"]) for r in emu.client.relationships(site_id=SITE))


def test_relationships_follow_the_stream(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)

    def sync(pairs: list[tuple[str, str]], generation: int) -> Run:
        lines = [record_line("links", {"person_email": e, "object_type_id": "1", "object_id": o, "role": "admin"})
                 for e, o in pairs] + [state_line("links", generation), status_line("links")]
        catalog = {"streams": [members_stream("links", generation, "relationship")]}
        return run_connector(tmp_path, "write", config(emu, store), catalog, lines)

    assert sync([(EMAILS[0], "acme"), (EMAILS[1], "acme"), (EMAILS[1], "globex")], 1).returncode == 0
    before = len(emu.client.requests(site_id=SITE))
    run = sync([(EMAILS[0], "acme"), (EMAILS[1], "globex")], 2)
    assert run.returncode == 0, run.stdout + run.stderr
    bodies = [op for r in emu.client.requests(site_id=SITE)[before:] for op in (r["body"] or {}).get("batch", [])]
    removals = [op for op in bodies if op["action"] == "delete_relationships"]
    assert removals == [{"type": "person", "action": "delete_relationships", "identifiers": {"email": EMAILS[1]},
                         "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}]}]
    assert len(bodies) == 3
    assert relationships(emu) == [(EMAILS[0], "acme"), (EMAILS[1], "globex")]


def test_a_dry_run_previews_removals_and_the_guard(emu: EmulatorProcess, tmp_path: Path) -> None:
    many = [f"m{i}@example.com" for i in range(120)]
    store = tmp_path / "store"
    people(emu, tmp_path, many)
    # preview of a first mirror: every member would be added, nothing removed
    run = mirror(emu, tmp_path, store, many, 1, dry_run=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.states == [] and segment_calls(emu) == [] and not (store / "_customerio_ledger").exists()
    (folder,) = (store / "_customerio_dry_run").iterdir()
    summary = json.loads((folder / "summary.json").read_text())["streams"]["vips"]
    assert (summary["would_add"], summary["would_remove"], summary["by_action"]) == (
        120, 0, {"add_customers": 120, "identify": 120})  # create_missing_people: a mirror's default
    listed = [json.loads(line) for line in (folder / "vips-00000.jsonl").read_text().splitlines()]
    assert listed[0] == {"path": "/api/v2/batch", "op": {"type": "person", "action": "identify",
                                                         "identifiers": {"email": many[0]}}}
    assert sum(entry["path"] == "/api/v2/batch" for entry in listed) == 120
    assert mirror(emu, tmp_path, store, many, 1).returncode == 0
    calls = len(segment_calls(emu))
    # a shrink to 5 members: the guard would hold 115 removals; the dry run shows them, sends nothing,
    # and fails with the guard's config_error as the real run would
    run = mirror(emu, tmp_path, store, many[:5], 2, dry_run=True)
    assert run.returncode == 1 and [e["failure_type"] for e in run.errors] == ["config_error"]
    assert len(segment_calls(emu)) == calls
    folder = max((store / "_customerio_dry_run").iterdir())
    found = json.loads((folder / "summary.json").read_text())
    assert (found["streams"]["vips"]["would_update"], found["streams"]["vips"]["removals_held_back"]) == (5, 115)
    assert "would remove 115 of its 120 previous members" in found["guard"][0]
    held = [json.loads(line) for line in (folder / "vips-held-removals.jsonl").read_text().splitlines()]
    assert sorted(h["op"] for h in held) == sorted(many[5:])
    assert {h["path"] for h in held} == {"/api/v1/segments/7/remove_customers?id_type=email"}
    # the ledger was not touched: the real run still sees generation 1's 120 members, and the guard trips
    real = mirror(emu, tmp_path, store, many[:5], 2)
    assert real.returncode == 1 and [e["failure_type"] for e in real.errors] == ["config_error"]
    assert segment_calls(emu)[calls:] == [("add_customers", many[:5])]
    assert len(segment(emu)) == 120


def test_a_generation_id_already_completed_is_a_retry_unless_counted_on(emu: EmulatorProcess,
                                                                        tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    assert mirror(emu, tmp_path, store, EMAILS[:3], 1).returncode == 0
    # generation 1 again: on the platform, an attempt retrying a sync that completed (resumed after its
    # last state, so its input may hold none of the members): nothing it delivered may be removed
    run = mirror(emu, tmp_path, store, EMAILS[:2], 1)
    assert run.returncode == 0, run.stdout + run.stderr
    assert segment(emu) == EMAILS[:3] and segment_calls(emu)[-1] == ("add_customers", EMAILS[:2])
    assert any("generation_id 1 is not newer than the last completed sync's (1)" in line for line in run.logs)
    # PyAirbyte always sends generation_id 1 and no stream status: with mirror_without_stream_status each
    # sync is a generation of its own
    run = mirror(emu, tmp_path, store, EMAILS[:2], 1, statuses=False, mirror_without_stream_status=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert segment(emu) == EMAILS[:2]
    assert segment_calls(emu)[-1] == ("remove_customers", [EMAILS[2]])


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


def test_a_sync_ended_by_max_rejected_percent_removes_nothing(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    assert mirror(emu, tmp_path, store, EMAILS[:4], 1).returncode == 0
    before = len(segment_calls(emu))
    # generation 2: one valid member and four rows with a bad segment id: 80% rejected
    lines = [record_line("vips", {"person_email": EMAILS[0], "segment_id": 7}),
             *[record_line("vips", {"person_email": e, "segment_id": "seven"}) for e in EMAILS[1:5]],
             state_line("vips", 2), status_line("vips")]
    run = run_connector(tmp_path, "write", config(emu, store, max_rejected_percent=50),
                        {"streams": [members_stream("vips", 2)]}, lines)
    assert run.returncode == 1 and [e["failure_type"] for e in run.errors] == ["config_error"]
    assert segment_calls(emu)[before:] == [("add_customers", [EMAILS[0]])]
    assert segment(emu) == EMAILS[:4]
    assert any("nothing removed: max_rejected_percent was exceeded" in line for line in run.logs)
    # the ledger still knows generation 1's members: a later complete sync removes who left
    run = mirror(emu, tmp_path, store, EMAILS[:2], 3)
    assert run.returncode == 0, run.stdout + run.stderr
    assert segment(emu) == EMAILS[:2]


def test_a_source_error_in_the_input_removes_nothing(emu: EmulatorProcess, tmp_path: Path) -> None:
    """A script piping a source straight in: the source failed (its TRACE error is in the input), so even
    with mirror_without_stream_status the input is not known complete."""
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    assert mirror(emu, tmp_path, store, EMAILS[:3], 1, statuses=False, mirror_without_stream_status=True).returncode == 0
    before = len(segment_calls(emu))
    error = json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 1.0, "error": {
        "message": "the source's database went away", "failure_type": "system_error"}}})
    lines = [record_line("vips", {"person_email": EMAILS[0], "segment_id": 7}), state_line("vips", 2), error]
    run = run_connector(tmp_path, "write", config(emu, store, mirror_without_stream_status=True),
                        {"streams": [members_stream("vips", 2)]}, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    assert segment_calls(emu)[before:] == [("add_customers", [EMAILS[0]])]
    assert any("nothing removed: the input carried a source's TRACE error" in line for line in run.logs)
    assert segment(emu) == EMAILS[:3]


def test_a_mirror_creates_missing_people_by_default(emu: EmulatorProcess, tmp_path: Path) -> None:
    """A mirror promises that the segment equals the table: people who do not exist yet are identified
    (identifier only) before the add, so the ledger's members are really in the segment."""
    store = tmp_path / "store"
    run = mirror(emu, tmp_path, store, EMAILS[:3], 1)
    assert run.returncode == 0, run.stdout + run.stderr
    batches = [r["body"]["batch"] for r in emu.client.requests(site_id=SITE) if r["path"] == "/api/v2/batch"]
    assert batches == [[{"type": "person", "action": "identify", "identifiers": {"email": e}} for e in EMAILS[:3]]]
    assert segment_calls(emu) == [("add_customers", EMAILS[:3])]
    assert segment(emu) == EMAILS[:3]


def test_a_mirror_told_not_to_create_leaves_unknown_people_out_and_warns(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS[:1])
    run = mirror(emu, tmp_path, store, EMAILS[:3], 1, create_missing_people=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert segment_calls(emu) == [("add_customers", EMAILS[:3])]
    assert segment(emu) == EMAILS[:1]
    assert any(text.startswith("At least 3 segment adds concerned people this sync did not identify (segment 7: 3)")
               for text in run.logs)
