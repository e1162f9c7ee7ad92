"""Proof that a speed change changed nothing a user sees: two builds sync every examples/ folder (its
setup.jsonl first, where it has one) and bench/gen.py's mix, each against a fresh emulator, and the
requests the emulator received (method, path and each op of a body; compared as a sorted multiset,
since 24 lanes send in any order and timing decides which ops share a batch) and the connector's stdout (STATE and RECORD messages, every LOG line but
the timed ones) must be identical.

    .venv/bin/python bench/same_output.py --against commit:36eb8f9        # main before this work
    .venv/bin/python bench/same_output.py --against 0.3.0

The only value allowed to differ is an identify op's ``timestamp`` (the build time, by design): it is
replaced by 0 on both sides when it lies within a day of now. Exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from customerio_emulator import start_emulator_process

import gen
import vs_release

EXAMPLES = vs_release.REPO / "examples"
_TIMED = ("Sync summary", "Progress", "records/s", " in ")  # log lines carrying durations or rates


def _normalized(body: Any, now: float) -> Any:
    if isinstance(body, dict):
        return {k: (0 if k == "timestamp" and isinstance(v, int) and abs(v - now) < 86_400 else _normalized(v, now))
                for k, v in body.items()}
    if isinstance(body, list):
        return [_normalized(v, now) for v in body]
    return body


def _ops(request: dict[str, Any], now: float) -> list[str]:
    """One request as the ops it carries: which ops share a batch depends on timing (a batch is sealed
    when full, when a state waits or when it is old), so ops are compared one by one, not by request."""
    body = _normalized(request.get("body"), now)
    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        items = body["batch"]
    elif isinstance(body, dict) and isinstance(body.get("ids"), list):
        items = body["ids"]
    else:
        items = [body]
    return [json.dumps([request["method"], request["path"], item], sort_keys=True) for item in items]


def _stdout_lines(raw: bytes, url: str) -> list[str]:
    kept = []
    for line in raw.replace(url.removeprefix("http://").encode(), b"EMULATOR").splitlines():
        message = json.loads(line)
        if message["type"] == "LOG" and any(mark in message["log"]["message"] for mark in _TIMED):
            continue
        kept.append(json.dumps(message, sort_keys=True))
    return kept


def sync(build: vs_release.Build, config: dict[str, Any], catalog: Path, inputs: list[Path],
         work: Path) -> dict[str, Any]:
    """Every input through ``build`` against one fresh emulator: its requests and the stdout."""
    with start_emulator_process() as emu:
        config_path = work / "config.json"
        config_path.write_text(json.dumps({**config, "track_api_base_url": emu.url}))
        stdout: list[str] = []
        for source in inputs:
            with source.open("rb") as stdin:
                done = subprocess.run(build.command(config_path, catalog), stdin=stdin, capture_output=True,
                                      env={**os.environ, **build.env}, cwd=vs_release.REPO, timeout=600)
            stdout += [f"exit {done.returncode}", *_stdout_lines(done.stdout, emu.url)]
        now = time.time()
        requests = sorted(op for r in emu.client.requests(limit=1_000_000) for op in _ops(r, now))
    return {"requests": requests, "stdout": stdout}


def cases(work: Path) -> list[tuple[str, dict[str, Any], Path, list[Path]]]:
    found = []
    for folder in sorted(p for p in EXAMPLES.iterdir() if (p / "records.jsonl").exists()):
        inputs = [folder / name for name in ("setup.jsonl", "records.jsonl") if (folder / name).exists()]
        found.append((folder.name, json.loads((folder / "config.json").read_text()), folder / "catalog.json", inputs))
    catalog = work / "gen-catalog.json"
    catalog.write_text(json.dumps(gen.catalog()))
    config = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"}}
    found.append(("bench mix, 20,000 records", config, catalog, [gen.ensure_input("mix", 20_000, 1_000)]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="a version of bench/releases.json or commit:SHA")
    args = parser.parse_args()
    other, mine = vs_release.resolve(args.against), vs_release.this_build()
    differences = 0
    with tempfile.TemporaryDirectory(prefix="cio-same-") as tmp:
        work = Path(tmp)
        for name, config, catalog, inputs in cases(work):
            a, b = (sync(build, config, catalog, inputs, work) for build in (other, mine))
            same = a == b
            differences += not same
            print(f"{'same' if same else 'DIFFERENT':>9}  {name}: {len(a['requests'])} ops received, "
                  f"{len(a['stdout'])} output lines", flush=True)
            if not same:
                for key in ("requests", "stdout"):
                    only = sorted(set(a[key]) ^ set(b[key]))[:5]
                    if only:
                        print(f"           {key} differing (first 5): {[text[:300] for text in only]}")
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
