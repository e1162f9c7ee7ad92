"""One stream's ledger during a sync: look-ups for ``skip_unchanged``, outcomes recorded, mirror removals.

    intake    mark(op)          -> Mark: key hash, print, key text (mirror), MEMBER or GONE (a removal)
              unchanged(mark)   -> True: the same print was delivered before (and recently): not sent
    pipeline  intend(marks)     -> a mirror's new members written ahead as MAYBE, before they are sent
              delivered(mark)   -> Customer.io accepted the op: a MEMBER / GONE row in the log
    the end   removals()        -> the mirror rows of earlier generations this sync did not contain

No I/O: ``keeper.py`` loads and writes the files. Only acknowledged outcomes become MEMBER or GONE, so a
crash can only make the ledger forget a delivery (it is re-sent), never claim one.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any, Callable

import numpy as np

from .table import GONE, MAYBE, MEMBER, Log, Rows, digest, merge, take

DAY = 86_400


class Mark:
    """What the ledger will record of one op once Customer.io accepts it. A plain slotted class: one is
    made per op of a ledgered stream, and a frozen dataclass costs 1.1 µs to build against 0.17."""

    __slots__ = ("book", "key", "print", "text", "flag")

    def __init__(self, book: "StreamBook", key: int, print_: int, text: bytes | None, flag: int) -> None:
        self.book = book
        self.key = key
        self.print = print_
        self.text = text
        self.flag = flag  # MEMBER, or GONE for a removal


class StreamBook:
    """The ledger of one stream for one sync (``generation``): the base as loaded, and this sync's log.

    ``skip``: the stream skips unchanged records (``resend_after`` seconds after their last send they
    are sent again). ``mirror``: an ``overwrite`` stream of a set-like operation (key texts are kept)."""

    def __init__(self, label: str, base: Rows, generation: int, *, mirror: bool, skip: bool,
                 resend_after: float = 30 * DAY, clock: Callable[[], float] = time.time) -> None:
        self.label = label
        self.base = base
        self.generation = generation
        self.mirror = mirror
        self.skip = skip
        self.resend_after = resend_after
        self.clock = clock
        self.log = Log(mirror, generation)
        self.seen = np.zeros(len(base), bool) if skip else None  # base rows met once in this sync
        self._folded = 0  # log rows already applied to ``base`` (``view``)
        self._views()
        self.unchanged_count = 0
        self.removed = 0  # removals Customer.io accepted
        self.removal_note = "no removals computed"  # why removals ran or not, for the stream summary
        # Every row Customer.io may hold, MAYBE ones too (written ahead by a sync that died): removals
        # include them, so the guard weighs removals against them as well.
        self.previous_members = int(np.count_nonzero(base.flags != GONE)) if len(base) else 0

    def _views(self) -> None:
        """Plain views of the base's columns for per-record look-ups (a numpy scalar per read is slower)."""
        base = self.base
        if self.seen is not None and len(self.seen) != len(base):
            self.seen = np.zeros(len(base), bool)  # only after ``view``: no look-up follows it
        self._keys, self._prints, self._sent, self._flags = (
            memoryview(base.keys), memoryview(base.prints), memoryview(base.sent), memoryview(base.flags))
        self._seen = memoryview(self.seen) if self.seen is not None else None

    def find(self, key: int) -> int:
        """The base row of ``key``, or -1. ``bisect`` on a memoryview of the sorted keys compares exact
        integers: numpy's ``searchsorted`` given a Python int compares in float64, casting every key per
        call (O(n)) and confusing keys closer than float64's spacing."""
        keys = self._keys
        at = bisect_left(keys, key)
        return at if at < len(keys) and keys[at] == key else -1

    def mark(self, operation: Any, op: Any) -> Mark:
        text, removes = operation.ledger_entry(op)
        return Mark(self, digest(text), digest(operation.ledger_print(op)), text if self.mirror else None,
                    GONE if removes else MEMBER)

    def unchanged(self, mark: Mark) -> bool:
        """True when ``mark``'s op was delivered with the same print less than ``resend_after`` ago and
        its key is met for the first time in this sync (a later row of one key is always sent, so the
        last row wins as it did when it was sent)."""
        row = self.find(mark.key)
        seen = self._seen
        if row < 0 or seen[row]:  # type: ignore[index]
            return False
        seen[row] = True  # type: ignore[index]
        if self._flags[row] != MEMBER or self._prints[row] != mark.print or \
                self.clock() - self._sent[row] >= self.resend_after:
            return False
        self.base.gens[row] = self.generation  # seen in this generation, though not sent again
        self.unchanged_count += 1
        return True

    def delivered(self, mark: Mark) -> None:
        self.log.append(mark.key, mark.print, self.generation, int(self.clock()), mark.flag, mark.text)

    def intend(self, marks: list[Mark]) -> bool:
        """Write ahead the mirror members about to be sent that the base does not hold as MEMBER:
        if the sync dies after Customer.io applied them, the next one still knows to remove them.
        Returns True when rows were added (the caller persists them before sending)."""
        added = False
        for mark in marks:
            if mark.flag == MEMBER:
                row = self.find(mark.key)
                if row < 0 or self._flags[row] != MEMBER:
                    self.log.append(mark.key, mark.print, self.generation, 0, MAYBE, mark.text)
                    added = True
        return added

    def view(self) -> Rows:
        """The ledger as it stands. The log rows not folded yet are applied to the base in place (the
        base becomes the merged ledger: a full resync needs no second copy of it); the log keeps its
        rows for the deltas still to be written."""
        end = len(self.log)
        if end > self._folded:
            self.base = merge(self.base, self.log.rows(self._folded, end))
            self._folded = end
            self._views()
        return self.base

    def removals(self) -> Rows:
        """Rows of earlier generations that this sync did not deliver: a mirror's removals."""
        rows = self.view()
        return take(rows, np.flatnonzero(rows.gens < np.uint32(self.generation)))

    def intend_removals(self, rows: Rows) -> None:
        """Before removals are sent: their rows become MAYBE (keeping their generation), so a crash
        while removing never leaves the ledger claiming members Customer.io no longer has."""
        for index in range(len(rows)):
            self.log.append(int(rows.keys[index]), int(rows.prints[index]), int(rows.gens[index]),
                            int(rows.sent[index]), MAYBE, rows.texts.at(index) if rows.texts else None)
