"""The `ledger` command (show, reset, allow-removals) on ledgers real syncs wrote, and the mirror cases it
serves: the guard and its one-time allowance, a reset ledger, two connections sharing one store. Each
sync's exact segment requests, as the emulator received them, are asserted."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from destination_customer_io.ledger import files
from tests.e2e.test_mirror import (EMAILS, KEY, OTHER_KEY, OTHER_SITE, SITE, WORKSPACES, config, members_stream,
                                   mirror, people, segment, segment_calls, status_line)
from tests.support.cli import CONSOLE_SCRIPT, Run, configured_stream, record_line, run_connector, state_line
from tests.support.s3 import MotoS3

__all__ = ["WORKSPACES"]  # the emulator fixture (tests/e2e/conftest.py) serves this module's WORKSPACES

MEMBERS = [f"m{i:03d}@example.com" for i in range(200)]
NEWCOMERS = [f"n{i:03d}@example.com" for i in range(150)]
REMOVE_7 = "/api/v1/segments/7/remove_customers?id_type=email"
S3_SECRET = "s3-secret-value-ledger"


def ledger(tmp: Path, cfg: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """``destination-customer-io ledger --config <cfg> <args>``; no secret of either workspace in its output."""
    path = tmp / "ledger-config.json"
    path.write_text(json.dumps(cfg))
    done = subprocess.run([*CONSOLE_SCRIPT, "ledger", "--config", str(path), *args], capture_output=True,
                          text=True, timeout=60)
    for secret in (SITE, KEY, OTHER_SITE, OTHER_KEY, S3_SECRET, "AKIAEXAMPLE"):
        assert secret not in done.stdout + done.stderr
    return done


def where(store: Path, site: str = SITE, scope: str = "default", name: str = "vips",
          operation: str = "segment_membership") -> str:
    return f"{store}/{files.scope_prefix(site, scope)}{files.stream_dir(None, name, operation)}"


def named(store: Path, prefix: str, **stream: str) -> str:
    """The one file of the stream's ledger whose name starts with ``prefix`` (names carry checksums)."""
    [found] = [p.name for p in Path(where(store, **stream)).iterdir() if p.name.startswith(prefix)]
    return found


def ok(run: Run) -> Run:
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def calls_since(emu: EmulatorProcess, start: int, site: str = SITE) -> list[tuple[str, list[str]]]:
    return segment_calls(emu, site)[start:]


def held_error(run: Run) -> str:
    assert run.returncode == 1
    [error] = run.errors
    assert error["failure_type"] == "config_error"
    return error["message"]


# --- the guard and allow-removals ------------------------------------------------------------------

def test_the_guard_holds_removals_until_allowed_and_an_allowance_serves_once(emu: EmulatorProcess,
                                                                              tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, MEMBERS + NEWCOMERS)
    ok(mirror(emu, tmp_path, store, MEMBERS, 1))
    start = len(segment_calls(emu))
    held = mirror(emu, tmp_path, store, MEMBERS[:50], 2)
    assert calls_since(emu, start) == [("add_customers", MEMBERS[:50])]  # nothing removed
    message = held_error(held)
    [held_file] = (store / "_customerio_ledger").rglob("removals-held-*.jsonl")
    assert "would remove 150 of its 200 previous members" in message
    assert f"The list is at {held_file}." in message
    assert ("`destination-customer-io ledger --config <config.json> allow-removals --stream vips --count 150`"
            in message)
    [shown] = json.loads(ledger(tmp_path, config(emu, store), "show", "--json").stdout)["streams"]
    assert (shown["rows"], shown["older_than_last_generation"], shown["held"], shown["allowance"]) == (
        {"total": 200, "members": 200, "maybe": 0}, 150, [{"name": held_file.name, "removals": 150}], None)
    held_lines = [json.loads(line) for line in held_file.read_text().splitlines()]
    assert sorted(held_lines, key=lambda line: line["op"]) == [
        {"stream": "vips", "path": REMOVE_7, "op": email} for email in MEMBERS[50:]]

    allowed = ledger(tmp_path, config(emu, store), "allow-removals", "--stream", "vips", "--count", "150")
    assert (allowed.returncode, allowed.stderr) == (0, "")
    assert allowed.stdout == (
        "Stream vips (segment_membership): its next sync may remove up to 150, past max_mirror_removal_percent; "
        f"that sync uses the allowance up. Written to {where(store)}allow-removals.json.\n")
    assert json.loads(Path(where(store), "allow-removals.json").read_text())["removals"] == 150
    assert json.loads(ledger(tmp_path, config(emu, store), "show", "--json").stdout)["streams"][0]["allowance"] == 150

    start = len(segment_calls(emu))
    ok(mirror(emu, tmp_path, store, MEMBERS[:50], 2))  # the same generation again, now allowed
    assert calls_since(emu, start) == [("add_customers", MEMBERS[:50]), ("remove_customers", MEMBERS[50:])]
    assert segment(emu) == MEMBERS[:50]
    assert not Path(where(store), "allow-removals.json").exists()

    ok(mirror(emu, tmp_path, store, MEMBERS[:50] + NEWCOMERS, 3))  # grows back to 200
    start = len(segment_calls(emu))
    again = mirror(emu, tmp_path, store, MEMBERS[:40], 4)  # a further shrink: the allowance is spent
    assert calls_since(emu, start) == [("add_customers", MEMBERS[:40])]
    assert "would remove 160 of its 200 previous members" in held_error(again)
    assert segment(emu) == sorted(MEMBERS[:50] + NEWCOMERS)


def test_an_allowance_is_spent_by_the_next_sync_even_when_its_removals_stay_within_the_guard(
        emu: EmulatorProcess, tmp_path: Path) -> None:
    """`ledger allow-removals` allows the *next* sync: left for a later one, it would wave through a mass
    removal nobody looked at (mirroring.py used to keep it until a sync tripped the guard)."""
    store = tmp_path / "store"
    people(emu, tmp_path, MEMBERS)
    ok(mirror(emu, tmp_path, store, MEMBERS, 1))
    ok(ledger(tmp_path, config(emu, store), "allow-removals", "--stream", "vips", "--count", "150"))
    start = len(segment_calls(emu))
    ok(mirror(emu, tmp_path, store, MEMBERS[:190], 2))  # 10 removals: within the guard
    assert calls_since(emu, start) == [("add_customers", MEMBERS[:190]), ("remove_customers", MEMBERS[190:])]
    assert not Path(where(store), "allow-removals.json").exists()
    start = len(segment_calls(emu))
    held = mirror(emu, tmp_path, store, MEMBERS[:40], 3)  # 150 removals: the guard holds them
    assert calls_since(emu, start) == [("add_customers", MEMBERS[:40])]
    assert "would remove 150 of its 190 previous members" in held_error(held)


def test_an_incomplete_sync_leaves_the_allowance_for_the_next_complete_one(emu: EmulatorProcess,
                                                                          tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, MEMBERS)
    ok(mirror(emu, tmp_path, store, MEMBERS, 1))
    ok(ledger(tmp_path, config(emu, store), "allow-removals", "--stream", "vips", "--count", "150"))
    start = len(segment_calls(emu))
    ok(mirror(emu, tmp_path, store, MEMBERS[:50], 2, statuses=False))  # not known complete: no removals
    assert calls_since(emu, start) == [("add_customers", MEMBERS[:50])]
    assert Path(where(store), "allow-removals.json").exists()
    start = len(segment_calls(emu))
    ok(mirror(emu, tmp_path, store, MEMBERS[:50], 2))
    assert calls_since(emu, start) == [("add_customers", MEMBERS[:50]), ("remove_customers", MEMBERS[50:])]


# --- reset -----------------------------------------------------------------------------------------

def test_a_reset_ledger_syncs_as_a_first_sync(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    ok(mirror(emu, tmp_path, store, EMAILS[:3], 1))
    snapshot = named(store, "snapshot-00000001-")
    reset = ledger(tmp_path, config(emu, store), "reset")
    assert (reset.returncode, reset.stderr) == (0, "")
    assert reset.stdout == (
        f"Reset the sync ledger of stream vips (segment_membership): deleted 1 file at {where(store)}: "
        f"{snapshot}. Its next sync is a first sync again: everything is sent, and a mirror "
        "removes nothing.\n")
    assert [p for p in (store / "_customerio_ledger").rglob("*") if p.is_file()] == []
    start = len(segment_calls(emu))
    second = ok(mirror(emu, tmp_path, store, [EMAILS[0]], 2))
    assert calls_since(emu, start) == [("add_customers", [EMAILS[0]])]  # p1 and p2 left, nothing removed
    assert any("mirror: 0 removed, nothing to remove" in line for line in second.logs)
    assert segment(emu) == EMAILS[:3]
    start = len(segment_calls(emu))
    ok(mirror(emu, tmp_path, store, [EMAILS[3]], 3))  # the ledger since the reset knows p0 only
    assert calls_since(emu, start) == [("add_customers", [EMAILS[3]]), ("remove_customers", [EMAILS[0]])]
    assert segment(emu) == [EMAILS[1], EMAILS[2], EMAILS[3]]
    again = ledger(tmp_path, config(emu, store, ledger_scope="other"), "reset")
    assert again.stdout == (f"Nothing to reset: no sync ledger under {store}/{files.scope_prefix(SITE, 'other')} "
                            "(ledger_scope `other`).\n")


def test_reset_of_one_stream_keeps_the_others(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    ok(mirror(emu, tmp_path, store, EMAILS[:2], 1, name="vips"))
    ok(mirror(emu, tmp_path, store, EMAILS[2:4], 1, name="churned", segment=8))
    snapshot = named(store, "snapshot-00000001-", name="churned")
    reset = ledger(tmp_path, config(emu, store), "reset", "--stream", "churned")
    assert reset.stdout.startswith(f"Reset the sync ledger of stream churned (segment_membership): deleted 1 "
                                   f"file at {where(store, name='churned')}: {snapshot}.")
    shown = json.loads(ledger(tmp_path, config(emu, store), "show", "--json").stdout)
    assert [(s["stream"], s["rows"]["members"]) for s in shown["streams"]] == [("vips", 2)]


# --- two connections sharing one store -------------------------------------------------------------

def test_two_workspaces_sharing_a_store_keep_their_ledgers_apart(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"  # one store path, one stream name, one segment id: two workspaces
    people(emu, tmp_path, EMAILS[:3])
    people(emu, tmp_path, EMAILS[3:], site=OTHER_SITE, key=OTHER_KEY)
    ok(mirror(emu, tmp_path, store, EMAILS[:3], 1))
    ok(mirror(emu, tmp_path, store, EMAILS[3:], 1, site=OTHER_SITE, key=OTHER_KEY))
    ok(mirror(emu, tmp_path, store, [EMAILS[0]], 2))
    ok(mirror(emu, tmp_path, store, EMAILS[3:], 2, site=OTHER_SITE, key=OTHER_KEY))
    assert segment_calls(emu) == [("add_customers", EMAILS[:3]), ("add_customers", [EMAILS[0]]),
                                  ("remove_customers", EMAILS[1:3])]
    assert segment_calls(emu, OTHER_SITE) == [("add_customers", EMAILS[3:]), ("add_customers", EMAILS[3:])]
    assert segment(emu) == [EMAILS[0]]
    assert segment(emu, site=OTHER_SITE) == EMAILS[3:]
    for site, key, members in ((SITE, KEY, 1), (OTHER_SITE, OTHER_KEY, 3)):
        shown = json.loads(ledger(tmp_path, config(emu, store, site, key), "show", "--json").stdout)
        assert [(s["where"], s["rows"]["members"]) for s in shown["streams"]] == [(where(store, site), members)]


def sync(emu: EmulatorProcess, tmp: Path, cfg: dict[str, Any], emails: list[str], generation: int) -> Run:
    """A mirror sync of stream vips into segment 7 with any config (``mirror`` builds a Local one)."""
    lines = [record_line("vips", {"person_email": e, "segment_id": 7}) for e in emails]
    lines += [state_line("vips", generation), status_line("vips")]
    return ok(run_connector(tmp, "write", cfg, {"streams": [members_stream("vips", generation)]}, lines))


def test_two_workspaces_sharing_an_s3_bucket_path_keep_their_ledgers_apart(emu: EmulatorProcess,
                                                                           tmp_path: Path) -> None:
    s3 = MotoS3(enforce_auth=False).start()
    try:
        s3.create_bucket("shared")
        storage = {"storage_type": "S3", "s3_bucket_name": "shared", "s3_bucket_region": "us-east-1",
                   "bucket_path": "cio", "s3_endpoint": s3.endpoint, "access_key_id": "AKIAEXAMPLE",
                   "secret_access_key": S3_SECRET, "format": {"format_type": "JSONL"}}
        first, other = ({**config(emu, tmp_path, site, key), "object_storage_config": storage}
                        for site, key in ((SITE, KEY), (OTHER_SITE, OTHER_KEY)))
        people(emu, tmp_path, EMAILS[:3])
        people(emu, tmp_path, EMAILS[3:], site=OTHER_SITE, key=OTHER_KEY)
        sync(emu, tmp_path, first, EMAILS[:3], 1)
        sync(emu, tmp_path, other, EMAILS[3:], 1)
        sync(emu, tmp_path, first, [EMAILS[0]], 2)
        sync(emu, tmp_path, other, EMAILS[3:], 2)
        assert segment_calls(emu) == [("add_customers", EMAILS[:3]), ("add_customers", [EMAILS[0]]),
                                      ("remove_customers", EMAILS[1:3])]
        assert segment_calls(emu, OTHER_SITE) == [("add_customers", EMAILS[3:]), ("add_customers", EMAILS[3:])]
        shown = json.loads(ledger(tmp_path, first, "show", "--json").stdout)
        s3_where = f"s3://shared/cio/{files.scope_prefix(SITE, 'default')}"
        assert (shown["where"], [(s["where"], s["rows"]["members"]) for s in shown["streams"]]) == (
            s3_where, [(s3_where + "___vips__segment_membership/", 1)])
        reset = ledger(tmp_path, first, "reset")
        assert re.match(f"Reset the sync ledger of stream vips \\(segment_membership\\): deleted 1 file at "
                        f"{re.escape(s3_where)}___vips__segment_membership/: snapshot-00000002-[0-9a-f]{{32}}.sqlite\\.",
                        reset.stdout)
        [kept] = s3.objects("shared", "cio/_customerio_ledger/")  # the other workspace's stays
        assert re.fullmatch(f"cio/{files.scope_prefix(OTHER_SITE, 'default')}___vips__segment_membership/"
                            "snapshot-00000002-[0-9a-f]{32}.sqlite", kept)
    finally:
        s3.stop()


def test_two_ledger_scopes_in_one_workspace_mirror_two_segments_apart(emu: EmulatorProcess,
                                                                      tmp_path: Path) -> None:
    store = tmp_path / "store"  # one store, one workspace, one stream name: two connections
    people(emu, tmp_path, EMAILS)
    ok(mirror(emu, tmp_path, store, EMAILS[:3], 1, segment=7, ledger_scope="conn-a"))
    ok(mirror(emu, tmp_path, store, EMAILS[3:], 1, segment=8, ledger_scope="conn-b"))
    ok(mirror(emu, tmp_path, store, [EMAILS[0]], 2, segment=7, ledger_scope="conn-a"))
    ok(mirror(emu, tmp_path, store, EMAILS[3:], 2, segment=8, ledger_scope="conn-b"))
    paths = [(r["path"], sorted(r["body"]["ids"])) for r in emu.client.requests(site_id=SITE)
             if r["path"].startswith("/api/v1/segments")]
    assert paths == [("/api/v1/segments/7/add_customers", EMAILS[:3]),
                     ("/api/v1/segments/8/add_customers", EMAILS[3:]),
                     ("/api/v1/segments/7/add_customers", [EMAILS[0]]),
                     ("/api/v1/segments/7/remove_customers", EMAILS[1:3]),
                     ("/api/v1/segments/8/add_customers", EMAILS[3:])]
    assert (segment(emu, 7), segment(emu, 8)) == ([EMAILS[0]], EMAILS[3:])
    a = json.loads(ledger(tmp_path, config(emu, store, ledger_scope="conn-a"), "show", "--json", "--keys", "9").stdout)
    assert [k["op"] for k in a["streams"][0]["keys"]] == [{"path": REMOVE_7, "body": EMAILS[0]}]


# --- show ------------------------------------------------------------------------------------------

def test_show_counts_a_ledger_with_members_and_write_ahead_intents(emu: EmulatorProcess, tmp_path: Path) -> None:
    """Generation 2 dies while Customer.io answers 503: its new members stay MAYBE (written ahead)."""
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    ok(mirror(emu, tmp_path, store, EMAILS[:3], 1))
    # the region look-up passes, every later request is answered 503
    emu.client.set_faults(schedule=[{"count": 1, "action": "pass"}], error_rate=1.0, error_statuses=[503])
    failed = mirror(emu, tmp_path, store, [EMAILS[0], EMAILS[3], EMAILS[4]], 2, retry_max_seconds=0.5)
    assert failed.returncode == 1 and failed.errors[0]["failure_type"] == "transient_error"
    emu.client.clear_faults()
    shown = ledger(tmp_path, config(emu, store), "show", "--json", "--keys", "10")
    assert (shown.returncode, shown.stderr) == (0, "")
    [stream] = json.loads(shown.stdout)["streams"]
    snapshot, delta = (Path(where(store)) / named(store, n) for n in ("snapshot-00000001-", "delta-00000001-00000001-"))
    assert {k: v for k, v in stream.items() if k not in ("last_sent", "keys")} == {
        "stream": "vips", "operation": "segment_membership", "mirror": True, "where": where(store),
        "snapshot": 1, "last_generation": 2, "rows": {"total": 5, "members": 3, "maybe": 2},
        "generations": {"min": 1, "max": 2}, "older_than_last_generation": 3, "deltas": {"loaded": 1, "ignored": 0},
        "bytes": snapshot.stat().st_size + delta.stat().st_size, "allowance": None, "held": [], "applied": [],
        "files": [{"name": snapshot.name, "bytes": snapshot.stat().st_size, "status": "loaded"},
                  {"name": delta.name, "bytes": delta.stat().st_size, "status": "loaded"}],
        "problems": []}
    assert stream["last_sent"]["min"] == stream["last_sent"]["max"]  # generation 1's single request
    assert [(k["text"], k["flag"], k["generation"], k["sent"] is None) for k in stream["keys"]] == [
        (f"remove_customers segment 7 (id_type=email): {email}", flag, gen, flag == "maybe")
        for email, flag, gen in ((EMAILS[0], "member", 1), (EMAILS[1], "member", 1), (EMAILS[2], "member", 1),
                                 (EMAILS[3], "maybe", 2), (EMAILS[4], "maybe", 2))]
    text = ledger(tmp_path, config(emu, store), "show", "--stream", "vips").stdout
    assert f"vips: segment_membership, mirror\n  where         {where(store)}\n" in text
    assert "  snapshot      1; deltas loaded 1, ignored 0; last generation 2\n" in text
    assert ("  rows          5: 3 members, 2 maybe (written ahead, not confirmed)\n  generations   1 - 2\n"
            "  left behind   3 rows older than generation 2: a complete rerun of it removes them\n") in text
    assert f"  bytes         {stream['bytes']:,} in 2 files\n" in text
    # what show counted is what the next sync loads
    rerun = ok(mirror(emu, tmp_path, store, [EMAILS[0], EMAILS[3], EMAILS[4]], 2))
    assert any(line.startswith("Sync ledger of stream vips: 5 keys (generation 2) loaded") for line in rerun.logs)


def test_show_reports_a_half_written_delta_and_counts_what_a_sync_would_load(emu: EmulatorProcess,
                                                                           tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS)
    ok(mirror(emu, tmp_path, store, EMAILS[:3], 1))
    snapshot = Path(where(store), named(store, "snapshot-00000001-"))
    checksum = snapshot.name.removeprefix("snapshot-00000001-")  # <blake2b>.sqlite
    cut = Path(where(store), f"delta-00000001-00000001-{checksum}")
    cut.write_bytes(snapshot.read_bytes()[:-7])  # an upload that lost its tail
    Path(where(store), f"delta-00000000-00000004-{checksum}").write_bytes(snapshot.read_bytes())  # of an older snapshot
    shown = ledger(tmp_path, config(emu, store), "show")
    assert (shown.returncode, shown.stderr) == (0, "")
    assert (f"    {cut.name}  {cut.stat().st_size:,} bytes  ignored: its {cut.stat().st_size} bytes do not have the "
            "checksum its name carries (a half-written file)\n") in shown.stdout
    assert (f"    delta-00000000-00000004-{checksum}  " f"{snapshot.stat().st_size:,} bytes  not loaded: it follows "
            "snapshot 0, not the loaded one (folded into a newer snapshot already; the next compaction deletes it)\n"
            ) in shown.stdout
    assert f"  problems\n    Ignored ledger file {where(store)}{cut.name}: its" in shown.stdout
    assert "  rows          3: 3 members, 0 maybe (written ahead, not confirmed)\n" in shown.stdout
    assert "  snapshot      1; deltas loaded 0, ignored 2; last generation 1\n" in shown.stdout


def test_show_keys_of_a_relationship_mirror_read_as_removals(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS[:2])
    stream = configured_stream("accounts", "relationship", mode="overwrite")
    lines = [record_line("accounts", {"person_email": e, "object_type_id": "1", "object_id": "acme"})
             for e in EMAILS[:2]] + [state_line("accounts", 1)]
    ok(run_connector(tmp_path, "write", config(emu, store, mirror_without_stream_status=True), {"streams": [stream]},
                     lines))
    shown = ledger(tmp_path, config(emu, store), "show", "--keys", "1")
    lines = shown.stdout.splitlines()
    assert "accounts: relationship, mirror" in lines
    assert "  keys          1 of 2 (the removal each stands for)" in lines
    [key] = [line for line in lines if line.startswith("    delete_relationships")]
    assert any(key.startswith(f"    delete_relationships person email={e} - object object_type_id=1 "
                              "object_id=acme  [member, generation 1, sent 20") for e in EMAILS[:2])


# --- mistakes --------------------------------------------------------------------------------------

def test_ledger_mistakes_are_one_line_on_stderr_and_exit_1(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    people(emu, tmp_path, EMAILS[:2])
    users = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])
    ok(run_connector(tmp_path, "write", config(emu, store, skip_unchanged=True), {"streams": [users]},
                     [record_line("users", {"person_email": e}) for e in EMAILS[:2]]))
    ok(mirror(emu, tmp_path, store, EMAILS[:2], 1))
    no_store = {**config(emu, store), "object_storage_config": {"storage_type": "None"}}
    cases = [
        (no_store, ["show"], "object_storage_config is None, so this config keeps no sync ledger: the ledger lives "
                             "in the S3 or Local store the connection's config names; use that config."),
        (config(emu, store), ["show", "--stream", "nope"],
         f"No sync ledger for stream `nope` under {store}/{files.scope_prefix(SITE, 'default')} (ledger_scope "
         "`default`); streams with a ledger there: users (person_identify), vips (segment_membership)."),
        (config(emu, store), ["allow-removals", "--stream", "users", "--count", "5"],
         "Stream `users` names users (person_identify), which keeps no mirror ledger: allow-removals is for the "
         "overwrite mode of segment_membership or relationship."),
        ({"credentials": {"siteId": SITE}}, ["show"], None),
    ]
    for cfg, args, message in cases:
        done = ledger(tmp_path, cfg, *args)
        assert (done.returncode, done.stdout) == (1, ""), args
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("destination-customer-io ledger: ")
        if message is not None:
            assert done.stderr == f"destination-customer-io ledger: {message}\n"
    users_ledger = json.loads(ledger(tmp_path, config(emu, store), "show", "--json", "--stream", "users").stdout)
    assert [(s["stream"], s["mirror"], s["rows"]) for s in users_ledger["streams"]] == [
        ("users", False, {"total": 2, "members": 2, "maybe": 0})]


def test_help_names_the_ledger_command_and_its_actions() -> None:
    def help_of(*args: str) -> str:
        done = subprocess.run([*CONSOLE_SCRIPT, *args, "--help"], capture_output=True, text=True, timeout=30)
        assert (done.returncode, done.stderr) == (0, "")
        return " ".join(done.stdout.split())

    assert ("ledger show or reset the sync ledger (mirror mode, skip_unchanged) kept in the configured store, or "
            "allow a mirror's next sync to remove more than its guard allows, once") in help_of()
    actions = help_of("ledger")
    assert "{show,reset,allow-removals}" in actions and "--config CONFIG.json" in actions
    assert "--keys N also up to N keys of a mirror stream, each as the removal it stands for" in \
        help_of("ledger", "show")
