"""One stream's ledger during a sync: look-ups for ``skip_unchanged``, outcomes recorded, mirror removals.

    intake    marks(operation, ops) -> per op of a chunk, its Mark (key hash, print, key text (mirror),
                                     MEMBER or GONE (a removal)), or None: skipped, unchanged
              unchanged(keys, prints) -> per op, True: delivered with the same print before (and
                                     recently): not sent. One query for the chunk's keys (table.py)
    pipeline  intend(marks)       -> a mirror's new members written ahead as MAYBE, before they are sent
              delivered_all(marks) -> Customer.io accepted a batch's ops: MEMBER / GONE rows in the log
    the end   removals()          -> the mirror rows of earlier generations this sync did not contain

No store I/O: ``keeper.py`` loads and writes the files; the rows live in the stream's SQLite working copy
(``table.py``), this sync's log rows reach it ``PART`` at a time. Only acknowledged outcomes become MEMBER
or GONE, so a crash can only make the ledger forget a delivery (it is re-sent), never claim one.
"""

from __future__ import annotations

import struct
import time
from hashlib import blake2b as _blake2b
from typing import Any, Callable, Iterator

from .table import GONE, MAYBE, MEMBER, PART, PRESENT, Run, Table

DAY = 86_400


_EMPTY = _blake2b(digest_size=8)


def _digest(data: bytes) -> bytes:
    hasher = _EMPTY.copy()  # a copy of a fresh hasher: cheaper than parsing blake2b's arguments per call
    hasher.update(data)
    return hasher.digest()


def digests(data: list[bytes]) -> tuple[int, ...]:
    """``table.digest`` of each of ``data``: the 8-byte digests joined, read as signed integers at once."""
    return struct.unpack(f"<{len(data)}q", b"".join([_digest(each) for each in data]))


class Mark:
    """What the ledger will record of one op once Customer.io accepts it. A plain slotted class: one is
    made per op of a ledgered stream, and a frozen dataclass costs 1.1 µs to build against 0.17."""

    __slots__ = ("book", "key", "print", "text", "flag")

    def __init__(self, book: "StreamBook", key: int, print_: int, text: bytes | None, flag: int) -> None:
        self.book = book
        self.key = key
        self.print = print_
        self.text = text
        self.flag = flag  # MEMBER, or GONE for a removal; PRESENT: a mirror member held as it is


class StreamBook:
    """The ledger of one stream for one sync (``generation``): its working copy, and this sync's log.

    ``skip``: the stream skips unchanged records (``resend_after`` seconds after their last send they
    are sent again). ``mirror``: an ``overwrite`` stream of a set-like operation (key texts are kept)."""

    def __init__(self, label: str, table: Table, generation: int, *, mirror: bool, skip: bool,
                 resend_after: float = 30 * DAY, clock: Callable[[], float] = time.time) -> None:
        self.label = label
        self.table = table
        self.generation = generation
        self.mirror = mirror
        self.skip = skip
        self.resend_after = resend_after
        self.clock = clock
        self._pending: list[Run] = []  # log rows not yet in the table (written PART at a time)
        self._unlogged = 0  # the rows of those runs
        self._present: list[int] = []  # a mirror's keys delivered again unchanged, not yet in the table
        # A mirror: every MEMBER row was in this generation's input (the last sync that decided removals
        # and completed), set by the keeper; ``decided``: this sync decided its removals
        self.members_of = 0
        self.decided = False
        self.unchanged_count = 0
        self.removed = 0  # removals Customer.io accepted
        self.removal_note = "no removals computed"  # why removals ran or not, for the stream summary
        # Every row Customer.io may hold, MAYBE ones too (written ahead by a sync that died): removals
        # include them, so the guard weighs removals against them as well.
        self.previous_members = table.count(f"flag != {GONE}") if mirror else 0
        # The ledger holds a key to look up: its rows change only when this sync's log is folded in, at
        # the end (removals, compaction), so a first sync makes no look-up
        self.holding = skip and table.holds_any()

    def marks(self, operation: Any, ops: list) -> list[Mark | None]:
        """Per op of ``ops`` (a chunk's ops of this stream, in input order): its Mark, or None when it is
        skipped (``skip`` and ``unchanged``). No Mark is built for an op skipped."""
        texts, removes = operation.ledger_entries(ops)
        keys, prints = digests(texts), digests(operation.ledger_prints(ops))
        skips = self.unchanged(keys, prints) if self.skip else None
        texts = texts if self.mirror else [None] * len(ops)
        flags = [MEMBER] * len(ops) if removes is None else [GONE if gone else MEMBER for gone in removes]
        if skips is None:
            return [Mark(self, key, print_, text, flag) for key, print_, text, flag in zip(keys, prints, texts, flags)]
        return [None if skip else Mark(self, key, print_, text, flag)
                for skip, key, print_, text, flag in zip(skips, keys, prints, texts, flags)]

    def unchanged(self, keys: tuple[int, ...], prints: tuple[int, ...]) -> list[bool] | None:
        """Per (key, print) (a chunk's, in input order): True when its op was delivered with the same print
        less than ``resend_after`` ago and no earlier row of its key was sent in this sync (after a changed
        row is sent, a later row is sent too, so the last row wins as it did when it was sent; a row like
        the one skipped before it is skipped again). None: the ledger holds none of them (nothing is
        looked up while it holds no key: a first sync). One query for the chunk's keys; the keys the ledger
        holds and this chunk sends are remembered (``table.met``): few, in a resync where few changed."""
        if not self.holding:
            return None
        found = self.table.look_up(keys, self.clock() - self.resend_after)  # per key: a print, HELD or None
        if found.count(None) == len(found):
            return None
        skips = [each == print_ for each, print_ in zip(found, prints)]
        if len(set(keys)) < len(keys):  # a key twice in the chunk: once a row of it is sent, every later one
            sent: set[int] = set()
            for place, key in enumerate(keys):
                if not skips[place]:
                    sent.add(key)
                elif key in sent:
                    skips[place] = False
        self.table.met(sorted({key for key, each, skip in zip(keys, found, skips) if not skip and each is not None}))
        self.unchanged_count += skips.count(True)
        return skips

    def holds(self, key: int) -> bool:
        return self.table.row(key) is not None

    def delivered(self, mark: Mark) -> None:
        self.delivered_all([mark])

    def delivered_all(self, marks: list[Mark]) -> None:
        """Customer.io accepted these ops (a batch's): MEMBER / GONE rows in the log."""
        if self.mirror:
            self._present += [m.key for m in marks if m.flag == PRESENT]
            rows = [(m.key, m.print, m.flag, m.text) for m in marks if m.flag != PRESENT]
            if len(self._present) >= PART:
                self.flush()
        else:
            rows = [(m.key, m.print, m.flag) for m in marks]
        self._log((self.generation, int(self.clock())), rows)

    def _log(self, shared: tuple[int, int] | None, rows: list[tuple]) -> None:
        """A run of log rows (``Table.log``), written with those before it once they make ``PART``."""
        if rows:
            self._pending.append((shared, rows))
            self._unlogged += len(rows)
            if self._unlogged >= PART:
                self.flush()

    def flush(self) -> None:
        """The log rows gathered so far into the working copy (before a delta is written)."""
        runs, self._pending, self._unlogged = self._pending, [], 0
        self.table.log(runs)
        keys, self._present = self._present, []
        self.table.present(keys, self.generation)

    def intend(self, marks: list[Mark]) -> bool:
        """Write ahead the mirror members about to be sent that the ledger does not hold as MEMBER:
        if the sync dies after Customer.io applied them, the next one still knows to remove them. Those
        it holds as MEMBER with the same print become PRESENT: once accepted, only their key is kept
        (``work.present``), no log row, so a resync where few changed uploads few rows.
        Returns True when rows were added (the caller persists them before sending)."""
        adding = [mark for mark in marks if mark.flag == MEMBER]
        held = self.table.flags([mark.key for mark in adding]) if adding else {}
        rows = []
        for mark in adding:
            flag, print_ = held.get(mark.key, (None, None))
            if flag == MEMBER:
                if print_ == mark.print:
                    mark.flag = PRESENT
            else:
                rows.append((mark.key, mark.print, MAYBE, mark.text))
        self._log((self.generation, 0), rows)
        return bool(rows)

    def removal_count(self) -> int:
        """How many rows this sync's input did not hold: a mirror's removals. The log is folded in
        first (rows delivered in this sync carry its generation; those delivered unchanged are
        ``present``)."""
        self.flush()
        self.table.fold_log()
        return self.table.absent(self.generation, self.members_of)

    def removals(self) -> Iterator[tuple]:
        """Those rows (key, print, gen, sent, flag, text), in key order, a part at a time."""
        return self.table.older(self.generation, self.members_of)

    def intend_removals(self) -> int:
        """Before removals are sent: their rows become MAYBE (keeping their generation), so a crash
        while removing never leaves the ledger claiming members Customer.io no longer has."""
        count, rows = 0, []
        for key, print_, gen, sent, _, text in self.removals():
            rows.append((key, print_, gen, sent, MAYBE, text))
            count += 1
            if len(rows) == PART:  # the next part is read after these are written: never listed whole
                self._log(None, rows)
                rows = []
        self._log(None, rows)
        return count
