"""bench/ledger_cli.py (issue 25's table): its input is what it says, and a small run through the real CLI
gives rows whose outcome was checked (ops, unchanged, removals), ledger uploads and CPU ratios."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from destination_customer_io import protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import ledger_cli  # noqa: E402


def _messages(scenario: str, n: int, changed: bool) -> list[protocol.Message]:
    return [protocol.message_decoder.decode(line) for chunk in ledger_cli.lines(scenario, n, changed)
            for line in chunk.splitlines()]


def _records(scenario: str, n: int, changed: bool) -> list[dict]:
    return [m.record.data for m in _messages(scenario, n, changed) if m.record is not None]


@pytest.mark.parametrize("scenario, attributes", [("identify", 5), ("identify20", 20)])
def test_the_identify_resync_changes_one_person_in_every_hundred_and_nothing_else(scenario: str,
                                                                                  attributes: int) -> None:
    first, second = _records(scenario, 2_500, False), _records(scenario, 2_500, True)
    assert len(first) == len(second) == 2_500
    assert {len(record) for record in first} == {attributes + 1}  # and the email
    differ = [i for i, (a, b) in enumerate(zip(first, second)) if a != b]
    assert differ == list(range(0, 2_500, 100))
    assert all(second[i]["orders"] == first[i]["orders"] + 1 for i in differ)
    assert len({r["person_email"] for r in first}) == 2_500


def test_the_mirror_resync_replaces_one_member_in_every_hundred_and_ends_complete() -> None:
    messages = _messages("mirror", 2_500, True)
    first = {r["person_email"] for r in _records("mirror", 2_500, False)}
    second = {m.record.data["person_email"] for m in messages if m.record is not None}
    assert len(first) == len(second) == 2_500
    assert len(first - second) == len(second - first) == 25
    last = json.loads(next(line for line in reversed(list(ledger_cli.lines("mirror", 2_500, True)))).splitlines()[-1])
    assert last["trace"]["stream_status"]["status"] == "COMPLETE"
    states = [m for m in messages if m.type == "STATE"]
    assert [s.state["sourceStats"]["recordCount"] for s in states] == [2_500.0]


def test_a_small_run_through_the_cli_checks_each_sync_and_gives_the_ratios() -> None:
    connector = str(Path(sys.executable).with_name("destination-customer-io"))
    rows = ledger_cli.measure([3_000], [3_000], connector)
    syncs = [r for r in rows if "sync" in r]
    assert [r.get("failed") for r in syncs] == [None] * 6, syncs
    by = {(r["scenario"], r["sync"]): r for r in syncs}
    assert by["identify", "sync2"]["ops_sent"] == 30 and by["identify", "sync2"]["unchanged"] == 2_970
    assert by["mirror", "sync2"]["removed"] == 30
    for scenario in ("identify", "mirror"):  # the ledger's home got files; the resend wrote none
        assert by[scenario, "sync1"]["upload_bytes"] > 0 and by[scenario, "sync2"]["upload_bytes"] > 0
        assert by[scenario, "sync1"]["upload_seen_bytes"] >= by[scenario, "sync1"]["upload_bytes"]
        assert by[scenario, "resend"]["upload_seen_bytes"] == 0
    ratios = [r for r in rows if "sync" not in r]
    assert [(r["scenario"], sorted(r)) for r in ratios] == [
        (s, ["cpu_sync1_over_resend", "cpu_sync2_over_resend", "keys", "scenario"]) for s in ("identify", "mirror")]
    table = ledger_cli.markdown(rows)
    assert table.count("\n") == 7 and "| identify | 3,000 | sync2 |" in table


def test_a_failed_sync_is_a_row_that_says_so() -> None:
    row = {"scenario": "identify", "keys": 10, "sync": "sync1", "exit": -9, "error": None, "wall_s": 1.0,
           "cpu_s": 0.5, "peak_rss_mb": 2_000.0, "load_before": 1.0, "load_after": 1.0}
    ledger_cli.check(row)
    assert row["failed"] == "exit -9: None"
    assert "**failed**: exit -9" in ledger_cli.markdown([row])


def test_make_bench_runs_the_table_in_its_ledger_workload_and_the_report_shows_it(monkeypatch) -> None:
    import report
    import run

    asked = []
    row = {"scenario": "mirror", "keys": 100_000, "sync": "resend", "wall_s": 1.0, "cpu_s": 0.8, "user_s": 0.7,
           "sys_s": 0.1, "peak_rss_mb": 48.0, "ops_sent": 100, "load_before": 1.0, "load_after": 1.1}
    monkeypatch.setattr(ledger_cli, "measure", lambda identify, mirror, connector: asked.append((identify, mirror))
                        or [row])
    rows = run.run_ledger_cli()
    assert asked == [([100_000], [100_000])]
    text = "\n".join(report.ledger_markdown({"runs": [], "ledger_store": [], "ledger_cli": rows}))
    assert "#### Through the CLI, issue 25's table (bench/ledger_cli.py)" in text
    assert "| mirror | 100,000 | resend | 1.0 | 0.8 (0.7 + 0.1) | - | 48 | 100 | - | - | 1.0-1.1 |" in text
