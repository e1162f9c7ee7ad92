"""bench/ledger_floor.py (issue 25's floor): its look-ups are asked as intake asks them, its SQLite parts
run on the product's table, and its free-filter CLI sends and skips as many ops as a real sync 2."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import harness  # noqa: E402
import ledger_floor  # noqa: E402


def test_look_ups_end_at_each_input_chunk_and_before_each_state() -> None:
    assert ledger_floor.runs(25_000, 4_000) == [
        (0, 4_000), (4_000, 8_000), (8_000, 10_000), (10_000, 12_000), (12_000, 16_000), (16_000, 20_000),
        (20_000, 24_000), (24_000, 25_000)]


def test_the_build_and_the_look_ups_measure_every_key_of_a_small_ledger(tmp_path: Path) -> None:
    keys = ledger_floor.keys_of(12_345)
    written, snapshot = ledger_floor.build(keys, tmp_path)
    assert sorted(written) == ["delta_us", "fold_us", "log_us"] and min(written.values()) > 0
    found = ledger_floor.look_ups(snapshot, keys, 3_000, tmp_path / "look", ledger_floor.Builder("identify"))  # checks its answers itself
    assert found["keys_per_query"] == 12_345 / 6 and found["look_up_us"] > 0 and found["look_up_cold_us"] > 0


def test_the_free_filter_sends_and_skips_as_many_as_sync_2_and_the_budgets_follow(tmp_path: Path) -> None:
    with harness.emulator(0) as emu:
        budget = ledger_floor.cli_budget(emu, tmp_path, "identify", 3_000)  # each run's outcome checked, skips compared
    assert budget["saved_us"] == budget["resend_us"] - budget["free_sync2_us"]
    assert budget["sync2_budget_us"] == 1.2 * budget["resend_us"] - budget["free_sync2_us"]
    line = ledger_floor.verdict({"digests_us": 1.0, "digests_cold_us": 1.0, "look_up_us": 1.0, "look_up_cold_us": 9e9,
                                 "log_us": 0.0, "delta_us": 0.0, "fold_us": 0.0}, budget)
    assert line["sync2_fits_cold"] == "no" and line["sync2_floor_us"] == 2.0
    assert ledger_floor.markdown([]).count("\n") == 1


def test_the_builder_builds_sync_2s_records_as_the_cli_reads_them() -> None:
    builder = ledger_floor.Builder("identify20")
    ops = builder.ops(99, 101)
    texts = builder.operation.ledger_entries(ops)[0]
    assert texts == [b"person:email:user99@example.com", b"person:email:user100@example.com"]
    assert b'"orders"' in ops[0].body
