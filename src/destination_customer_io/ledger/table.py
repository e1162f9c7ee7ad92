"""One stream's sync ledger in memory: what was last delivered, per key, and this sync's log of outcomes.

    base (sorted by key hash, one row a key)          log (this sync, in the order outcomes happened)
    key u64 | print u64 | gen u32 | sent u32 | flag u8    same columns, appended as Customer.io answers

    key    64-bit BLAKE2b of the key text (``person:email:a@b.co``; for a mirror, the removal op itself)
    print  64-bit BLAKE2b of what was sent, without the fields the operation's ``print_omits`` declares
           (identify: its ``timestamp``; ``Operation.ledger_print``)
    gen    the generation in which the key was last seen; sent: unix seconds of the last send
    flag   MEMBER (Customer.io accepted it), MAYBE (sent or being removed, not confirmed: a mirror's
           write-ahead intent), GONE (a removal Customer.io accepted)

Mirror streams also keep each key's text (``texts``: one bytes blob + offsets), from which the removal
op is rebuilt. ``merged()`` folds the log into the base (the last outcome of a key wins, GONE drops the
key): the next snapshot. Numpy arrays: 25 bytes a key in the base, 25 more for a key in the log
(figures: docs/performance.md "Ledger").
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass, field

import numpy as np

MEMBER, MAYBE, GONE = 1, 2, 3
COLUMNS = (("keys", np.uint64), ("prints", np.uint64), ("gens", np.uint32), ("sent", np.uint32),
           ("flags", np.uint8))
_ARRAY_CODES = {"keys": "Q", "prints": "Q", "gens": "I", "sent": "I", "flags": "B"}
_LOGGED = ("keys", "prints", "sent", "flags")  # a log row's generation is the sync's, with exceptions


def digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


@dataclass(slots=True)
class Texts:
    """Key texts of a mirror stream, in row order: ``blob[offsets[i]:offsets[i + 1]]``."""

    blob: bytes | bytearray = b""
    offsets: np.ndarray | array = field(default_factory=lambda: np.zeros(1, np.uint64))

    def at(self, index: int) -> bytes:
        return bytes(self.blob[int(self.offsets[index]):int(self.offsets[index + 1])])


@dataclass(slots=True)
class Rows:
    """Columns of equal length (numpy arrays), sorted by key unless said otherwise."""

    keys: np.ndarray
    prints: np.ndarray
    gens: np.ndarray
    sent: np.ndarray
    flags: np.ndarray
    texts: Texts | None = None

    @classmethod
    def empty(cls, mirror: bool) -> "Rows":
        return cls(*(np.zeros(0, kind) for _, kind in COLUMNS), texts=Texts() if mirror else None)

    def __len__(self) -> int:
        return len(self.keys)

    def columns(self) -> list[np.ndarray]:
        return [self.keys, self.prints, self.gens, self.sent, self.flags]


class Log:
    """This sync's outcomes, appended in order; ``persisted`` rows of it are already in a delta file.

    Nearly every row is of the sync's own ``generation``: only rows of another one (a mirror's removals
    written ahead keep their old generation) are kept, in ``other_gens``, which saves 4 of a row's 25
    bytes (docs/performance.md "Ledger")."""

    def __init__(self, mirror: bool, generation: int = 0) -> None:
        self.columns = {name: array(_ARRAY_CODES[name]) for name in _LOGGED}
        self.generation = generation
        self.other_gens: dict[int, int] = {}  # row -> its generation, where it is not ``generation``
        self.blob = bytearray() if mirror else None
        self.offsets = array("Q", [0]) if mirror else None
        self.persisted = 0

    def __len__(self) -> int:
        return len(self.columns["keys"])

    def append(self, key: int, print_: int, gen: int, sent: int, flag: int, text: bytes | None) -> None:
        c = self.columns
        if gen != self.generation:
            self.other_gens[len(c["keys"])] = gen
        c["keys"].append(key)
        c["prints"].append(print_)
        c["sent"].append(sent)
        c["flags"].append(flag)
        if self.blob is not None:
            self.blob += text or b""
            self.offsets.append(len(self.blob))  # type: ignore[union-attr]

    def rows(self, start: int = 0, end: int | None = None) -> Rows:
        """Rows ``start:end`` as numpy columns (log order, not sorted)."""
        end = len(self) if end is None else end
        # copies: a view would pin the arrays' buffers, and appending to a pinned array.array raises
        cols = {name: np.frombuffer(self.columns[name], kind)[start:end].copy() if len(self) else np.zeros(0, kind)
                for name, kind in COLUMNS if name in _LOGGED}
        gens = np.full(end - start, self.generation, np.uint32)
        for row, gen in self.other_gens.items():
            if start <= row < end:
                gens[row - start] = gen
        texts = None
        if self.blob is not None:
            offsets = np.frombuffer(self.offsets, np.uint64)[start:end + 1]  # type: ignore[arg-type]
            low = int(offsets[0])
            texts = Texts(bytes(self.blob[low:int(offsets[-1])]), offsets - np.uint64(low))
        return Rows(cols["keys"], cols["prints"], gens, cols["sent"], cols["flags"], texts=texts)


_GATHER_ROWS = 4_096  # rows of texts gathered per step: ~3.6 MB of byte indexes; fastest of 4k-64k measured


def take(rows: Rows, pick: np.ndarray) -> Rows:
    """Rows ``pick`` (indices) of ``rows``, texts included."""
    taken = Rows(*(column[pick] for column in rows.columns()))
    if rows.texts is not None:
        offsets = np.asarray(rows.texts.offsets, np.uint64)
        starts, ends = offsets[:-1][pick], offsets[1:][pick]
        new_offsets = np.zeros(len(pick) + 1, np.uint64)
        np.cumsum(ends - starts, out=new_offsets[1:])
        taken.texts = Texts(_gather(memoryview(rows.texts.blob), starts, ends, int(new_offsets[-1])), new_offsets)
    return taken


def _gather(blob: memoryview, starts: np.ndarray, ends: np.ndarray, size: int) -> bytearray:
    """``blob[starts[i]:ends[i]]`` for each i, end to end, into one buffer. Numpy gathers the bytes of
    ``_GATHER_ROWS`` rows at a time (an index per byte: ~8 bytes for each byte of the step, so the step
    stays small); a Python slice per row cost ~1.6 s per 1M mirror keys (docs/performance.md "Ledger")."""
    source = np.frombuffer(blob, np.uint8)
    out = bytearray(size)
    target = np.frombuffer(out, np.uint8)  # a writable view of ``out``
    at = 0
    for low in range(0, len(starts), _GATHER_ROWS):
        first = starts[low:low + _GATHER_ROWS].astype(np.int64)
        lengths = ends[low:low + _GATHER_ROWS].astype(np.int64) - first
        total = int(lengths.sum())
        placed = np.cumsum(lengths) - lengths  # where each row starts within this step
        index = np.repeat(first - placed, lengths) + np.arange(total)
        target[at:at + total] = source[index]
        at += total
    return out


def concat(first: Rows, second: Rows) -> Rows:
    rows = Rows(*(np.concatenate((a, b)) for a, b in zip(first.columns(), second.columns())))
    if first.texts is not None and second.texts is not None:
        shift = np.uint64(len(first.texts.blob))
        offsets = np.concatenate((np.asarray(first.texts.offsets, np.uint64)[:-1],
                                  np.asarray(second.texts.offsets, np.uint64) + shift))
        rows.texts = Texts(b"".join((first.texts.blob, second.texts.blob)), offsets)  # one copy, not three
    return rows


def merge(base: Rows, later: Rows) -> Rows:
    """``base`` with ``later``'s rows applied in order (the last row of a key wins; GONE removes it).

    The rows ``base`` holds are updated in place (its columns change: callers pass a base they own);
    only the keys it lacks are inserted, so a full resync sorts the log alone instead of base + log
    (the peak of a compaction: docs/performance.md "Ledger")."""
    if not len(later):
        return base
    later = last_of_each_key(later)
    at = np.searchsorted(base.keys, later.keys)  # both uint64: an exact comparison
    held = np.zeros(len(later), bool)
    inside = np.flatnonzero(at < len(base))
    held[inside] = base.keys[at[inside]] == later.keys[inside]
    rows_at = at[held]
    for column, values in zip(base.columns()[1:], later.columns()[1:]):
        column[rows_at] = values[held]
    del rows_at, inside
    new = take(later, np.flatnonzero(~held))
    del later, held, at
    if len(new):
        base = _insert(base, new)
    gone = base.flags == GONE
    return take(base, np.flatnonzero(~gone)) if gone.any() else base


def last_of_each_key(rows: Rows) -> Rows:
    """``rows`` (in the order they happened) reduced to the last row of each key, sorted by key."""
    order = np.argsort(rows.keys, kind="stable")
    keys = rows.keys[order]
    last = np.ones(len(keys), bool)
    last[:-1] = keys[1:] != keys[:-1]
    del keys
    return take(rows, order[last])


def _insert(base: Rows, new: Rows) -> Rows:
    """``new``'s rows (keys ``base`` lacks, sorted) inserted in key order, one column at a time."""
    if base.texts is not None and new.texts is not None:
        rows = concat(base, new)  # mirror streams: the texts move with their rows
        return take(rows, np.argsort(rows.keys, kind="stable"))
    where = np.searchsorted(base.keys, new.keys)
    return Rows(*(np.insert(column, where, values) for column, values in zip(base.columns(), new.columns())))
