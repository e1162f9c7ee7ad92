"""This checkout against a released version (or any commit), whole process, alternated.

Each build is the real CLI (``python -m destination_customer_io write``) reading a bench/gen.py file on
stdin and sending to one lean emulator at 0 ms (pinned to CPU 1; the CLI to CPU 0). The two builds run
in turns, A B A B ..., so a drift of the machine's speed hits both alike; each pair gives a ratio
(B's wall time / A's: above 1 means A is faster) and the median of the pairs is reported.

A release is built from the commit bench/releases.json names (git tags need not travel with a clone):
a git worktree and a venv of its own under ~/.cache/destination-customer-io-bench/ (BENCH_BUILDS to move
it; outside the checkout, so no test or scan sees its files), installed as it shipped
(``pip install`` of that commit: 0.1.2 compiles its C id accelerator where a compiler is present).

    .venv/bin/python bench/vs_release.py                       # vs the previous release (BENCH_AGAINST)
    .venv/bin/python bench/vs_release.py --against 0.1.2 --workloads event --records 200000 --rounds 5
    .venv/bin/python bench/vs_release.py --against 0.1.2 --instructions --records 50000
    .venv/bin/python bench/vs_release.py --against commit:929753c --instructions

``--instructions`` counts each build's CPU instructions once under ``valgrind --tool=callgrind``
(the whole process, every thread): a figure the machine's other load cannot move. ``--startup`` runs a
100-record write instead of the workloads. Prints one JSON line per measurement, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gen
import harness

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RELEASES = BENCH_DIR / "releases.json"
BUILD_DIR = Path(os.environ.get("BENCH_BUILDS", Path.home() / ".cache" / "destination-customer-io-bench"))
_COLLECTED = re.compile(rb"Collected : (\d+)")


@dataclass
class Build:
    """A way to run one version of the CLI: its python and the environment it needs."""

    label: str
    python: str
    env: dict[str, str] = field(default_factory=dict)

    def command(self, config: Path, catalog: Path) -> list[str]:
        return [self.python, "-m", "destination_customer_io", "write", "--config", str(config),
                "--catalog", str(catalog)]


def releases() -> dict[str, str]:
    """Version -> full commit, oldest first (bench/releases.json)."""
    return json.loads(RELEASES.read_text())["releases"]


def previous_release() -> str:
    """The newest release that is not this very commit (BENCH_AGAINST names another)."""
    if os.environ.get("BENCH_AGAINST"):
        return os.environ["BENCH_AGAINST"]
    head = _git("rev-parse", "HEAD")
    older = [version for version, commit in releases().items() if commit != head]
    return older[-1]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def checkout(name: str, commit: str) -> Path:
    """A detached git worktree of ``commit`` under BUILD_DIR/NAME (made once)."""
    path = BUILD_DIR / name
    if not (path / "pyproject.toml").exists():
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        _git("worktree", "add", "--force", "--detach", str(path), commit)
    return path


def release_build(version: str) -> Build:
    """The release as it shipped: its commit pip-installed into a venv of its own (made once)."""
    commit = releases()[version]
    path = checkout(version, commit)
    venv = path / ".venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(path)], check=True)
        stamp.write_text(commit + "\n")
    return Build(version, str(python))


def commit_build(commit: str) -> Build:
    """Any commit's source with this venv's packages (a bisect step: only the code differs)."""
    path = checkout(f"commit-{commit}", commit)
    source = path / "src" / "destination_customer_io" / "_ids.c"
    if source.exists():  # before 0.2.0: the C id accelerator, compiled in place with setup.py's flags
        compile_extension(source)
    return Build(commit, sys.executable, {"PYTHONPATH": str(compiled(path / "src"))})


def compile_extension(source: Path) -> None:
    target = source.with_name("_ids" + sysconfig.get_config_var("EXT_SUFFIX"))
    if not target.exists():
        subprocess.run(["cc", "-shared", "-fPIC", "-O3", f"-I{sysconfig.get_paths()['include']}", str(source),
                        "-o", str(target)], check=True)


def compiled(src: Path) -> Path:
    """``src`` with its .pyc files written: with PYTHONDONTWRITEBYTECODE set, every run would compile the
    package again (~0.1 s and 0.1-0.3G instructions), which a pip-installed release never does."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
    return src


def this_build() -> Build:
    return Build("this checkout", sys.executable, {"PYTHONPATH": str(compiled(REPO / "src"))})


def resolve(spec: str) -> Build:
    if spec.startswith("commit:"):
        return commit_build(spec.removeprefix("commit:"))
    if spec.startswith("src:"):  # an experiment: a copy of src/ with this venv's packages
        path = compiled(Path(spec.removeprefix("src:")))
        return Build(path.parent.name, sys.executable, {"PYTHONPATH": str(path)})
    return release_build(spec)


def _env(build: Build) -> dict[str, str]:
    return {**os.environ, **build.env}


def timed(build: Build, emu: Any, source: Path, records: int, work: Path) -> dict[str, Any]:
    """One whole-process run: wall s, CPU s, peak RSS MB (the CLI's own), checked against the emulator."""
    config, catalog = harness.connector_files(work, emu.url)
    os.environ.update(build.env)
    try:
        wall, cpu, rss, code = harness.measure(build.command(config, catalog), source, work / "out.jsonl")
    finally:
        for name in build.env:
            os.environ.pop(name, None)
    if code != 0:
        raise RuntimeError(f"{build.label} failed (exit {code}); see {work / 'out.jsonl'}")
    harness._check_counters(emu, records, build.label)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss}


def instructions(build: Build, emu: Any, source: Path, records: int, work: Path) -> int:
    """The CPU instructions of one whole-process run, every thread, counted by callgrind."""
    config, catalog = harness.connector_files(work, emu.url)
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *build.command(config, catalog)]
    with source.open("rb") as stdin:
        done = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=_env(build), cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{build.label} under callgrind failed: {done.stderr[-2000:]!r}")
    harness._check_counters(emu, records, build.label)
    return int(_COLLECTED.search(done.stderr).group(1))


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=None,
                        help="comma-separated versions of bench/releases.json, commit:SHA or src:DIR (default: the previous release)")
    parser.add_argument("--workloads", default="event,identify,mix")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternated pairs per workload")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--startup", action="store_true", help="a 100-record event write only")
    return parser.parse_args()


def measure_all(args: argparse.Namespace, builds: list[Build]) -> list[dict[str, Any]]:
    workloads = ["event"] if args.startup else args.workloads.split(",")
    records = 100 if args.startup else args.records
    rows = []
    with tempfile.TemporaryDirectory(prefix="cio-vs-") as tmp, harness.emulator(0) as emu:
        work = Path(tmp)
        emu.client.reset()
        for workload in workloads:
            source = gen.ensure_input(workload, records, 10_000)
            row: dict[str, Any] = {"workload": workload, "records": records, "load": os.getloadavg()[0]}
            if args.instructions:
                row["instructions"] = {b.label: instructions(b, emu, source, records, work) for b in builds}
                row["ratios"] = {b.label: row["instructions"][b.label] / row["instructions"][builds[-1].label]
                                 for b in builds}
            else:
                rounds = []
                for _ in range(args.rounds):  # one turn of every build per round
                    rounds.append({b.label: timed(b, emu, source, records, work) for b in builds})
                row["rounds"] = rounds
                row["ratios"] = {b.label: statistics.median(r[b.label]["wall_s"] / r[builds[-1].label]["wall_s"]
                                                            for r in rounds) for b in builds}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    args = options()
    builds = [resolve(spec) for spec in (args.against or previous_release()).split(",")] + [this_build()]
    rows = measure_all(args, builds)
    unit = "instructions" if args.instructions else "wall time, median of the rounds"
    print(f"\neach build's {unit} / this checkout's (above 1.00x: this checkout is faster)")
    print(f"{'workload':>9} {'records':>8} " + " ".join(f"{b.label[:14]:>14}" for b in builds[:-1]))
    for row in rows:
        print(f"{row['workload']:>9} {row['records']:>8} "
              + " ".join(f"{row['ratios'][b.label]:>13.3f}x" for b in builds[:-1]))


if __name__ == "__main__":
    main()
