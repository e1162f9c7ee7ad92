"""What the intake side of the sync ledger costs per op, in-process: the marks of a chunk (key texts,
prints, their 8-byte BLAKE2b digests) and the look-up query against a working copy of N keys.

A working copy of N identify-like keys is built in a temp directory (``table.Table``, folded from one
file of rows, as a completed sync leaves it); its keys are looked up in chunks of C keys (a 1 MB input
chunk holds ~3,000 identify records), every way below in turn, each the best of 3 rounds, CPU time
(``time.process_time``) per key:

    count        SELECT count(*) of the join: the B-tree searches alone, nothing handed to Python
    rows5        the 0.6.0 query: a row (key, print, sent, flag, met) per key held, sorted distinct keys
                 as ``json.dumps`` text, then the per-key Python decision
    rows2        a row (key, print when skippable) per key held, dict + one comparison a key
    in_params    as rows2 with ``key IN (?, ?, ...)`` bound parameters instead of json_each
    grouped      the query ``Table.look_up`` runs: one JSON array answers every key in input order
    grouped_cache  as grouped, with the page cache ``LOOK_UP_CACHE`` (KiB) when the file outgrows the default

Then the marks' parts on C identify ops (``timeit``-style, best of 5): the 0.6.0 per-op ``mark``
(two digests read by ``int.from_bytes``, a ``Mark``), and the batched ones ``StreamBook.marks`` uses.

    .venv/bin/python bench/ledger_lookup.py [--keys 300000] [--chunk 3000]
"""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
import time
from hashlib import blake2b
from pathlib import Path
from typing import Any, Callable

from destination_customer_io.ledger import table as ledger_table
from destination_customer_io.ledger.book import Mark, digests
from destination_customer_io.ledger.table import LOOK_UP_CACHE, MEMBER, Table, digest, write_rows
from destination_customer_io.operations import OPERATIONS
from destination_customer_io.operations.base import Op

FRESH = 0.0


def working_copy(folder: Path, n: int) -> tuple[Table, list[int]]:
    keys = [digest(b"person:email:p%d@example.com" % i) for i in range(n)]
    path = folder / "rows.sqlite"
    write_rows(path, False, {}, [(key, key ^ 5, 1, 1000, MEMBER) for key in keys])
    table = Table(folder, False)
    table.fold_file(path)
    path.unlink()
    return table, keys


def query_ways(table: Table) -> dict[str, Callable[[list[int]], Any]]:
    con = table.con
    join = "FROM json_each(?) AS j JOIN ledger AS l ON l.key = j.value LEFT JOIN work.seen AS s ON s.key = j.value"
    skippable = f"CASE WHEN l.flag = {MEMBER} AND l.sent > ? AND s.key IS NULL THEN l.print END"

    def count(keys: list[int]) -> Any:
        return con.execute("SELECT count(*) FROM json_each(?) AS j JOIN ledger AS l ON l.key = j.value",
                           (json.dumps(sorted(keys)),)).fetchall()

    def rows5(keys: list[int]) -> list[bool]:
        found = {row[0]: row for row in con.execute(f"SELECT l.key, l.print, l.sent, l.flag, s.key {join}",
                                                    (json.dumps(sorted(set(keys))),))}
        skips = []
        for key in keys:
            row = found.get(key)
            skips.append(row is not None and row[3] == MEMBER and row[1] == key ^ 5 and row[2] > FRESH
                         and row[4] is None)
        return skips

    def rows2(keys: list[int]) -> list[bool]:
        found = dict(con.execute(f"SELECT l.key, {skippable} {join}", (FRESH, json.dumps(sorted(set(keys))))))
        return [found.get(key) == key ^ 5 for key in keys]

    def in_params(keys: list[int]) -> list[bool]:
        distinct = sorted(set(keys))
        found = dict(con.execute(
            f"SELECT l.key, CASE WHEN l.flag = {MEMBER} AND l.sent > ? AND NOT EXISTS (SELECT 1 FROM work.seen "
            f"AS s WHERE s.key = l.key) THEN l.print END FROM ledger AS l WHERE l.key IN "
            f"({','.join('?' * len(distinct))})", (FRESH, *distinct)))
        return [found.get(key) == key ^ 5 for key in keys]

    def grouped(keys: list[int]) -> list[bool]:
        return [each == key ^ 5 for each, key in zip(table.look_up(keys, FRESH), keys)]

    def grouped_default(keys: list[int]) -> list[bool]:  # Table.look_up's query with the default cache
        text = con.execute(ledger_table._LOOK_UP, (FRESH, ledger_table._encode(keys))).fetchall()[0][0]
        found = ledger_table._decode(text)
        return [each == key ^ 5 for each, key in zip(found, keys)]

    return {"count": count, "rows5": rows5, "rows2": rows2, "in_params": in_params,
            "grouped (default cache)": grouped_default, f"grouped_cache ({LOOK_UP_CACHE >> 10} MiB)": grouped}


def per_key(run: Callable[[list[int]], Any], chunks: list[list[int]], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for chunk in chunks:
            run(chunk)
        best = min(best, time.process_time() - started)
    return best / n * 1e6


def mark_ways(chunk: int) -> dict[str, Callable[[], Any]]:
    kind = OPERATIONS["person_identify"]
    ops = [Op(b'{"type":"person","action":"identify","identifiers":{"email":"p%d@example.com"},"attributes":'
              b'{"first_name":"First%d","plan":"pro","country":"DE","orders":1,"created_at":%d},'
              b'"timestamp":1764924000}' % (i, i, 1_600_000_000 + i), "person:email:p%d@example.com" % i,
              ordered=True, operation=kind) for i in range(chunk)]
    texts, prints = kind.ledger_entries(ops)[0], kind.ledger_prints(ops)

    def mark_0_6_0() -> list[Mark]:  # book.StreamBook.mark as 0.6.0 had it, per op
        marks = []
        for op in ops:
            text, removes = kind.ledger_entry(op)
            key = int.from_bytes(blake2b(text, digest_size=8).digest(), "little", signed=True)
            print_ = int.from_bytes(blake2b(kind.ledger_print(op), digest_size=8).digest(), "little", signed=True)
            marks.append(Mark(None, key, print_, None, MEMBER))  # type: ignore[arg-type]
        return marks

    return {
        "0.6.0 mark, per op": mark_0_6_0,
        "key texts (ledger_entries)": lambda: kind.ledger_entries(ops),
        "prints (ledger_prints)": lambda: kind.ledger_prints(ops),
        "print digests, of a slice of the body": lambda: [
            blake2b(op.body[:op.body.rfind(b',"timestamp":')], digest_size=8).digest() for op in ops],
        "print digests, of a memoryview of it": lambda: [
            blake2b(memoryview(op.body)[:op.body.rfind(b',"timestamp":')], digest_size=8).digest() for op in ops],
        "key digests, blake2b(..) + int.from_bytes": lambda: [
            int.from_bytes(blake2b(text, digest_size=8).digest(), "little", signed=True) for text in texts],
        "key digests, blake2b(..) joined + struct.unpack": lambda: struct.unpack(
            f"<{chunk}q", b"".join([blake2b(text, digest_size=8).digest() for text in texts])),
        "key digests (book.digests)": lambda: digests(texts),
        "print digests (book.digests)": lambda: digests(prints),
        "a Mark per op": lambda: [Mark(None, 1, 2, None, MEMBER) for _ in ops],  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=300_000)
    parser.add_argument("--chunk", type=int, default=3_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        table, keys = working_copy(Path(folder), args.keys)
        chunks = [keys[start:start + args.chunk] for start in range(0, len(keys), args.chunk)]
        print(f"look-ups of {args.keys:,} keys held, {args.chunk:,} a query (CPU us per key):")
        for name, run in query_ways(table).items():
            print(f"  {name:45s} {per_key(run, chunks, args.keys):.3f}")
        table.close()
    print(f"marks of {args.chunk:,} identify ops (CPU us per op):")
    for name, run in mark_ways(args.chunk).items():
        print(f"  {name:45s} {per_key(lambda _: run(), [[]] * 20, 20 * args.chunk):.3f}")


if __name__ == "__main__":
    main()
