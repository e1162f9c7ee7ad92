"""A server that accepts connections and never answers must not hang the sync: it ends within
``request_timeout + retry_max_seconds`` (plus start-up slack) with a transient_error TRACE, a non-zero
exit and no state beyond the acknowledged ones, also when stdin stays open (a quiet source).
And under the emulator's requests/s limit the concurrency gate adapts: 429s stay rare, throughput
stays near the limit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .harness import StateAuditor, build_dataset, make_config, run_cli, verify_end_state

TIMEOUT, RETRY_BUDGET, SLACK = 0.5, 2.0, 4.0


@pytest.mark.parametrize("stdin_open", [False, True], ids=["stdin_file", "stdin_pipe_left_open"])
def test_hanging_server_ends_the_sync_within_its_bound(stdin_open: bool, emu: Any, rejected_dir: Path,
                                                       tmp_path: Path, figures: Any) -> None:
    dataset = build_dataset(people=20, events=300, seed=11)
    # two batches are answered, every later request is accepted and never answered
    emu.client.set_faults({"schedule": [{"count": 2, "action": "pass"}, {"count": 10_000, "action": "hang"}]})
    config = make_config(emu.url, rejected_dir, batch_max_bytes=4_000, request_timeout_seconds=TIMEOUT,
                         retry_max_seconds=RETRY_BUDGET)
    auditor = StateAuditor(emu.client, dataset, rejected_dir)

    run = run_cli(tmp_path / "run", config, dataset.lines, on_message=auditor, stdin_open=stdin_open,
                  timeout=30)
    injected = emu.client.faults()["injected"]
    emu.client.clear_faults()

    assert run.returncode == 1, run.stderr[-2000:]
    assert [e["failure_type"] for e in run.errors] == ["transient_error"]
    assert "within 2 s of retries" in run.errors[0]["message"]
    assert run.elapsed < TIMEOUT + RETRY_BUDGET + SLACK, run.elapsed
    assert auditor.problems == []  # every state emitted was backed by acknowledged records
    assert len(auditor.markers) < len(dataset.state_index)  # and the unacknowledged ones were held back
    assert run.stderr == b""  # a TRACE, no traceback
    figures(faults=injected.get("hang", 0), records=dataset.valid_records, duplicates=0,
            seconds=round(run.elapsed, 2))


def test_rate_limit_adapts_concurrency(emu: Any, rejected_dir: Path, tmp_path: Path, figures: Any,
                                       soak: bool) -> None:
    rps = 20
    dataset = build_dataset(people=50, events=(4_000 if soak else 1_500), seed=12, state_every=100)
    emu.client.set_faults({"rate_limit_rps": rps, "rate_limit_burst": 2})
    config = make_config(emu.url, rejected_dir, lanes=8, batch_max_bytes=3_000,
                         retry_initial_backoff_seconds=0.1, retry_max_backoff_seconds=1.0)

    run = run_cli(tmp_path / "run", config, dataset.lines, timeout=120)
    counters = emu.client.counters()
    emu.client.clear_faults()

    assert run.returncode == 0, run.errors
    outcome = verify_end_state(emu.client, dataset, rejected_dir)
    assert outcome.problems == []
    accepted = counters["status"].get("200", 0) + counters["status"].get("207", 0)
    throttled = counters["status"].get("429", 0)
    seconds = float(re.search(r"; ([\d.]+) s,", run.summary).group(1))  # type: ignore[union-attr]
    share_429 = throttled / (accepted + throttled)
    achieved = accepted / seconds
    print(f"rate limit {rps}/s: {accepted} batches in {seconds:.2f} s = {achieved:.1f}/s, "
          f"{throttled} answered 429 ({share_429:.1%})")
    assert share_429 < 0.2, (throttled, accepted)  # paced: 429s stay rare (was 2 in 3 unpaced)
    figures(faults=throttled, records=outcome.events_checked + outcome.people_checked,
            duplicates=outcome.duplicate_events, rps_limit=rps, achieved_rps=round(achieved, 1),
            share_429=f"{share_429:.1%}")
