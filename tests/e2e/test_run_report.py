"""The run report tells the truth (issue 22, section 3), through the CLI: the summary's state count is
the STATE lines written, it says where rejected records went, a tripped guard still prints it, a dry
run's words say what would be sent, safety-key typos stop a sync, `check` refuses what `write` refuses
from config alone, `ledger show` tells applied held removals from held ones, mapping errors name the
source column, and progress shows the answered rate and the backlog."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from customerio_emulator.process import EmulatorProcess
from tests.e2e.test_mirror import SITE, WORKSPACES, config, mirror, people, segment_calls
from tests.support.cli import Run, base_config, configured_stream, record_line, run_connector, state_line
from tests.support.s3 import MotoS3

__all__ = ["WORKSPACES"]  # the emulator fixture (tests/e2e/conftest.py) serves this module's WORKSPACES

PEOPLE = configured_stream("people", "person_identify", mode="append_dedup")
MEMBERS = [f"m{i:03d}@example.com" for i in range(200)]


def cfg(emu: EmulatorProcess, **extra: Any) -> dict[str, Any]:
    from tests.e2e.test_mirror import KEY
    return base_config(emu.url, SITE, KEY, **extra)


def local(path: Path) -> dict[str, Any]:
    return {"storage_type": "Local", "destination_path": str(path), "format": {"format_type": "JSONL"}}


def epochs(count: int, size: int = 5) -> list[str]:
    """``count`` states of the people stream, each after ``size`` good records and one without an email."""
    lines = []
    for epoch in range(count):
        lines += [record_line("people", {"person_email": f"p{epoch}-{i}@example.com"}) for i in range(size)]
        lines += [record_line("people", {"first_name": "no email"}), state_line("people", epoch)]
    return lines


def only(run: Run, prefix: str) -> str:
    [line] = [text for text in run.logs if text.startswith(prefix)]
    return line


# --- 1. the summary's state count --------------------------------------------------------------------

@pytest.mark.parametrize("states", [3, 40])
def test_the_summary_counts_the_state_lines_written_with_a_store_and_rejections(
        emu: EmulatorProcess, tmp_path: Path, states: int) -> None:
    run = run_connector(tmp_path, "write", cfg(emu, object_storage_config=local(tmp_path / "store"),
                                               state_max_delay_seconds=0.01), {"streams": [PEOPLE]}, epochs(states))
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(run.states) == states
    assert f"; {states} of {states} states emitted; " in only(run, "Sync summary: ")
    assert [s["destinationStats"]["rejectedRecordCount"] for s in run.states] == [1] * states


def test_a_dry_run_emits_no_state_and_says_none_was_emitted(emu: EmulatorProcess, tmp_path: Path) -> None:
    run = run_connector(tmp_path, "write", cfg(emu, object_storage_config=local(tmp_path / "store"), dry_run=True),
                        {"streams": [PEOPLE]}, epochs(5))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.states == [] and emu.client.requests() == []
    text = only(run, "Dry run summary: ")
    assert "no state was emitted (5 states read)" in text
    assert "states emitted" not in text and "accepted" not in text


# --- 2. where rejected records went ------------------------------------------------------------------

def test_the_summary_says_where_rejected_records_went(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    run = run_connector(tmp_path, "write", cfg(emu, object_storage_config=local(store)), {"streams": [PEOPLE]},
                        epochs(1))
    assert f"; rejected records at {store}; " in only(run, "Sync summary: ")
    assert list(store.rglob("*.jsonl"))  # the rejected record is there
    run = run_connector(tmp_path, "write", cfg(emu), {"streams": [PEOPLE]}, epochs(1))
    assert "; rejected records not kept (object_storage_config is None); " in only(run, "Sync summary: ")


def test_the_summary_names_the_s3_bucket_and_prefix(emu: EmulatorProcess, tmp_path: Path) -> None:
    s3 = MotoS3(enforce_auth=False).start()
    try:
        s3.create_bucket("dead-letters")
        storage = {"storage_type": "S3", "s3_bucket_name": "dead-letters", "s3_bucket_region": "us-east-1",
                   "bucket_path": "cio/rejected/", "s3_endpoint": s3.endpoint, "access_key_id": "AKIAEXAMPLE",
                   "secret_access_key": "s3-secret-report", "format": {"format_type": "JSONL"}}
        run = run_connector(tmp_path, "write", cfg(emu, object_storage_config=storage), {"streams": [PEOPLE]},
                            epochs(1))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "; rejected records at s3://dead-letters/cio/rejected/; " in only(run, "Sync summary: ")
        assert [key for key in s3.objects("dead-letters", "cio/rejected/") if "probe" not in key]
    finally:
        s3.stop()


# --- 3. a tripped guard prints the summary -------------------------------------------------------------

def held_run(emu: EmulatorProcess, tmp: Path, **extra: Any) -> Run:
    """A mirror of 200 members shrinks to 50: the guard (20%) holds the 150 removals."""
    store = tmp / "store"
    people(emu, tmp, MEMBERS)
    assert mirror(emu, tmp, store, MEMBERS, 1).returncode == 0
    return mirror(emu, tmp, store, MEMBERS[:50], 2, **extra)


def test_a_tripped_mirror_guard_prints_the_summary_and_its_config_error(emu: EmulatorProcess,
                                                                        tmp_path: Path) -> None:
    run = held_run(emu, tmp_path)
    assert run.returncode == 1
    [error] = run.errors
    assert error["failure_type"] == "config_error"
    assert "would remove 150 of its 200 previous members" in error["message"]
    assert segment_calls(emu)[-1] == ("add_customers", MEMBERS[:50])
    assert len(run.states) == 1
    summary = only(run, "Sync summary: ")
    assert summary.startswith("Sync summary: 50 records read, 50 accepted, 0 rejected; ")
    assert "; 1 of 1 state emitted; " in summary
    assert "Stream vips -> segment_membership: 50 records, 50 accepted, 0 rejected; mirror: 0 removed, " \
           "150 removals held back by the guard." in run.logs
    assert [m["type"] for m in run.messages][-1] == "TRACE"  # the summary comes before the error


# --- 4. dry-run wording, and its guard -------------------------------------------------------------------

def test_a_dry_run_says_what_would_be_sent(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    run = run_connector(tmp_path, "write", cfg(emu, object_storage_config=local(store), dry_run=True),
                        {"streams": [PEOPLE]}, epochs(2))
    assert run.returncode == 0, run.stdout + run.stderr
    [folder] = (store / "_customerio_dry_run").iterdir()
    text = only(run, "Dry run summary: ")
    assert text.startswith("Dry run summary: 12 records read; would send 10 records as 10 ops; 2 would be "
                           "rejected (by reason: identifier_missing: 2); ")
    assert f"would-be rejected records at {folder}/rejected; ops and summary.json at {folder}/; " in text
    assert "Stream people -> person_identify: 12 records, 10 would be sent, 2 would be rejected (by reason: " \
           "identifier_missing: 2)." in run.logs
    assert not any(line.startswith("Sync summary") for line in run.logs)
    assert run.states == [] and emu.client.requests() == []


def test_a_dry_run_fails_as_the_real_run_would_on_the_mirror_guard(emu: EmulatorProcess, tmp_path: Path) -> None:
    dry = held_run(emu, tmp_path, dry_run=True)
    assert dry.returncode == 1
    [error] = dry.errors
    assert error["failure_type"] == "config_error"
    folder = max((tmp_path / "store" / "_customerio_dry_run").iterdir())
    assert json.loads((folder / "summary.json").read_text())["streams"]["vips"]["removals_held_back"] == 150
    assert len((folder / "vips-held-removals.jsonl").read_text().splitlines()) == 150
    assert "would send 0 mirror removals, 150 held back by the guard" in only(dry, "Dry run summary: ")
    real = mirror(emu, tmp_path, tmp_path / "store", MEMBERS[:50], 2)
    [real_error] = real.errors
    # the same text, but for where each run wrote the list of held removals
    assert re.sub(r"The list is at \S+\.", "", error["message"]) == \
        re.sub(r"The list is at \S+\.", "", real_error["message"])
    assert f"The list is at {folder}/vips-held-removals.jsonl." in error["message"]


# --- 9. progress ---------------------------------------------------------------------------------------

def test_progress_shows_the_answered_rate_and_the_backlog(emu: EmulatorProcess, tmp_path: Path) -> None:
    lines = [record_line("people", {"person_email": f"q{i}@example.com"}) for i in range(6000)]
    emu.client.set_faults(latency_ms=5)
    run = run_connector(tmp_path, "write", cfg(emu, progress_interval_seconds=0.05, lanes=1, batch_max_bytes=4000),
                        {"streams": [PEOPLE]}, [*lines, state_line("people", 1)])
    assert run.returncode == 0, run.stdout + run.stderr
    progress = [text for text in run.logs if text.startswith("Progress: ")]
    assert progress
    pattern = (r"Progress: (\d+) records read, (\d+) accepted, (\d+) rejected, \d+/\d+ states emitted, \d+ requests, "
               r"\d+ retries; read [\d,]+ records/s, answered [\d,]+ records/s, backlog ([\d,]+) records "
               r"\(read, not yet answered\)")
    for text in progress:
        found = re.fullmatch(pattern, text)
        assert found, text
        read, accepted, rejected, backlog = found.groups()
        assert int(backlog.replace(",", "")) == int(read) - int(accepted) - int(rejected)


# --- 5. typos in safety keys ----------------------------------------------------------------------------

@pytest.mark.parametrize(("typo", "value", "meant"), [
    ("dryrun", True, "dry_run"), ("dry-run", True, "dry_run"), ("max_mirror_removal_pct", 5, "max_mirror_removal_percent"),
    ("max_rejected_precent", 1, "max_rejected_percent"), ("mirror_without_status", True, "mirror_without_stream_status")])
def test_a_near_miss_of_a_safety_key_stops_write_and_check_before_anything_is_sent(
        emu: EmulatorProcess, tmp_path: Path, typo: str, value: Any, meant: str) -> None:
    config = cfg(emu, object_storage_config=local(tmp_path / "store"), **{typo: value})
    run = run_connector(tmp_path, "write", config, {"streams": [PEOPLE]}, epochs(2))
    assert run.returncode == 1
    [error] = run.errors
    assert error["failure_type"] == "config_error"
    assert error["message"].startswith(f"Unknown config key close to a safety setting, so nothing was sent: "
                                       f"`{typo}` (did you mean `{meant}`?).")
    assert emu.client.requests() == [] and run.states == []
    [status] = run_connector(tmp_path, "check", config).of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    assert f"`{typo}` (did you mean `{meant}`?)" in status["connectionStatus"]["message"]


def test_other_typos_stay_warnings(emu: EmulatorProcess, tmp_path: Path) -> None:
    run = run_connector(tmp_path, "write", cfg(emu, lanez=4), {"streams": [PEOPLE]}, epochs(1))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Unknown config key, ignored: `lanez` (did you mean `lanes`?)." in run.logs
    assert len(run.states) == 1


# --- 6. check refuses what write refuses from config alone ---------------------------------------------

@pytest.mark.parametrize(("setting", "files"), [("skip_unchanged", "the sync ledger"),
                                                ("dry_run", "the ops it would send"),
                                                ("sync_log", "every record's outcome"),
                                                ("retry_refused", "its retry queue")])
def test_check_refuses_what_write_refuses_from_the_config_alone(emu: EmulatorProcess, tmp_path: Path,
                                                                setting: str, files: str) -> None:
    config = cfg(emu, **{setting: True})
    message = (f"`{setting}` keeps {files} in object storage, but object_storage_config is None: configure S3 "
               "or Local storage, or turn it off.")
    [status] = run_connector(tmp_path, "check", config).of_type("CONNECTION_STATUS")
    assert status["connectionStatus"] == {"status": "FAILED", "message": message}
    run = run_connector(tmp_path, "write", config, {"streams": [PEOPLE]}, epochs(1))
    assert run.returncode == 1 and [(e["failure_type"], e["message"]) for e in run.errors] == [
        ("config_error", message)]
    assert emu.client.requests() == []


def test_check_refuses_a_mapping_to_no_operation_as_write_does(emu: EmulatorProcess, tmp_path: Path) -> None:
    config = cfg(emu, stream_mappings=[{"stream": "people", "object": "person_identfy"}])
    [status] = run_connector(tmp_path, "check", config).of_type("CONNECTION_STATUS")
    run = run_connector(tmp_path, "write", config, {"streams": [PEOPLE]}, epochs(1))
    assert status["connectionStatus"]["status"] == "FAILED"
    assert status["connectionStatus"]["message"] == run.errors[0]["message"]
    assert status["connectionStatus"]["message"].startswith(
        "`stream_mappings` maps stream `people` to `person_identfy`, which is not a Customer.io operation")


# --- 8. mapping errors name what the user wrote -----------------------------------------------------------

def test_a_missing_mapped_identifier_column_is_named_as_the_source_column(emu: EmulatorProcess,
                                                                          tmp_path: Path) -> None:
    store = tmp_path / "store"
    users = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["email"]])
    config = cfg(emu, object_storage_config=local(store),
                 stream_mappings=[{"stream": "users", "object": "person_identify", "fields": {"person_email": "email"}}])
    run = run_connector(tmp_path, "write", config, {"streams": [users]},
                        [record_line("users", {"mail": "ada@example.com"}), state_line("users", 1)])
    assert run.returncode == 0, run.stdout + run.stderr
    [row] = [json.loads(line) for path in store.rglob("*.jsonl") for line in path.read_text().splitlines()]
    message = "`email` is missing, null or empty; the stream's primary key `email` needs it"
    assert {k: row["_airbyte_data"][k] for k in ("rejected_field", "rejected_message")} == {
        "rejected_field": "email", "rejected_message": message}
    assert not any("person_email" in line for line in run.logs)


def purchases_catalog(**entry: Any) -> dict[str, Any]:
    stream = configured_stream("purchases", "person_event")
    del stream["destination_object_name"]
    return {"streams": [{**stream, **entry}]}


def test_a_mapping_for_a_misspelt_stream_is_named_with_the_closest_stream(emu: EmulatorProcess,
                                                                          tmp_path: Path) -> None:
    mapping = {"stream": "purchase", "object": "person_event", "fields": {"event_name": {"const": "purchase"}}}
    run = run_connector(tmp_path, "write", cfg(emu, stream_mappings=[mapping]), purchases_catalog(), [])
    assert run.returncode == 1
    assert run.errors[0]["message"].endswith(
        "(`stream_mappings` has `purchase`: a typo of `purchases`?)")
    # the catalog names the operation (as on the platform): the stream resolves, the mapping is still named
    run = run_connector(tmp_path, "write", cfg(emu, stream_mappings=[mapping]),
                        purchases_catalog(destination_object_name="person_event"), [])
    assert run.returncode == 1 and [e["failure_type"] for e in run.errors] == ["config_error"]
    assert run.errors[0]["message"] == (
        "`stream_mappings` names stream `purchase`, which is not in the configured catalog (its streams: "
        "`purchases`); fix the name (did you mean `purchases`?), or remove the mapping if the stream is not in "
        "this sync")
    assert emu.client.requests() == []


# --- 7. ledger show tells an applied held-removal file from a held one --------------------------------

def test_ledger_show_lists_held_removals_applied_since_as_applied(emu: EmulatorProcess, tmp_path: Path) -> None:
    from tests.e2e.test_ledger_command import ledger

    store = tmp_path / "store"
    assert held_run(emu, tmp_path).returncode == 1
    [held_file] = (store / "_customerio_ledger").rglob("removals-held-*.jsonl")
    [shown] = json.loads(ledger(tmp_path, config(emu, store), "show", "--json").stdout)["streams"]
    assert (shown["held"], shown["applied"]) == ([{"name": held_file.name, "removals": 150}], [])
    assert ledger(tmp_path, config(emu, store), "allow-removals", "--stream", "vips", "--count", "150").returncode == 0
    assert mirror(emu, tmp_path, store, MEMBERS[:50], 2).returncode == 0
    assert segment_calls(emu)[-1] == ("remove_customers", MEMBERS[50:])
    [shown] = json.loads(ledger(tmp_path, config(emu, store), "show", "--json").stdout)["streams"]
    assert (shown["held"], shown["applied"]) == ([], [{"name": held_file.name, "removals": 150}])
    text = ledger(tmp_path, config(emu, store), "show").stdout.splitlines()
    assert "  held          none" in text
    assert f"  applied       {held_file.name} (150 removals) (held once, removed since)" in text
    assert (f"    {held_file.name}  {held_file.stat().st_size:,} bytes  applied: none of its 150 removals is in "
            "the ledger any more (a later sync removed them); kept for you to read") in text
