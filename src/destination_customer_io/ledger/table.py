"""One stream's sync ledger as a SQLite working copy on local disk: what was last delivered, per key,
this sync's log of outcomes, and the keys this sync met.

    ledger.sqlite (the snapshot a compaction uploads; open it with ``sqlite3``: docs/mirror.md)
      ledger(key INTEGER PRIMARY KEY, print, gen, sent, flag[, text])   one row a key
      meta(name PRIMARY KEY, value)                                     stream, generation, written_at
    work.sqlite (attached as ``work``; never uploaded)
      log(seq INTEGER PRIMARY KEY, key, print, gen, sent, flag[, text]) this sync, in the order it happened
      seen(key INTEGER PRIMARY KEY)                                      skip_unchanged: keys held and sent
      present(key INTEGER PRIMARY KEY, gen)                              a mirror: members held and delivered
                                                                         again unchanged, by generation
      fresh(key INTEGER PRIMARY KEY)                                     those not in a delta yet

    key    64-bit BLAKE2b of the key text (``person:email:a@b.co``; for a mirror, the removal op itself),
           as a signed integer: the table's rowid, so a look-up is one B-tree search and no index is kept
    print  64-bit BLAKE2b of what was sent, without the fields the operation's ``print_omits`` declares
    gen    the generation of the key's last delivery that changed its row (a mirror: the sync that added
           it; the meta ``members_of`` G says every MEMBER row was in generation G's input)
    sent   unix seconds of the last send (0: written ahead, never confirmed)
    flag   MEMBER (Customer.io accepted it), MAYBE (a mirror's write-ahead intent), GONE (removed)
    text   a mirror's key text: the removal op, rebuilt by the operation's ``removal_op``

A delta file is the same schema's ``rows`` table (log rows, in order) in a file of its own; a mirror's
also has ``present(key)``: the members its sync delivered again unchanged, only their keys (a resumed
attempt of that generation must not remove them). Folding rows
(``fold``) applies them in order: the last row of a key wins, GONE deletes it. SQLite's memory is its page
cache (``cache_size``, 32 MiB) plus, while a sync looks keys up (until the next fold), the file mapped
when it is at most ``LOOK_UP_MAP`` (128 MiB), else a page cache of ``LOOK_UP_CACHE`` (128 MiB), plus,
while folding in key order, a sorter of 32 MiB, whatever the number of keys: the store holds the
durable copy, so the working copy skips the journal and fsyncs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Iterator, Sequence

import msgspec

MEMBER, MAYBE, GONE = 1, 2, 3
PRESENT = 4  # a Mark's flag only: a mirror member delivered again as the ledger holds it (``present``)
# A mirror row not in this generation's input (args: members_of, generation, generation): older than it,
# a MEMBER row counting as of ``members_of`` (the last sync that removed every other one), and not
# delivered again unchanged in it (``work.present``)
ABSENT = (f"max(gen, CASE flag WHEN {MEMBER} THEN ? ELSE 0 END) < ? AND NOT EXISTS "
          "(SELECT 1 FROM work.present AS p WHERE p.key = ledger.key AND p.gen = ?)")
CACHE, LOOK_UP_CACHE = 32768, 131072  # KiB of page cache: folding and writing; looking up a larger file
LOOK_UP_MAP = 128 << 20  # bytes: a ledger file this size or smaller is mapped whole while it is looked up
PRAGMAS = ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE}", "mmap_size=0", "temp_store=FILE")
PART = 10_000  # rows fetched or written per step: removals, look-ups' batches
HELD = "held"  # a look-up's answer for a key held whose rows are sent whatever their print
_LOOK_UP = (f"SELECT json_group_array(CASE WHEN l.key IS NULL THEN NULL WHEN l.flag = {MEMBER} AND l.sent > ? "
            f"AND s.key IS NULL THEN l.print ELSE '{HELD}' END) FROM json_each(?) AS j "
            "LEFT JOIN ledger AS l ON l.key = j.value LEFT JOIN work.seen AS s ON s.key = j.value")
_encode, _decode = msgspec.json.encode, msgspec.json.decode
# log rows one INSERT carries: 32 insert as fast as 256, and every delta's ATTACH makes SQLite prepare
# the cached statements again (1.5 ms for 256 rows, 0.1 ms for 32: a mirror persists before each batch)
ROWS_PER_INSERT = 32
# A run of log rows: (gen, sent) shared by its rows (key, print, flag[, text]), or None: whole rows
Run = tuple["tuple[int, int] | None", "list[tuple]"]
DELTA_PAGE = 1024  # a delta file's page size (the snapshot keeps SQLite's 4,096)


def digest(data: bytes) -> int:
    """A 64-bit BLAKE2b as a signed integer (SQLite's INTEGER: the rowid)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def columns(mirror: bool) -> str:
    return "key, print, gen, sent, flag" + (", text" if mirror else "")


def _schema(table: str, mirror: bool, seq: bool) -> str:
    key = "seq INTEGER PRIMARY KEY, key INTEGER NOT NULL" if seq else "key INTEGER PRIMARY KEY"
    return (f"CREATE TABLE IF NOT EXISTS {table} ({key}, print INTEGER NOT NULL, gen INTEGER NOT NULL, "
            f"sent INTEGER NOT NULL, flag INTEGER NOT NULL{', text BLOB' if mirror else ''})")


@cache
def _insert_rows(columns: str, shared: int, width: int, count: int) -> str:
    """An INSERT of ``count`` log rows: ``width`` parameters each, then the ``shared`` ones (numbered 1
    to ``shared``: bound once for all rows)."""
    tail = "".join(f", ?{number}" for number in range(1, shared + 1))
    rows = (", ".join(f"?{shared + 1 + row * width + column}" for column in range(width)) + tail
            for row in range(count))
    return f"INSERT INTO work.log ({columns}) VALUES " + ", ".join(f"({row})" for row in rows)


def connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        con.execute(f"PRAGMA {pragma}")
    return con


def write_rows(path: Path, mirror: bool, meta: dict, rows: list[tuple] | None = None) -> None:
    """A file of its own holding ``rows`` (log rows, in order) and ``meta``: a legacy file's rows
    rewritten, or a test's delta."""
    con = connect(path)
    con.execute(_schema("rows", mirror, seq=True))
    _write_meta(con, "main", meta)
    if rows:
        con.executemany(f"INSERT INTO rows ({columns(mirror)}) VALUES ({', '.join('?' * (6 if mirror else 5))})",
                        rows)
    con.close()


def _write_meta(con: sqlite3.Connection, schema: str, meta: dict) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.meta (name TEXT PRIMARY KEY, value)")
    con.executemany(f"INSERT OR REPLACE INTO {schema}.meta VALUES (?, ?)", sorted(meta.items()))


class Table:
    """The working copy of one stream's ledger in ``directory`` (a temp dir the keeper owns)."""

    def __init__(self, directory: Path, mirror: bool, base: Path | None = None) -> None:
        """``base``: a snapshot file downloaded into ``directory`` (moved to ``ledger.sqlite``)."""
        self.path = directory / "ledger.sqlite"
        if base is not None and base != self.path:
            base.replace(self.path)
        self.mirror = mirror
        self.columns = columns(mirror)
        self._shared_columns = "key, print, flag" + (", text" if mirror else "") + ", gen, sent"
        self.con = connect(self.path)
        self.con.execute(_schema("ledger", mirror, seq=False))
        work = directory / "work.sqlite"
        work.unlink(missing_ok=True)
        self._attach(work, "work")
        self.con.execute(_schema("work.log", mirror, seq=True))
        self.con.execute("CREATE TABLE work.seen (key INTEGER PRIMARY KEY)")
        self.con.execute("CREATE TABLE work.present (key INTEGER PRIMARY KEY, gen INTEGER NOT NULL)")
        self.con.execute("CREATE TABLE work.fresh (key INTEGER PRIMARY KEY)")
        self.unwritten = 0  # present keys not in a delta yet (``work.fresh``)
        self.logged = 0  # log rows written (their seq runs 1..logged)
        self.folded = 0  # log rows already folded into the ledger
        self._looking_up: str | None = None  # the PRAGMA that undoes the look-ups' memory (the first sets it)

    def close(self) -> None:
        self.con.close()

    def _attach(self, path: Path, schema: str) -> None:
        """A second file on this connection, with the same pragmas (each file has its own: an attached
        one would otherwise sync to disk at every commit)."""
        self.con.execute(f"ATTACH ? AS {schema}", (str(path),))
        for pragma in PRAGMAS[:2]:
            self.con.execute(f"PRAGMA {schema}.{pragma}")

    # --- look-ups --------------------------------------------------------------------------------

    def _look_up_memory(self) -> str:
        """Memory for the look-ups until the next fold (whose bound stays the default cache); returns the
        PRAGMA that gives it back. A file of at most ``LOOK_UP_MAP`` is mapped: a search reads its pages in
        place, where a page cache copies each in and finds it by its hash (a fifth of a search's CPU at 1M
        keys); a larger one gets ``LOOK_UP_CACHE`` if it outgrows the cache (each miss a system call)."""
        pages, size = (self.con.execute(f"PRAGMA main.{name}").fetchone()[0] for name in ("page_count", "page_size"))
        if pages * size <= LOOK_UP_MAP:
            self.con.execute(f"PRAGMA main.mmap_size={LOOK_UP_MAP}")
            return "mmap_size=0"
        cache = self.con.execute("PRAGMA main.cache_size").fetchone()[0]
        if pages * size > (-cache * 1024 if cache < 0 else cache * size):
            self.con.execute(f"PRAGMA main.cache_size=-{LOOK_UP_CACHE}")
        return f"cache_size=-{CACHE}"

    def holds_any(self) -> bool:
        return self.con.execute("SELECT EXISTS (SELECT 1 FROM ledger)").fetchone()[0] == 1

    def look_up(self, keys: Sequence[int], fresh: float) -> list[int | str | None]:
        """One query for a chunk's keys, in their order (duplicates too): per key, None when the ledger
        does not hold it, its print when a row with that print may be skipped (a MEMBER sent after
        ``fresh``, unix seconds, and not sent earlier in this sync: ``met``), else ``HELD``. The answer
        is one JSON array, not a row per key: SQLite hands each row to Python at a cost as high as its
        search (docs/performance.md)."""
        if self._looking_up is None:
            self._looking_up = self._look_up_memory()
        found = _decode(self.con.execute(_LOOK_UP, (fresh, _encode(keys))).fetchall()[0][0])
        assert len(found) == len(keys)  # json_each drives the join: one answer per key, in order
        return found

    def met(self, keys: list[int]) -> None:
        """``keys`` (held by the ledger) were sent in this sync: a later row of one is always sent."""
        if keys:
            self.con.execute("INSERT OR IGNORE INTO work.seen SELECT value FROM json_each(?)", (_encode(keys),))

    def row(self, key: int) -> tuple[int, int, int, int] | None:
        """(print, gen, sent, flag) of one key, or None (a dry run's summary, a mirror's write-ahead)."""
        return self.con.execute("SELECT print, gen, sent, flag FROM ledger WHERE key = ?", (key,)).fetchone()

    def flags(self, keys: list[int]) -> dict[int, tuple[int, int]]:
        """key -> (flag, print) of those of ``keys`` the ledger holds."""
        return {key: (flag, print_) for key, flag, print_ in self.con.execute(
            "SELECT l.key, l.flag, l.print FROM json_each(?) AS j JOIN ledger AS l ON l.key = j.value",
            (json.dumps(sorted(set(keys))),))}

    def present(self, keys: list[int], generation: int) -> None:
        """A mirror's members delivered again unchanged in ``generation``: no log row, only their keys
        (local, and in the next delta: ``write_delta``)."""
        if keys:
            text = json.dumps(keys)
            self.con.execute("BEGIN")
            self.con.execute("INSERT OR REPLACE INTO work.present SELECT value, ? FROM json_each(?)",
                             (generation, text))
            self.con.execute("INSERT OR IGNORE INTO work.fresh SELECT value FROM json_each(?)", (text,))
            self.con.execute("COMMIT")
            self.unwritten += len(keys)

    # --- this sync's log -------------------------------------------------------------------------

    def log(self, runs: list[Run]) -> None:
        """Log rows, in the order they happened, as runs: the (gen, sent) a run's rows share and its
        rows (key, print, flag[, text]); or None and whole rows (key, print, gen, sent, flag[, text])."""
        if not runs:
            return
        width = 6 if self.mirror else 5
        self.con.execute("BEGIN")
        for shared, rows in runs:
            values = list(chain.from_iterable(rows))
            if shared is None:
                self._insert(self.columns, (), width, values)
            else:
                self._insert(self._shared_columns, shared, width - 2, values)
            self.logged += len(rows)
        self.con.execute("COMMIT")

    def _insert(self, columns: str, shared: tuple, width: int, values: list) -> None:
        """Rows of ``width`` values each (``values``, flat), with the ``shared`` ones, into the log. A
        statement carries many rows (binding a row costs a fraction of stepping a statement for it):
        ``ROWS_PER_INSERT`` at a time, then the rest in halves, so few statements are ever prepared."""
        start, left, count = 0, len(values) // width, ROWS_PER_INSERT
        while left:
            while count > left:
                count //= 2
            end = start + count * width
            self.con.execute(_insert_rows(columns, len(shared), width, count),
                             (*shared, *values[start:end]) if shared else values[start:end])
            start, left = end, left - count

    def write_delta(self, path: Path, start: int, meta: dict, present: int | None = None) -> int:
        """Log rows after ``start`` into a delta file of their own, and a mirror's present keys: those
        not written yet, or (``present``) all of that generation's (-1: none); returns how many log rows."""
        path.unlink(missing_ok=True)
        self._attach(path, "delta")
        try:
            # small pages: a state's delta holds few rows, and a file is at least three pages
            self.con.execute(f"PRAGMA delta.page_size={DELTA_PAGE}")
            self.con.execute("BEGIN")
            self.con.execute(_schema("delta.rows", self.mirror, seq=True))
            _write_meta(self.con, "delta", meta)
            self.con.execute(f"INSERT INTO delta.rows ({self.columns}) SELECT {self.columns} FROM work.log "
                             "WHERE seq > ? ORDER BY seq", (start,))
            if self.mirror:
                self.con.execute("CREATE TABLE delta.present (key INTEGER PRIMARY KEY)")
                if present is None:
                    self.con.execute("INSERT INTO delta.present SELECT key FROM work.fresh ORDER BY key")
                elif present >= 0:  # -1: none
                    self.con.execute("INSERT INTO delta.present SELECT key FROM work.present WHERE gen = ? "
                                     "ORDER BY key", (present,))
                self.con.execute("DELETE FROM work.fresh")
                self.unwritten = 0
            self.con.execute("COMMIT")
        finally:
            self.con.execute("DETACH delta")
        return self.logged - start

    # --- folding ---------------------------------------------------------------------------------

    def fold_file(self, path: Path, generation: int = 0) -> int:
        """A delta file's rows applied in order, and its present keys kept as ``generation``'s (the
        delta's); returns how many rows."""
        self._attach(path, "delta")
        try:
            if self.mirror and self.con.execute(
                    "SELECT 1 FROM delta.sqlite_master WHERE name = 'present'").fetchone():
                self.con.execute("INSERT OR REPLACE INTO work.present SELECT key, ? FROM delta.present",
                                 (generation,))
            return self._fold("delta.rows", 0)
        finally:
            self.con.execute("DETACH delta")

    def fold_log(self) -> None:
        """This sync's log rows not folded yet, applied to the ledger (removals, compaction)."""
        if self.logged > self.folded:
            self._fold("work.log", self.folded)
            self.folded = self.logged

    def _fold(self, source: str, after: int) -> int:
        if self._looking_up is not None:
            self.con.execute(f"PRAGMA main.{self._looking_up}")
            self._looking_up = None
        text = ", text = excluded.text" if self.mirror else ""
        self.con.execute("BEGIN")
        cursor = self.con.execute(
            f"INSERT INTO ledger ({self.columns}) SELECT {self.columns} FROM {source} WHERE seq > ? "
            f"ORDER BY key, seq ON CONFLICT (key) DO UPDATE SET print = excluded.print, gen = excluded.gen, "
            f"sent = excluded.sent, flag = excluded.flag{text}", (after,))
        count = cursor.rowcount
        self.con.execute(f"DELETE FROM ledger WHERE flag = {GONE} AND key IN "
                         f"(SELECT key FROM {source} WHERE seq > ? AND flag = {GONE})", (after,))
        self.con.execute("COMMIT")
        return count

    def snapshot(self, meta: dict) -> Path:
        """The ledger (this sync's log folded in, and its present members given its generation: a
        retry of it removes none of them) with its meta, ready to upload as it is on disk."""
        self.fold_log()
        self.con.execute("BEGIN")
        self.con.execute(f"UPDATE ledger SET gen = ? WHERE flag = {MEMBER} AND gen < ? AND key IN "
                         "(SELECT key FROM work.present WHERE gen = ?)", (meta["generation"],) * 3)
        _write_meta(self.con, "main", meta)
        self.con.execute("COMMIT")
        return self.path

    # --- what it holds ---------------------------------------------------------------------------

    def count(self, where: str = "true", *args: int) -> int:
        return self.con.execute(f"SELECT count(*) FROM ledger WHERE {where}", args).fetchone()[0]

    def older(self, generation: int, floor: int) -> Iterator[tuple]:
        """Rows (key, print, gen, sent, flag[, text]) not in ``generation``'s input: a mirror's
        removals, never listed whole in memory (``absent``)."""
        return self._parts(ABSENT, floor, generation, generation)

    def absent(self, generation: int, floor: int) -> int:
        """How many rows ``older`` lists."""
        return self.count(ABSENT, floor, generation, generation)

    def rows(self) -> Iterator[tuple]:
        """Every row (``ledger show``)."""
        return self._parts("true")

    def _parts(self, where: str, *args: int) -> Iterator[tuple]:
        """Rows in key order, ``PART`` at a time; each part is a query of its own (from the last key
        on), so no statement stays open while the caller writes to the log."""
        query = f"SELECT {self.columns} FROM ledger WHERE {where} AND key > ? ORDER BY key LIMIT {PART}"
        part = self.con.execute(query.replace("AND key > ?", ""), args).fetchall()
        while part:
            yield from part
            if len(part) < PART:
                return
            part = self.con.execute(query, (*args, part[-1][0])).fetchall()

    def figures(self) -> tuple:
        """(rows, members, maybe, min gen, max gen, min sent > 0, max sent) in one scan."""
        return self.con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE flag = {MEMBER}), count(*) FILTER (WHERE flag = {MAYBE}), "
            "min(gen), max(gen), min(nullif(sent, 0)), max(nullif(sent, 0)) FROM ledger").fetchone()
