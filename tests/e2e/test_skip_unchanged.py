"""skip_unchanged end to end: a resync sends only what changed since the ledger's last delivery, counts the
rest as accepted (states stay honest), re-sends entries older than resend_unchanged_after_days, and a
dry run previews it all without sending, emitting states or touching the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import Run, base_config, configured_stream, record_line, run_connector, state_line

SITE, KEY = "site-skip", "key-skip-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]
USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])
EMAILS = [f"p{i}@example.com" for i in range(5)]


def config(emu: EmulatorProcess, store: Path, **extra: Any) -> dict:
    storage = {"storage_type": "Local", "destination_path": str(store), "format": {"format_type": "JSONL"}}
    return base_config(emu.url, SITE, KEY, object_storage_config=storage, skip_unchanged=True, lanes=1, **extra)


def sync(emu: EmulatorProcess, tmp: Path, store: Path, plans: dict[str, str], **extra: Any) -> Run:
    lines = [record_line("users", {"person_email": e, "plan": p}) for e, p in plans.items()]
    lines.append(state_line("users", 1))
    run = run_connector(tmp, "write", config(emu, store, **extra), {"streams": [USERS]}, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def identified(emu: EmulatorProcess, since: int) -> list[tuple[str, str]]:
    return [(op["identifiers"]["email"], op["attributes"]["plan"])
            for r in emu.client.requests(site_id=SITE)[since:] for op in (r["body"] or {}).get("batch", [])]


def test_a_resync_sends_only_what_changed(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = sync(emu, tmp_path, store, {e: "free" for e in EMAILS})
    assert identified(emu, 0) == [(e, "free") for e in EMAILS]
    assert first.states[0]["destinationStats"] == {"recordCount": 5.0}
    before = len(emu.client.requests(site_id=SITE))
    second = sync(emu, tmp_path, store, {**{e: "free" for e in EMAILS}, EMAILS[2]: "pro"})
    assert identified(emu, before) == [(EMAILS[2], "pro")]
    # unchanged records are accepted (already delivered): the checksum still holds
    assert second.states[0]["destinationStats"] == {"recordCount": 5.0}
    assert any("4 unchanged (not sent again)" in line for line in second.logs)
    assert {p["email"]: p["attributes"]["plan"] for p in emu.client.people(site_id=SITE)}[EMAILS[2]] == "pro"
    # the ledger now holds "pro": a third identical sync sends nothing
    before = len(emu.client.requests(site_id=SITE))
    sync(emu, tmp_path, store, {**{e: "free" for e in EMAILS}, EMAILS[2]: "pro"})
    assert identified(emu, before) == []


def test_a_key_met_twice_is_sent_from_its_second_row_on(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    sync(emu, tmp_path, store, {EMAILS[0]: "free"})
    before = len(emu.client.requests(site_id=SITE))
    lines = [record_line("users", {"person_email": EMAILS[0], "plan": p}) for p in ("free", "pro", "free")]
    run = run_connector(tmp_path, "write", config(emu, store), {"streams": [USERS]}, [*lines, state_line("users", 2)])
    assert run.returncode == 0
    # the first row equals the ledger: skipped; the later rows are sent (merged into one identify, later
    # attributes winning), so the last row wins as it always does
    assert identified(emu, before) == [(EMAILS[0], "free")]
    assert run.states[0]["destinationStats"] == {"recordCount": 3.0}


def test_old_entries_are_sent_again(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    sync(emu, tmp_path, store, {e: "free" for e in EMAILS})
    before = len(emu.client.requests(site_id=SITE))
    # every entry is older than ~0.1 s: all are re-sent
    sync(emu, tmp_path, store, {e: "free" for e in EMAILS}, resend_unchanged_after_days=0.000001)
    assert identified(emu, before) == [(e, "free") for e in EMAILS]


def test_dry_run_previews_without_sending_or_states(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    sync(emu, tmp_path, store, {e: "free" for e in EMAILS})
    ledger_files = sorted(p.relative_to(store) for p in (store / "_customerio_ledger").rglob("*") if p.is_file())
    snapshot = {p: (store / p).read_bytes() for p in ledger_files}
    before = len(emu.client.requests(site_id=SITE))
    plans = {**{e: "free" for e in EMAILS}, EMAILS[1]: "pro", "new@example.com": "free"}
    lines = [record_line("users", {"person_email": e, "plan": p}) for e, p in plans.items()]
    lines += [record_line("users", {"person_email": "not-an-email", "plan": "x"}), state_line("users", 2)]
    run = run_connector(tmp_path, "write", config(emu, store, dry_run=True), {"streams": [USERS]}, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.states == []  # no cursor may advance past records that were not delivered
    assert len(emu.client.requests(site_id=SITE)) == before  # not even a region lookup
    assert {p: (store / p).read_bytes() for p in ledger_files} == snapshot  # the ledger is untouched
    (folder,) = (store / "_customerio_dry_run").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["streams"]["users"] | {"files": None} == {
        "operation": "person_identify", "records": 7, "would_send": 2, "by_action": {"identify": 2},
        "would_add": 1, "would_update": 1, "unchanged": 4, "would_remove": 0, "removals_held_back": 0,
        "rejected": {"identifier_invalid": 1}, "files": None}
    ops = [json.loads(line) for line in (folder / "users-00000.jsonl").read_text().splitlines()]
    assert [(o["path"], o["op"]["identifiers"], o["op"]["attributes"]) for o in ops] == [
        ("/api/v2/batch", {"email": EMAILS[1]}, {"plan": "pro"}),
        ("/api/v2/batch", {"email": "new@example.com"}, {"plan": "free"})]
    rejected = [p for p in (folder / "rejected").rglob("*.jsonl")]
    assert len(rejected) == 1 and "not-an-email" in rejected[0].read_text()
