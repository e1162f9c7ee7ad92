"""What reverse-ETL users expect (issue 26), end to end through the CLI against the emulator: a hard
request-rate cap, segment calls packed across lanes, and people created before they join a segment.
Each test asserts what reached the emulator: request arrival times, the exact JSON of segment calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import Run, base_config, configured_stream, global_state_line, record_line, run_connector

SITE, KEY = "site-retl", "key-retl-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]  # the emulator fixture's (conftest.py)
USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])


def write(emu: EmulatorProcess, tmp: Path, streams: list[dict[str, Any]], lines: list[str], **config: Any) -> Run:
    run = run_connector(tmp, "write", base_config(emu.url, SITE, KEY, **config), {"streams": streams}, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def users(emails: list[str]) -> list[str]:
    return [record_line("users", {"person_email": email, "plan": "pro"}) for email in emails]


def most_in_one_second(times: list[float]) -> int:
    """The most requests that arrived in any one-second window [t, t + 1) (a sliding window)."""
    times = sorted(times)
    most, first = 0, 0
    for last, arrived in enumerate(times):
        while arrived - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


# --- max_requests_per_second ---------------------------------------------------------------------

def test_a_sync_capped_at_20_per_second_never_exceeds_22_in_any_second(emu: EmulatorProcess, tmp_path: Path) -> None:
    emails = [f"p{i}@example.com" for i in range(700)]
    # ~1,000-byte batches: about 90 batches, so the sync lasts several seconds at the cap.
    run = write(emu, tmp_path, [USERS], [*users(emails), global_state_line(1)],
                max_requests_per_second=20, batch_max_bytes=1_000)
    assert run.states[-1]["destinationStats"] == {"recordCount": 700.0}
    log = emu.client.requests(site_id=SITE, limit=1_000)
    assert len(log) >= 80 and log[0]["path"] == "/api/v1/accounts/region"  # the look-up is one of them
    arrivals = [entry["received"] for entry in log]
    assert most_in_one_second(arrivals) <= 22
    # Capped, not merely slow: a second's worth at once, then about 20 a second.
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 20) / 20 - 0.5
    assert len(emu.client.people(site_id=SITE)) == 700


def test_uncapped_the_same_sync_goes_well_above_the_cap(emu: EmulatorProcess, tmp_path: Path) -> None:
    """The control: without the setting the emulator sees far more than 22 requests in a second, so the
    capped test above measures the cap."""
    emails = [f"p{i}@example.com" for i in range(700)]
    write(emu, tmp_path, [USERS], [*users(emails), global_state_line(1)], batch_max_bytes=1_000)
    arrivals = [entry["received"] for entry in emu.client.requests(site_id=SITE, limit=1_000)]
    assert most_in_one_second(arrivals) > 40
