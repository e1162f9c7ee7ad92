"""The sync ledger's pieces: prints, merge, the file format (half-written files ignored), the keeper's
load / persist / compact cycle, look-ups and write-ahead intents."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from destination_customer_io.ledger import files
from destination_customer_io.ledger.book import Mark, StreamBook
from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.ledger.table import GONE, MAYBE, MEMBER, Log, Rows, digest, merge
from destination_customer_io.operations import OPERATIONS
from destination_customer_io.operations.base import Op
from destination_customer_io.storage.objects import LocalObjects


def rows_of(entries: list[tuple[int, int, int, int]], mirror: bool = False) -> Rows:
    log = Log(mirror)
    for key, print_, gen, flag in entries:
        log.append(key, print_, gen, 100, flag, f"text-{key}".encode() if mirror else None)
    return log.rows()


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


def test_merge_keeps_the_last_row_of_a_key_and_drops_removed_keys() -> None:
    base = merge(Rows.empty(True), rows_of([(5, 1, 1, MEMBER), (3, 1, 1, MEMBER), (9, 1, 1, MEMBER)], True))
    assert base.keys.tolist() == [3, 5, 9] and [base.texts.at(i) for i in range(3)] == [b"text-3", b"text-5", b"text-9"]
    later = rows_of([(5, 2, 2, MEMBER), (9, 1, 2, GONE), (7, 1, 2, MAYBE), (5, 3, 2, MEMBER)], True)
    merged = merge(base, later)
    assert merged.keys.tolist() == [3, 5, 7]
    assert merged.prints.tolist() == [1, 3, 1] and merged.gens.tolist() == [1, 2, 2]
    assert merged.flags.tolist() == [MEMBER, MEMBER, MAYBE]
    assert [merged.texts.at(i) for i in range(3)] == [b"text-3", b"text-5", b"text-7"]


def test_a_file_round_trips_and_a_half_written_one_is_refused() -> None:
    rows = merge(Rows.empty(True), rows_of([(1, 2, 3, MEMBER), (4, 5, 6, MAYBE)], True))
    data = files.encode(rows, {"kind": "snapshot", "generation": 6})
    header, back = files.decode(data)
    assert header["generation"] == 6 and header["rows"] == 2
    assert [c.tolist() for c in back.columns()] == [c.tolist() for c in rows.columns()]
    assert back.texts.at(1) == b"text-4"
    with pytest.raises(files.Unreadable, match="half-written"):
        files.decode(data[:-3])
    flipped = bytearray(data)
    flipped[-1] ^= 1
    with pytest.raises(files.Unreadable, match="half-written"):
        files.decode(bytes(flipped))
    with pytest.raises(files.Unreadable):
        files.decode(b"not a ledger")


def _book(keeper: Keeper, generation: int | None = None, mirror: bool = False) -> StreamBook:
    return asyncio.run(keeper.open_book("users", "users/", generation, mirror=mirror, skip=True,
                                        resend_after_days=30))


def _mark(book: StreamBook, key: bytes, body: bytes, flag: int = MEMBER) -> Mark:
    return Mark(book, digest(key), digest(body), key if book.mirror else None, flag)


def test_the_keeper_persists_deltas_loads_them_and_compacts(tmp_path: Path) -> None:
    warnings: list[str] = []
    keeper = Keeper(LocalObjects(str(tmp_path)), "scope/", warnings.append)
    book = _book(keeper)
    assert book.generation == 1 and len(book.base) == 0
    for n in range(3):
        book.delivered(_mark(book, f"k{n}".encode(), b"{}"))
    asyncio.run(keeper.persist())
    book.delivered(_mark(book, b"k9", b"{}"))
    asyncio.run(keeper.persist())
    names = sorted(p.name for p in (tmp_path / "scope/users").iterdir())
    assert names == ["delta-00000000-00000001.ldg", "delta-00000000-00000002.ldg"]
    # a crash here: the next sync loads both deltas (generation 2: one more than the last seen)
    again = _book(Keeper(LocalObjects(str(tmp_path)), "scope/", warnings.append))
    assert len(again.base) == 4 and again.generation == 2
    # a half-written delta is ignored with a warning: it only forgets deliveries
    (tmp_path / "scope/users/delta-00000000-00000003.ldg").write_bytes(files.MAGIC + b'{"body_bytes": 99}\n12')
    keeper2 = Keeper(LocalObjects(str(tmp_path)), "scope/", warnings.append)
    third = _book(keeper2)
    assert len(third.base) == 4 and "half-written" in warnings[-1]
    asyncio.run(keeper2.compact())
    assert sorted(p.name for p in (tmp_path / "scope/users").iterdir()) == ["snapshot-00000001.ldg"]
    assert len(_book(Keeper(LocalObjects(str(tmp_path)), "scope/", warnings.append)).base) == 4


def test_deltas_of_an_older_snapshot_are_ignored(tmp_path: Path) -> None:
    keeper = Keeper(LocalObjects(str(tmp_path)), "", print)
    book = _book(keeper)
    book.delivered(_mark(book, b"a", b"{}"))
    asyncio.run(keeper.persist())
    stale = (tmp_path / "users/delta-00000000-00000001.ldg").read_bytes()
    asyncio.run(keeper.compact())
    # a crash between writing snapshot 1 and deleting the delta it folded in leaves the delta behind
    (tmp_path / "users/delta-00000000-00000001.ldg").write_bytes(stale.replace(b'"generation": 1', b'"generation": 9'))
    loaded = _book(Keeper(LocalObjects(str(tmp_path)), "", print))
    assert len(loaded.base) == 1 and loaded.generation == 2  # the stale delta's generation 9 is not read


def test_unchanged_only_for_the_first_row_of_a_key_with_the_same_print() -> None:
    now = [1_000_000.0]
    base = merge(Rows.empty(False), rows_of([(digest(b"a"), digest(b'{"x":1}'), 1, MEMBER)]))
    base.sent[:] = 999_000
    book = StreamBook("users", base, 2, mirror=False, skip=True, resend_after=2_000, clock=lambda: now[0])
    assert book.unchanged(_mark(book, b"a", b'{"x":1}')) is True
    assert book.unchanged(_mark(book, b"a", b'{"x":1}')) is False  # a second row of the key is sent
    assert book.base.gens.tolist() == [2] and book.unchanged_count == 1
    fresh = StreamBook("users", base, 3, mirror=False, skip=True, resend_after=500, clock=lambda: now[0])
    assert fresh.unchanged(_mark(fresh, b"a", b'{"x":1}')) is False  # sent 1,000 s ago: older than 500 s
    other = StreamBook("users", base, 3, mirror=False, skip=True, clock=lambda: now[0])
    assert other.unchanged(_mark(other, b"a", b'{"x":2}')) is False
    assert other.unchanged(_mark(other, b"b", b'{"x":1}')) is False


def test_write_ahead_covers_new_members_and_removals_keep_their_generation() -> None:
    base = merge(Rows.empty(True), rows_of([(digest(b"old"), 0, 1, MEMBER), (digest(b"gone"), 0, 1, MEMBER)], True))
    book = StreamBook("vips", base, 2, mirror=True, skip=False)
    assert book.intend([_mark(book, b"old", b"1")]) is False  # already a member: nothing to write ahead
    assert book.intend([_mark(book, b"new", b"1")]) is True
    book.delivered(_mark(book, b"old", b"1"))
    book.delivered(_mark(book, b"new", b"1"))
    removals = book.removals()
    assert removals.keys.tolist() == [digest(b"gone")] and removals.gens.tolist() == [1]
    book.intend_removals(removals)
    flags = dict(zip(book.view().keys.tolist(), book.view().flags.tolist()))
    assert flags == {digest(b"old"): MEMBER, digest(b"new"): MEMBER, digest(b"gone"): MAYBE}
    gone = book.view()
    assert int(gone.gens[gone.keys.tolist().index(digest(b"gone"))]) == 1  # still an earlier generation
    book.delivered(Mark(book, digest(b"gone"), 0, b"gone", GONE))
    assert sorted(book.view().keys.tolist()) == sorted([digest(b"old"), digest(b"new")])
    assert np.all(book.view().flags == MEMBER)


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

_ROWS = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), st.sampled_from([MEMBER, MAYBE, GONE])),
                 max_size=60)


@settings(max_examples=200, deadline=None)
@given(_ROWS, _ROWS, st.booleans())
def test_merge_equals_applying_each_row_in_order(first: list, second: list, mirror: bool) -> None:
    """The in-place merge against the plain meaning: a dict updated row by row, GONE deleting."""
    expected: dict[int, tuple[int, int]] = {}
    for key, print_, flag in first + second:
        if flag == GONE:
            expected.pop(key, None)
        else:
            expected[key] = (print_, flag)

    def rows(entries: list) -> Rows:
        log = Log(mirror)
        for key, print_, flag in entries:
            log.append(key, print_, 1, 1, flag, f"t{key}".encode() if mirror else None)
        return log.rows()

    merged = merge(merge(Rows.empty(mirror), rows(first)), rows(second))
    got = {int(k): (int(p), int(f)) for k, p, f in zip(merged.keys, merged.prints, merged.flags)}
    assert got == expected and merged.keys.tolist() == sorted(expected)
    if mirror:
        assert [merged.texts.at(i) for i in range(len(merged))] == [f"t{k}".encode() for k in sorted(expected)]
