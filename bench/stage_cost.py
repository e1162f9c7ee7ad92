"""CPU per input line of the first two stages alone: typed decode, then decode + ``Operation.build``.

On the benchmark input (bench/gen.py) of a workload, in one process, best of 3: what the pipeline's
per-record cost (bench/pipeline_bench.py) is made of before batching, acknowledgements and states.

    .venv/bin/python bench/stage_cost.py [--records 200000] [--workloads event,identify,mix]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402
from destination_customer_io import protocol  # noqa: E402
from destination_customer_io.catalog import resolve_streams  # noqa: E402
from destination_customer_io.config import parse_config  # noqa: E402
from destination_customer_io.operations.base import Op  # noqa: E402


def best_us_per_line(step: Callable[[], None], lines: int) -> float:
    times = []
    for _ in range(3):
        gc.collect()
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    return min(times) / lines * 1e6


def measure(lines: list[bytes]) -> tuple[float, float, int]:
    """(decode µs per line, decode + build µs per line, ops built by one pass: every RECORD, or the
    build figure would time rejections)."""
    streams = resolve_streams(parse_config({"credentials": {"siteId": "s", "apiKey": "k"}}), gen.catalog())
    decode = protocol.message_decoder.decode
    built = [0]

    def decode_only() -> None:
        for line in lines:
            decode(line)

    def decode_and_build() -> None:
        ops = 0
        for line in lines:
            record = decode(line).record
            if record is not None:
                stream = streams[(record.namespace, record.stream)]
                ops += type(stream.operation.build(record.data, stream)) is Op
        built[0] = ops

    decode_us = best_us_per_line(decode_only, len(lines))
    return decode_us, best_us_per_line(decode_and_build, len(lines)), built[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--workloads", default="event,identify,mix")
    args = parser.parse_args()
    print(f"{'workload':<10}{'decode µs/line':>16}{'decode+build':>14}{'build':>8}")
    for workload in args.workloads.split(","):
        lines = gen.ensure_input(workload, args.records, 10_000).read_bytes().splitlines()
        decode, both, _ = measure(lines)
        print(f"{workload:<10}{decode:>16.2f}{both:>14.2f}{both - decode:>8.2f}")


if __name__ == "__main__":
    main()
