"""What the Airbyte platform and users of Airbyte's Kotlin connector rely on, through the real CLI against
the emulator: the matching key the user picked, the schema check, max_rejected_percent, the Kotlin-parity
defaults and the switches beside them, with the exact JSON that reached the emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import Run, base_config, configured_stream, record_line, run_connector, state_line

SITE, KEY = "demo-site", "demo-key"
NOW_OP_FIELDS = ("timestamp",)  # the identify op's build time: not asserted exactly


def write(emu: EmulatorProcess, tmp: Path, streams: list[dict[str, Any]], lines: list[str], **config: Any) -> Run:
    return run_connector(tmp, "write", base_config(emu.url, SITE, KEY, **config), {"streams": streams}, lines)


def sent_ops(emu: EmulatorProcess) -> list[dict[str, Any]]:
    """Every op of every v2 batch that reached the emulator, the identify build time left out."""
    ops = []
    for request in emu.client.requests(site_id=SITE):
        if request["path"] == "/api/v2/batch":
            for op in request["body"]["batch"]:
                ops.append({k: v for k, v in op.items() if k not in NOW_OP_FIELDS or op["action"] != "identify"})
    return ops


def checksum_ok(state: dict[str, Any]) -> bool:
    stats = state["destinationStats"]
    return stats["recordCount"] + stats.get("rejectedRecordCount", 0.0) == state["sourceStats"]["recordCount"]


def sourced_state(name: str, position: int, count: int) -> str:
    state = json.loads(state_line(name, position))
    state["state"]["sourceStats"] = {"recordCount": float(count)}
    return json.dumps(state)


PEOPLE_SCHEMA = {"person_email": {"type": "string"}, "person_id": {"type": "string"}, "plan": {"type": "string"},
                 "gone": {"type": ["null", "string"]}}


# --- the matching key ---------------------------------------------------------------------------------

def test_the_primary_key_picks_the_identifier_of_its_stream(emu: EmulatorProcess, tmp_path: Path) -> None:
    users = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_id"]],
                              properties=PEOPLE_SCHEMA)
    events = configured_stream("events", "person_event")  # no primary key: identifierType (email) applies
    run = write(emu, tmp_path, [users, events], [
        record_line("users", {"person_id": "u1", "person_email": "ann@example.com", "plan": "pro"}),
        record_line("events", {"person_email": "ann@example.com", "event_name": "login", "event_id": "e1",
                               "timestamp": 1_700_000_000}),
        state_line("users", 1), state_line("events", 2)])
    assert run.returncode == 0, run.stdout
    assert [s["destinationStats"] for s in run.states] == [{"recordCount": 1.0}, {"recordCount": 1.0}]
    ops = sent_ops(emu)
    assert {"type": "person", "action": "identify", "identifiers": {"id": "u1"}, "attributes": {"plan": "pro"}} in ops
    assert [op["identifiers"] for op in ops if op["action"] == "event"] == [{"email": "ann@example.com"}]


def test_a_missing_identifier_column_is_refused_before_anything_is_sent(emu: EmulatorProcess, tmp_path: Path) -> None:
    users = configured_stream("users", "person_identify", mode="append_dedup",
                              properties={"email_address": {"type": "string"}, "user_id": {"type": "string"},
                                          "plan": {"type": "string"}})
    run = write(emu, tmp_path, [users], [record_line("users", {"email_address": "a@b.co"}), state_line("users", 1)])
    assert run.returncode == 1 and run.states == []
    assert [e["failure_type"] for e in run.errors] == ["config_error"]
    assert run.errors[0]["message"] == (
        "Stream `users` (person_identify) identifies people by `person_email` (identifierType `email`), but its "
        "schema has no such column; identifier-like columns it has: `email_address`, `user_id`. Map the right "
        "column to it, pick another matching key, or set identifierType.")
    assert emu.client.requests(site_id=SITE) == []


def test_an_unsupported_mode_is_refused_with_the_modes_the_operation_has(emu: EmulatorProcess, tmp_path: Path) -> None:
    for stream, mode, supported in (("users", "overwrite", "append_dedup, update"), ("events", "append_dedup", "append")):
        operation = "person_identify" if stream == "users" else "person_event"
        run = write(emu, tmp_path, [configured_stream(stream, operation, mode=mode)],
                    [record_line(stream, {"person_email": "a@b.co", "event_name": "x"}), state_line(stream, 1)])
        assert run.returncode == 1 and [e["failure_type"] for e in run.errors] == ["config_error"]
        assert run.errors[0]["message"] == (f"Stream `{stream}` asks for sync mode `{mode}`, which `{operation}` "
                                            f"does not support (it supports: {supported})")
    assert emu.client.requests(site_id=SITE) == []


# --- max_rejected_percent and the warning -------------------------------------------------------------

def test_max_rejected_percent_ends_the_sync_after_delivering_what_was_read(emu: EmulatorProcess,
                                                                          tmp_path: Path) -> None:
    lines = []
    for block in range(12):  # 1,200 records, 60% without an identifier, a state every 100
        lines += [record_line("users", {"person_email": f"p{block}-{i}@example.com"} if i % 5 < 2 else {"plan": "x"})
                  for i in range(100)]
        lines.append(sourced_state("users", block, 100))
    users = configured_stream("users", "person_identify", mode="append_dedup")
    run = write(emu, tmp_path, [users], lines, max_rejected_percent=50)
    assert run.returncode == 1
    assert [e["failure_type"] for e in run.errors] == ["config_error"]
    assert re.fullmatch(
        r"Stream `users` rejected 60\.0% of its [0-9,]+ records, more than max_rejected_percent \(50%\); the top "
        r"reason is `identifier_missing` \([0-9,]+ records\): \"`person_email` is missing, null or empty; "
        r"identifierType `email` needs it\"\. To fix it: map the column that holds the identifier to it, or pick "
        r"the identifier the data has \(identifierType, or the stream's matching key\)\. The records read so far "
        r"were delivered or stored as rejected, and their states emitted\.", run.errors[0]["message"])
    assert run.states and all(checksum_ok(s) for s in run.states)
    delivered = sum(s["destinationStats"]["recordCount"] for s in run.states)
    assert len(emu.client.people(site_id=SITE)) >= delivered  # every state's accepted records are there


def test_a_stream_rejecting_nearly_everything_is_warned_of(emu: EmulatorProcess, tmp_path: Path) -> None:
    lines = [record_line("users", {"plan": "x"}) for _ in range(19)]
    lines += [record_line("users", {"person_email": "a@b.co"}), sourced_state("users", 1, 20)]
    run = write(emu, tmp_path, [configured_stream("users", "person_identify", mode="append_dedup")], lines)
    assert run.returncode == 0  # without max_rejected_percent, rejections never fail a sync
    assert [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"] == [
        "Stream users: 19 of 20 records (95%) were rejected, 19 of them as `identifier_missing`: \"`person_email` "
        "is missing, null or empty; identifierType `email` needs it\". To fix it: map the column that holds the "
        "identifier to it, or pick the identifier the data has (identifierType, or the stream's matching key)."]
    assert [s["destinationStats"] for s in run.states] == [{"recordCount": 1.0, "rejectedRecordCount": 19.0}]


# --- Kotlin-parity defaults and the switches beside them ----------------------------------------------

USER = {"person_email": "ann@example.com", "person_id": "u1", "person_cio_id": "c1", "plan": "pro", "gone": None}


def test_defaults_drop_identifier_columns_and_send_nulls(emu: EmulatorProcess, tmp_path: Path) -> None:
    users = configured_stream("users", "person_identify", mode="append_dedup", properties=PEOPLE_SCHEMA)
    run = write(emu, tmp_path, [users], [record_line("users", USER), state_line("users", 1)])
    assert run.returncode == 0, run.stdout
    assert sent_ops(emu) == [{"type": "person", "action": "identify", "identifiers": {"email": "ann@example.com"},
                              "attributes": {"plan": "pro", "gone": None}}]


def test_send_other_identifiers_and_omitted_nulls(emu: EmulatorProcess, tmp_path: Path) -> None:
    users = configured_stream("users", "person_identify", mode="append_dedup", properties=PEOPLE_SCHEMA)
    run = write(emu, tmp_path, [users], [record_line("users", USER), state_line("users", 1)],
                send_other_identifiers=True, null_values="omit")
    assert run.returncode == 0, run.stdout
    assert sent_ops(emu) == [{"type": "person", "action": "identify", "identifiers": {"email": "ann@example.com"},
                              "attributes": {"plan": "pro", "id": "u1"}}]
    assert emu.client.person(site_id=SITE, id="u1")["email"] == "ann@example.com"


ULID = "01hf2xq5m7t9c3n8v4b6k0w2zr"  # lower case: `source` sends it exactly as given
EVENTS = [{"person_email": "ann@example.com", "event_name": "paid", "event_id": ULID, "timestamp": 1_700_000_000},
          {"person_email": "ann@example.com", "event_name": "opened", "timestamp": 1_700_000_001},
          {"person_email": "ann@example.com", "event_name": "opened", "timestamp": 1_700_000_001}]


def test_event_ids_source_sends_the_records_own_ulid_a_ulid_derived_from_another_id_or_none(
        emu: EmulatorProcess, tmp_path: Path) -> None:
    order = {"person_email": "ann@example.com", "event_name": "paid", "event_id": "order-7"}
    run = write(emu, tmp_path, [configured_stream("events", "person_event")],
                [*(record_line("events", e) for e in [*EVENTS, order]), state_line("events", 1)], event_ids="source")
    assert run.returncode == 0, run.stdout
    base = {"type": "person", "action": "event", "identifiers": {"email": "ann@example.com"}}
    assert sorted(sent_ops(emu), key=json.dumps) == sorted([
        {**base, "name": "paid", "id": ULID, "timestamp": 1_700_000_000},
        {**base, "name": "opened", "timestamp": 1_700_000_001},
        {**base, "name": "opened", "timestamp": 1_700_000_001},
        # Customer.io's ids are ULIDs: "order-7" is sent as the ULID derived from it (event id scheme v1, rule 2)
        {**base, "name": "paid", "id": "0000000000CXHXC4ZXNNAR9VZR"}], key=json.dumps)
    assert len(emu.client.events(site_id=SITE)) == 4  # no id: the identical records are two events
    assert [s["destinationStats"] for s in run.states] == [{"recordCount": 4.0}]


def test_derived_ids_make_identical_records_one_event_and_count_them(emu: EmulatorProcess, tmp_path: Path) -> None:
    run = write(emu, tmp_path, [configured_stream("events", "person_event")],
                [*(record_line("events", e) for e in EVENTS), state_line("events", 1)])
    assert run.returncode == 0, run.stdout
    ids = [op["id"] for op in sent_ops(emu)]
    assert len(ids) == 3 and len(set(ids)) == 2 and all(len(i) == 26 for i in ids)
    assert len(emu.client.events(site_id=SITE)) == 2
    summary = next(text for text in run.logs if text.startswith("Stream events"))
    assert summary.endswith("; 1 records without an event_id were identical to an earlier one, so their derived "
                            "event id repeated and Customer.io keeps one event for them.")


def test_skipped_lines_are_logged_with_their_true_line_number(emu: EmulatorProcess, tmp_path: Path) -> None:
    # Garbage at physical lines 1, 2, 3, 10, 100 and 1001 of the input (blank lines count as lines too).
    garbage = {1, 2, 3, 10, 100, 1001}
    lines = ["not json" if n in garbage else ("" if n == 50 else record_line("users", {"person_email": f"p{n}@b.co"}))
             for n in range(1, 1002)]
    lines.append(state_line("users", 1))
    run = write(emu, tmp_path, [configured_stream("users", "person_identify", mode="append_dedup")], lines)
    assert run.returncode == 0, run.stdout
    warned = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert [int(re.search(r"line (\d+)\)", text).group(1)) for text in warned] == sorted(garbage)
