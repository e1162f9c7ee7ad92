"""End to end through the CLI under injected faults: 429 storms (with and without Retry-After), 5xx
bursts, a storm of what proxies and load balancers answer (520, 507, 423 at 10% of requests), connections dropped before and after the server applied a batch, responses slower than the
client's timeout. After each: every valid record stored exactly once, each person equal to their newest
record, every invalid record in the rejected files with its reason, and no STATE emitted before the
records it covers were acknowledged (audited live, at the moment each state appears)."""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import pytest

from .harness import StateAuditor, build_dataset, make_config, run_cli, verify_end_state

FAULTS: dict[str, dict[str, Any]] = {
    "429_storm_retry_after": {
        "schedule": [{"count": 2, "action": "pass"}, {"count": 12, "status": 429, "retry_after": 0.2}],
        "error_rate": 0.1, "error_statuses": [429], "retry_after": 0.1, "seed": 1},
    "429_storm_no_retry_after": {
        "schedule": [{"count": 2, "action": "pass"}, {"count": 12, "status": 429}],
        "error_rate": 0.1, "error_statuses": [429], "seed": 2},
    "5xx_bursts": {
        "schedule": [{"count": 2, "action": "pass"}, {"count": 6, "status": 503},
                     {"count": 3, "action": "pass"}, {"count": 5, "status": 500},
                     {"count": 2, "action": "pass"}, {"count": 5, "status": 502}],
        "error_rate": 0.15, "error_statuses": [500, 502, 503, 504], "seed": 3},
    # A proxy / CDN / load balancer in front of the API: 10% of all requests (the region lookup too).
    "proxy_statuses_storm": {"error_rate": 0.1, "error_statuses": [520, 507, 423], "seed": 6},
    "dropped_connections": {
        "schedule": [{"count": 1, "action": "pass"}, {"count": 3, "action": "drop_after"},
                     {"count": 2, "action": "drop_before"}],
        "drop_after_rate": 0.2, "drop_before_rate": 0.1, "seed": 4},
    "slower_than_timeout": {"latency_ms": 100, "latency_jitter_ms": 600, "seed": 5},
}
# Responses slower than this client timeout are abandoned by the client (and still applied by the
# server later: the retry must not duplicate them).
SLOW_TIMEOUT = 0.45


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_every_record_once_under_faults(name: str, emu: Any, rejected_dir: Path, tmp_path: Path,
                                        figures: Any, soak: bool) -> None:
    scale = 5 if soak else 1
    dataset = build_dataset(people=40 * scale, events=500 * scale, seed=zlib.crc32(name.encode()))
    emu.client.set_faults(FAULTS[name])
    overrides = {"request_timeout_seconds": SLOW_TIMEOUT} if name == "slower_than_timeout" else {}
    # a rate of 10% needs many requests to mean a storm: small batches
    batch_max_bytes = 1_500 if name == "proxy_statuses_storm" else 6_000
    config = make_config(emu.url, rejected_dir, batch_max_bytes=batch_max_bytes, **overrides)
    auditor = StateAuditor(emu.client, dataset, rejected_dir)

    run = run_cli(tmp_path / "run", config, dataset.lines, on_message=auditor)
    injected = emu.client.faults()["injected"]
    emu.client.clear_faults()

    assert run.returncode == 0, (run.errors, run.stderr[-2000:])
    assert run.errors == []
    assert auditor.problems == []
    assert auditor.markers == sorted(dataset.state_index)  # every state, once, in input order
    outcome = verify_end_state(emu.client, dataset, rejected_dir)
    assert outcome.problems == []
    assert outcome.duplicate_events == 0
    retries = int(re.search(r"(\d+) retries", run.summary).group(1))  # type: ignore[union-attr]
    # the faults really happened: injected statuses and drops, or (slow answers) client timeouts
    faults = sum(injected.values()) or retries
    assert faults >= 5, (injected, run.summary)
    assert retries >= faults if injected else retries > 0
    if name == "proxy_statuses_storm":
        assert set(injected) == {"520", "507", "423"}, injected
    if name == "dropped_connections":
        assert injected.get("drop_after", 0) >= 3
        assert outcome.ignored_repeats > 0  # applied batches were re-sent, and deduplicated by id
    figures(faults=faults, records=outcome.events_checked + outcome.people_checked + outcome.rejected_checked,
            duplicates=outcome.duplicate_events, repeats_ignored=outcome.ignored_repeats,
            injected=dict(injected), retries=retries, seconds=round(run.elapsed, 2))
