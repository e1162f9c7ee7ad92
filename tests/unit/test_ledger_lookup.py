"""StreamBook.find: the exact row of a 64-bit key hash, for keys that differ only in their lowest bits."""

from __future__ import annotations

import numpy as np

from destination_customer_io.ledger.book import Mark, StreamBook
from destination_customer_io.ledger.table import MEMBER, Rows

# Hashes above 2**53 that differ by 1: as float64 (what numpy compared in when given a Python int) they
# are one number, so the search landed on the first of them and the others were "not in the ledger".
KEYS = [2**62, 2**62 + 1, 2**62 + 2, 2**64 - 2, 2**64 - 1]


def _book(skip: bool = True) -> StreamBook:
    count = len(KEYS)
    base = Rows(np.array(KEYS, np.uint64), np.arange(count, dtype=np.uint64), np.ones(count, np.uint32),
                np.full(count, 1_000, np.uint32), np.full(count, MEMBER, np.uint8))
    return StreamBook("people", base, 2, mirror=False, skip=skip, clock=lambda: 2_000.0)


def test_find_returns_the_row_of_each_key_and_minus_one_between_them() -> None:
    book = _book()
    assert [book.find(key) for key in KEYS] == [0, 1, 2, 3, 4]
    assert [book.find(key) for key in (0, 2**62 + 3, 2**63)] == [-1, -1, -1]


def test_each_adjacent_key_with_its_print_is_unchanged() -> None:
    book = _book()
    marks = [Mark(book, key, row, None, MEMBER) for row, key in enumerate(KEYS)]
    assert [book.unchanged(mark) for mark in marks] == [True] * len(KEYS)
    assert book.seen.tolist() == [True] * len(KEYS)  # type: ignore[union-attr]
