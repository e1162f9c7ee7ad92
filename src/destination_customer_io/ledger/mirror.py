"""Mirror mode's decision at the end of the input: which removals to send, or why none.

    per overwrite stream of segment_membership / relationship, once every op of the input is answered:
      known complete?   a STREAM_STATUS COMPLETE for it (or no statuses at all and
                        ``mirror_without_stream_status``); INCOMPLETE, a stopped or failed sync: nothing
      removals          the ledger's rows of earlier generations that this sync did not deliver
      guard             more than ``max_mirror_removal_percent`` of the previous members and more than
                        100: nothing removed, the list written to the store, a config_error at the end
                        (``ledger allow-removals`` lets the next sync remove up to that many, once)

``sync.py`` queues the removals this returns into the lanes like any op (batching, retries, refusals);
``book.py`` records each acknowledged one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Iterator

import msgspec

from ..stream import Stream
from ..errors import ConfigurationError
from .book import StreamBook
from .keeper import Keeper

GUARD_FLOOR = 100  # removals at or below this count never trip the guard
Hold = Callable[[Stream, StreamBook, Path, int], Awaitable[str]]  # held removals (a JSONL file); returns where


@dataclass(slots=True)
class Plan:
    stream: Stream
    book: StreamBook
    count: int  # the removals; the book lists them (``removals``)


class MirrorJudge:
    """Decides each mirror stream's removals; ``held`` collects the guard's config_error messages."""

    def __init__(self, keeper: Keeper, *, without_status: bool, max_percent: float,
                 log: Callable[[str, str], None], hold: Hold | None = None) -> None:
        self.keeper = keeper
        # where held-back removals are listed (a dry run lists them beside its ops): the ledger's folder
        self.hold: Hold = hold or (lambda stream, book, path, count: keeper.hold_removals(book, path))
        self.without_status = without_status
        self.max_percent = max_percent
        self.log = log
        self.held: list[str] = []

    def complete(self, stream: Stream, statuses: dict) -> str | None:
        """None when the stream's input is known complete, else why removals are skipped."""
        status = statuses.get((stream.namespace, stream.name))
        if status == "COMPLETE":
            return None
        if status is not None:
            return f"its stream status is {status}, so the input may be partial"
        if statuses:
            return "the input carried stream statuses but none COMPLETE for it"
        if self.without_status:
            return None
        return ("the input carried no stream status (PyAirbyte, scripts), so it is not known to be "
                "complete; set mirror_without_stream_status: true to remove anyway")

    async def plans(self, books: list[tuple[Stream, StreamBook]], statuses: dict, *, halted: str | None
                    ) -> list[Plan]:
        found = []
        for stream, book in books:
            if not book.mirror:
                continue
            why = halted or self.complete(stream, statuses)
            if why is not None:
                book.removal_note = f"no removals: {why}"
                self.log(f"Stream {stream.label} (mirror): nothing removed: {why}.", "WARN")
                continue
            plan = await self._judge(stream, book)
            if plan is not None:
                found.append(plan)
        return found

    async def _judge(self, stream: Stream, book: StreamBook) -> Plan | None:
        count, previous = book.removal_count(), book.previous_members
        allowed = await self.keeper.allowance(book)
        if allowed:  # it serves the next sync that decides removals, needed or not: kept, it would let a
            await self.keeper.use_allowance(book)  # later mass removal through unseen
        if not count:
            book.removal_note = "nothing to remove"
            book.decided = True
            return None
        limit = previous * self.max_percent / 100
        if count > GUARD_FLOOR and count > limit:
            if allowed < count:
                await self._hold(stream, book, count, limit)
                return None
            self.log(f"Stream {stream.label} (mirror): {count} removals allowed once by `ledger "
                     f"allow-removals` ({allowed}).", "INFO")
        book.decided = True  # a completed sync answered them all: the rest was in its input (keeper.py)
        book.removal_note = f"{count} removals sent of {previous} previous members"
        return Plan(stream, book, count)

    async def _hold(self, stream: Stream, book: StreamBook, count: int, limit: float) -> None:
        path = self.keeper.scratch(book, "removals-held.jsonl")
        with open(path, "wb") as held:  # written a line at a time: a mass removal is never listed in memory
            held.writelines(removal_lines(stream, book))
        where = await self.hold(stream, book, path, count)
        previous = book.previous_members
        book.removal_note = f"{count} removals held back by the guard"
        self.held.append(
            f"Stream `{stream.label}` (mirror) would remove {count} of its {previous} previous members, more "
            f"than max_mirror_removal_percent ({self.max_percent:g}%: {limit:.0f}); nothing was removed. "
            f"The list is at {where}. If it is right, allow it once with `destination-customer-io ledger "
            f"--config <config.json> allow-removals --stream {stream.label} --count {count}` (or raise "
            "max_mirror_removal_percent), then sync again.")

    def failure(self) -> ConfigurationError | None:
        """The guard's config_error; a dry run fails with it too (after writing its files), so a
        scripted preview sees what the real sync would do."""
        return ConfigurationError(" ".join(self.held)) if self.held else None


def removal_lines(stream: Stream, book: StreamBook) -> Iterator[bytes]:
    """One JSON line per removal: the stream, and the op that would be sent (path and body)."""
    for row in book.removals():
        op = stream.operation.removal_op(row[5])
        yield msgspec.json.encode({"stream": stream.label, "path": op.route or "/api/v2/batch",
                                   "op": msgspec.Raw(op.body)}) + b"\n"
