"""How long a sync goes on once its rejected-records store stops answering: the S3 server (moto, in a
process of its own) is paused with SIGSTOP a moment into a sync, through the real CLI and the emulator.

    .venv/bin/python bench/store_stall.py [--events 100000] [--retry-max 15] [--request-timeout 30]

The store is paused ``--pause-after`` seconds after the connector logs that it is writing (its store
probe is done by then). Prints the exit code, the TRACE, the seconds from the stall to the end of the
process and the progress lines. The bound is ``retry_max_seconds`` plus about one request timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.support and tests.reliability

from customerio_emulator import start_emulator_process  # noqa: E402
from tests.reliability.harness import API_KEY, SITE_ID, build_dataset, make_config, run_cli  # noqa: E402
from tests.support.s3 import MotoProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--retry-max", type=float, default=15.0)
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--pause-after", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/store-stall"))
    args = parser.parse_args()
    dataset = build_dataset(people=2_000, events=args.events, seed=5, state_every=1_000)
    s3 = MotoProcess().start()
    try:
        s3.client().create_bucket(Bucket="dlq")
        with start_emulator_process(workspaces=[{"site_id": SITE_ID, "api_key": API_KEY, "region": "us"}]) as emu:
            storage = {"storage_type": "S3", "s3_bucket_name": "dlq", "bucket_path": "", "s3_endpoint": s3.endpoint,
                       "s3_bucket_region": "us-east-1", "access_key_id": "AKIASTALL", "secret_access_key": "stall-secret-value",
                       "format": {"format_type": "JSONL"}, "compression": {"compression_type": "No Compression"}}
            # the spec's defaults, but for the two timings under test and frequent progress lines
            config = make_config(emu.url, None, object_storage_config=storage, lanes=24, batch_max_bytes=500_000,
                                 retry_max_seconds=args.retry_max, request_timeout_seconds=args.request_timeout,
                                 retry_initial_backoff_seconds=0.5, retry_max_backoff_seconds=30,
                                 progress_interval_seconds=2)
            stall: dict[str, float] = {}

            def pause() -> None:
                stall["at"] = time.monotonic()
                s3.pause()

            def on_message(message: dict[str, Any], proc: Any) -> None:
                text = message.get("log", {}).get("message", "")
                if text.startswith("Writing to Customer.io") and not stall:
                    stall["armed"] = 0.0
                    threading.Timer(args.pause_after, pause).start()

            run = run_cli(args.workdir, config, dataset.lines, on_message=on_message, timeout=1_200)
            ended = time.monotonic()
            s3.resume()
    finally:
        s3.stop()
    print(f"{len(dataset.lines)} lines; exit {run.returncode}; {run.elapsed:.1f} s in all, "
          f"{ended - stall['at']:.1f} s after the stall; {len(run.states)} of {len(dataset.state_index)} states")
    print(json.dumps(run.errors))
    for text in run.logs():
        if text.startswith("Progress"):
            print(text)


if __name__ == "__main__":
    main()
