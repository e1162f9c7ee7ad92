"""The ledger's I/O: load each stream's book at start, write deltas at state releases, compact by size.

    open_book(stream)   newest whole snapshot downloaded into a local working copy (a temp dir), its whole
                        deltas downloaded and folded in, in order -> StreamBook
    persist()           every book's log rows not yet written -> one delta file per book (before states)
    compact()           at the end of a completed sync, a book whose deltas outgrew ``COMPACT_SHARE`` of its
                        snapshot (or that has none, or a legacy one) -> its working copy uploaded as the
                        next snapshot; then the older snapshots and deltas deleted. Another book's deltas
                        of this sync become one, marked ``completed`` (what a snapshot says of its
                        generation)
    hold_removals(...)  a mirror guard's would-be removals -> a JSONL file the user can read

Files go up and down whole but in parts (``Objects.put_file`` / ``get_file``): a snapshot is never held in
memory, and a 1%-changed resync uploads its deltas only, plus one snapshot every ~10 syncs. A dry run opens
books read-only (``readonly``): look-ups happen, nothing is written. Blocking store calls run in a worker
thread; SQLite runs on the caller's. A store failure ends the sync naming the step: a TransientFailure when
it may pass (retried within the sync's budget first: ``storage/retrying.py``), else a SystemFailure.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import StoreError, store_failure
from ..storage.objects import Objects
from . import files, legacy
from .book import DAY, Mark, StreamBook
from .table import Table, write_rows

Warn = Callable[[str], None]
COMPACT_SHARE = 0.10  # deltas past 10% of the snapshot's bytes: the next completed sync compacts


@dataclass(slots=True)
class _Place:
    """Where one book's files are, which exist, and the names the next writes take."""

    directory: str
    folder: Path  # the book's local working directory
    snapshot: int  # the snapshot the book was loaded from (0: none yet)
    next_delta: int
    stale: list[str] = field(default_factory=list)  # files the next snapshot makes obsolete
    snapshot_bytes: int = 0
    delta_bytes: int = 0  # the deltas' bytes since that snapshot
    legacy: bool = False  # loaded from 0.5.0's files: the next completed sync rewrites them as SQLite
    persisted: int = 0  # log rows already in a delta file
    written: dict[str, int] = field(default_factory=dict)  # this sync's delta files -> their bytes
    members_of: int = 0  # a mirror: the newest ``members_of`` the files name (book.py)


class Keeper:
    """The ledger files of one sync: one directory per stream under ``prefix`` in ``objects``."""

    def __init__(self, objects: Objects, prefix: str, warn: Warn, *, readonly: bool = False) -> None:
        self.objects = objects
        self.prefix = prefix
        self.warn = warn
        self.readonly = readonly
        self.books: list[StreamBook] = []
        self._places: dict[int, _Place] = {}
        self._lock = asyncio.Lock()
        self._work = tempfile.TemporaryDirectory(prefix="cio-ledger-")  # removed by close(), or at exit

    async def _io(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args)
        except StoreError as exc:
            raise store_failure(exc, "The sync ledger could not be read or written") from None

    def where(self, directory: str) -> str:
        return f"{self.objects.root}/{self.prefix}{directory}"

    def close(self) -> None:
        """Each working copy closed and the temp dir removed (the store keeps the ledger)."""
        for book in self.books:
            book.table.close()
        self._work.cleanup()

    async def open_book(self, label: str, directory: str, generation: int | None, *, mirror: bool,
                        skip: bool, resend_after_days: float, counted_on: bool = False) -> StreamBook:
        table, place, (completed, last_generation) = await self._load(directory, mirror)
        this = this_generation(generation, completed, last_generation, counted_on=counted_on)
        if mirror and generation is not None and this == generation and 0 < generation <= completed:
            self.warn(f"Stream {label}: generation_id {generation} is not newer than the last completed sync's "
                      f"({completed}), so this sync is taken as a retry of it and removes none of what that "
                      "sync delivered. A script re-running one catalog should leave generation_id out or "
                      "bump it, or set mirror_without_stream_status: true.")
        book = StreamBook(label, table, this, mirror=mirror, skip=skip, resend_after=resend_after_days * DAY)
        book.members_of = place.members_of
        self.books.append(book)
        self._places[id(book)] = place
        return book

    async def _load(self, directory: str, mirror: bool) -> tuple[Table, _Place, tuple[int, int]]:
        """The stream's working copy, its place, and (the generation of the last completed sync, the
        newest generation any file names)."""
        keys = await self._io(self.objects.list, self.prefix + directory)
        listing = files.Listing.of([key[len(self.prefix):] for key in keys])
        folder = Path(tempfile.mkdtemp(dir=self._work.name))
        place = _Place(directory, folder, 0, 1, stale=listing.all())
        table, last_generation = None, 0
        for seq in sorted(listing.snapshots, reverse=True):
            found = await self._fetch(listing.snapshots[seq], mirror, folder)
            if found is not None:
                (meta, path), place.snapshot = found, seq
                place.legacy = files.is_legacy(listing.snapshots[seq])
                place.snapshot_bytes = path.stat().st_size
                table = _table(folder, mirror, meta, path)
                last_generation = int(meta.get("generation", 0))
                place.members_of = int(meta.get("members_of", 0))
                break
        table = table or Table(folder, mirror)
        completed = last_generation
        for (base, number), key in sorted(listing.deltas.items()):
            if base != place.snapshot:
                continue
            place.next_delta = number + 1
            found = await self._fetch(key, mirror, folder)
            if found is not None:
                place.delta_bytes += found[1].stat().st_size
                place.legacy |= files.is_legacy(key)
                table.fold_file(found[1], int(found[0].get("generation", 0)))
                found[1].unlink()
                last_generation = max(last_generation, int(found[0].get("generation", 0)))
                place.members_of = max(place.members_of, int(found[0].get("members_of", 0)))
                if found[0].get("completed"):  # a completed sync that left its deltas uncompacted
                    completed = max(completed, int(found[0].get("generation", 0)))
        return table, place, (completed, last_generation)

    async def _fetch(self, key: str, mirror: bool, folder: Path) -> tuple[dict, Path] | None:
        """One file downloaded and checked: (its meta, a local SQLite file of its rows), or None with a
        warning when it is not whole or was written for another mode (its deliveries are re-sent)."""
        path = folder / "download.sqlite"
        if not await self._io(self.objects.get_file, self.prefix + key, path):
            return None
        try:
            meta = _legacy_rows(path, mirror) if files.is_legacy(key) else files.verify(path, key)
        except files.Unreadable as exc:
            self.warn(f"Ignored ledger file {self.objects.root}/{self.prefix}{key}: {exc}. The deliveries it "
                      "listed are forgotten and will be sent again.")
            return None
        if bool(meta.get("mirror")) != mirror:
            self.warn(f"Ignored ledger file {key}: it was written for a stream in another mode.")
            return None
        return meta, path

    async def persist(self) -> None:
        """Every book's unwritten log rows, as one delta file per book; returns when they are durable."""
        if self.readonly:
            return
        async with self._lock:
            for book in self.books:
                book.flush()
                if book.table.logged != self._places[id(book)].persisted or book.table.unwritten:
                    await self._put_delta(book, self._meta(book, "delta"))

    async def _put_delta(self, book: StreamBook, meta: dict, start: int | None = None) -> None:
        """The log rows after ``start`` (default: those not in a delta yet) as the next delta file; a
        mirror's present keys not in a delta yet, or from ``start`` on all of this sync's unless it decided
        its removals (``members_of`` then says as much of them)."""
        place, end = self._places[id(book)], book.table.logged
        path = self._write_delta(book, meta, start)
        name = place.directory + files.delta_name(place.snapshot, place.next_delta, files.checksum(path))
        await self._io(self.objects.put_file, self.prefix + name, path)
        place.delta_bytes += path.stat().st_size
        place.written[name] = path.stat().st_size
        place.next_delta += 1
        place.stale.append(name)
        place.persisted = end

    def _write_delta(self, book: StreamBook, meta: dict, start: int | None) -> Path:
        """The delta file ``_put_delta`` uploads, written locally."""
        place = self._places[id(book)]
        path = place.folder / "delta.sqlite"
        every = None if start is None else (-1 if book.decided else book.generation)
        book.table.write_delta(path, place.persisted if start is None else start, meta, present=every)
        return path

    def _merged_bytes(self, book: StreamBook) -> int:
        """The deltas' bytes once this sync's are merged into one (``_consolidate``): a mirror's present
        keys, uploaded at its states, then weigh nothing when the sync decided its removals."""
        place = self._places[id(book)]
        merged = self._write_delta(book, self._meta(book, "delta"), 0).stat().st_size
        return place.delta_bytes - sum(place.written.values()) + merged

    async def _consolidate(self, book: StreamBook) -> None:
        """A completed sync's deltas, one a state release, as one delta of all its log rows marked
        ``completed``; then the small ones deleted (the next sync downloads one file, not one a state). A
        crash in between leaves both: folding the same rows twice in order gives the same ledger."""
        place = self._places[id(book)]
        mine = list(place.written)
        await self._put_delta(book, {**self._meta(book, "delta"), "completed": 1}, start=0)
        await self._io(self.objects.delete, [self.prefix + name for name in mine])
        place.delta_bytes -= sum(place.written.pop(name) for name in mine)
        place.stale = [name for name in place.stale if name not in mine]

    @staticmethod
    def _meta(book: StreamBook, kind: str) -> dict:
        return {"kind": kind, "stream": book.label, "generation": book.generation, "mirror": int(book.mirror),
                "members_of": book.members_of, "written_at": _now()}

    async def write_ahead(self, marks: Iterable[Mark]) -> None:
        """A mirror's new members, written to the ledger as MAYBE (durably) before they are sent (a
        read-only ledger, a dry run's, sends nothing, so it intends nothing)."""
        if self.readonly:
            return
        found: dict[StreamBook, list[Mark]] = {}
        for mark in marks:
            if mark.book.mirror:
                found.setdefault(mark.book, []).append(mark)
        if found and any([book.intend(group) for book, group in found.items()]):
            await self.persist()

    async def compact(self) -> None:
        """A book due for it (``due``): its working copy becomes the next snapshot; the files it replaces
        are deleted afterwards (a crash in between leaves deltas of the older snapshot, which loading
        ignores)."""
        if self.readonly:
            return
        async with self._lock:
            for book in self.books:
                place = self._places[id(book)]
                if book.decided:  # its removals were all answered: what it did not remove was in its input
                    book.members_of = book.generation
                book.flush()
                # not due: one delta of the sync, which says it completed (``completed`` at load)
                if not due(place, partial(self._merged_bytes, book)):
                    await self._consolidate(book)
                    continue
                path = book.table.snapshot(self._meta(book, "snapshot"))
                written = place.directory + files.snapshot_name(place.snapshot + 1, files.checksum(path))
                await self._io(self.objects.put_file, self.prefix + written, path)
                await self._io(self.objects.delete, [self.prefix + key for key in place.stale if key != written])
                place.snapshot, place.next_delta, place.stale = place.snapshot + 1, 1, [written]
                place.snapshot_bytes, place.delta_bytes, place.legacy = path.stat().st_size, 0, False

    def scratch(self, book: StreamBook, name: str) -> Path:
        """A local file beside the book's working copy (a guard's held removals, before they go up)."""
        return self._places[id(book)].folder / name

    async def hold_removals(self, book: StreamBook, path: Path) -> str:
        """The removals a guard held back (``path``: one JSON line each); returns where the file is."""
        place = self._places[id(book)]
        name = f"{place.directory}removals-held-{datetime.now(timezone.utc):%Y%m%dT%H%M%S.%fZ}.jsonl"
        await self._io(self.objects.put_file, self.prefix + name, path)
        return f"{self.objects.root}/{self.prefix}{name}"

    async def allowance(self, book: StreamBook) -> int:
        """Removals ``ledger allow-removals`` permits for this stream's next sync (0: none)."""
        key = self.prefix + self._places[id(book)].directory + ALLOW
        data = await self._io(self.objects.get, key)
        try:
            return int(json.loads(data)["removals"]) if data else 0
        except (ValueError, KeyError, TypeError):
            self.warn(f"Ignored {self.objects.root}/{key}: not an allowance written by `ledger allow-removals`.")
            return 0

    async def use_allowance(self, book: StreamBook) -> None:
        if not self.readonly:
            await self._io(self.objects.delete, [self.prefix + self._places[id(book)].directory + ALLOW])


ALLOW = "allow-removals.json"


def due(place: _Place, merged: Callable[[], int]) -> bool:
    """Compact: no SQLite snapshot yet, or the deltas since it past ``COMPACT_SHARE`` of its bytes, both
    as uploaded and once this sync's are merged (``merged``: written locally only when it may decide)."""
    if place.snapshot == 0 or place.legacy:
        return True
    limit = COMPACT_SHARE * place.snapshot_bytes
    return place.delta_bytes > limit and merged() > limit


def _table(folder: Path, mirror: bool, meta: dict, path: Path) -> Table:
    """The working copy from a downloaded snapshot: the file itself, or a legacy one's rows folded in."""
    if meta.get("legacy"):
        table = Table(folder, mirror)
        table.fold_file(path)
        path.unlink()
        return table
    return Table(folder, mirror, base=path)


def _legacy_rows(path: Path, mirror: bool) -> dict:
    """A 0.5.0 file (``legacy.py``) rewritten in place as a SQLite file of its rows; its header."""
    header, rows = legacy.decode(path.read_bytes())
    if bool(header.get("mirror")) == mirror:
        path.unlink()
        write_rows(path, mirror, {}, rows)
    return {**header, "legacy": True}


async def load_rows(objects: Objects, prefix: str, directory: str, mirror: bool, warn: Warn
                    ) -> tuple[Keeper, StreamBook]:
    """One stream directory loaded as a sync would, read-only (``ledger show``): the keeper (close it
    after use) and the book, whose generation is the one a sync would take."""
    keeper = Keeper(objects, prefix, warn, readonly=True)
    book = await keeper.open_book(directory, directory, None, mirror=mirror, skip=False, resend_after_days=30)
    return keeper, book


def this_generation(given: int | None, completed: int, newest: int, *, counted_on: bool) -> int:
    """This sync's generation. Airbyte's ``generation_id`` as given: attempts of one sync share it, and
    an attempt may follow one that completed (its source failed after the connector was done) and
    resume after the last state, so a generation_id the ledger already completed is a retry, not a new
    sync. ``counted_on`` (``mirror_without_stream_status``: input no platform resumes, such as PyAirbyte,
    which always sends generation_id 1): a generation_id that is not newer than the last completed
    sync's is counted on instead, one more than the newest the ledger saw; so is a missing one."""
    if given is not None and (given > completed or not counted_on):
        return given
    return newest + 1


def _now() -> str:
    return datetime.fromtimestamp(time.time(), timezone.utc).isoformat(timespec="seconds")
