"""The connector's CPU cost per record without the network: the real ``Pipeline`` with a null Track client.

Feeds pre-generated Airbyte lines (bench/gen.py) in 1 MB chunks to ``Pipeline.run`` in this process;
the client answers every batch at once with 200 and no errors. What is left is decode, map, validate,
ids, batching, epochs and states: the part of the connector's CPU that optimisation can reach. Figures
are records per second of CPU time (``time.process_time``), best of R runs, next to the floor's loop
(bench/floor.py) on the same lines.

    .venv/bin/python bench/pipeline_bench.py [--records 200000] [--repeat 3] [--workloads event,identify,mix]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from pathlib import Path
from typing import AsyncIterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

import floor  # noqa: E402
import gen  # noqa: E402
from destination_customer_io.catalog import resolve_streams  # noqa: E402
from destination_customer_io.config import parse_config  # noqa: E402
from destination_customer_io.output import Output  # noqa: E402
from destination_customer_io.pipeline import Pipeline  # noqa: E402
from destination_customer_io.rejected.base import NoneStore  # noqa: E402
from destination_customer_io.track import BatchResult, TrackStats  # noqa: E402


class NullClient:
    """Answers every batch at once: 200, nothing refused."""

    def __init__(self) -> None:
        self.stats = TrackStats()

    async def send_batch(self, body: bytes) -> BatchResult:
        self.stats.requests += 1
        return BatchResult(200, [])


async def chunks(data: bytes, size: int = 1 << 20) -> AsyncIterator[list[bytes]]:
    """Whole lines in ~1 MB chunks, as ``stdin.read_line_chunks`` yields them."""
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + size) + 1 or len(data)
        yield data[start:end].rstrip(b"\n").split(b"\n")
        start = end
        await asyncio.sleep(0)  # let the lanes run, as the stdin read does


async def run_pipeline(data: bytes) -> float:
    config = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}})
    streams = resolve_streams(config, gen.catalog())
    pipeline = Pipeline(streams=streams, client=NullClient(), store=NoneStore(),  # type: ignore[arg-type]
                        output=Output(io.BytesIO()), lanes=config.lanes)
    start = time.process_time()
    await pipeline.run(chunks(data))
    return time.process_time() - start


def best(data: bytes, repeat: int) -> tuple[float, float]:
    pipeline_s = min(asyncio.run(run_pipeline(data)) for _ in range(repeat))
    floor_s = min(_floor_seconds(data) for _ in range(repeat))
    return pipeline_s, floor_s


def _floor_seconds(data: bytes) -> float:
    start = time.process_time()
    floor.run(io.BufferedReader(io.BytesIO(data)))
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workloads", default="event,identify,mix")
    args = parser.parse_args()
    print(f"{'workload':<10}{'pipeline rec/s':>16}{'us/record':>11}{'floor rec/s':>13}{'ratio':>7}")
    for workload in args.workloads.split(","):
        data = gen.ensure_input(workload, args.records, 10_000).read_bytes()
        pipeline_s, floor_s = best(data, args.repeat)
        n = args.records
        print(f"{workload:<10}{n / pipeline_s:>16,.0f}{pipeline_s / n * 1e6:>11.2f}{n / floor_s:>13,.0f}"
              f"{floor_s / pipeline_s:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
