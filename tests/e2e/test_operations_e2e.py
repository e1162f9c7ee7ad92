"""Every Customer.io operation end to end: records through the installed ``destination-customer-io``
console script (a subprocess, stdin from a file) into the emulator in another process; each test
asserts what the workspace holds afterwards (people, events, devices, objects, relationships,
segments, suppressions), and the exact JSON where the wire shape is the point (v1 segment calls).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import (CONSOLE_SCRIPT, Run, base_config, configured_stream, record_line,
                               global_state_line, run_connector, state_line)

SITE, KEY = "site-ops", "key-ops-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]  # the emulator fixture's (conftest.py)
T = 1_700_000_000


def cli(tmp: Path, command: str, config: dict[str, Any], streams: list[dict[str, Any]] | None = None,
        lines: list[str] | None = None) -> Run:
    """The installed console script, ``destination-customer-io <command>``, as a user runs it."""
    catalog = None if streams is None else {"streams": streams}
    return run_connector(tmp, command, config, catalog, lines, program=CONSOLE_SCRIPT)


def write(emu: EmulatorProcess, tmp: Path, streams: list[dict[str, Any]], lines: list[str],
          **config: Any) -> Run:
    run = cli(tmp, "write", base_config(emu.url, SITE, KEY, **config), streams, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    assert KEY.encode() not in run.stdout + run.stderr
    return run


def stats(run: Run) -> list[dict[str, float]]:
    return [state["destinationStats"] for state in run.states]


def people_by_email(emu: EmulatorProcess) -> dict[str, dict[str, Any]]:
    return {p["email"]: p for p in emu.client.people(site_id=SITE)}


def users(*emails: str, **attributes: Any) -> list[str]:
    return [record_line("users", {"person_email": email, **attributes}) for email in emails]


USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])


# --- discover ------------------------------------------------------------------------------------

def test_discover_lists_every_operation_mode_and_matching_keys(emu: EmulatorProcess, tmp_path: Path) -> None:
    run = cli(tmp_path, "discover", base_config(emu.url, SITE, KEY))
    assert run.returncode == 0
    (catalog,) = run.of_type("DESTINATION_CATALOG")
    entries = catalog["destination_catalog"]["operations"]
    assert [(e["object_name"], e["sync_mode"], e.get("matching_keys")) for e in entries] == [
        ("person_identify", "append_dedup", [["person_email"], ["person_id"], ["person_cio_id"]]),
        ("person_identify", "update", [["person_email"], ["person_id"], ["person_cio_id"]]),
        ("person_event", "append", None),
        ("person_anonymous_event", "append", None),
        ("person_page", "append", None),
        ("person_screen", "append", None),
        ("person_delete", "append", None),
        ("person_suppress", "append", None),
        ("person_unsuppress", "append", None),
        ("person_device", "append_dedup", [["device_token"]]),
        ("person_device", "soft_delete", [["device_token"]]),
        ("person_merge", "append", None),
        ("object_identify", "append_dedup", [["object_type_id", "object_id"]]),
        ("object_delete", "append", None),
        ("relationship", "append_dedup", [[p, "object_type_id", "object_id"]
                                          for p in ("person_email", "person_id", "person_cio_id")]),
        ("relationship", "soft_delete", [[p, "object_type_id", "object_id"]
                                         for p in ("person_email", "person_id", "person_cio_id")]),
        ("relationship", "overwrite", [[p, "object_type_id", "object_id"]
                                       for p in ("person_email", "person_id", "person_cio_id")]),
        ("segment_membership", "append_dedup", [["segment_id", p]
                                                for p in ("person_email", "person_id", "person_cio_id")]),
        ("segment_membership", "soft_delete", [["segment_id", p]
                                               for p in ("person_email", "person_id", "person_cio_id")]),
        ("segment_membership", "overwrite", [["segment_id", p]
                                             for p in ("person_email", "person_id", "person_cio_id")]),
    ]
    for entry in entries:
        assert entry["json_schema"]["type"] == "object" and entry["json_schema"]["additionalProperties"] is True


# --- activity: anonymous events, pages, screens --------------------------------------------------

def test_anonymous_events_are_stored_once_under_their_anonymous_id(emu: EmulatorProcess, tmp_path: Path) -> None:
    stream = configured_stream("visits", "person_anonymous_event")
    first = {"anonymous_id": "anon-1", "event_name": "viewed_pricing", "timestamp": T, "plan": "pro"}
    lines = [record_line("visits", first), record_line("visits", first),  # a replayed row: one event
             record_line("visits", {"anonymous_id": "anon-2", "event_name": "signed_up", "event_id": "e-9"}),
             record_line("visits", {"event_name": "no_one"}), state_line("visits", 1)]
    run = write(emu, tmp_path, [stream], lines)
    assert stats(run) == [{"recordCount": 3.0, "rejectedRecordCount": 1.0}]
    events = {e["name"]: e for e in emu.client.events(site_id=SITE)}  # activity is not ordered
    assert {name: (e["type"], e["anonymous_id"], e["cio_id"], e["data"]) for name, e in events.items()} == {
        "viewed_pricing": ("event", "anon-1", None, {"plan": "pro"}),
        "signed_up": ("event", "anon-2", None, None)}
    assert events["viewed_pricing"]["timestamp"] == T
    assert events["signed_up"]["timestamp"] > T  # no timestamp sent: Customer.io uses arrival time
    assert events["signed_up"]["id"] == events["signed_up"]["id"].upper() and len(events["signed_up"]["id"]) == 26
    assert emu.client.counters(site_id=SITE)["duplicates"] == 1
    assert emu.client.people(site_id=SITE) == []  # anonymous activity creates no person


def test_pages_and_screens_of_people_and_anonymous_visitors(emu: EmulatorProcess, tmp_path: Path) -> None:
    streams = [USERS, configured_stream("pages", "person_page"), configured_stream("screens", "person_screen")]
    lines = [*users("ann@example.com"),
             record_line("pages", {"person_email": "ann@example.com", "url": "https://example.com/pricing",
                                   "timestamp": "2023-11-14T22:13:20Z", "referrer": "ad"}),
             record_line("pages", {"anonymous_id": "anon-7", "url": "https://example.com/"}),
             record_line("pages", {"person_email": "ann@example.com", "url": "https://example.com/" + "x" * 90}),
             record_line("screens", {"person_email": "ann@example.com", "screen_name": "Home", "timestamp": T}),
             global_state_line(1)]
    run = write(emu, tmp_path, streams, lines)
    assert stats(run) == [{"recordCount": 4.0, "rejectedRecordCount": 1.0}]  # the 110-byte URL
    ann = emu.client.person(site_id=SITE, email="ann@example.com")
    views = [(e["type"], e["name"], e["cio_id"], e["anonymous_id"], e["data"])
             for e in emu.client.events(site_id=SITE)]
    assert sorted(views, key=str) == sorted([
        ("page", "https://example.com/pricing", ann["cio_id"], None, {"referrer": "ad"}),
        ("page", "https://example.com/", None, "anon-7", None),
        ("screen", "Home", ann["cio_id"], None, None),
    ], key=str)
    assert emu.client.events(site_id=SITE, type="page", cio_id=ann["cio_id"])[0]["timestamp"] == T


# --- whole-person actions ------------------------------------------------------------------------

def test_delete_suppress_and_unsuppress(emu: EmulatorProcess, tmp_path: Path) -> None:
    streams = [USERS, configured_stream("deletions", "person_delete"),
               configured_stream("suppressions", "person_suppress"),
               configured_stream("unsuppressions", "person_unsuppress")]
    lines = [*users("a@example.com", "b@example.com", "c@example.com", plan="pro"),
             record_line("deletions", {"person_email": "a@example.com", "reason": "gdpr"}),
             record_line("suppressions", {"person_email": "b@example.com"}),
             record_line("suppressions", {"person_email": "c@example.com"}),
             record_line("unsuppressions", {"person_email": "c@example.com"}),
             record_line("deletions", {"person_email": None}),
             global_state_line(1)]
    run = write(emu, tmp_path, streams, lines)
    assert stats(run) == [{"recordCount": 7.0, "rejectedRecordCount": 1.0}]
    assert list(people_by_email(emu)) == []  # a deleted, b and c suppressed (which deletes)
    assert emu.client.suppressed(site_id=SITE) == [{"cio_id": emu.client.suppressed(site_id=SITE)[0]["cio_id"],
                                                    "email": "b@example.com"}]
    # b stays blocked, c was freed: a later sync re-creates c only.
    write(emu, tmp_path, [USERS], [*users("b@example.com", "c@example.com", plan="back"), state_line("users", 2)])
    assert {e: p["attributes"] for e, p in people_by_email(emu).items()} == {"c@example.com": {"plan": "back"}}


# --- devices -------------------------------------------------------------------------------------

def test_devices_added_updated_and_removed(emu: EmulatorProcess, tmp_path: Path) -> None:
    streams = [USERS,
               configured_stream("devices", "person_device", mode="append_dedup", primary_key=[["device_token"]],
                                 properties={"person_email": {"type": "string"},
                                             "last_used": {"type": "string", "format": "date-time"}}),
               configured_stream("uninstalls", "person_device", mode="soft_delete")]
    lines = [*users("ann@example.com"),
             record_line("devices", {"person_email": "ann@example.com", "device_token": "tok-ios",
                                     "platform": "iOS", "last_used": "2023-11-14T22:13:20Z", "app": "1.0"}),
             record_line("devices", {"person_email": "ann@example.com", "device_token": "tok-ios",
                                     "platform": "ios", "app": "1.1"}),
             record_line("devices", {"person_email": "ann@example.com", "device_token": "tok-and",
                                     "platform": "android"}),
             record_line("devices", {"person_email": "ann@example.com", "device_token": "tok-old",
                                     "platform": "android"}),
             record_line("devices", {"person_email": "ann@example.com", "device_token": "tok-web",
                                     "platform": "web"}),
             record_line("uninstalls", {"person_email": "ann@example.com", "device_token": "tok-and"}),
             record_line("devices", {"person_email": "ann@example.com", "device_token": "tok-old",
                                     "_ab_cdc_deleted_at": "2024-01-01T00:00:00Z"}),
             global_state_line(1)]
    run = write(emu, tmp_path, streams, lines)
    assert stats(run) == [{"recordCount": 7.0, "rejectedRecordCount": 1.0}]  # platform web
    ann = emu.client.person(site_id=SITE, email="ann@example.com")
    assert ann["devices"] == [{"token": "tok-ios", "platform": "ios", "last_used": T, "attributes": {"app": "1.1"}}]


# --- merge ---------------------------------------------------------------------------------------

def test_merge_folds_the_secondary_into_the_primary(emu: EmulatorProcess, tmp_path: Path) -> None:
    # The people exist before the merge sync: a merge is not ordered against the secondary's own ops.
    write(emu, tmp_path, [USERS, configured_stream("events", "person_event")], [
        *users("main@example.com", plan="pro"),
        record_line("users", {"person_email": "old@example.com", "plan": "free", "city": "Paris"}),
        record_line("events", {"person_email": "old@example.com", "event_name": "opened", "timestamp": T}),
        state_line("events", 1)])
    old_cio = emu.client.person(site_id=SITE, email="old@example.com")["cio_id"]
    merges = configured_stream("merges", "person_merge")
    run = write(emu, tmp_path, [merges], [
        record_line("merges", {"primary_email": "main@example.com", "secondary_email": "old@example.com"}),
        record_line("merges", {"primary_email": "main@example.com", "secondary_email": "MAIN@example.com"}),
        state_line("merges", 2)])
    assert stats(run) == [{"recordCount": 1.0, "rejectedRecordCount": 1.0}]  # the same person twice
    assert list(people_by_email(emu)) == ["main@example.com"]
    main = emu.client.person(site_id=SITE, email="main@example.com")
    assert main["attributes"] == {"plan": "pro", "city": "Paris"}  # the primary's values win
    assert [(e["name"], e["cio_id"]) for e in emu.client.events(site_id=SITE)] == [("opened", main["cio_id"])]
    assert emu.client.person(site_id=SITE, cio_id=old_cio) is None


# --- objects and relationships -------------------------------------------------------------------

def test_objects_and_relationships(emu: EmulatorProcess, tmp_path: Path) -> None:
    objects = configured_stream("accounts", "object_identify", mode="append_dedup",
                                primary_key=[["object_type_id", "object_id"]])
    relationships = configured_stream("members", "relationship", mode="append_dedup",
                                      primary_key=[["person_email", "object_type_id", "object_id"]])
    removed = configured_stream("former_members", "relationship", mode="soft_delete")
    run = write(emu, tmp_path, [USERS, objects, relationships, removed], [
        *users("ann@example.com", "bob@example.com"),
        record_line("accounts", {"object_type_id": 1, "object_id": "acme", "name": "Acme", "tier": "gold"}),
        record_line("accounts", {"object_type_id": "1", "object_id": "globex", "name": "Globex"}),
        record_line("accounts", {"object_type_id": "one", "object_id": "bad"}),
        record_line("members", {"person_email": "ann@example.com", "object_type_id": "1", "object_id": "acme",
                                "role": "admin"}),
        record_line("members", {"person_email": "bob@example.com", "object_type_id": "1", "object_id": "acme",
                                "role": "viewer"}),
        record_line("members", {"person_email": "bob@example.com", "object_type_id": "1", "object_id": "globex"}),
        record_line("former_members", {"person_email": "bob@example.com", "object_type_id": "1",
                                       "object_id": "acme"}),
        record_line("members", {"person_email": "ann@example.com", "object_type_id": "1", "object_id": "globex",
                                "_ab_cdc_deleted_at": "2024-01-01T00:00:00Z"}),
        global_state_line(1)])
    assert stats(run) == [{"recordCount": 9.0, "rejectedRecordCount": 1.0}]  # object type "one"
    assert {(o["object_id"], json.dumps(o["attributes"], sort_keys=True)) for o in emu.client.objects(site_id=SITE)} \
        == {("acme", '{"name": "Acme", "tier": "gold"}'), ("globex", '{"name": "Globex"}')}
    assert sorted((r["email"], r["object_id"], json.dumps(r["attributes"]))
                  for r in emu.client.relationships(site_id=SITE)) == [
        ("ann@example.com", "acme", '{"role": "admin"}'), ("bob@example.com", "globex", "{}")]

    # A later sync: "" removes an object attribute (Customer.io's documented rule for objects), an
    # object delete removes the object and its relationships.
    deletes = configured_stream("closed_accounts", "object_delete")
    run = write(emu, tmp_path, [objects, deletes], [
        record_line("accounts", {"object_type_id": "1", "object_id": "acme", "tier": ""}),
        record_line("closed_accounts", {"object_type_id": "1", "object_id": "globex"}),
        global_state_line(2)])
    assert stats(run) == [{"recordCount": 2.0}]
    assert emu.client.objects(site_id=SITE) == [
        {"object_type_id": "1", "object_id": "acme", "attributes": {"name": "Acme"}}]
    assert [(r["email"], r["object_id"]) for r in emu.client.relationships(site_id=SITE)] == [
        ("ann@example.com", "acme")]

    # update mode is refused for objects before anything is read or sent (Customer.io documents
    # `_update` for people only)
    updates = configured_stream("account_updates", "object_identify", mode="update")
    requests_before = len(emu.client.requests(site_id=SITE))
    run = cli(tmp_path, "write", base_config(emu.url, SITE, KEY), [updates], [
        record_line("account_updates", {"object_type_id": "1", "object_id": "acme", "name": "ACME"}),
        state_line("account_updates", 3)])
    assert run.returncode == 1 and run.states == []
    assert [e["failure_type"] for e in run.errors] == ["config_error"]
    assert "asks for sync mode `update`, which `object_identify` does not support" in run.errors[0]["message"]
    assert len(emu.client.requests(site_id=SITE)) == requests_before
    assert emu.client.objects(site_id=SITE)[0]["attributes"] == {"name": "Acme"}


# --- manual segments (v1) ------------------------------------------------------------------------

def test_segment_membership_adds_and_removes_in_input_order(emu: EmulatorProcess, tmp_path: Path) -> None:
    members = configured_stream("vips", "segment_membership", mode="append_dedup",
                                primary_key=[["segment_id", "person_email"]])
    leavers = configured_stream("ex_vips", "segment_membership", mode="soft_delete")
    lines = [*users("a@example.com", "b@example.com", "c@example.com"),
             *[record_line("vips", {"person_email": e, "segment_id": 7})
               for e in ("a@example.com", "b@example.com", "c@example.com")],
             record_line("vips", {"person_email": "a@example.com", "segment_id": "8"}),
             record_line("ex_vips", {"person_email": "b@example.com", "segment_id": 7}),
             record_line("vips", {"person_email": "c@example.com", "segment_id": 8,
                                  "_ab_cdc_deleted_at": "2024-01-01T00:00:00Z"}),
             record_line("vips", {"person_email": "c@example.com", "segment_id": "seven"}),
             global_state_line(1)]
    run = write(emu, tmp_path, [USERS, members, leavers], lines, lanes=1)
    assert stats(run) == [{"recordCount": 9.0, "rejectedRecordCount": 1.0}]
    cio = {e: p["cio_id"] for e, p in people_by_email(emu).items()}
    assert emu.client.segments(site_id=SITE) == {
        "7": [cio["a@example.com"], cio["c@example.com"]], "8": [cio["a@example.com"]]}
    calls = [(r["path"], r["query"], r["body"]) for r in emu.client.requests(site_id=SITE)
             if r["path"].startswith("/api/v1/segments")]
    # One lane: the ids of a route gather into one call; a person's remove follows their add.
    assert sorted(calls, key=str) == sorted([
        ("/api/v1/segments/7/add_customers", "id_type=email",
         {"ids": ["a@example.com", "b@example.com", "c@example.com"]}),
        ("/api/v1/segments/8/add_customers", "id_type=email", {"ids": ["a@example.com"]}),
        ("/api/v1/segments/7/remove_customers", "id_type=email", {"ids": ["b@example.com"]}),
        ("/api/v1/segments/8/remove_customers", "id_type=email", {"ids": ["c@example.com"]}),
    ], key=str)


def test_segment_calls_hold_at_most_1000_ids(emu: EmulatorProcess, tmp_path: Path) -> None:
    people = [f"p{i}@example.com" for i in range(1_001)]
    members = configured_stream("vips", "segment_membership", mode="append_dedup")
    lines = [*users(*people), *[record_line("vips", {"person_email": e, "segment_id": 3}) for e in people],
             global_state_line(1)]
    run = write(emu, tmp_path, [USERS, members], lines, lanes=1)
    assert stats(run) == [{"recordCount": 2_002.0}]
    assert len(emu.client.segments(site_id=SITE)["3"]) == 1_001
    sizes = [len(r["body"]["ids"]) for r in emu.client.requests(site_id=SITE, limit=1_000)
             if r["path"] == "/api/v1/segments/3/add_customers"]
    assert sizes == [1_000, 1]
