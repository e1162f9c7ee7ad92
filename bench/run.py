"""``make bench``: measured throughput, CPU, memory of the connector beside the floor and the alternatives.

For each workload (event, identify, mix; ``ledger`` is described in bench/ledger_bench.py and ends with issue
25's table at 100k keys, bench/ledger_cli.py; ``segments`` (issue
26's features, each on against off) in bench/feature_bench.py, ``release`` in bench/vs_release.py: this
checkout against the previous release, whole process, alternated) and size (100k
and 1M records by default):
    floor           bench/floor.py: decode + map + encode + batch, no I/O (what Python cannot avoid)
    connector       the real CLI, ``destination-customer-io write`` at default settings, states every
                    10k records, and again with a state every 100 records
    official_batch  the official ``customerio`` package's v2 ``batch()`` in a sequential loop
    official_v1     its v1 ``identify``/``track`` per record, on a small sample (rate extrapolated)
each against the emulator in lean mode (validates and counts only) with 0 ms and 50 ms of latency.

    make bench                          # everything, one run per cell (~15 minutes on 2 cores)
    make bench QUICK=1                  # 100k records only, ~3 minutes
    BENCH_SIZES=100000 BENCH_WORKLOADS=event .venv/bin/python bench/run.py
    BENCH_REPEAT=2 .venv/bin/python bench/run.py --latencies 0 --merge   # re-measure some cells only
    BENCH_WORKLOADS=ledger .venv/bin/python bench/run.py --merge         # the ledger's rows only
    BENCH_WORKLOADS=segments .venv/bin/python bench/run.py --merge       # feature on vs off rows only

Options (and environment): --sizes (BENCH_SIZES), --workloads (BENCH_WORKLOADS), --latencies
(BENCH_LATENCIES), --repeat (BENCH_REPEAT: the fastest of N runs is kept), --skip-official, --no-floor,
--merge (keep the other cells of the existing summary.json). The inputs are generated once under
bench/data/ (about 2.8 GB for both sizes; gitignored).

Writes bench/results/summary.json, results.md, throughput.png (committed) and runs.jsonl (one line per
run as it finishes; gitignored).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feature_bench  # noqa: E402
import gen  # noqa: E402
import harness  # noqa: E402
import ledger_bench  # noqa: E402
import ledger_cli  # noqa: E402
import report  # noqa: E402
import vs_release  # noqa: E402

V1_SAMPLE = {0: 2_000, 50: 100}  # per-record calls: 50 ms each makes a big sample take minutes
METHOD = (
    "Each contender runs as its own process pinned to CPU 0, with the input file as stdin; the emulator "
    "(`customerio-emulator --lean`: validates and counts every op, keeps no state) runs pinned to CPU 1, "
    "with the given latency added to every Track API call. records/s = records / wall time of the whole "
    "process (start-up included); CPU s and peak RSS are the contender's own (`wait4` rusage). Requests "
    "and retries: the connector's summary line and the emulator's counters. Each cell is the fastest of "
    "`--repeat` runs (v1 samples: one run); the 1-minute load average before each run is in summary.json, "
    "since other work on the machine only ever slows a run down. Reproduce: `make bench`."
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{os.cpu_count()} vCPU {cpu}, Python {platform.python_version()}, {platform.system()}"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("QUICK")),
                        help="100k records only (also QUICK=1)")
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", ""))
    parser.add_argument("--workloads", default=os.environ.get("BENCH_WORKLOADS", "event,identify,mix,ledger,segments,release"))
    parser.add_argument("--skip-official", action="store_true", help="only the floor and the connector")
    parser.add_argument("--latencies", default=os.environ.get("BENCH_LATENCIES", "0,50"))
    parser.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True,
                        help="measure the floor (--no-floor keeps it out of a --merge re-run)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the cells of the existing summary.json that this run does not measure")
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "1")),
                        help="runs per cell; the fastest is kept (others on the machine only slow a run down)")
    args = parser.parse_args()
    default = "100000" if args.quick else "100000,1000000"
    args.sizes = [int(s) for s in (args.sizes or default).split(",")]
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.latencies = [int(x) for x in args.latencies.split(",") if x]
    return args


def fastest(repeat: int, measure: Callable[[], harness.Run]) -> harness.Run:
    """Best of ``repeat`` runs; every run's records/s and the load average before it are kept."""
    tried = []
    for _ in range(max(1, repeat)):
        load = os.getloadavg()[0]
        run = measure()
        run.extra["load_avg_1m_before"] = round(load, 2)
        tried.append(run)
    best = max(tried, key=lambda r: r.records_s)
    best.extra["all_records_s"] = [round(r.records_s) for r in tried]
    return best


def record(runs: list[harness.Run], run: harness.Run, log: Any) -> None:
    runs.append(run)
    log.write(json.dumps(run.to_json()) + "\n")
    log.flush()
    where = "" if run.latency_ms is None else f" {run.latency_ms} ms"
    states = f" states/{run.state_every}" if run.contender == "connector" else ""
    print(f"{run.workload:<9}{run.size:>9,} {run.contender:<15}{where:<6}{states:<14}"
          f"{run.records_s:>10,.0f} rec/s  cpu {run.cpu_s_per_1m:6.1f} s/1M  rss {run.peak_rss_mb:5.0f} MB  "
          f"requests {run.requests if run.requests is not None else '-'}", flush=True)


def contenders(args: argparse.Namespace) -> list[str]:
    """The workloads the floor, the connector and the official client run (the others have rows of their own)."""
    return [w for w in args.workloads if w not in ("ledger", "segments", "release")]


def run_release(args: argparse.Namespace) -> dict[str, Any]:
    """The previous release (bench/releases.json) and this checkout, alternated pair by pair, at 0 ms."""
    against = vs_release.previous_release()
    builds = [vs_release.resolve(against), vs_release.this_build()]
    rounds = max(3, args.repeat)
    options = argparse.Namespace(workloads="event,identify,mix", records=100_000 if args.quick else 200_000,
                                 rounds=rounds, instructions=False, startup=False)
    rows = vs_release.measure_all(options, builds)
    return {"against": against, "rounds": rounds, "rows": rows}


def run_ledger(args: argparse.Namespace, runs: list[harness.Run], log: Any, work: Path) -> list[dict[str, Any]]:
    """The ledger workload: its resync runs (recorded), at 0 ms. Its store rows measured 0.5.0's in-memory
    ledger (bench/ledger_store.py, gone with it): none are made since the SQLite ledger (issue 25)."""
    store: list[dict[str, Any]] = []
    with harness.emulator(0) as emu:
        for size in args.sizes:
            ledger_bench.resync_rows(emu, size, args.repeat, work, lambda run: record(runs, run, log))
    return store


def run_ledger_cli() -> list[dict[str, Any]]:
    """The rest of the ledger workload: issue 25's table at a small size (bench/ledger_cli.py), its rows."""
    size = ledger_cli.MAKE_BENCH_SIZE
    return ledger_cli.measure([size], [size], str(Path(sys.executable).with_name("destination-customer-io")))


def run_segments(args: argparse.Namespace, runs: list[harness.Run], log: Any, work: Path) -> None:
    """The segments workload: issue 26's features, each on against off, at 0 ms (bench/feature_bench.py)."""
    with feature_bench.emulator() as emu:
        feature_bench.feature_rows(emu, feature_bench.PEOPLE, args.repeat, work, lambda run: record(runs, run, log))


def run_latency(args: argparse.Namespace, latency: int, runs: list[harness.Run], log: Any, work: Path) -> None:
    n = args.repeat
    with harness.emulator(latency) as emu:
        for workload in contenders(args):
            for size in args.sizes:
                for every in (10_000, 100):
                    record(runs, fastest(n, lambda: harness.run_connector(emu, workload, size, every, latency, work)), log)
                if not args.skip_official:
                    record(runs, fastest(n, lambda: harness.run_official(emu, workload, size, latency, work)), log)
                    sample = min(V1_SAMPLE[latency], size)
                    record(runs, harness.run_official(emu, workload, size, latency, work, "v1", sample), log)


def _cell(run: dict[str, Any]) -> tuple:
    return run["contender"], run["workload"], run["size"], run["latency_ms"], run["state_every"]


def earlier_meta() -> dict[str, Any]:
    path = report.RESULTS_DIR / "summary.json"
    return json.loads(path.read_text())["meta"] if path.exists() else {}


def merged(fresh: list[dict[str, Any]], fresh_store: list[dict[str, Any]]) -> tuple[list, list]:
    """The earlier summary's runs and ledger store rows, each replaced by this run's measurement of the
    same cell."""
    path = report.RESULTS_DIR / "summary.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    measured = {_cell(run) for run in fresh}
    runs = [run for run in earlier.get("runs", []) if _cell(run) not in measured] + fresh
    rows = {(row["kind"], row["keys"]) for row in fresh_store}
    store = [row for row in earlier.get("ledger_store", []) if (row["kind"], row["keys"]) not in rows]
    return runs, store + fresh_store


def main() -> None:
    args = options()
    report.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    print(f"benchmark on {machine()}; sizes {args.sizes}; workloads {args.workloads}", flush=True)
    for size in args.sizes:  # generate up front so no run pays for it
        for workload in contenders(args):
            for state_every in (10_000, 100):
                gen.ensure_input(workload, size, state_every)
        if "ledger" in args.workloads:
            gen.ensure_input("identify", size, 10_000)
            gen.ensure_changed_input(size, 10_000, ledger_bench.CHANGED_EVERY)
    runs: list[harness.Run] = []
    store: list[dict[str, Any]] = []
    with (report.RESULTS_DIR / "runs.jsonl").open("w") as log, harness.workdir() as temp:
        work = Path(temp)
        for workload in contenders(args) if args.floor else ():
            for size in args.sizes:
                record(runs, fastest(args.repeat, lambda: harness.run_floor(workload, size, work)), log)
        for latency in args.latencies if contenders(args) else ():
            run_latency(args, latency, runs, log, work)
        if "ledger" in args.workloads:
            store = run_ledger(args, runs, log, work)
            args.ledger_cli = run_ledger_cli()
        if "segments" in args.workloads:
            run_segments(args, runs, log, work)
        release = run_release(args) if "release" in args.workloads else None
    fresh = [run.to_json() for run in runs]
    today = datetime.date.today().isoformat()
    meta = {"date": today, "machine": machine(), "method": METHOD, "sizes": args.sizes,
            "workloads": args.workloads, "repeat": args.repeat, "ledger_method": ledger_bench.METHOD,
            "segments_method": feature_bench.METHOD}
    if "ledger" in args.workloads:
        meta["ledger"] = {"date": today, "repeat": args.repeat, "quick": args.quick}
    if "segments" in args.workloads:
        meta["segments"] = {"date": today, "repeat": max(2, args.repeat), "machine": machine()}
    if args.merge:
        fresh, store = merged(fresh, store)
        earlier = earlier_meta()
        if not contenders(args):  # the main tables are the earlier run's: so are their date and settings
            meta.update({k: earlier[k] for k in ("date", "machine", "sizes", "workloads", "repeat") if k in earlier})
        for part in ("ledger", "segments"):
            meta.setdefault(part, earlier.get(part))
    if args.merge and release is None:
        release = json.loads((report.RESULTS_DIR / "summary.json").read_text()).get("vs_release") \
            if (report.RESULTS_DIR / "summary.json").exists() else None
    ledger_cli_rows = getattr(args, "ledger_cli", None)
    if args.merge and ledger_cli_rows is None and (report.RESULTS_DIR / "summary.json").exists():
        ledger_cli_rows = json.loads((report.RESULTS_DIR / "summary.json").read_text()).get("ledger_cli")
    summary = {"meta": meta, "runs": fresh, "ledger_store": store, "vs_release": release,
               "ledger_cli": ledger_cli_rows}
    report.write_all(summary)
    print((report.RESULTS_DIR / "results.md").read_text())


if __name__ == "__main__":
    main()
