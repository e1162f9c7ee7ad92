"""One stream's ledger during a sync: look-ups for ``skip_unchanged``, outcomes recorded, mirror removals.

    intake    mark(op)            -> Mark: key hash, print, key text (mirror), MEMBER or GONE (a removal)
              unchanged(marks)    -> per mark of a chunk, True: delivered with the same print before (and
                                     recently): not sent. One query for the chunk's keys (table.py)
    pipeline  intend(marks)       -> a mirror's new members written ahead as MAYBE, before they are sent
              delivered_all(marks) -> Customer.io accepted a batch's ops: MEMBER / GONE rows in the log
    the end   removals()          -> the mirror rows of earlier generations this sync did not contain

No store I/O: ``keeper.py`` loads and writes the files; the rows live in the stream's SQLite working copy
(``table.py``), this sync's log rows reach it ``PART`` at a time. Only acknowledged outcomes become MEMBER
or GONE, so a crash can only make the ledger forget a delivery (it is re-sent), never claim one.
"""

from __future__ import annotations

import time
from hashlib import blake2b as _blake2b
from typing import Any, Callable, Iterator

from .table import GONE, MAYBE, MEMBER, PART, PRESENT, Run, Table

DAY = 86_400
_signed = int.from_bytes


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

    def mark(self, operation: Any, op: Any) -> Mark:
        text, removes = operation.ledger_entry(op)
        # table.digest, inlined: two per op of a ledgered stream
        key = _signed(_blake2b(text, digest_size=8).digest(), "little", signed=True)
        print_ = _signed(_blake2b(operation.ledger_print(op), digest_size=8).digest(), "little", signed=True)
        return Mark(self, key, print_, text if self.mirror else None, GONE if removes else MEMBER)

    def unchanged(self, marks: list[Mark]) -> list[bool]:
        """Per mark (a chunk's, in input order): True when its op was delivered with the same print less
        than ``resend_after`` ago and no earlier row of its key was sent in this sync (after a changed row
        is sent, a later row is sent too, so the last row wins as it did when it was sent; a row like the
        one skipped before it is skipped again). One query for the chunk's keys; the keys the ledger holds
        and this chunk sends are remembered (``table.met``): few, in a resync where few changed."""
        found = {row[0]: row for row in self.table.look_up(sorted({mark.key for mark in marks}))}
        if not found:
            return [False] * len(marks)
        fresh, sent, skips = self.clock() - self.resend_after, set(), []
        for mark in marks:
            row = found.get(mark.key)
            if row is None:
                skips.append(False)
            elif row[3] == MEMBER and row[1] == mark.print and row[2] > fresh and row[4] is None and \
                    mark.key not in sent:
                skips.append(True)
            else:
                sent.add(mark.key)
                skips.append(False)
        self.table.met(sorted(sent))
        self.unchanged_count += sum(skips)
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
