"""retry_refused end to end through the CLI: a record Customer.io refused is re-sent at the start of the
next sync and applied, in no state's counts (every state checksum-true); one refused every time is given
up after ``retry_max_attempts``; records rejected before sending are never queued."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from destination_customer_io import retry
from tests.support.cli import CONSOLE_SCRIPT, base_config, configured_stream, record_line, run_connector, state_line

SITE, KEY = "site-retry-3", "key-retry-very-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]
USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])
BIO = "x" * 600  # with batch_max_bytes 1000 each op fills a batch: one 400 refuses exactly one record


def _config(emu: EmulatorProcess, store: Path, **extra: Any) -> dict[str, Any]:
    storage = {"storage_type": "Local", "destination_path": str(store), "format": {"format_type": "JSONL"}}
    return base_config(emu.url, SITE, KEY, object_storage_config=storage, region="us", lanes=1,
                       batch_max_bytes=1000, retry_refused=True, **extra)


def _write(emu: EmulatorProcess, tmp: Path, config: dict[str, Any], lines: list[str], refuse_first: bool) -> Any:
    if refuse_first:  # the region look-up passes, the first batch is answered 400 (naming no op)
        emu.client.set_faults(schedule=[{"count": 1, "action": "pass"}, {"count": 1, "status": 400}])
    try:
        run = run_connector(tmp, "write", config, {"streams": [USERS]}, lines)
    finally:
        emu.client.clear_faults()
    assert run.returncode == 0, run.stdout + run.stderr
    for state in run.states:  # the platform's checksum, on every state
        stats = state["destinationStats"]
        assert stats.get("recordCount", 0) + stats.get("rejectedRecordCount", 0) == state["sourceStats"]["recordCount"]
    return run


def _state(position: int, records: int) -> str:
    """A STREAM state as the platform hands it on: with the source's count of the records before it."""
    state = json.loads(state_line("users", position))
    state["state"]["sourceStats"] = {"recordCount": float(records)}
    return json.dumps(state)


def _user(email: str, plan: str) -> str:
    return record_line("users", {"person_email": email, "plan": plan, "bio": BIO})


def _sent(emu: EmulatorProcess, since: int) -> list[tuple[int, list[dict[str, Any]]]]:
    """Each batch request's status and ops after the first ``since`` requests, in order, timestamps dropped."""
    sent = []
    for request in emu.client.requests(site_id=SITE)[since:]:
        if request["path"] == "/api/v2/batch":
            ops = [{k: v for k, v in op.items() if k != "timestamp"} for op in request["body"]["batch"]]
            sent.append((request["status"], ops))
    return sent


def _identify(email: str, plan: str) -> dict[str, Any]:
    return {"type": "person", "action": "identify", "identifiers": {"email": email},
            "attributes": {"plan": plan, "bio": BIO}}


def _queue(store: Path) -> list[dict[str, Any]]:
    """The stream's queue: its parts' entries, oldest part first."""
    [folder] = {path.parent for path in (store / "_customerio_retry").rglob("*.json*")}
    assert folder.name == "___users" and SITE not in str(folder)  # never the site id (a secret)
    return [json.loads(line) for path in sorted(folder.glob("queue-*.jsonl")) for line in path.read_text().splitlines()]


def _summary(run: Any) -> str:
    """The retry queue's summary line, its in-flight peak (timing-dependent) made a placeholder."""
    line = next(line for line in run.logs if line.startswith("Retry queue (retry_refused): "))
    return re.sub(r"at most \d+ bytes", "at most <n> bytes", line)


def test_a_refused_record_is_applied_on_the_next_sync_outside_every_state(emu: EmulatorProcess,
                                                                          tmp_path: Path) -> None:
    store = tmp_path / "store"
    config = _config(emu, store, sync_log=True)
    first = _write(emu, tmp_path, config, [_user("p0@example.com", "pro"), _user("p1@example.com", "free"),
                                           record_line("users", {"plan": "no person"}),  # rejected before sending
                                           _state(1, 3)], refuse_first=True)
    assert first.states[0]["destinationStats"] == {"recordCount": 1.0, "rejectedRecordCount": 2.0}
    assert [entry["attempts"] for entry in _queue(store)] == [1]  # only the refused one, not the invalid one
    assert json.loads(_queue(store)[0]["line"])["record"]["data"]["person_email"] == "p0@example.com"
    assert emu.client.person(site_id=SITE, email="p0@example.com") is None
    assert _summary(first).startswith("Retry queue (retry_refused): 0 refused records retried, 0 succeeded, 0 given up")

    since = len(emu.client.requests(site_id=SITE))
    second = _write(emu, tmp_path, config, [_user("p2@example.com", "team"), _state(2, 1)],
                    refuse_first=False)
    # the queued record first, then the input: exactly what reached Customer.io
    assert _sent(emu, since) == [(200, [_identify("p0@example.com", "pro")]), (200, [_identify("p2@example.com", "team")])]
    assert emu.client.person(site_id=SITE, email="p0@example.com")["attributes"]["plan"] == "pro"
    assert second.states[0]["destinationStats"] == {"recordCount": 1.0}  # the retried record counts in no state
    assert _summary(second) == ("Retry queue (retry_refused): 1 refused records retried, 1 succeeded, 0 given up "
                                "after 5 attempts, 0 superseded by a fresh row of their key, 0 queued for the next sync. "
                                "Read from 1 part; at most <n> bytes were in flight.")
    assert _queue(store) == []
    # the sync log: the retried record's row says so, beside the input's one row
    runs = sorted((store / "_customerio_sync_log" / "runs").glob("*.jsonl.gz"))
    run_id = json.loads(gzip.decompress(runs[-1].read_bytes()))["run_id"]
    rows = [json.loads(line) for path in sorted((store / "_customerio_sync_log" / "records").rglob("*.gz"))
            for line in gzip.decompress(path.read_bytes()).splitlines()]
    assert sorted((r["key"], r["outcome"], r["reason"]) for r in rows if r["run_id"] == run_id) == [
        ("email:p0@example.com", "retried", None), ("email:p2@example.com", "accepted", None)]


def test_a_record_refused_every_time_is_given_up_after_the_maximum_attempts(emu: EmulatorProcess,
                                                                            tmp_path: Path) -> None:
    store = tmp_path / "store"
    config = _config(emu, store, retry_max_attempts=2)
    _write(emu, tmp_path, config, [_user("bad@example.com", "pro"), _user("ok@example.com", "free"),
                                   _state(1, 2)], refuse_first=True)
    assert [entry["attempts"] for entry in _queue(store)] == [1]

    since = len(emu.client.requests(site_id=SITE))
    second = _write(emu, tmp_path, config, [_user("ok2@example.com", "free"), _state(2, 1)],
                    refuse_first=True)  # the retried record, sent first, is refused again
    assert _sent(emu, since) == [(400, [_identify("bad@example.com", "pro")]),
                          (200, [_identify("ok2@example.com", "free")])]
    assert second.states[0]["destinationStats"] == {"recordCount": 1.0}  # refused again: in no state either
    assert _summary(second) == ("Retry queue (retry_refused): 1 refused records retried, 0 succeeded, 1 given up "
                                "after 2 attempts, 0 superseded by a fresh row of their key, 0 queued for the next sync. "
                                "Read from 1 part; at most <n> bytes were in flight.")
    assert _queue(store) == []
    # refused again, it is still stored as rejected, like any refusal
    rejected = [json.loads(line) for path in sorted(store.rglob("*.jsonl")) if "_customerio_" not in str(path)
                for line in path.read_text().splitlines()]
    assert [row["_airbyte_data"]["person_email"] for row in rejected] == ["bad@example.com", "bad@example.com"]

    since = len(emu.client.requests(site_id=SITE))
    _write(emu, tmp_path, config, [_user("ok3@example.com", "free"), _state(3, 1)], refuse_first=False)
    assert _sent(emu, since) == [(200, [_identify("ok3@example.com", "free")])]  # given up: never sent again


def test_a_fresh_row_of_the_same_key_supersedes_the_queued_one(emu: EmulatorProcess, tmp_path: Path) -> None:
    """The queued row goes first; the source's new row of that person merges into it (one identify, the new
    value) and is refused: the new row replaces the stale one in the queue, and the next sync applies it."""
    store = tmp_path / "store"
    config = _config(emu, store)
    _write(emu, tmp_path, config, [_user("p0@example.com", "old"), _state(1, 1)], refuse_first=True)
    assert [entry["attempts"] for entry in _queue(store)] == [1]
    since = len(emu.client.requests(site_id=SITE))
    second = _write(emu, tmp_path, config, [_user("p0@example.com", "new"), _state(2, 1)], refuse_first=True)
    assert _sent(emu, since) == [(400, [_identify("p0@example.com", "new")])]
    assert second.states[0]["destinationStats"] == {"recordCount": 0.0, "rejectedRecordCount": 1.0}  # the input's row, refused
    assert _summary(second) == ("Retry queue (retry_refused): 1 refused records retried, 0 succeeded, 0 given up "
                                "after 5 attempts, 1 superseded by a fresh row of their key, 1 queued for the next sync. "
                                "Read from 1 part; at most <n> bytes were in flight.")
    [queued] = _queue(store)
    assert (queued["attempts"], json.loads(queued["line"])["record"]["data"]["plan"]) == (1, "new")

    since = len(emu.client.requests(site_id=SITE))
    third = _write(emu, tmp_path, config, [_state(3, 0)], refuse_first=False)
    assert _sent(emu, since) == [(200, [_identify("p0@example.com", "new")])]
    assert third.states[0]["destinationStats"] == {"recordCount": 0.0}  # the retried record counts in none
    assert emu.client.person(site_id=SITE, email="p0@example.com")["attributes"]["plan"] == "new"
    assert _queue(store) == []


def test_off_nothing_is_queued_and_nothing_is_resent(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    config = {**_config(emu, store), "retry_refused": False}
    first = _write(emu, tmp_path, config, [_user("p0@example.com", "pro"), _state(1, 1)], refuse_first=True)
    assert first.states[0]["destinationStats"] == {"recordCount": 0.0, "rejectedRecordCount": 1.0}
    assert not (store / "_customerio_retry").exists()
    assert not any(line.startswith("Retry queue") for line in first.logs)
    since = len(emu.client.requests(site_id=SITE))
    _write(emu, tmp_path, config, [_user("p2@example.com", "team"), _state(2, 1)], refuse_first=False)
    assert _sent(emu, since) == [(200, [_identify("p2@example.com", "team")])]


def _ledger(tmp: Path, config: dict[str, Any], *args: str) -> str:
    """``destination-customer-io ledger --config <config> <args>``'s stdout; no secret in it."""
    path = tmp / "ledger-config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run([*CONSOLE_SCRIPT, "ledger", "--config", str(path), *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and SITE not in done.stdout and KEY not in done.stdout, done.stdout + done.stderr
    return done.stdout


def _queue_text(shown: str) -> list[str]:
    """The retry-queue part of ``ledger show``'s text, the sync time made a placeholder."""
    lines = shown.splitlines()
    part = lines[lines.index("users: retry queue (retry_refused)"):]
    return [re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>", line) for line in part]


def test_ledger_show_reports_the_queue_and_the_last_syncs_counts_and_reset_deletes_it(
        emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    config = _config(emu, store)
    where = f"{store}/{retry.scope_prefix(SITE, 'default')}___users/"
    _write(emu, tmp_path, config, [_user("p0@example.com", "pro"), _user("p1@example.com", "free"),
                                   _state(1, 2)], refuse_first=True)
    assert _queue_text(_ledger(tmp_path, config, "show")) == [
        "users: retry queue (retry_refused)", f"  where         {where}",
        "  retry queue   1 record (attempts 1: 1)",
        "  last sync     <time>: 0 retried, 0 succeeded, 0 given up, 0 superseded, 1 queued"]

    _write(emu, tmp_path, config, [_user("p2@example.com", "team"), _state(2, 1)], refuse_first=True)
    [shown] = json.loads(_ledger(tmp_path, config, "show", "--json", "--stream", "users"))["retry_queues"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown["last_sync"].pop("synced_at"))
    assert shown == {"stream": "users", "where": where, "records": 1, "attempts": {"2": 1}, "unreadable": 0,
                     "last_sync": {"retried": 1, "succeeded": 0, "given_up": 0, "superseded": 0, "queued": 1}}
    assert _queue_text(_ledger(tmp_path, config, "show"))[2:] == [
        "  retry queue   1 record (attempts 2: 1)",
        "  last sync     <time>: 1 retried, 0 succeeded, 0 given up, 0 superseded, 1 queued"]

    said = _ledger(tmp_path, config, "reset", "--stream", "users")
    assert f"Deleted the retry queue (retry_refused) of stream users: 2 files at {where}; its records are not " \
           "re-sent." in said
    assert not list((store / "_customerio_retry").rglob("*.json*"))
    assert json.loads(_ledger(tmp_path, config, "show", "--json"))["retry_queues"] == []
