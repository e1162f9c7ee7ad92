"""The ledger's I/O: load each stream's book at start, write deltas at state releases, compact at the end.

    open_book(stream)   newest readable snapshot + its readable deltas, in order -> StreamBook
    persist()           every book's log rows not yet written -> one delta file per book (before states)
    compact()           each book's view -> the next snapshot; then older snapshots and deltas deleted
    hold_removals(...)  a mirror guard's would-be removals -> a JSONL file the user can read

A dry run opens books read-only (``readonly``): look-ups happen, nothing is written. Blocking store calls
run in a worker thread; a store failure ends the sync naming the step: a TransientFailure when it may pass
(retried within the sync's budget first: ``storage/retrying.py``), else a SystemFailure.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from ..errors import StoreError, store_failure
from ..storage.objects import Objects
from . import files
from .book import DAY, Mark, StreamBook
from .table import Rows, merge

Warn = Callable[[str], None]


@dataclass(slots=True)
class _Place:
    """Where one book's files are, which exist, and the names the next writes take."""

    directory: str
    snapshot: int  # the snapshot the book was loaded from (0: none yet)
    next_delta: int
    stale: list[str] = field(default_factory=list)  # files the next snapshot makes obsolete


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

    async def _io(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args)
        except StoreError as exc:
            raise store_failure(exc, "The sync ledger could not be read or written") from None

    def where(self, directory: str) -> str:
        return f"{self.objects.root}/{self.prefix}{directory}"

    async def open_book(self, label: str, directory: str, generation: int | None, *, mirror: bool,
                        skip: bool, resend_after_days: float, counted_on: bool = False) -> StreamBook:
        rows, place, (completed, last_generation) = await self._load(directory, mirror)
        this = this_generation(generation, completed, last_generation, counted_on=counted_on)
        if mirror and generation is not None and this == generation and 0 < generation <= completed:
            self.warn(f"Stream {label}: generation_id {generation} is not newer than the last completed sync's "
                      f"({completed}), so this sync is taken as a retry of it and removes none of what that "
                      "sync delivered. A script re-running one catalog should leave generation_id out or "
                      "bump it, or set mirror_without_stream_status: true.")
        book = StreamBook(label, rows, this, mirror=mirror, skip=skip, resend_after=resend_after_days * DAY)
        self.books.append(book)
        self._places[id(book)] = place
        return book

    async def _load(self, directory: str, mirror: bool) -> tuple[Rows, _Place, tuple[int, int]]:
        """The stream's rows, its place, and (the generation of the last completed sync, the newest
        generation any file names)."""
        keys = await self._io(self.objects.list, self.prefix + directory)
        listing = files.Listing.of([key[len(self.prefix):] for key in keys])
        rows, snapshot, last_generation = Rows.empty(mirror), 0, 0
        for seq in sorted(listing.snapshots, reverse=True):
            found = await self._read(listing.snapshots[seq], mirror)
            if found is not None:
                (header, rows), snapshot = found, seq
                last_generation = int(header.get("generation", 0))
                break
        completed = last_generation
        place = _Place(directory, snapshot, 1, stale=listing.all())
        for (base, number), key in sorted(listing.deltas.items()):
            if base != snapshot:
                continue
            place.next_delta = number + 1
            found = await self._read(key, mirror)
            if found is not None:
                rows = merge(rows, found[1])
                last_generation = max(last_generation, int(found[0].get("generation", 0)))
        return rows, place, (completed, last_generation)

    async def _read(self, key: str, mirror: bool) -> tuple[dict, Rows] | None:
        data = await self._io(self.objects.get, self.prefix + key)
        if data is None:
            return None
        try:
            header, rows = files.decode(data)
        except files.Unreadable as exc:
            self.warn(f"Ignored ledger file {self.objects.root}/{self.prefix}{key}: {exc}. The deliveries it "
                      "listed are forgotten and will be sent again.")
            return None
        if (rows.texts is not None) != mirror:
            self.warn(f"Ignored ledger file {key}: it was written for a stream in another mode.")
            return None
        return header, rows

    async def persist(self) -> None:
        """Every book's unwritten log rows, as one delta file per book; returns when they are durable."""
        if self.readonly:
            return
        async with self._lock:
            for book in self.books:
                end = len(book.log)
                if end == book.log.persisted:
                    continue
                place = self._places[id(book)]
                name = files.delta_name(place.snapshot, place.next_delta)
                body = files.encode(book.log.rows(book.log.persisted, end),
                                    {"kind": "delta", "stream": book.label, "generation": book.generation,
                                     "written_at": _now()})
                await self._io(self.objects.put, self.prefix + place.directory + name, body)
                place.next_delta += 1
                place.stale.append(place.directory + name)
                book.log.persisted = end

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
        """Each book's view becomes the next snapshot; the files it replaces are deleted afterwards (a
        crash in between leaves deltas of the older snapshot, which loading ignores)."""
        if self.readonly:
            return
        async with self._lock:
            for book in self.books:
                place = self._places[id(book)]
                name = files.snapshot_name(place.snapshot + 1)
                body = files.encode(book.view(), {"kind": "snapshot", "stream": book.label,
                                                  "generation": book.generation, "written_at": _now()})
                await self._io(self.objects.put, self.prefix + place.directory + name, body)
                written = place.directory + name
                await self._io(self.objects.delete, [self.prefix + key for key in place.stale if key != written])
                place.snapshot, place.next_delta, place.stale = place.snapshot + 1, 1, [written]

    async def hold_removals(self, book: StreamBook, lines: list[bytes]) -> str:
        """The removals a guard held back, one JSON line each; returns where the file is."""
        place = self._places[id(book)]
        name = f"{place.directory}removals-held-{datetime.now(timezone.utc):%Y%m%dT%H%M%S.%fZ}.jsonl"
        await self._io(self.objects.put, self.prefix + name, b"".join(line + b"\n" for line in lines))
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


async def load_rows(objects: Objects, prefix: str, directory: str, mirror: bool, warn: Warn) -> tuple[Rows, int]:
    """One stream directory loaded as a sync would, read-only (``ledger show``): its rows, and the
    generation a sync would take."""
    keeper = Keeper(objects, prefix, warn, readonly=True)
    book = await keeper.open_book(directory, directory, None, mirror=mirror, skip=False, resend_after_days=30)
    return book.base, book.generation


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
