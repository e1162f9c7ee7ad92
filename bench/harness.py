"""Running one contender and measuring it: wall time, CPU time and peak RSS of its own process.

Every contender (the floor, our connector's ``write``, the official client) runs as a subprocess pinned
to CPU 0 with its input file as stdin; the emulator runs in another subprocess pinned to CPU 1 (when the
machine has two). ``os.wait4`` gives the contender's own rusage (CPU seconds, ``ru_maxrss``), so the
figures never include the emulator's work nor this driver's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from customerio_emulator import start_emulator_process

import gen

BENCH_DIR = Path(__file__).resolve().parent
CONTENDER_CPU = 0
EMULATOR_CPU = 1
_SUMMARY = re.compile(
    r"(?P<records>\d+) records read, (?P<accepted>\d+) accepted, (?P<rejected>\d+) rejected.*?"
    r"(?P<states_out>\d+) of (?P<states_in>\d+) states? emitted; (?P<requests>\d+) requests? "
    r"\((?P<batches>\d+) batch(?:es)?, (?P<ops_per_batch>\d+) ops per batch\), (?P<retries>\d+) retr(?:y|ies)"
)


@dataclass
class Run:
    """One measured run of one contender (a row cell of the results table)."""

    contender: str
    workload: str
    size: int
    latency_ms: int | None
    state_every: int | None
    records: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    requests: int | None = None
    mean_ops_per_batch: float | None = None
    retries: int | None = None
    extrapolated: bool = False  # records/s measured on a sample smaller than ``size``
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def records_s(self) -> float:
        return self.records / self.wall_s

    @property
    def cpu_s_per_1m(self) -> float:
        return self.cpu_s / self.records * 1e6

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "records_s": self.records_s, "cpu_s_per_1m": self.cpu_s_per_1m}


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


def measure(cmd: list[str], stdin_path: Path, stdout_path: Path) -> tuple[float, float, float, int]:
    """Run ``cmd`` pinned to the contender CPU; (wall s, CPU s, peak RSS MB, exit code)."""
    with stdin_path.open("rb") as stdin, stdout_path.open("wb") as stdout:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                preexec_fn=lambda: _pin(CONTENDER_CPU), cwd=BENCH_DIR.parent)
        assert proc.stderr is not None
        errors = proc.stderr.read()  # drained while it runs: a full pipe would stall the contender
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(errors.decode(errors="replace")[-2000:])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


@contextmanager
def emulator(latency_ms: int) -> Iterator[Any]:
    """A lean emulator (validates and counts, keeps no state) with ``latency_ms`` on every Track call."""
    with start_emulator_process(lean=True, faults={"latency_ms": latency_ms}) as emu:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > EMULATOR_CPU:
            os.sched_setaffinity(emu.pid, {EMULATOR_CPU})
        yield emu


def _check_counters(emu: Any, records: int, label: str) -> dict[str, Any]:
    counters = emu.client.counters()
    if counters["ops"] != records or counters["ops_rejected"]:
        raise RuntimeError(f"{label}: the emulator saw {counters['ops']} ops "
                           f"({counters['ops_rejected']} rejected) for {records} records")
    emu.client.reset()
    return counters


# --- contenders ------------------------------------------------------------------------------------

def run_floor(workload: str, size: int, work: Path) -> Run:
    source = gen.ensure_input(workload, size, 10_000)
    out = work / "floor.out"
    wall, cpu, rss, code = measure([sys.executable, str(BENCH_DIR / "floor.py")], source, out)
    if code != 0:
        raise RuntimeError(f"the floor failed (exit {code})")
    result = json.loads(out.read_text())
    return Run("floor", workload, size, None, None, result["records"], wall, cpu, rss,
               extra={"loop_seconds": result["loop_seconds"], "bodies": result["bodies"]})


def connector_files(work: Path, url: str) -> tuple[Path, Path]:
    """config.json (default settings, the emulator as the Track API host) and the catalog."""
    config = work / "config.json"
    config.write_text(json.dumps({"credentials": {"siteId": "demo-site", "apiKey": "demo-key"},
                                  "track_api_base_url": url}))
    catalog = work / "catalog.json"
    catalog.write_text(json.dumps(gen.catalog()))
    return config, catalog


def timed_write(config: Path, catalog: Path, source: Path, out: Path,
                contender: str = "") -> tuple[float, float, float, dict[str, int]]:
    """One CLI ``write`` of ``source`` (stdout to ``out``), timed whole-process: wall, CPU, peak RSS and
    its summary (``_connector_summary``); a failed exit is a RuntimeError naming ``contender``."""
    cmd = [sys.executable, "-m", "destination_customer_io", "write", "--config", str(config),
           "--catalog", str(catalog)]
    wall, cpu, rss, code = measure(cmd, source, out)
    if code != 0:
        raise RuntimeError(f"{contender + ': ' if contender else ''}the connector failed (exit {code}); "
                           f"its output is in {out}")
    return wall, cpu, rss, _connector_summary(out)


def run_connector(emu: Any, workload: str, size: int, state_every: int, latency_ms: int, work: Path) -> Run:
    source = gen.ensure_input(workload, size, state_every)
    config, catalog = connector_files(work, emu.url)
    wall, cpu, rss, summary = timed_write(config, catalog, source, work / "connector.out")
    expected_states = -(-size // state_every)
    if summary["states_out"] != expected_states or summary["accepted"] != size:
        raise RuntimeError(f"the connector's summary does not add up: {summary}")
    _check_counters(emu, size, "connector")
    return Run("connector", workload, size, latency_ms, state_every, size, wall, cpu, rss,
               requests=summary["requests"], mean_ops_per_batch=size / max(summary["batches"], 1),
               retries=summary["retries"], extra={"states_emitted": summary["states_out"]})


def _connector_summary(out: Path) -> dict[str, int]:
    states = 0
    summary: dict[str, int] | None = None
    with out.open("rb") as lines:
        for line in lines:
            message = json.loads(line)
            if message["type"] == "STATE":
                states += 1
            elif message["type"] == "LOG" and message["log"]["message"].startswith("Sync summary"):
                match = _SUMMARY.search(message["log"]["message"])
                if match is None:
                    raise RuntimeError(f"unreadable summary: {message['log']['message']}")
                summary = {k: int(v) for k, v in match.groupdict().items()}
    if summary is None:
        raise RuntimeError(f"the connector printed no summary; see {out}")
    summary["states_out"] = states  # what reached stdout, not what the connector says it sent
    return summary


def run_official(emu: Any, workload: str, size: int, latency_ms: int, work: Path,
                 mode: str = "batch", limit: int | None = None) -> Run:
    source = gen.ensure_input(workload, size, 10_000)
    out = work / "official.out"
    cmd = [sys.executable, str(BENCH_DIR / "official_client.py"), "--url", emu.url, "--mode", mode]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    wall, cpu, rss, code = measure(cmd, source, out)
    if code != 0:
        raise RuntimeError(f"the official client failed (exit {code})")
    result = json.loads(out.read_text())
    counters = _check_counters(emu, result["records"], f"official {mode}")
    contender = "official_batch" if mode == "batch" else "official_v1"
    return Run(contender, workload, size, latency_ms, 10_000, result["records"], wall, cpu, rss,
               requests=counters["requests"], mean_ops_per_batch=result["records"] / result["calls"],
               retries=counters["requests"] - result["calls"], extrapolated=result["records"] < size)


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="cio-bench-")
