"""The sync ledger's pieces: prints, folding rows in order, the files (half-written ones ignored), the
keeper's load / persist / compact cycle (compaction by size), batched look-ups and write-ahead intents."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from destination_customer_io.ledger import files
from destination_customer_io.ledger import table as table_module
from destination_customer_io.ledger.book import Mark, StreamBook
from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.ledger.table import (CACHE, GONE, HELD, LOOK_UP_CACHE, LOOK_UP_MAP, MAYBE, MEMBER,
                                                  PRESENT, Table, digest, write_rows)
from destination_customer_io.operations import OPERATIONS
from destination_customer_io.operations.base import Op
from destination_customer_io.storage.objects import LocalObjects


def table_of(tmp_path: Path, entries: list[tuple[int, int, int, int]], mirror: bool = False) -> Table:
    """A working copy holding ``entries`` (key, print, gen, flag), sent at 100, folded in as a delta."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    table = Table(tmp_path, mirror)
    _fold(table, tmp_path, entries, mirror)
    return table


def _fold(table: Table, folder: Path, entries: list[tuple[int, int, int, int]], mirror: bool) -> None:
    rows = [(key, print_, gen, 100, flag) + ((f"text-{key}".encode(),) if mirror else ()) for key, print_, gen, flag
            in entries]
    path = folder / "rows.sqlite"
    path.unlink(missing_ok=True)
    write_rows(path, mirror, {}, rows)
    table.fold_file(path)


def fingerprint(body: bytes, operation: str = "person_identify") -> int:
    """The print the ledger keeps of an op of ``operation`` with this body."""
    kind = OPERATIONS[operation]
    return digest(kind.ledger_print(Op(body, "person:email:a@b.co", ordered=True, operation=kind)))


def test_a_print_ignores_the_timestamp_the_connector_adds_and_nothing_else() -> None:
    a = b'{"type":"person","attributes":{"plan":"free"},"timestamp":1700000000}'
    b = b'{"type":"person","attributes":{"plan":"free"},"timestamp":1800000000}'
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(a.replace(b"free", b"pro"))
    assert fingerprint(b'{"attributes":{"timestamp":1}}') != fingerprint(b'{"attributes":{"timestamp":2}}')
    # declared by name, not found by its bytes: a timestamp that is not the last key is left out too
    c = b'{"type":"person","timestamp":1900000000,"attributes":{"plan":"free"}}'
    assert fingerprint(c) == fingerprint(b'{"type":"person","timestamp":1,"attributes":{"plan":"free"}}')
    assert fingerprint(c) != fingerprint(c.replace(b"free", b"pro"))
    # the prints ledgers already hold: the identify's bytes before ``,"timestamp":``
    assert fingerprint(a) == digest(b'{"type":"person","attributes":{"plan":"free"}')
    # an operation that declares no omitted field: the whole body
    assert fingerprint(a, "object_identify") == digest(a) != fingerprint(b, "object_identify")


def test_a_digest_is_the_signed_reading_of_the_bytes_0_5_0_read_unsigned() -> None:
    unsigned = int.from_bytes(__import__("hashlib").blake2b(b"k", digest_size=8).digest(), "little")
    assert digest(b"k") % 2**64 == unsigned and -2**63 <= digest(b"k") < 2**63


def test_folding_keeps_the_last_row_of_a_key_and_drops_removed_keys(tmp_path: Path) -> None:
    table = table_of(tmp_path, [(5, 1, 1, MEMBER), (3, 1, 1, MEMBER), (9, 1, 1, MEMBER)], mirror=True)
    _fold(table, tmp_path, [(5, 2, 2, MEMBER), (9, 1, 2, GONE), (7, 1, 2, MAYBE), (5, 3, 2, MEMBER)], True)
    assert [row[:5] for row in table.rows()] == [(3, 1, 1, 100, MEMBER), (5, 3, 2, 100, MEMBER), (7, 1, 2, 100, MAYBE)]
    assert [row[5] for row in table.rows()] == [b"text-3", b"text-5", b"text-7"]


def _book(keeper: Keeper, generation: int | None = None, mirror: bool = False) -> StreamBook:
    return asyncio.run(keeper.open_book("users", "users/", generation, mirror=mirror, skip=True,
                                        resend_after_days=30))


def _mark(book: StreamBook, key: bytes, body: bytes, flag: int = MEMBER) -> Mark:
    return Mark(book, digest(key), digest(body), key if book.mirror else None, flag)


def _names(folder: Path) -> list[str]:
    return sorted(p.name.rsplit("-", 1)[0] for p in folder.iterdir())  # without the checksum


def test_the_keeper_persists_deltas_loads_them_and_compacts(tmp_path: Path) -> None:
    warnings: list[str] = []
    keeper = Keeper(LocalObjects(str(tmp_path)), "scope/", warnings.append)
    book = _book(keeper)
    assert book.generation == 1 and book.table.count() == 0
    for n in range(3):
        book.delivered(_mark(book, f"k{n}".encode(), b"{}"))
    asyncio.run(keeper.persist())
    book.delivered(_mark(book, b"k9", b"{}"))
    asyncio.run(keeper.persist())
    assert _names(tmp_path / "scope/users") == ["delta-00000000-00000001", "delta-00000000-00000002"]
    # a crash here: the next sync loads both deltas (generation 2: one more than the last seen)
    again = _book(Keeper(LocalObjects(str(tmp_path)), "scope/", warnings.append))
    assert again.table.count() == 4 and again.generation == 2
    # a half-written delta is ignored with a warning: it only forgets deliveries
    whole = next((tmp_path / "scope/users").glob("delta-00000000-00000002-*"))
    (tmp_path / "scope/users" / whole.name.replace("-00000002-", "-00000003-")).write_bytes(whole.read_bytes()[:-1])
    keeper2 = Keeper(LocalObjects(str(tmp_path)), "scope/", warnings.append)
    third = _book(keeper2)
    assert third.table.count() == 4 and "half-written" in warnings[-1]
    asyncio.run(keeper2.compact())
    assert _names(tmp_path / "scope/users") == ["snapshot-00000001"]
    assert _book(Keeper(LocalObjects(str(tmp_path)), "scope/", warnings.append)).table.count() == 4


def test_a_whole_file_that_is_not_a_ledger_is_ignored(tmp_path: Path) -> None:
    warnings: list[str] = []
    folder = tmp_path / "users"
    folder.mkdir()
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a ledger file at all")
    junk.rename(folder / f"delta-00000000-00000001-{files.checksum(junk)}.sqlite")  # its checksum is right
    book = _book(Keeper(LocalObjects(str(tmp_path)), "", warnings.append))
    assert book.table.count() == 0 and "it is not a ledger file" in warnings[-1]


def test_compaction_waits_until_the_deltas_outgrow_a_tenth_of_the_snapshot(tmp_path: Path) -> None:
    for generation in (1, 2):  # sync 1 has no snapshot: it compacts
        keeper = Keeper(LocalObjects(str(tmp_path)), "", print)
        book = _book(keeper, generation)
        for n in range(20_000 if generation == 1 else 1):
            book.delivered(_mark(book, f"k{n}".encode(), b"%d" % generation))
        asyncio.run(keeper.persist())
        asyncio.run(keeper.compact())
        keeper.close()
    # sync 2 delivered 1 row: a delta of a few KB against a snapshot of ~600 KB stays a delta; at its end
    # its deltas (one a state release) become one, which says that sync completed (as a snapshot would)
    assert _names(tmp_path / "users") == ["delta-00000001-00000002", "snapshot-00000001"]
    [marker] = (tmp_path / "users").glob("delta-00000001-00000002-*")
    assert (files.read_meta(marker)["completed"], files.read_meta(marker)["generation"]) == (1, 2)
    keeper = Keeper(LocalObjects(str(tmp_path)), "", print)
    assert asyncio.run(keeper._load("users/", False))[2] == (2, 2)  # (the last completed sync, the newest)
    loaded = _book(Keeper(LocalObjects(str(tmp_path)), "", print))
    assert loaded.table.row(digest(b"k0"))[:2] == (digest(b"2"), 2)  # the delta folded in on load
    assert loaded.table.count() == 20_000 and loaded.generation == 3


def test_deltas_of_an_older_snapshot_are_ignored(tmp_path: Path) -> None:
    keeper = Keeper(LocalObjects(str(tmp_path)), "", print)
    book = _book(keeper)
    book.delivered(_mark(book, b"a", b"{}"))
    asyncio.run(keeper.persist())
    [stale] = (tmp_path / "users").iterdir()
    kept = stale.read_bytes()
    asyncio.run(keeper.compact())
    # a crash between writing snapshot 1 and deleting the delta it folded in leaves the delta behind
    stale.write_bytes(kept)
    loaded = _book(Keeper(LocalObjects(str(tmp_path)), "", print))
    assert loaded.table.count() == 1 and loaded.generation == 2  # the stale delta's rows are not read twice


def _unchanged(book: StreamBook, rows: list[tuple[bytes, bytes]]) -> list[bool]:
    """``book.unchanged`` of rows (key text, body) digested as ``marks`` digests them; None: none held."""
    skips = book.unchanged(tuple(digest(key) for key, _ in rows), tuple(digest(body) for _, body in rows))
    return [False] * len(rows) if skips is None else skips


def test_unchanged_only_for_the_first_row_of_a_key_with_the_same_print(tmp_path: Path) -> None:
    now = [1_000_000.0]
    table = table_of(tmp_path, [(digest(b"a"), digest(b'{"x":1}'), 1, MEMBER)])
    table.con.execute("UPDATE ledger SET sent = 999000")
    book = StreamBook("users", table, 2, mirror=False, skip=True, resend_after=2_000, clock=lambda: now[0])
    # rows like the one delivered are skipped, however many; once a changed row of the key is sent, every
    # later row is sent (the last row wins, as it did when it was sent), in this chunk and the next ones
    assert _unchanged(book, [(b"a", b'{"x":1}'), (b"a", b'{"x":1}')]) == [True, True]
    assert _unchanged(book, [(b"a", b'{"x":2}'), (b"a", b'{"x":1}')]) == [False, False]
    assert _unchanged(book, [(b"a", b'{"x":1}')]) == [False]
    assert book.unchanged_count == 2
    fresh = StreamBook("users", table_of(tmp_path / "2", [(digest(b"a"), digest(b'{"x":1}'), 1, MEMBER)]), 3,
                       mirror=False, skip=True, resend_after=500, clock=lambda: 1_000.0 + 100)
    assert _unchanged(fresh, [(b"a", b'{"x":1}')]) == [False]  # sent at 100, 1,000 s ago: past 500 s
    other = StreamBook("users", table_of(tmp_path / "3", [(digest(b"a"), digest(b'{"x":1}'), 1, MEMBER)]), 3,
                       mirror=False, skip=True, clock=lambda: 200.0)
    assert _unchanged(other, [(b"a", b'{"x":2}'), (b"b", b'{"x":1}')]) == [False, False]
    # a row skipped, then a changed one sent, then one like the first: only the first is skipped
    again = StreamBook("users", table_of(tmp_path / "4", [(digest(b"a"), digest(b'{"x":1}'), 1, MEMBER)]), 3,
                       mirror=False, skip=True, clock=lambda: 200.0)
    assert _unchanged(again, [(b"a", b'{"x":1}'), (b"b", b"{}"), (b"a", b'{"x":2}'), (b"a", b'{"x":1}')]) == \
        [True, False, False, False]
    assert [row[0] for row in again.table.con.execute("SELECT key FROM work.seen")] == [digest(b"a")]


def test_look_ups_find_keys_at_the_ends_of_the_signed_range_and_next_to_each_other(tmp_path: Path) -> None:
    keys = [-2**63, -2**63 + 1, -1, 0, 1, 2**62, 2**62 + 1, 2**63 - 2, 2**63 - 1]
    table = table_of(tmp_path, [(key, row, 1, MEMBER) for row, key in enumerate(keys)])
    book = StreamBook("people", table, 2, mirror=False, skip=True, clock=lambda: 200.0)
    assert book.unchanged(tuple(keys), tuple(range(len(keys)))) == [True] * len(keys)
    assert book.unchanged((2, 2**62 + 2, -2), (0, 0, 0)) is None  # none of them held


def test_a_look_up_answers_each_key_in_the_order_asked(tmp_path: Path) -> None:
    table = table_of(tmp_path, [(9, 90, 1, MEMBER), (-4, 40, 1, MEMBER), (7, 70, 1, MAYBE), (2**63 - 1, -1, 1, MEMBER)])
    table.met([-4])
    assert table.look_up([2**63 - 1, 5, 7, -4, 9, 5, 9], fresh=50.0) == [-1, None, HELD, HELD, 90, None, 90]
    assert table.look_up([9], fresh=100.0) == [HELD]  # sent at 100: not after it


def test_a_file_up_to_the_map_size_is_mapped_while_looked_up_and_unmapped_by_a_fold(tmp_path: Path) -> None:
    table = table_of(tmp_path, [(key, key * 10, 1, MEMBER) for key in range(1, 2001)])
    mapped = lambda: table.con.execute("PRAGMA main.mmap_size").fetchone()[0]  # noqa: E731
    cache = lambda: table.con.execute("PRAGMA main.cache_size").fetchone()[0]  # noqa: E731
    assert mapped() == 0
    assert table.look_up([2000, 7, 0], fresh=50.0) == [20000, 70, None]
    assert (mapped(), cache()) == (LOOK_UP_MAP, -CACHE)
    table.log([(None, [(7, 71, 2, 100, MEMBER)])])
    table.fold_log()
    assert mapped() == 0  # the fold's bound is the default cache's alone
    assert table.look_up([7, 2000], fresh=50.0) == [71, 20000]  # the folded row, read through the map
    assert mapped() == LOOK_UP_MAP


def test_a_file_larger_than_the_page_cache_gets_a_larger_one_for_its_look_ups_until_a_fold(tmp_path: Path,
                                                                                          monkeypatch) -> None:
    monkeypatch.setattr(table_module, "LOOK_UP_MAP", 4096)  # the file (about 15 pages) is larger: not mapped
    table = table_of(tmp_path, [(key, key * 10, 1, MEMBER) for key in range(1, 2001)])
    cache = lambda: table.con.execute("PRAGMA main.cache_size").fetchone()[0]  # noqa: E731
    table.con.execute("PRAGMA main.cache_size=2")  # pages: the file (about 15 of them) outgrows it
    assert table.look_up([2000, 7, 0], fresh=50.0) == [20000, 70, None]
    assert cache() == -LOOK_UP_CACHE
    table.log([(None, [(7, 71, 2, 100, MEMBER)])])
    table.fold_log()
    assert cache() == -CACHE  # the fold's bound is the default cache's
    assert table.look_up([7], fresh=50.0) == [71]  # a file the cache holds keeps it
    assert cache() == -CACHE
    assert table.con.execute("PRAGMA main.mmap_size").fetchone()[0] == 0


def test_a_file_the_page_cache_holds_keeps_the_cache_for_its_look_ups(tmp_path: Path) -> None:
    table = table_of(tmp_path, [(key, key * 10, 1, MEMBER) for key in range(1, 2001)])
    assert table.look_up([2000], fresh=50.0) == [20000]
    assert table.con.execute("PRAGMA main.cache_size").fetchone()[0] == -CACHE


def _identify_ops(rows: list[tuple[str, bytes]]) -> list[Op]:
    kind = OPERATIONS["person_identify"]
    return [Op(body, key, ordered=True, operation=kind) for key, body in rows]


def test_a_chunk_is_marked_as_each_op_was_alone_and_skipped_ops_get_no_mark(tmp_path: Path) -> None:
    kind = OPERATIONS["person_identify"]
    held = b'{"type":"person","identifiers":{"email":"a@b.co"},"attributes":{"plan":"free"},"timestamp":1700000000}'
    ops = _identify_ops([("person:email:a@b.co", held.replace(b"1700000000", b"1800000000")),
                         ("person:email:c@d.co", held.replace(b"a@b.co", b"c@d.co")),
                         ("person:email:a@b.co", held.replace(b"free", b"pro"))])
    table = table_of(tmp_path, [(digest(b"person:email:a@b.co"), fingerprint(held), 1, MEMBER)])
    book = StreamBook("people", table, 2, mirror=False, skip=True, clock=lambda: 200.0)
    marks = book.marks(kind, ops)
    assert marks[0] is None and book.unchanged_count == 1
    expected = [(digest(f"{op.key}".encode()), digest(kind.ledger_print(op)), None, MEMBER, book) for op in ops[1:]]
    assert [(m.key, m.print, m.text, m.flag, m.book) for m in marks[1:]] == expected  # type: ignore[union-attr]


def test_the_prints_of_a_run_are_each_ops_print() -> None:
    bodies = [b'{"type":"person","attributes":{"plan":"free"},"timestamp":1700000000}',
              b'{"type":"person","timestamp":1900000000,"attributes":{"plan":"free"}}',
              b'{"type":"person","attributes":{"timestamp":1}}', b'{"a":1,"timestamp":"x"}', b'{"timestamp":1}']
    for name in ("person_identify", "object_identify", "segment_membership"):
        kind = OPERATIONS[name]
        ops = [Op(body, "k", ordered=True, operation=kind) for body in bodies]
        assert kind.ledger_prints(ops) == [kind.ledger_print(op) for op in ops]


def test_a_first_sync_looks_nothing_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = StreamBook("people", Table(tmp_path, False), 1, mirror=False, skip=True)
    monkeypatch.setattr(book.table, "look_up", None)  # called, it would raise
    ops = _identify_ops([("person:email:a@b.co", b'{"timestamp":1}')])
    assert [mark.key for mark in book.marks(OPERATIONS["person_identify"], ops)] == [  # type: ignore[union-attr]
        digest(b"person:email:a@b.co")]


def test_write_ahead_covers_new_members_and_removals_keep_their_generation(tmp_path: Path) -> None:
    table = table_of(tmp_path, [(digest(b"old"), 0, 1, MEMBER), (digest(b"gone"), 0, 1, MEMBER)], mirror=True)
    book = StreamBook("vips", table, 2, mirror=True, skip=False)
    assert book.intend([_mark(book, b"old", b"1")]) is False  # already a member: nothing to write ahead
    assert book.intend([_mark(book, b"new", b"1")]) is True
    book.delivered(_mark(book, b"old", b"1"))
    book.delivered(_mark(book, b"new", b"1"))
    assert book.removal_count() == 1
    assert [(row[0], row[2], row[5]) for row in book.removals()] == [(digest(b"gone"), 1, f"text-{digest(b'gone')}".encode())]
    assert book.intend_removals() == 1
    book.flush()
    book.table.fold_log()
    flags = {row[0]: (row[4], row[2]) for row in book.table.rows()}
    assert flags == {digest(b"old"): (MEMBER, 2), digest(b"new"): (MEMBER, 2), digest(b"gone"): (MAYBE, 1)}
    book.delivered(_mark(book, b"gone", b"0", GONE))
    book.flush()
    book.table.fold_log()
    assert sorted(row[0] for row in book.table.rows()) == sorted([digest(b"old"), digest(b"new")])


def test_the_generation_of_a_sync() -> None:
    from destination_customer_io.ledger.keeper import this_generation

    assert this_generation(5, completed=4, newest=5, counted_on=False) == 5  # a retried attempt of sync 5
    assert this_generation(5, completed=5, newest=5, counted_on=False) == 5  # ... after one that completed
    assert this_generation(6, completed=5, newest=5, counted_on=False) == 6  # the platform's next sync
    assert this_generation(1, completed=3, newest=3, counted_on=True) == 4  # PyAirbyte's fixed 1: counted on
    assert this_generation(9, completed=3, newest=3, counted_on=True) == 9
    assert this_generation(None, completed=0, newest=0, counted_on=False) == 1
    assert this_generation(None, completed=2, newest=3, counted_on=False) == 4  # after a crashed sync 3


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ROWS = st.lists(st.tuples(st.integers(-3, 40), st.integers(0, 3), st.sampled_from([MEMBER, MAYBE, GONE])),
                 max_size=60)


@settings(max_examples=100, deadline=None)
@given(_ROWS, _ROWS, st.booleans())
def test_folding_equals_applying_each_row_in_order(tmp_path_factory: pytest.TempPathFactory, first: list,
                                                   second: list, mirror: bool) -> None:
    """Folding a delta file, then this sync's log, against the plain meaning: a dict updated row by row,
    GONE deleting."""
    expected: dict[int, tuple[int, int]] = {}
    for key, print_, flag in first + second:
        if flag == GONE:
            expected.pop(key, None)
        else:
            expected[key] = (print_, flag)
    folder = tmp_path_factory.mktemp("fold")
    table = table_of(folder, [(key, print_, 1, flag) for key, print_, flag in first], mirror)
    text = (lambda key: (f"t{key}".encode(),)) if mirror else (lambda key: ())
    half = len(second) // 2  # whole rows, then a run of rows sharing (gen, sent)
    table.log([(None, [(key, print_, 1, 1, flag) + text(key) for key, print_, flag in second[:half]]),
               ((1, 1), [(key, print_, flag) + text(key) for key, print_, flag in second[half:]])])
    table.fold_log()
    got = {row[0]: (row[1], row[4]) for row in table.rows()}
    assert got == expected and [row[0] for row in table.rows()] == sorted(expected)
    if mirror:
        assert all(row[5] in (f"t{row[0]}".encode(), f"text-{row[0]}".encode()) for row in table.rows())
    table.close()


def test_a_syncs_deltas_become_one_and_a_crash_before_the_small_ones_go_changes_nothing(tmp_path: Path) -> None:
    loaded = []
    for crash in (False, True):
        store = tmp_path / f"crash-{crash}"
        for generation in (1, 2):
            objects = LocalObjects(str(store))
            keeper = Keeper(objects, "", print)
            book = _book(keeper, generation)
            for n in range(20_000 if generation == 1 else 6):  # sync 2: three state releases
                book.delivered(_mark(book, f"k{n % 5}".encode() if generation == 2 else f"k{n}".encode(),
                                     b"%d-%d" % (generation, n)))
                if generation == 2 and n % 2:
                    asyncio.run(keeper.persist())
            if crash and generation == 2:
                objects.delete = lambda keys: None  # type: ignore[method-assign]  # killed before the delete
            asyncio.run(keeper.compact())
            keeper.close()
        names = _names(store / "users")
        assert names == (["delta-00000001-00000001", "delta-00000001-00000002", "delta-00000001-00000003",
                          "delta-00000001-00000004", "snapshot-00000001"] if crash
                         else ["delta-00000001-00000004", "snapshot-00000001"])
        again = _book(Keeper(LocalObjects(str(store)), "", print))
        loaded.append(([row[:2] + row[4:5] for row in again.table.rows()], again.generation))
    assert loaded[0] == loaded[1] and loaded[0][1] == 3
    assert dict((key, print_) for key, print_, _ in loaded[0][0])[digest(b"k0")] == digest(b"2-5")  # the last row


def _mirror_sync(store: Path, generation: int, members: list[bytes], *, complete: bool = True,
                 decide: bool = True) -> tuple[StreamBook, list[bytes]]:
    """One mirror sync through the keeper: ``members`` written ahead and accepted, a state released;
    complete: its removals decided, accepted and compacted. Returns the book and the removals' texts."""
    keeper = Keeper(LocalObjects(str(store)), "", print)
    book = asyncio.run(keeper.open_book("vips", "vips/", generation, mirror=True, skip=False, resend_after_days=30))
    marks = [_mark(book, member, b"add") for member in members]
    if marks:
        asyncio.run(keeper.write_ahead(marks))
        book.delivered_all(marks)
    asyncio.run(keeper.persist())
    removed = []
    if complete:
        if decide:
            book.removal_count()
            book.decided = True
            book.intend_removals()
            removed = [row[5] for row in book.removals()]
            book.delivered_all([Mark(book, digest(text), 0, text, GONE) for text in removed])
        asyncio.run(keeper.persist())
        asyncio.run(keeper.compact())
    keeper.close()
    return book, removed


def _uploaded_rows(store: Path) -> dict[str, tuple[int, int]]:
    """Each delta in the store: (its log rows, its present keys)."""
    import sqlite3
    found = {}
    for path in sorted((store / "vips").glob("delta-*.sqlite")):
        con = sqlite3.connect(path)
        found[path.name] = (con.execute("SELECT count(*) FROM rows").fetchone()[0],
                            con.execute("SELECT count(*) FROM present").fetchone()[0])
        con.close()
    return found


def test_a_mirror_member_delivered_again_unchanged_logs_no_row_and_is_not_removed(tmp_path: Path) -> None:
    table = table_of(tmp_path, [(digest(b"old"), digest(b"add"), 1, MEMBER), (digest(b"gone"), 0, 1, MEMBER)],
                     mirror=True)
    book = StreamBook("vips", table, 2, mirror=True, skip=False)
    again = _mark(book, b"old", b"add")
    assert book.intend([again]) is False and again.flag == PRESENT  # held as it is: nothing written ahead
    book.delivered_all([again])
    book.flush()
    assert table.logged == 0 and table.unwritten == 1  # no log row, only its key
    assert book.removal_count() == 1 and [row[0] for row in book.removals()] == [digest(b"gone")]


def test_a_mirror_resync_uploads_only_what_changed_and_its_present_keys(tmp_path: Path) -> None:
    people = [f"p{i}".encode() for i in range(2_000)]
    _mirror_sync(tmp_path, 1, people)
    _, removed = _mirror_sync(tmp_path, 2, people[1:] + [b"new"])  # one replaced
    assert removed == [b"p0"]
    # sync 2's deltas, merged into one: the new member (MAYBE, then MEMBER) and the removal (MAYBE, GONE);
    # the unchanged 199 are no rows, and no keys either (the completed sync decided its removals)
    assert list(_uploaded_rows(tmp_path).values()) == [(4, 0)]
    members, _ = ledger_members(tmp_path)
    assert members == set(people[1:] + [b"new"])
    # a retry of that completed generation removes none of what it delivered (``members_of``: 2)
    assert _mirror_sync(tmp_path, 2, [b"new"])[1] == []
    assert ledger_members(tmp_path)[0] == members


def test_a_resumed_attempt_removes_none_of_what_an_earlier_attempt_delivered_unchanged(tmp_path: Path) -> None:
    people = [f"p{i}".encode() for i in range(10)]
    _mirror_sync(tmp_path, 1, people)
    _mirror_sync(tmp_path, 2, people[:6], complete=False)  # killed after its state: 6 present keys uploaded
    assert list(_uploaded_rows(tmp_path).values()) == [(0, 6)]
    _, removed = _mirror_sync(tmp_path, 2, people[6:9])  # resumed after that state; p9 left the table
    assert removed == [b"p9"]
    _, removed = _mirror_sync(tmp_path, 2, [b"p0"])  # a retry of the completed generation: removes nothing
    assert removed == []
    _, removed = _mirror_sync(tmp_path, 3, people[1:9])
    assert removed == [b"p0"]


@pytest.mark.parametrize("size, present", [(2_000, 100), (20, 10)])  # a merged delta; a snapshot (compacted)
def test_a_completed_sync_that_decided_no_removals_keeps_its_present_keys(tmp_path: Path, size: int,
                                                                          present: int) -> None:
    people = [f"p{i}".encode() for i in range(size)]
    _mirror_sync(tmp_path, 1, people)
    _mirror_sync(tmp_path, 2, people[:present], decide=False)  # completed, its stream status INCOMPLETE
    assert list(_uploaded_rows(tmp_path).values()) == ([(0, present)] if size > 20 else [])
    _, removed = _mirror_sync(tmp_path, 2, people[present:])  # the rest, in a later attempt of generation 2
    assert removed == []


def ledger_members(store: Path) -> tuple[set, StreamBook]:
    keeper = Keeper(LocalObjects(str(store)), "", print, readonly=True)
    book = asyncio.run(keeper.open_book("vips", "vips/", None, mirror=True, skip=False, resend_after_days=30))
    members = {row[5] for row in book.table.rows() if row[4] == MEMBER}
    keeper.close()
    return members, book


def test_a_chunk_of_two_streams_is_marked_in_input_order_each_by_its_own_book(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from destination_customer_io.ledger.sync import SyncLedger
    kind = OPERATIONS["person_identify"]
    body = b'{"type":"person","attributes":{"plan":"free"},"timestamp":1700000000}'
    held = [(digest(b"person:email:a@b.co"), fingerprint(body), 1, MEMBER)]
    skipping = StreamBook("a", table_of(tmp_path / "a", held), 2, mirror=False, skip=True, clock=lambda: 200.0)
    keeping = StreamBook("b", table_of(tmp_path / "b", held), 2, mirror=False, skip=False)
    one, two = SimpleNamespace(operation=kind), SimpleNamespace(operation=kind)
    ledger = SyncLedger(None, [(one, skipping), (two, keeping)], None)  # type: ignore[arg-type, list-item]
    ops = _identify_ops([("person:email:a@b.co", body)] * 4)
    marks = ledger.filter_chunk(ops, [one, two, two, one])  # type: ignore[list-item]
    assert [mark and mark.book for mark in marks] == [None, keeping, keeping, None]
