"""sync_log end to end through the CLI: one row per input record with its outcome (accepted, unchanged
under skip_unchanged, rejected before sending and refused by Customer.io, each with its reason), the run
row with per-stream counts, no secret in any file; off, nothing written and the module never loaded."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import (base_config, configured_stream, kill_after_first_state, record_line, run_connector,
                               state_line)

SITE, KEY = "site-log-7", "key-log-very-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]
USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])
EVENTS = configured_stream("events", "person_event")


def _config(emu: EmulatorProcess, store: Path, **extra: Any) -> dict[str, Any]:
    storage = {"storage_type": "Local", "destination_path": str(store), "format": {"format_type": "JSONL"}}
    return base_config(emu.url, SITE, KEY, object_storage_config=storage, region="us", lanes=1, **extra)


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(folder.rglob("*.jsonl.gz"))
            for line in gzip.decompress(path.read_bytes()).splitlines()]


def _write(emu: EmulatorProcess, tmp: Path, config: dict[str, Any], lines: list[str], **kw: Any) -> Any:
    run = run_connector(tmp, "write", config, {"streams": [USERS, EVENTS]}, lines, **kw)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def test_one_row_per_input_record_with_its_outcome_and_a_run_row(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    config = _config(emu, store, skip_unchanged=True, sync_log=True)
    first = [record_line("users", {"person_email": f"p{i}@example.com", "plan": "free"}) for i in range(3)]
    _write(emu, tmp_path, config, [*first, state_line("users", 1)])
    emu.client.reset(site_id=SITE)
    lines = [record_line("users", {"person_email": "p0@example.com", "plan": "free"}),  # unchanged
             record_line("users", {"person_email": "p1@example.com", "plan": "pro"}),  # changed: accepted
             record_line("events", {"person_email": "p1@example.com", "event_name": "paid"}),
             record_line("events", {"event_name": "no person"}),  # rejected before sending
             record_line("ghosts", {"x": 1}),  # no such stream
             state_line("users", 2)]
    run = _write(emu, tmp_path, config, lines)
    assert run.states[0]["destinationStats"] == {"recordCount": 2.0}  # the log changes no state

    runs = sorted((store / "_customerio_sync_log" / "runs").glob("*.jsonl.gz"))
    assert len(runs) == 2  # one per sync
    second = json.loads(gzip.decompress(runs[-1].read_bytes()))
    rows = [r for r in _rows(store / "_customerio_sync_log" / "records") if r["run_id"] == second["run_id"]]
    # exactly one row per input record of the second sync
    seen = sorted(((r["stream"], r["key"], r["action"], r["outcome"], r["reason"]) for r in rows), key=repr)
    assert seen == sorted([
        ("users", "email:p0@example.com", "person.identify", "unchanged", None),
        ("users", "email:p1@example.com", "person.identify", "accepted", None),
        ("events", "email:p1@example.com", "person.event", "accepted", None),
        ("events", None, None, "rejected", "identifier_missing"),
        ("ghosts", None, None, "rejected", "stream_not_in_catalog"),
    ], key=repr)
    assert {r["operation"] for r in rows} == {"person_identify", "person_event", None}
    assert all(r["time"].endswith("Z") and r["sync_id"] == 7 and r["namespace"] is None for r in rows)
    assert second["completed"] is True and second["config_fingerprint"].startswith("sha256:")
    assert second["started"] <= second["ended"]
    assert second["streams"] == [
        {"namespace": None, "stream": "events", "accepted": 1, "rejected": 1},
        {"namespace": None, "stream": "ghosts", "rejected": 1},
        {"namespace": None, "stream": "users", "accepted": 1, "unchanged": 1},
    ]
    # the same config gives the same fingerprint; no secret in any file of the log
    assert json.loads(gzip.decompress(runs[0].read_bytes()))["config_fingerprint"] == second["config_fingerprint"]
    for path in (store / "_customerio_sync_log").rglob("*"):
        if path.is_file():
            text = gzip.decompress(path.read_bytes())
            assert KEY.encode() not in text and SITE.encode() not in text


def test_a_record_customer_io_refuses_is_rejected_with_its_reason(emu: EmulatorProcess, tmp_path: Path) -> None:
    """A 400 naming no op on a one-op batch (each op fills a batch here): that record is refused."""
    store = tmp_path / "store"
    config = _config(emu, store, sync_log=True, batch_max_bytes=1000)
    emu.client.set_faults(schedule=[{"count": 1, "action": "pass"}, {"count": 1, "status": 400}])  # the region look-up passes
    try:
        lines = [record_line("users", {"person_email": f"p{i}@example.com", "bio": "x" * 600}) for i in range(2)]
        run = _write(emu, tmp_path, config, [*lines, state_line("users", 1)])
    finally:
        emu.client.clear_faults()
    assert run.states[0]["destinationStats"] == {"recordCount": 1.0, "rejectedRecordCount": 1.0}
    rows = _rows(store / "_customerio_sync_log" / "records")
    assert sorted((r["key"], r["outcome"], r["reason"]) for r in rows) == [
        ("email:p0@example.com", "rejected", "api_rejected"), ("email:p1@example.com", "accepted", None)]


def test_off_nothing_is_written_and_the_module_is_not_loaded(emu: EmulatorProcess, tmp_path: Path) -> None:
    reporting = [sys.executable, "-c",
                 "import atexit, sys\n"
                 "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)) + '\\n'))\n"
                 "from destination_customer_io.cli import main\n"
                 "sys.exit(main())\n"]
    store = tmp_path / "store"
    lines = [record_line("users", {"person_email": "a@example.com"}),
             record_line("events", {"event_name": "no person"}), state_line("users", 1)]
    run = _write(emu, tmp_path, _config(emu, store), lines, program=reporting)
    modules = next(line for line in run.stderr.decode().splitlines() if line.startswith("MODULES ")).split()
    assert "destination_customer_io.pipeline" in modules  # the report is real
    assert "destination_customer_io.synclog" not in modules
    assert store.exists() and not (store / "_customerio_sync_log").exists()
    on = _write(emu, tmp_path, _config(emu, store, sync_log=True), lines, program=reporting)
    assert "destination_customer_io.synclog" in on.stderr.decode()  # the other side: on, it is loaded
    assert (store / "_customerio_sync_log").exists()


def test_mirror_removals_are_rows_of_their_own_with_outcome_removed(emu: EmulatorProcess, tmp_path: Path) -> None:
    """A mirror sync's removals are not input records: one ``removed`` row each, beside the input's rows."""
    store = tmp_path / "store"
    members = configured_stream("vips", "segment_membership", mode="overwrite")
    complete = json.dumps({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0, "stream_status": {
        "stream_descriptor": {"name": "vips"}, "status": "COMPLETE"}}})
    config = _config(emu, store, sync_log=True)
    for generation, emails in ((1, ["a@example.com", "b@example.com", "c@example.com"]), (2, ["a@example.com"])):
        members["generation_id"] = members["minimum_generation_id"] = generation
        lines = [record_line("vips", {"person_email": e, "segment_id": 7}) for e in emails]
        run = run_connector(tmp_path, "write", config, {"streams": [members]},
                            [*lines, state_line("vips", generation), complete])
        assert run.returncode == 0, run.stdout + run.stderr
    last = json.loads(gzip.decompress(sorted((store / "_customerio_sync_log" / "runs").glob("*.gz"))[-1].read_bytes()))
    rows = [r for r in _rows(store / "_customerio_sync_log" / "records") if r["run_id"] == last["run_id"]]
    assert sorted(((r["key"], r["action"], r["outcome"]) for r in rows), key=repr) == [
        ("email:a@example.com", "/api/v1/segments/7/add_customers?id_type=email", "accepted"),
        ("email:b@example.com", "/api/v1/segments/7/remove_customers?id_type=email", "removed"),
        ("email:c@example.com", "/api/v1/segments/7/remove_customers?id_type=email", "removed")]
    assert last["streams"] == [{"namespace": None, "stream": "vips", "accepted": 1, "removed": 2}]


def test_into_s3_the_log_sits_under_the_bucket_path_and_holds_no_secret(emu: EmulatorProcess, tmp_path: Path) -> None:
    from tests.support.s3 import MotoS3

    s3 = MotoS3(enforce_auth=False).start()  # moto's buckets live as long as the process: one of our own
    try:
        s3.create_bucket("log-bucket")
        bucket = {"storage_type": "S3", "s3_bucket_name": "log-bucket", "s3_bucket_region": "us-east-1",
                  "bucket_path": "customerio", "s3_endpoint": s3.endpoint, "access_key_id": "AKIALOGEXAMPLE",
                  "secret_access_key": "s3-log-secret-value"}
        config = base_config(emu.url, SITE, KEY, object_storage_config=bucket, region="us", sync_log=True)
        lines = [record_line("users", {"person_email": "a@example.com"}),
                 record_line("events", {"event_name": "no person"}, namespace="app"), state_line("users", 1)]
        run = _write(emu, tmp_path, config, lines)
        assert len(run.states) == 1
        logged = {k: v for k, v in s3.objects("log-bucket").items() if k.startswith("customerio/_customerio_sync_log/")}
        assert sorted(k.rsplit("/", 1)[0] for k in logged) == [
            "customerio/_customerio_sync_log/records/_/users", "customerio/_customerio_sync_log/records/app/events",
            "customerio/_customerio_sync_log/runs"]
        rows = [json.loads(line) for key, body in sorted(logged.items()) if "/records/" in key
                for line in gzip.decompress(body).splitlines()]
        assert sorted((r["namespace"], r["stream"], r["outcome"]) for r in rows if r["namespace"]) == [
            ("app", "events", "rejected")]
        assert [r["outcome"] for r in rows if not r["namespace"]] == ["accepted"]
        for body in logged.values():
            text = gzip.decompress(body)
            assert not any(secret in text for secret in (b"s3-log-secret-value", b"AKIALOGEXAMPLE", KEY.encode()))
    finally:
        s3.delete_bucket("log-bucket")
        s3.stop()


def test_the_rows_of_the_records_before_a_state_are_stored_before_it_leaves(emu: EmulatorProcess,
                                                                           tmp_path: Path) -> None:
    """SIGKILL as soon as the first STATE is out: the rows of every record before it are in the store
    (the run row, written at the end, is not)."""
    store = tmp_path / "store"
    lines = [*(record_line("users", {"person_email": f"p{i}@example.com", "plan": "free"}) for i in range(3)),
             record_line("events", {"event_name": "no person"}),  # rejected before sending
             state_line("users", 1), record_line("users", {"person_email": "late@example.com"})]
    states = kill_after_first_state(tmp_path, _config(emu, store, sync_log=True), {"streams": [USERS, EVENTS]}, lines)
    assert [s["destinationStats"] for s in states] == [{"recordCount": 3.0}]
    rows = _rows(store / "_customerio_sync_log" / "records")
    before = [r for r in rows if r["key"] != "email:late@example.com"]  # the later record may have its row too
    assert sorted((r["stream"], r["key"], r["outcome"], r["reason"]) for r in before) == [
        ("events", None, "rejected", "identifier_missing"), ("users", "email:p0@example.com", "accepted", None),
        ("users", "email:p1@example.com", "accepted", None), ("users", "email:p2@example.com", "accepted", None)]
    assert not (store / "_customerio_sync_log" / "runs").exists()
