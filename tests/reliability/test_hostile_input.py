"""Hostile input through the CLI, one sync: every odd line is either rejected as a record with a reason
(when it names a stream) or counted as unreadable and logged without its content; the sync goes on,
never crashes, and every valid record around the odd ones arrives. See docs/reliability.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .harness import (
    EVENTS_STREAM, NAMESPACE, PEOPLE_STREAM, Dataset, StateAuditor, build_dataset, make_config,
    record_line, rejected_rows, run_cli, state_line, verify_end_state, with_source_stats,
)

CANARY = "c4n4ry"  # inside every hostile line: its content must never reach a log
MB = 1 << 20


def _record(stream: str, data_json: str, namespace: str | None = NAMESPACE) -> bytes:
    ns = f',"namespace":"{namespace}"' if namespace else ""
    return f'{{"type":"RECORD","record":{{"stream":"{stream}"{ns},"data":{data_json},"emitted_at":1}}}}'.encode()


def _hostile(row: int) -> list[tuple[bytes, str | None]]:
    """(line, reason it is rejected with) — None: cannot be tied to a stream, counted as unreadable."""
    email = f'"person_email":"hostile{row}@example.com"'
    nested = "[" * 5_000 + "1" + "]" * 5_000
    cases: list[tuple[bytes, str | None]] = [
        (f"not json at all {CANARY}".encode(), None),
        (record_line(EVENTS_STREAM, {"person_email": "t@example.com", "event_name": CANARY})[:40], None),  # truncated
        (b"\xff\xfe" + CANARY.encode(), None),  # invalid UTF-8, not JSON either
        (f'{{"type":"RECORD","record":{{"stream":"{PEOPLE_STREAM}","namespace":"{NAMESPACE}","data":'
         f'{{{email},"row":{row},"bad":"{CANARY}'.encode() + b'\xff\xfe"},"emitted_at":1}}', "malformed_record"),
        (_record(PEOPLE_STREAM, f'{{{email},"row":{row + 1},"score":NaN,"x":"{CANARY}"}}'), "malformed_record"),
        (_record(EVENTS_STREAM, f'{{{email},"event_name":"e","row":{row + 2},"v":-Infinity}}'), "malformed_record"),
        (_record("not_in_catalog", f'{{{email},"row":{row + 3}}}'), "stream_not_in_catalog"),
        (_record(PEOPLE_STREAM, f'{{{email},"row":{row + 4}}}', namespace="other_namespace"), "stream_not_in_catalog"),
        (_record(PEOPLE_STREAM, f'[{row + 5}]'), "record_data_not_object"),
        (_record(PEOPLE_STREAM, f'"{CANARY}"'), "record_data_not_object"),
        (_record(PEOPLE_STREAM, "null"), "record_data_not_object"),
        (_record(EVENTS_STREAM, f'{{{email},"event_name":"deep","row":{row + 6},"v":{nested}}}'), None),
        (_record(PEOPLE_STREAM, f'{{{email},"row":{row + 7},"s":"\\ud800"}}'), "malformed_record"),
        (_record(PEOPLE_STREAM, f'{{{email},"row":{row + 8},"bio":"{"x" * (20 * MB)}"}}'),
         "attribute_value_too_long"),
        (_record(EVENTS_STREAM, f'{{{email},"event_name":"big","row":{row + 9},"blob":"{"y" * (20 * MB)}"}}'),
         "event_data_too_large"),
        # the wrong type for emitted_at: still a record of a known stream
        (_record(PEOPLE_STREAM, f'{{{email},"row":{row + 10}}}').replace(b'"emitted_at":1', b'"emitted_at":"x"'),
         "malformed_record"),
    ]
    for offset, value in enumerate([17, 1.5, True, None, [1], {"a": 1}, ""]):
        reason = "identifier_missing" if value in (None, "") else "identifier_invalid"
        data = {"person_email": value, "row": row + 20 + offset}
        cases.append((record_line(PEOPLE_STREAM, data), reason))
        reason = "event_name_missing" if value in (None, "") else "event_name_invalid"
        data = {"person_email": f"h{row}@example.com", "event_name": value, "row": row + 40 + offset}
        cases.append((record_line(EVENTS_STREAM, data), reason))
    return cases


def test_hostile_lines_are_rejected_or_counted_never_fatal(emu: Any, rejected_dir: Path, tmp_path: Path,
                                                           figures: Any) -> None:
    dataset = build_dataset(people=20, events=200, seed=31, invalid_every=0, state_every=10)
    hostile = _hostile(10_000)
    mixed = Dataset(event_people=dataset.event_people)
    moved: dict[int, int] = {}  # line index in dataset -> in mixed
    expected_rejected: dict[int, str] = {}
    unreadable = 0
    for index, line in enumerate(dataset.lines):
        moved[index] = len(mixed.lines)
        mixed.lines.append(line)
        if index < len(hostile):
            bad, reason = hostile[index]
            mixed.lines.append(bad)
            if reason is None:
                unreadable += 1
            else:
                expected_rejected[len(mixed.lines) - 1] = reason
        if line.startswith(b'{"type": "STATE"'):
            mixed.state_index[json.loads(line)["state"]["stream"]["stream_state"]["marker"]] = len(mixed.lines) - 1
    assert len(hostile) < len(dataset.lines)
    mixed.events = {i: (moved[line], row) for i, (line, row) in dataset.events.items()}
    mixed.people = {e: [(moved[line], attrs) for line, attrs in v] for e, v in dataset.people.items()}
    # duplicate keys: the last one wins (as in Python's json and Jackson); this record is valid
    dup = b'{"type":"RECORD","record":{"stream":"users","namespace":"shop","data":{"person_email":' \
          b'"first@example.com","person_email":"dup@example.com","plan":"a","plan":"b","version":1,' \
          b'"row":1},"emitted_at":1}}'
    mixed.lines += [dup, state_line(999_999)]
    mixed.state_index[999_999] = len(mixed.lines) - 1
    mixed.people["dup@example.com"] = [(len(mixed.lines) - 2, {"plan": "b", "version": 1, "row": 1})]
    mixed.lines = with_source_stats(mixed.lines)  # hostile records count on their stream's states too
    auditor = StateAuditor(emu.client, mixed, None)

    run = run_cli(tmp_path / "run", make_config(emu.url, rejected_dir), mixed.lines, on_message=auditor,
                  timeout=120)

    assert run.returncode == 0, (run.errors, run.stderr[-3000:])
    assert run.errors == [] and run.stderr == b""
    assert auditor.problems == []
    assert auditor.markers == sorted(mixed.state_index, key=mixed.state_index.get)
    assert f"{unreadable} unreadable lines skipped" in run.summary
    warnings = run.logs("WARN")
    assert len(warnings) == unreadable and all(re.fullmatch(r"Skipped an input line .*", w) for w in warnings)
    assert CANARY.encode() not in run.stdout  # logged without content
    outcome = verify_end_state(emu.client, mixed, None)
    assert outcome.problems == []
    rows = rejected_rows(rejected_dir)
    reasons = sorted(r["_airbyte_data"]["rejected_reason"] for r in rows)
    assert reasons == sorted(expected_rejected.values())
    for row in rows:
        assert row["_airbyte_data"]["rejected_message"]
    figures(faults=len(hostile) + 1, records=len(expected_rejected) + outcome.events_checked
            + outcome.people_checked, duplicates=outcome.duplicate_events, unreadable=unreadable,
            rejected=len(expected_rejected))
