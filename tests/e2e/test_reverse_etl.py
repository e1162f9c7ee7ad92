"""What reverse-ETL users expect (issue 26), end to end through the CLI against the emulator: a hard
request-rate cap, segment calls packed across lanes, and people created before they join a segment.
Each test asserts what reached the emulator: request arrival times, the exact JSON of segment calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import Run, base_config, configured_stream, global_state_line, record_line, run_connector

SITE, KEY = "site-retl", "key-retl-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]  # the emulator fixture's (conftest.py)
USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])


def write(emu: EmulatorProcess, tmp: Path, streams: list[dict[str, Any]], lines: list[str], **config: Any) -> Run:
    run = run_connector(tmp, "write", base_config(emu.url, SITE, KEY, **config), {"streams": streams}, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def users(emails: list[str]) -> list[str]:
    return [record_line("users", {"person_email": email, "plan": "pro"}) for email in emails]


def most_in_one_second(times: list[float]) -> int:
    """The most requests that arrived in any one-second window [t, t + 1) (a sliding window)."""
    times = sorted(times)
    most, first = 0, 0
    for last, arrived in enumerate(times):
        while arrived - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


# --- max_requests_per_second ---------------------------------------------------------------------

def test_a_sync_capped_at_20_per_second_never_exceeds_22_in_any_second(emu: EmulatorProcess, tmp_path: Path) -> None:
    emails = [f"p{i}@example.com" for i in range(700)]
    # ~1,000-byte batches: about 90 batches, so the sync lasts several seconds at the cap.
    run = write(emu, tmp_path, [USERS], [*users(emails), global_state_line(1)],
                max_requests_per_second=20, batch_max_bytes=1_000)
    assert run.states[-1]["destinationStats"] == {"recordCount": 700.0}
    log = emu.client.requests(site_id=SITE, limit=1_000)
    assert len(log) >= 80 and log[0]["path"] == "/api/v1/accounts/region"  # the look-up is one of them
    arrivals = [entry["received"] for entry in log]
    assert most_in_one_second(arrivals) <= 22
    # Capped, not merely slow: a second's worth at once, then about 20 a second.
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 20) / 20 - 0.5
    assert len(emu.client.people(site_id=SITE)) == 700


def test_uncapped_the_same_sync_goes_well_above_the_cap(emu: EmulatorProcess, tmp_path: Path) -> None:
    """The control: without the setting the emulator sees far more than 22 requests in a second, so the
    capped test above measures the cap."""
    emails = [f"p{i}@example.com" for i in range(700)]
    write(emu, tmp_path, [USERS], [*users(emails), global_state_line(1)], batch_max_bytes=1_000)
    arrivals = [entry["received"] for entry in emu.client.requests(site_id=SITE, limit=1_000)]
    assert most_in_one_second(arrivals) > 40


# --- segment calls packed across lanes -----------------------------------------------------------

MEMBERS = configured_stream("vips", "segment_membership", mode="append_dedup")


def members(emails: list[str], segment: int = 3, **extra: Any) -> list[str]:
    return [record_line("vips", {"person_email": email, "segment_id": segment, **extra}) for email in emails]


def segment_calls(emu: EmulatorProcess) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r["path"], r["query"], r["body"]) for r in emu.client.requests(site_id=SITE, limit=1_000)
            if r["path"].startswith("/api/v1/segments")]


def segment(emu: EmulatorProcess, number: int = 3) -> list[str]:
    by_cio = {p["cio_id"]: p["email"] for p in emu.client.people(site_id=SITE)}
    return sorted(by_cio[cio] for cio in emu.client.segments(site_id=SITE).get(str(number), []))


def test_500_members_of_24_lanes_take_one_call(emu: EmulatorProcess, tmp_path: Path) -> None:
    emails = [f"m{i}@example.com" for i in range(500)]
    run = write(emu, tmp_path, [USERS, MEMBERS], [*users(emails), *members(emails), global_state_line(1)])
    assert run.states[-1]["destinationStats"] == {"recordCount": 1_000.0}
    assert segment_calls(emu) == [("/api/v1/segments/3/add_customers", "id_type=email", {"ids": emails})]
    assert segment(emu) == sorted(emails)


def test_a_persons_identify_add_identify_remove_add_keep_input_order(emu: EmulatorProcess, tmp_path: Path) -> None:
    """Each person's ops, spread over 24 lanes, reach the emulator in input order although one segment
    call packs the people of every lane: the identify that creates a person is answered before the call
    that adds them, and what follows an add leaves after it."""
    emails = [f"o{i}@example.com" for i in range(120)]
    leavers, returning = emails[::3], emails[::6]
    lines = [*users(emails), *members(emails),
             *[record_line("users", {"person_email": e, "plan": "gold"}) for e in leavers],
             *members(leavers, _ab_cdc_deleted_at="2024-01-01T00:00:00Z"),
             *members(returning), global_state_line(1)]
    run = write(emu, tmp_path, [USERS, MEMBERS], lines)
    assert run.states[-1]["destinationStats"] == {"recordCount": float(len(lines) - 1)}
    # What each person went through, in the order the emulator received it.
    seen: dict[str, list[str]] = {e: [] for e in emails}
    for request in emu.client.requests(site_id=SITE, limit=1_000):
        if request["path"] == "/api/v2/batch":
            for op in request["body"]["batch"]:
                seen[op["identifiers"]["email"]].append(op["attributes"]["plan"])
        elif request["path"].startswith("/api/v1/segments"):
            for email in request["body"]["ids"]:
                seen[email].append(request["path"].rsplit("/", 1)[-1])
    for email in emails:
        expected = ["pro", "add_customers"]
        if email in leavers:
            expected += ["gold", "remove_customers"]
        if email in returning:
            expected += ["add_customers"]
        assert seen[email] == expected, email
    # Packed: one call per (segment, action) and turn, not one per lane.
    assert [(path.rsplit("/", 1)[-1], len(body["ids"])) for path, _, body in segment_calls(emu)] == [
        ("add_customers", 120), ("remove_customers", 40), ("add_customers", 20)]
    assert segment(emu) == sorted(set(emails) - set(leavers) | set(returning))


# --- create_missing_people -----------------------------------------------------------------------

def v2_batches(emu: EmulatorProcess) -> list[list[dict[str, Any]]]:
    return [r["body"]["batch"] for r in emu.client.requests(site_id=SITE, limit=1_000) if r["path"] == "/api/v2/batch"]


def test_with_create_missing_people_unknown_people_are_identified_then_added(
        emu: EmulatorProcess, tmp_path: Path) -> None:
    known, unknown = ["k0@example.com", "k1@example.com"], [f"u{i}@example.com" for i in range(30)]
    run = write(emu, tmp_path, [USERS, MEMBERS], [*users(known), *members([*known, *unknown]), global_state_line(1)],
                create_missing_people=True)
    assert run.states[-1]["destinationStats"] == {"recordCount": 34.0}
    # Every add is preceded by an identify with the identifier only, in one v2 batch, then one call.
    identifies = [{"type": "person", "action": "identify", "identifiers": {"email": e}} for e in [*known, *unknown]]
    assert identifies in v2_batches(emu)
    assert segment_calls(emu) == [("/api/v1/segments/3/add_customers", "id_type=email", {"ids": [*known, *unknown]})]
    assert segment(emu) == sorted([*known, *unknown])
    assert emu.client.person(site_id=SITE, email="k0@example.com")["attributes"] == {"plan": "pro"}  # kept
    assert not any("did not identify" in text for text in run.logs)


def test_without_it_unknown_people_are_ignored_and_the_summary_says_how_many(
        emu: EmulatorProcess, tmp_path: Path) -> None:
    known, unknown = ["k0@example.com", "k1@example.com"], [f"u{i}@example.com" for i in range(30)]
    lines = [*users(known), *members([*known, *unknown]), *members(unknown[:5], segment=4), global_state_line(1)]
    run = write(emu, tmp_path, [USERS, MEMBERS], lines)
    assert run.states[-1]["destinationStats"] == {"recordCount": 39.0}  # accepted: Customer.io says 200
    assert [op["identifiers"]["email"] for batch in v2_batches(emu) for op in batch] == known  # users only
    assert segment(emu) == sorted(known)  # the emulator, like Customer.io, ignored the unknown ids
    assert len([n for n in emu.client.notices(site_id=SITE) if n["kind"] == "person_not_found"]) == 35
    warnings = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert [w for w in warnings if "did not identify" in w] == [
        "At least 35 segment adds concerned people this sync did not identify (segment 3: 30, segment 4: 5). "
        "Customer.io ignores an add for a person who does not exist (the call still succeeds), so whoever did "
        "not exist yet is not in the segment; set create_missing_people: true to identify each person before "
        "adding them."]


def test_a_removal_never_creates_and_order_holds_with_creation(emu: EmulatorProcess, tmp_path: Path) -> None:
    """An identify of a person that follows their add (in the input) still reaches Customer.io after the
    identify-only op and the add; a removal sends no identify."""
    emails = [f"c{i}@example.com" for i in range(40)]
    lines = [*members(emails), *users(emails[:10]), *members(emails[:10], _ab_cdc_deleted_at="2024-01-01T00:00:00Z"),
             global_state_line(1)]
    write(emu, tmp_path, [USERS, MEMBERS], lines, create_missing_people=True)
    seen: dict[str, list[str]] = {e: [] for e in emails}
    for request in emu.client.requests(site_id=SITE, limit=1_000):
        if request["path"] == "/api/v2/batch":
            for op in request["body"]["batch"]:
                seen[op["identifiers"]["email"]].append("identify " + op.get("attributes", {}).get("plan", "-"))
        elif request["path"].startswith("/api/v1/segments"):
            for email in request["body"]["ids"]:
                seen[email].append(request["path"].rsplit("/", 1)[-1])
    for email in emails:
        expected = ["identify -", "add_customers"]
        if email in emails[:10]:
            expected += ["identify pro", "remove_customers"]
        assert seen[email] == expected, email
    assert segment(emu) == sorted(emails[10:])


def test_people_known_by_id_are_created_with_that_id(emu: EmulatorProcess, tmp_path: Path) -> None:
    """The identify-only op uses the identifier the segment call's id_type names, so the person created
    is the one the call then adds."""
    by_id = configured_stream("vips", "segment_membership", mode="append_dedup", primary_key=[["person_id"]])
    lines = [record_line("vips", {"person_id": i, "segment_id": 3}) for i in (41, 42)] + [global_state_line(1)]
    write(emu, tmp_path, [by_id], lines, create_missing_people=True)
    assert v2_batches(emu) == [[{"type": "person", "action": "identify", "identifiers": {"id": i}} for i in ("41", "42")]]
    assert segment_calls(emu) == [("/api/v1/segments/3/add_customers", "id_type=id", {"ids": ["41", "42"]})]
    people = {p["cio_id"]: p["id"] for p in emu.client.people(site_id=SITE)}
    assert sorted(people[cio] for cio in emu.client.segments(site_id=SITE)["3"]) == ["41", "42"]
