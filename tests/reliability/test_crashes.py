"""Crashes: SIGKILL at random points of a sync, many times, each attempt replaying the input after the
last state the connector emitted (as Airbyte does). The end state must be identical to a run without
crashes: no record lost, no event stored twice. SIGTERM: a graceful stop delivers what was read, emits
only honest states, then exits non-zero with a transient_error TRACE."""

from __future__ import annotations

import random
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    Dataset, StateAuditor, build_dataset, make_config, run_cli, snapshot, state_marker, verify_end_state,
)


def _dataset(soak: bool, state_kind: str = "STREAM") -> Dataset:
    return build_dataset(people=(200 if soak else 60), events=(6_000 if soak else 1_500), seed=21,
                         state_every=25, state_kind=state_kind)


def _config(emu: Any, rejected_dir: Path) -> dict[str, Any]:
    return make_config(emu.url, rejected_dir, batch_max_bytes=3_000)


class _SignalAfterState:
    """Passes messages on to the auditor; after the ``nth`` STATE, signals the connector ``delay`` s later."""

    def __init__(self, auditor: StateAuditor, nth: int, delay: float, signum: int) -> None:
        self.auditor, self.nth, self.delay, self.signum = auditor, nth, delay, signum
        self.seen = 0

    def __call__(self, message: dict[str, Any], proc: Any) -> None:
        self.auditor(message, proc)
        if message.get("type") == "STATE":
            self.seen += 1
            if self.seen == self.nth:
                threading.Timer(self.delay, _send, (proc, self.signum)).start()


def _send(proc: Any, signum: int) -> None:
    if proc.poll() is None:
        proc.send_signal(signum)  # the connector this test started


def _latest(window: float, earliest: float, lines: list[bytes], trickle: tuple[int, float] | None) -> float:
    """Signal no later than this: ``window``, or with a trickle 40% of the time feeding these lines takes."""
    if trickle is None:
        return window
    return earliest + max(0.05, 0.4 * len(lines) / trickle[0] * trickle[1])


def _crash_until_done(emu: Any, dataset: Dataset, rejected_dir: Path, tmp_path: Path, *, signum: int,
                      attempts: int, window: float, seed: int, earliest: float = 0.05,
                      trickle: tuple[int, float] | None = None,
                      after_states: bool = True) -> tuple[int, list[str], list[Any]]:
    """Signal ``attempts`` runs, then let one run to the end; each run replays the input after the last
    state emitted so far. Odd attempts (all of them unless ``after_states``) are signalled at a random
    time in [earliest, window] s (with ``trickle``, stdin fed slowly: no later than 40% of the feed), even
    ones just after a random STATE of theirs plus up to 50 ms, so they land mid-sync.
    Returns (runs that ended non-zero, the auditors' problems, the runs)."""
    rng = random.Random(seed)
    last_marker: int | None = None
    landed, problems, runs = 0, [], []
    for attempt in range(attempts + 1):
        final = attempt == attempts
        auditor = StateAuditor(emu.client, dataset, rejected_dir, offset_marker=last_marker)
        lines = dataset.after_state(last_marker)
        timed = not final and (attempt % 2 == 1 or not after_states)
        on_message: Any = auditor
        if not final and not timed:
            states_left = sum(1 for line in lines if line.startswith(b'{"type": "STATE"'))
            on_message = _SignalAfterState(auditor, rng.randint(1, max(1, states_left // 2)),
                                           rng.uniform(0, 0.05), signum)
        run = run_cli(tmp_path / f"run{attempt}", _config(emu, rejected_dir), lines, on_message=on_message,
                      signal_after=(rng.uniform(earliest, _latest(window, earliest, lines, trickle)), signum)
                      if timed else None,
                      trickle=None if final else trickle)
        runs.append(run)
        problems += auditor.problems
        if run.returncode != 0:
            landed += 1
        elif not final:
            assert run.errors == []
        if auditor.markers:
            last_marker = auditor.markers[-1]
    assert runs[-1].returncode == 0, runs[-1].errors
    return landed, problems, runs


@pytest.mark.parametrize("state_kind", ["STREAM", "GLOBAL"])
def test_sigkill_at_random_points_loses_and_doubles_nothing(emu: Any, rejected_dir: Path, tmp_path: Path,
                                                           figures: Any, soak: bool, state_kind: str) -> None:
    # The auditor also checks every state's counts against its sourceStats (the platform's checksum),
    # in each replay too: interleaved STREAM states of two streams, or GLOBAL states.
    dataset = _dataset(soak, state_kind)
    emu.client.set_faults({"latency_ms": 10})  # stretches the sync so kills land inside it
    baseline = run_cli(tmp_path / "baseline", _config(emu, tmp_path / "baseline-rejected"), dataset.lines)
    assert baseline.returncode == 0
    expected = snapshot(emu.client)
    emu.client.reset()
    emu.client.set_faults({"latency_ms": 10})

    kills = 30 if soak else 8
    # stdin arrives in a trickle (250 lines/s, ~7 s for the whole input), so every kill lands while a
    # replay is still running. At full speed a replay took ~0.2 s: shorter than the 1 s that states of
    # epochs with rejected records wait to share one store flush, so states came out at exit, kills
    # "after a state" landed after the end, and 2-6 of 8 landed depending on the machine's speed.
    landed, problems, runs = _crash_until_done(emu, dataset, rejected_dir, tmp_path, signum=signal.SIGKILL,
                                               attempts=kills, window=baseline.elapsed * 1.2, seed=21,
                                               earliest=0.3, trickle=(25, 0.1))
    repeats = emu.client.counters()["duplicates"]

    assert problems == []  # no state was ever emitted before its records were acknowledged
    assert landed >= kills // 2, landed  # the kills after a state always land mid-sync
    assert sum(r.killed for r in runs) == landed
    outcome = verify_end_state(emu.client, dataset, rejected_dir, rejected_may_repeat=True)
    assert outcome.problems == []
    assert outcome.duplicate_events == 0
    assert snapshot(emu.client) == expected  # identical to the run without crashes
    figures(faults=landed, records=outcome.events_checked + outcome.people_checked + outcome.rejected_checked,
            duplicates=outcome.duplicate_events, repeats_ignored=repeats, kills=landed, runs=len(runs))


def test_sigterm_stops_gracefully_with_honest_states(emu: Any, rejected_dir: Path, tmp_path: Path,
                                                     figures: Any, soak: bool) -> None:
    dataset = _dataset(soak)
    emu.client.set_faults({"latency_ms": 10})
    stops = 12 if soak else 6
    # stdin arrives at 200 lines/s, so each replay, even the short last ones, is still reading when its
    # SIGTERM comes (0.6 s or later, once the pipeline exists). At 1,000 lines/s only 1-3 of 6 stops
    # landed once a sync no longer waited up to 1 s at its end for a grouped rejected-store flush.
    landed, problems, runs = _crash_until_done(emu, dataset, rejected_dir, tmp_path, signum=signal.SIGTERM,
                                               attempts=stops, window=1.8, seed=22, earliest=0.6,
                                               trickle=(10, 0.05), after_states=False)

    assert problems == []
    stopped = [r for r in runs if r.returncode != 0]
    assert len(stopped) == landed >= 2
    early = [r for r in stopped if r.returncode == -signal.SIGTERM]
    for run in early:  # SIGTERM before the write pipeline existed: nothing read, sent or emitted
        assert run.messages == [] and run.stderr == b""
    handled = [r for r in stopped if r.returncode != -signal.SIGTERM]
    assert handled, "no SIGTERM landed inside a running sync"
    for run in handled:
        assert run.returncode == 1, run.stderr[-2000:]  # handled: a TRACE, not death by signal
        assert [e["failure_type"] for e in run.errors] == ["transient_error"], run.errors
        assert "SIGTERM" in run.errors[0]["message"]
        assert run.stderr == b""
        assert run.summary  # the summary was written: the stop went through the normal ending
    outcome = verify_end_state(emu.client, dataset, rejected_dir, rejected_may_repeat=True)
    assert outcome.problems == []
    figures(faults=landed, records=outcome.events_checked + outcome.people_checked + outcome.rejected_checked,
            duplicates=outcome.duplicate_events, sigterms=landed, handled=len(handled))


def test_sigterm_delivers_what_was_read(emu: Any, rejected_dir: Path, tmp_path: Path) -> None:
    """Stdin stays open (the source is still running): SIGTERM ends the sync promptly, every record
    read is delivered and every state read is emitted."""
    dataset = build_dataset(people=20, events=200, seed=23)
    config = _config(emu, rejected_dir)
    auditor = StateAuditor(emu.client, dataset, rejected_dir)

    run = run_cli(tmp_path / "run", config, dataset.lines, on_message=auditor, stdin_open=True,
                  signal_after=(1.5, signal.SIGTERM), timeout=20)

    assert run.returncode == 1 and run.elapsed < 5, (run.returncode, run.elapsed)
    assert [e["failure_type"] for e in run.errors] == ["transient_error"]
    assert auditor.problems == []
    assert [state_marker(m) for m in run.states] == sorted(dataset.state_index)
    assert verify_end_state(emu.client, dataset, rejected_dir).problems == []


def test_sigterm_with_a_hanging_server_ends_within_the_grace(emu: Any, rejected_dir: Path,
                                                            tmp_path: Path) -> None:
    dataset = build_dataset(people=20, events=300, seed=24)
    emu.client.set_faults({"schedule": [{"count": 3, "action": "pass"}, {"count": 10_000, "action": "hang"}]})
    config = make_config(emu.url, rejected_dir, batch_max_bytes=3_000, request_timeout_seconds=30,
                         retry_max_seconds=60, stop_grace_seconds=1.0)
    auditor = StateAuditor(emu.client, dataset, rejected_dir)

    run = run_cli(tmp_path / "run", config, dataset.lines, on_message=auditor, stdin_open=True,
                  signal_after=(1.5, signal.SIGTERM), timeout=20)
    emu.client.clear_faults()

    assert run.returncode == 1 and run.elapsed < 1.5 + 1.0 + 2.0, (run.returncode, run.elapsed)
    assert [e["failure_type"] for e in run.errors] == ["transient_error"]
    assert "not acknowledged within 1 s" in run.errors[0]["message"]
    assert auditor.problems == []
    assert len(run.states) < len(dataset.state_index)
    assert run.stderr == b""
