"""Parquet against gzip JSONL for the sync log (issue 26, part 4): CPU per row to turn 1,000,000 sync-log
rows into file bodies, and the bytes written, with whichever Parquet writers are installed (pyarrow,
polars); the script skips a writer that is missing and exits 0 when none is (the connector depends on
neither). Measure in a throwaway venv, never the project's:

    python3 -m venv /tmp/pq && /tmp/pq/bin/pip install pyarrow orjson
    /tmp/pq/bin/python bench/parquet_cost.py [--rows 1000000] [--part-rows 40000]

Rows are what ``synclog.SyncLog`` writes (run_id, sync_id, stream, namespace, key, operation, action,
outcome, reason, time), 90% accepted and 10% rejected. gzip JSONL is the connector's path: one
``orjson.dumps`` per row, parts of ~8 MiB compressed with ``gzip.compress`` at its default level. Parquet:
one append per column per row, then a table per part written with zstd (and snappy). CPU is
``time.process_time`` of the whole conversion, row values already built.
"""

from __future__ import annotations

import argparse
import gzip
import io
import time
from typing import Any, Callable

import orjson

COLUMNS = ("run_id", "sync_id", "stream", "namespace", "key", "operation", "action", "outcome", "reason", "time")


def rows(count: int) -> list[tuple[Any, ...]]:
    made = []
    for i in range(count):
        rejected = i % 10 == 9
        made.append(("3f2a9c1b7d4e", 7, "users", None, f"email:user{i}@example.com", "person_identify",
                     "person.identify", "rejected" if rejected else "accepted",
                     "api_rejected" if rejected else None, f"2026-12-05T06:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z"))
    return made


def gzip_jsonl(data: list[tuple[Any, ...]], part_rows: int) -> int:
    written, lines, size = 0, [], 0
    for row in data:
        line = orjson.dumps(dict(zip(COLUMNS, row))) + b"\n"
        lines.append(line)
        size += len(line)
        if size >= 8 * 1024 * 1024:
            written += len(gzip.compress(b"".join(lines), mtime=0))
            lines, size = [], 0
    return written + (len(gzip.compress(b"".join(lines), mtime=0)) if lines else 0)


def columnar(data: list[tuple[Any, ...]], part_rows: int, write: Callable[[dict[str, list]], bytes]) -> int:
    written = 0
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    appends = [columns[name].append for name in COLUMNS]
    for n, row in enumerate(data, 1):
        for append, value in zip(appends, row):
            append(value)
        if n % part_rows == 0:
            written += len(write(columns))
            for values in columns.values():
                values.clear()
    return written + (len(write(columns)) if columns["run_id"] else 0)


def writers() -> dict[str, Callable[[dict[str, list]], bytes]]:
    found: dict[str, Callable[[dict[str, list]], bytes]] = {}
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        def arrow(compression: str) -> Callable[[dict[str, list]], bytes]:
            def write(columns: dict[str, list]) -> bytes:
                out = io.BytesIO()
                pq.write_table(pa.table(columns), out, compression=compression)
                return out.getvalue()
            return write
        found[f"pyarrow {pa.__version__} zstd"] = arrow("zstd")
        found[f"pyarrow {pa.__version__} snappy"] = arrow("snappy")
    except ImportError:
        pass
    try:
        import polars as pl

        def polars(columns: dict[str, list]) -> bytes:
            out = io.BytesIO()
            pl.DataFrame(columns, strict=False).write_parquet(out, compression="zstd")
            return out.getvalue()
        found[f"polars {pl.__version__} zstd"] = polars
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--part-rows", type=int, default=40_000)  # ~8 MiB of JSON lines
    args = parser.parse_args()
    data = rows(args.rows)
    found = writers()
    if not found:
        print("no Parquet writer installed (pyarrow, polars): skipped")
    print(f"| format | CPU s for {args.rows:,} rows | µs a row | bytes |\n|---|---:|---:|---:|")
    contenders: dict[str, Callable[[], int]] = {"gzip JSONL (the connector's)": lambda: gzip_jsonl(data, args.part_rows)}
    for name, write in found.items():
        contenders[f"Parquet, {name}"] = lambda write=write: columnar(data, args.part_rows, write)
    for name, convert in contenders.items():
        start = time.process_time()
        size = convert()
        cpu = time.process_time() - start
        print(f"| {name} | {cpu:.2f} | {cpu / args.rows * 1e6:.2f} | {size:,} |")


if __name__ == "__main__":
    main()
