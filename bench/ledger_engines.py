"""Candidate engines for the sync ledger, measured side by side (issue 25's spike): no product code changes.

Each engine runs two syncs of one stream, each sync in a fresh process (so its peak RSS is its own):

    sync 1   every key is new: looked up (none found), delivered, the ledger built
    sync 2   the same keys, 1 in 100 with a changed print: every key looked up, the changed 1% delivered
             (a mirror delivers every member again, as mirror mode does today)

Keys arrive in chunks of ``--chunk`` (one state release each: a chunk's deliveries are the rows a delta
file would carry). Engines:

    (numpy      0.5.0's in-memory ledger through its own API: measured from the 0.5.0 tree, whose
                ``ledger/table.py`` is gone since issue 25; its rows in docs/performance.md stay as measured)
    sqlite      stdlib sqlite3, ``key INTEGER PRIMARY KEY`` (the rowid is the key hash); look-ups: one
                query per chunk, the chunk's sorted keys joined from ``json_each``; deliveries appended
                to a delta table in a separate file, folded into the base at the end in key order
                (``INSERT ... SELECT ... ORDER BY key ON CONFLICT DO UPDATE``)
    sqlite-wr   the same, ``WITHOUT ROWID``
    duckdb      (if installed) base table sorted by key, no index; a chunk's look-up is a join of its keys
                against the table; deltas appended to a second table and folded in by rewriting the
                table in key order at the end (skipped, with a line saying so, if duckdb is not installed)

Upload per sync, three transfer designs: ``whole`` (the base file after the sync), ``delta`` (only the
rows this sync delivered, as the file(s) its state releases wrote; the base is re-uploaded only at a
compaction), ``pages`` (the base file's pages that differ from before the sync, 4 KiB pages).

    .venv/bin/python bench/ledger_engines.py --keys 1000000 [--mirror] [--engines sqlite,sqlite-wr,duckdb]
        [--chunk 10000] [--sqlite-cache-mb 64] [--sqlite-mmap-mb 0] [--work DIR]

One JSON line per sync and engine on stdout (and a table on stderr); figures and what they mean:
docs/performance.md, "Issue 25: ledger engines measured (spike)". Key hashes and prints are random 64-bit
values (a mirror's keys are BLAKE2b of 48-54-byte key texts, as ``table.digest`` makes them). Every key
appears once per sync, so the SQLite and DuckDB engines leave out today's ``seen`` set (a second row of
a key in one sync is always sent).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

MEMBER, MAYBE, GONE = 1, 2, 3  # the ledger's flags (destination_customer_io.ledger.table)

SEED = 25
CHANGED_EVERY = 100  # sync 2 changes the print of every 100th key: 1%
GENERATIONS = 10  # syncs before sync 1
UNBATCHED = 100_000  # keys of sync 2 also looked up one query each, in source order (SQLite engines)
RESEND_AFTER = 30 * 86_400
PAGE = 4096  # the page size of the ``pages`` transfer design (and SQLite's default page size)
SQLITE_PRAGMAS = ("journal_mode=OFF",  # the store holds the durable copy (the deltas): no local journal
                  "synchronous=OFF",  # nor fsyncs of a working copy that is downloaded again after a crash
                  "temp_store=FILE")  # the ORDER BY of a compaction sorts in temp files, not in RAM
SQLITE_CACHE_MB = 64  # cache_size: the bound on the engine's own memory (--sqlite-cache-mb)
SQLITE_MMAP_MB = 0  # mmap_size: 0 reads through the cache; mapped pages would count in the RSS (--sqlite-mmap-mb)
DUCKDB_CONFIG = {"threads": 1, "memory_limit": "192MB", "preserve_insertion_order": False}


def key_text(index: int) -> bytes:
    """A mirror member's key text, 48-54 bytes."""
    return b"person:email:member-%d@example-shop.com|segment:7" % index


def chunks(keys: int, mirror: bool, sync: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray, list[bytes] | None]]:
    """(key hashes, prints, key texts) of each chunk, the same keys in the same order on every call;
    in sync 2 every ``CHANGED_EVERY``-th key has another print. Made a chunk at a time (nothing of the
    whole input is held, so the RSS is the engine's)."""
    rng = np.random.default_rng(SEED)
    for start in range(0, keys, size):
        count = min(size, keys - start)
        texts = [key_text(i) for i in range(start, start + count)] if mirror else None
        hashes = rng.integers(0, 2**64, count, dtype=np.uint64)  # drawn either way: prints stay the same
        if texts is not None:
            hashes = np.array([int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")
                               for text in texts], np.uint64)
        prints = rng.integers(0, 2**64, count, dtype=np.uint64)
        if sync == 2:
            changed = np.arange(start, start + count) % CHANGED_EVERY == 0
            prints[changed] ^= np.uint64(1)
        yield hashes, prints, texts


def to_send(found: np.ndarray, old_prints: np.ndarray, old_sent: np.ndarray, old_flags: np.ndarray,
            prints: np.ndarray, now: int, mirror: bool) -> np.ndarray:
    """Which keys of a chunk are delivered: a mirror sends every member; skip_unchanged skips a key
    delivered with the same print less than ``RESEND_AFTER`` ago."""
    if mirror:
        return np.ones(len(found), bool)
    same = found & (old_prints == prints) & (old_flags == MEMBER) & (now - old_sent.astype(np.int64) < RESEND_AFTER)
    return ~same


def page_prints(path: Path) -> bytes:
    """An 8-byte BLAKE2b of each ``PAGE`` of a file, end to end (8 bytes a page: the comparison must not
    weigh in the RSS it measures): compared before and after a sync."""
    out = bytearray()
    if path.exists():
        with path.open("rb") as handle:
            while page := handle.read(PAGE):
                out += hashlib.blake2b(page, digest_size=8).digest()
    return bytes(out)


def changed_pages(before: bytes, after: bytes) -> int:
    return sum(1 for at in range(0, len(after), 8) if before[at:at + 8] != after[at:at + 8])


class SqliteEngine:
    """A SQLite base file keyed by the key hash (as a signed 64-bit integer) and a delta file per sync."""

    base_name = "ledger.sqlite"

    def __init__(self, directory: Path, mirror: bool, generation: int, *, without_rowid: bool,
                 cache_mb: int = SQLITE_CACHE_MB, mmap_mb: int = SQLITE_MMAP_MB) -> None:
        self.directory, self.mirror, self.generation = directory, mirror, generation
        delta = directory / "delta.sqlite"
        delta.unlink(missing_ok=True)
        self.con = sqlite3.connect(directory / self.base_name, isolation_level=None)
        for pragma in (*SQLITE_PRAGMAS, f"cache_size=-{cache_mb * 1024}", f"mmap_size={mmap_mb * 2**20}"):
            self.con.execute(f"PRAGMA {pragma}")
        text = ", text BLOB" if mirror else ""
        self.con.execute(f"CREATE TABLE IF NOT EXISTS ledger (key INTEGER PRIMARY KEY, print INTEGER NOT NULL, "
                         f"gen INTEGER NOT NULL, sent INTEGER NOT NULL, flag INTEGER NOT NULL{text})"
                         + (" WITHOUT ROWID" if without_rowid else ""))
        self.con.execute(f"ATTACH '{delta}' AS delta")
        self.con.execute("PRAGMA delta.journal_mode=OFF")
        self.con.execute(f"CREATE TABLE delta.rows (key INTEGER NOT NULL, print INTEGER NOT NULL, gen INTEGER NOT NULL, "
                         f"sent INTEGER NOT NULL, flag INTEGER NOT NULL{text})")
        self.columns = "key, print, gen, sent, flag" + (", text" if mirror else "")
        self.delta_rows = 0

    def look_up(self, keys: np.ndarray) -> tuple[np.ndarray, ...]:
        """One query for the chunk's sorted keys: (found, prints, sent, flags) aligned with ``keys``."""
        signed = keys.view(np.int64)
        rows = self.con.execute("SELECT l.key, l.print, l.sent, l.flag FROM json_each(?) AS j "
                                "JOIN ledger AS l ON l.key = j.value", (json.dumps(signed.tolist()),)).fetchall()
        return aligned(keys, rows)

    def chunk(self, keys: np.ndarray, prints: np.ndarray, texts: list[bytes] | None) -> tuple[int, float, float]:
        now = int(time.time())
        started = time.process_time()
        found, old_prints, old_sent, old_flags = self.look_up(keys)
        send = to_send(found, old_prints, old_sent, old_flags, prints, now, self.mirror)
        looked = time.process_time() - started
        started = time.process_time()
        signed_keys, signed_prints = keys.view(np.int64).tolist(), prints.view(np.int64).tolist()
        rows: list[tuple] = []
        if self.mirror:  # new members are written ahead as MAYBE, with their text, before they are sent
            rows += [(signed_keys[i], signed_prints[i], self.generation, 0, MAYBE, texts[i])  # type: ignore[index]
                     for i in np.flatnonzero(~found | (old_flags != MEMBER)).tolist()]
        chosen = np.flatnonzero(send).tolist()
        extra = (None,) if self.mirror else ()  # a delivery keeps the text written ahead
        rows += [(signed_keys[i], signed_prints[i], self.generation, now, MEMBER, *extra) for i in chosen]
        self.con.execute("BEGIN")
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            self.con.executemany(f"INSERT INTO delta.rows ({self.columns}) VALUES ({marks})", rows)
        self.con.execute("COMMIT")  # a state release: these rows are what its delta file carries
        self.delta_rows += len(rows)
        return len(chosen), looked, time.process_time() - started

    def look_up_one_by_one(self, keys: np.ndarray) -> float:
        """CPU seconds to look ``keys`` up one query each (the unbatched way, for comparison)."""
        started = time.process_time()
        query = "SELECT print, sent, flag FROM ledger WHERE key = ?"
        for key in keys.view(np.int64).tolist():
            self.con.execute(query, (key,)).fetchone()
        return time.process_time() - started

    def finish(self) -> dict[str, Any]:
        """The delta folded into the base in key order; the last row of a key wins, GONE drops it."""
        text = ", text = coalesce(excluded.text, ledger.text)" if self.mirror else ""
        self.con.execute("BEGIN")
        self.con.execute(f"INSERT INTO ledger ({self.columns}) SELECT {self.columns} FROM delta.rows WHERE true "
                         f"ORDER BY key, rowid ON CONFLICT (key) DO UPDATE SET print = excluded.print, "
                         f"gen = excluded.gen, sent = excluded.sent, flag = excluded.flag{text}")
        self.con.execute(f"DELETE FROM ledger WHERE flag = {GONE}")
        if self.mirror:
            self.con.execute("SELECT count(*) FROM ledger WHERE gen < ?", (self.generation,)).fetchone()  # removals
        self.con.execute("COMMIT")
        count = self.con.execute("SELECT count(*) FROM ledger").fetchone()[0]
        self.con.execute("DETACH delta")
        self.con.close()
        return {"delta_bytes": (self.directory / "delta.sqlite").stat().st_size, "rows": count,
                "delta_rows": self.delta_rows}


def aligned(keys: np.ndarray, rows: list[tuple]) -> tuple[np.ndarray, ...]:
    """The found rows (key, print, sent, flag) placed at their key's index in ``keys`` (sorted)."""
    found = np.zeros(len(keys), bool)
    prints = np.zeros(len(keys), np.uint64)
    sent = np.zeros(len(keys), np.uint32)
    flags = np.zeros(len(keys), np.uint8)
    if rows:
        got = np.array(rows, np.int64)
        at = np.searchsorted(keys, got[:, 0].view(np.uint64))
        found[at] = True
        prints[at] = got[:, 1].view(np.uint64)
        sent[at] = got[:, 2]
        flags[at] = got[:, 3]
    return found, prints, sent, flags


class DuckdbEngine:
    """A DuckDB file: the base table in key order without an index, a delta table, a rewrite at the end."""

    base_name = "ledger.duckdb"

    def __init__(self, directory: Path, mirror: bool, generation: int, **_: int) -> None:
        import duckdb

        self.directory, self.mirror, self.generation = directory, mirror, generation
        self.con = duckdb.connect(str(directory / self.base_name), config=dict(DUCKDB_CONFIG))
        text = ", text BLOB" if mirror else ""
        self.con.execute(f"CREATE TABLE IF NOT EXISTS ledger (key UBIGINT, print UBIGINT, gen UINTEGER, "
                         f"sent UINTEGER, flag UTINYINT{text})")
        self.con.execute(f"CREATE OR REPLACE TABLE delta (seq UBIGINT, key UBIGINT, print UBIGINT, gen UINTEGER, "
                         f"sent UINTEGER, flag UTINYINT{text})")
        self.delta_rows = 0

    def chunk(self, keys: np.ndarray, prints: np.ndarray, texts: list[bytes] | None) -> tuple[int, float, float]:
        now = int(time.time())
        started = time.process_time()
        wanted = {"key": keys}  # noqa: F841 (read by DuckDB's replacement scan)
        got = self.con.execute("SELECT l.key, l.print, l.sent, l.flag FROM wanted AS w "
                               "JOIN ledger AS l ON l.key = w.key").fetchnumpy()
        found, old_prints, old_sent, old_flags = (np.zeros(len(keys), bool), np.zeros(len(keys), np.uint64),
                                                  np.zeros(len(keys), np.uint32), np.zeros(len(keys), np.uint8))
        if len(got["key"]):
            at = np.searchsorted(keys, np.asarray(got["key"], np.uint64))
            found[at], old_prints[at] = True, np.asarray(got["print"], np.uint64)
            old_sent[at], old_flags[at] = np.asarray(got["sent"]), np.asarray(got["flag"])
        send = to_send(found, old_prints, old_sent, old_flags, prints, now, self.mirror)
        looked = time.process_time() - started
        started = time.process_time()
        parts = []
        if self.mirror:
            new = np.flatnonzero(~found | (old_flags != MEMBER))
            parts.append(self._rows(keys[new], prints[new], MAYBE, 0, [texts[i] for i in new.tolist()]))  # type: ignore[index]
        chosen = np.flatnonzero(send)
        parts.append(self._rows(keys[chosen], prints[chosen], MEMBER, now, [None] * len(chosen) if self.mirror else None))
        for part in parts:
            if len(part["key"]):
                self.con.execute("INSERT INTO delta SELECT * FROM part")
        return len(chosen), looked, time.process_time() - started

    def _rows(self, keys: np.ndarray, prints: np.ndarray, flag: int, sent: int, texts: list | None) -> dict:
        count = len(keys)
        rows = {"seq": np.arange(self.delta_rows, self.delta_rows + count, dtype=np.uint64), "key": keys,
                "print": prints, "gen": np.full(count, self.generation, np.uint32), "sent": np.full(count, sent, np.uint32),
                "flag": np.full(count, flag, np.uint8)}
        if texts is not None:
            rows["text"] = np.array(texts, dtype=object)
        self.delta_rows += count
        return rows

    def finish(self) -> dict[str, Any]:
        """The base and the delta's last row of each key, written in key order into a new file that
        replaces the old one (rewriting in place would leave the old blocks free inside the file)."""
        text = ", coalesce(d.text, l.text) AS text" if self.mirror else ""
        # a key's last row wins; its text is the last one written (a delivery keeps the text written ahead)
        texts = ", arg_max(text, seq) FILTER (WHERE text IS NOT NULL) AS text" if self.mirror else ""
        merged = self.directory / "ledger.next.duckdb"
        merged.unlink(missing_ok=True)
        self.con.execute(f"ATTACH '{merged}' AS next")
        self.con.execute(f"""CREATE TABLE next.ledger AS
            WITH d AS (SELECT key, arg_max(print, seq) AS print, arg_max(gen, seq) AS gen, arg_max(sent, seq) AS sent,
                              arg_max(flag, seq) AS flag{texts} FROM delta GROUP BY key)
            SELECT coalesce(d.key, l.key) AS key, coalesce(d.print, l.print) AS print, coalesce(d.gen, l.gen) AS gen,
                   coalesce(d.sent, l.sent) AS sent, coalesce(d.flag, l.flag) AS flag{text}
            FROM ledger AS l FULL OUTER JOIN d ON l.key = d.key
            WHERE coalesce(d.flag, l.flag) != {GONE} ORDER BY 1""")
        if self.mirror:
            self.con.execute("SELECT count(*) FROM next.ledger WHERE gen < ?", (self.generation,)).fetchone()  # removals
        count = self.con.execute("SELECT count(*) FROM next.ledger").fetchone()[0]
        delta_bytes = self._delta_file_bytes()
        self.con.execute("DETACH next")
        self.con.close()
        os.replace(merged, self.directory / self.base_name)
        return {"delta_bytes": delta_bytes, "rows": count, "delta_rows": self.delta_rows}

    def _delta_file_bytes(self) -> int:
        """The delta rows as a Parquet file (what a state release would upload in this design)."""
        path = self.directory / "delta.parquet"
        self.con.execute(f"COPY (SELECT * EXCLUDE (seq) FROM delta ORDER BY seq) TO '{path}' (FORMAT parquet)")
        return path.stat().st_size


ENGINES = {
    "sqlite": lambda *args, **options: SqliteEngine(*args, without_rowid=False, **options),
    "sqlite-wr": lambda *args, **options: SqliteEngine(*args, without_rowid=True, **options),
    "duckdb": DuckdbEngine,
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_sync(engine_name: str, keys: int, mirror: bool, sync: int, directory: Path, size: int,
             **options: int) -> dict[str, Any]:
    """One sync in this process: open, every chunk looked up and its deliveries written, finish. The
    generation is ``GENERATIONS + sync``: a ledger in its steady state (SQLite stores the integers 0
    and 1 in no bytes, which a first generation of 1 would flatter)."""
    load_before = os.getloadavg()[0]
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base_before = page_prints(directory / ENGINES_BASE[engine_name])
    cpu_started, started = cpu_seconds(), time.perf_counter()
    engine = ENGINES[engine_name](directory, mirror, GENERATIONS + sync, **options)
    open_s = time.perf_counter() - started
    looked = written = 0.0
    sent = 0
    for chunk_keys, prints, texts in chunks(keys, mirror, sync, size):
        order = np.argsort(chunk_keys)
        sorted_texts = [texts[i] for i in order.tolist()] if texts is not None else None
        count, look_s, write_s = engine.chunk(chunk_keys[order], prints[order], sorted_texts)
        sent, looked, written = sent + count, looked + look_s, written + write_s
    unbatched, aside = None, (0.0, 0.0)  # the comparison's wall and CPU seconds, not the sync's
    if sync > 1 and hasattr(engine, "look_up_one_by_one"):
        aside_started = time.perf_counter()
        sample = np.concatenate([part[0] for part, _ in zip(chunks(keys, mirror, sync, size), range(UNBATCHED // size or 1))])
        unbatched_s = engine.look_up_one_by_one(sample)
        unbatched = round(unbatched_s / len(sample) * 1e6, 3)
        aside = (time.perf_counter() - aside_started, unbatched_s)
    finish_started = time.process_time()
    info = engine.finish()
    finish_s = time.process_time() - finish_started
    wall, cpu = time.perf_counter() - started - aside[0], cpu_seconds() - cpu_started - aside[1]
    base = directory / ENGINES_BASE[engine_name]
    base_bytes = base.stat().st_size
    pages = changed_pages(base_before, page_prints(base))
    batched = info.pop("batched_lookup_s", None)
    expected = keys if mirror or sync == 1 else -(-keys // CHANGED_EVERY)
    if sent != expected or info["rows"] != keys:
        raise RuntimeError(f"{engine_name} sync {sync}: sent {sent} (not {expected}), kept {info['rows']} rows (not {keys})")
    return {
        "engine": engine_name, "keys": keys, "mirror": mirror, "sync": sync, "chunk": size, "sent": sent, **options,
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "open_s": round(open_s, 2),
        "lookup_us_per_key": round(looked / keys * 1e6, 3),
        "batched_numpy_lookup_us_per_key": None if batched is None else round(batched / keys * 1e6, 3),
        "unbatched_lookup_us_per_key": unbatched,
        "write_s": round(written, 2), "finish_s": round(finish_s, 2),
        "base_bytes": base_bytes, "base_bytes_per_key": round(base_bytes / keys, 2),
        "upload_whole_bytes": base_bytes, "upload_delta_bytes": info["delta_bytes"],
        "upload_pages_bytes": pages * PAGE, "pages_changed_pct": round(100 * pages / max(1, -(-base_bytes // PAGE)), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "start_rss_mb": round(rss_start / 1024, 1),
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **info,
    }


ENGINES_BASE = {"sqlite": SqliteEngine.base_name,
                "sqlite-wr": SqliteEngine.base_name, "duckdb": DuckdbEngine.base_name}


def available(engine: str) -> bool:
    if engine != "duckdb":
        return True
    try:
        import duckdb  # noqa: F401
    except ImportError:
        print("duckdb: skipped (not installed; `pip install duckdb` into the venv to measure it)", file=sys.stderr)
        return False
    return True


def measure(engine: str, keys: int, mirror: bool, size: int, work: Path, options: list[str]) -> list[dict[str, Any]]:
    """Sync 1 then sync 2 of one engine, each in a fresh process, in a directory of their own."""
    directory = work / f"{engine}-{keys}{'-mirror' if mirror else ''}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    results = []
    for sync in (1, 2):
        command = [sys.executable, __file__, "--one", engine, "--sync", str(sync), "--keys", str(keys),
                   "--chunk", str(size), "--dir", str(directory), *options] + (["--mirror"] if mirror else [])
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    shutil.rmtree(directory, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--mirror", action="store_true")
    parser.add_argument("--engines", default="sqlite,sqlite-wr,duckdb")
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--sqlite-cache-mb", type=int, default=SQLITE_CACHE_MB)
    parser.add_argument("--sqlite-mmap-mb", type=int, default=SQLITE_MMAP_MB)
    parser.add_argument("--work", type=Path, default=None, help="where the files go (default: a temporary directory)")
    parser.add_argument("--one", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--sync", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        options = {"cache_mb": args.sqlite_cache_mb, "mmap_mb": args.sqlite_mmap_mb} if args.one.startswith("sqlite") else {}
        print(json.dumps(run_sync(args.one, args.keys, args.mirror, args.sync, args.dir, args.chunk, **options)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="ledger-engines-"))
    for engine in args.engines.split(","):
        if not available(engine):
            continue
        options = ["--sqlite-cache-mb", str(args.sqlite_cache_mb), "--sqlite-mmap-mb", str(args.sqlite_mmap_mb)]
        for row in measure(engine, args.keys, args.mirror, args.chunk, work, options):
            print(json.dumps(row), flush=True)
            print(f"{row['engine']:<10} sync {row['sync']} {row['keys']:>11,} keys  wall {row['wall_s']:>7.2f} s  "
                  f"cpu {row['cpu_s']:>7.2f} s  look-up {row['lookup_us_per_key']:.2f} us/key  "
                  f"{row['base_bytes_per_key']:.1f} B/key  peak RSS {row['peak_rss_mb']:.0f} MB  "
                  f"upload whole/delta/pages {row['upload_whole_bytes'] / 1e6:.1f}/{row['upload_delta_bytes'] / 1e6:.1f}/"
                  f"{row['upload_pages_bytes'] / 1e6:.1f} MB  load {row['load_avg_1m']}", file=sys.stderr, flush=True)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
