"""What ``sync_log`` costs when its rows are made durable before each state: a ``write`` of bench/gen.py's
identify records with a STATE every ``--state-every`` records, with the log off and on (a Local store in
a temporary directory), alternated ``--repeat`` times, the fastest of each kept; whole process (harness.py:
pinned, rusage of the connector alone), lean emulator at 0 ms, default settings. The log's record files
are counted: flushes are grouped as the rejected records' are (at most one per second while input flows).

    .venv/bin/python bench/synclog_states.py [--records 100000] [--state-every 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import gen
import harness

CATALOG = {"streams": [s for s in gen.catalog()["streams"] if s["stream"]["name"] == "people"]}


def run(work: Path, url: str, source: Path, on: bool) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MB, record files of the log) of one sync."""
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    config: dict = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"}, "track_api_base_url": url}
    if on:
        config.update(sync_log=True, object_storage_config={"storage_type": "Local", "destination_path": str(store)})
    (work / "config.json").write_text(json.dumps(config))
    (work / "catalog.json").write_text(json.dumps(CATALOG))
    wall, cpu, rss, _ = harness.timed_write(work / "config.json", work / "catalog.json", source, work / "out.jsonl",
                                            "sync_log on" if on else "sync_log off")
    return wall, cpu, rss, len(list((store / "_customerio_sync_log" / "records").rglob("*.gz"))) if on else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--state-every", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = gen.ensure_input("identify", args.records, args.state_every)
    runs: dict[bool, list[tuple[float, float, float, int]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp, harness.emulator(0) as emu:
        for _ in range(args.repeat):
            for on in (False, True):
                runs[on].append(run(Path(tmp), emu.url, source, on))
    print(f"{args.records:,} identify records, a STATE every {args.state_every:,}; fastest of {args.repeat}\n"
          "| sync_log | records/s (each run) | CPU s | peak RSS MB | log record files |\n|---|---|---:|---:|---:|")
    for on, measured in runs.items():
        wall, cpu, rss, files = min(measured)
        each = " / ".join(f"{args.records / w:,.0f}" for w, *_ in measured)
        print(f"| {'on' if on else 'off'} | {args.records / wall:,.0f} ({each}) | {cpu:.2f} | {rss:.0f} | {files} |")


if __name__ == "__main__":
    main()
