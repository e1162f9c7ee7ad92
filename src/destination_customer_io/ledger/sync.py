"""The sync ledger as the write pipeline sees it: one object, called at a few named points.

    intake       filter_chunk(ops, streams) a chunk's ops of ledgered streams, in order -> a Mark each, None
                                           where skip_unchanged finds the op delivered as it is: not sent
                                           (one look-up query per chunk and stream: book.py, table.py)
                 placed(batch, op, mark)   where an op not skipped waits to be sent
    delivery     before_send(batch)        a mirror's new members written ahead as MAYBE, durably
                 refused(batch, index)     Customer.io refused the op: the ledger records nothing of it
                 acknowledged(batch, ..)   accepted: a MEMBER / GONE row of the stream's log
    checkpoints  before_release()          deltas durable before the states that follow them
    the end      queue_removals(..)        a mirror's removals (mirror.py) into the lanes, written ahead
                 finish(completed)         the last deltas; a completed sync compacts into a snapshot

Nothing on the record path holds a ledger field: what the ledger will record of each op waiting in a
batch is kept here, by batch and position, with the body it was made for (a merge that rebuilds the body
makes the ledger forget that op: it is sent again next time, never wrongly skipped). ``open_ledger``
loads each ledgered stream's book; streams without one never reach this package (nor sqlite3).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from . import files
from .book import Mark, StreamBook
from .keeper import Keeper
from .mirror import Hold, MirrorJudge
from .table import GONE

if TYPE_CHECKING:
    from ..batching import Batch, Batcher
    from ..stream import Stream
    from ..checkpoints import Checkpoints, Epoch
    from ..config import Config
    from ..operations.base import Op
    from ..output import Output

_Waiting = tuple[list["Mark | None"], list["bytes | None"]]


class SyncLedger:
    """The books of one sync's ledgered streams, their files (``keeper``) and the mirror judge."""

    def __init__(self, keeper: Keeper, books: list[tuple[Stream, StreamBook]], judge: MirrorJudge | None) -> None:
        self.keeper = keeper
        self.judge = judge
        self._pairs = books
        self._books = {id(stream): book for stream, book in books}
        self.streams = frozenset(self._books)  # id() of each ledgered stream: intake's test per record
        # what each batch's ops will record: per position, its Mark (None: nothing) and the body it was
        # made for; identify writes nothing ahead (``_ahead``) and one stream needs no grouping (``_only``)
        self._waiting: dict[Batch, _Waiting] = {}
        self._ahead = any(book.mirror for _, book in books)
        self._only = books[0][1] if len(books) == 1 else None

    # --- intake --------------------------------------------------------------------------------------

    def filter_chunk(self, ops: list[Op], streams: list[Stream]) -> list[Mark | None]:
        """Ops of ledgered streams (``streams``: each op's), in input order: each one's Mark, or None when
        it is skipped (its stream skips unchanged ops and it was delivered as it is). Each stream's ops
        are marked together (``StreamBook.marks``)."""
        ids = [id(stream) for stream in streams]
        if ids.count(ids[0]) == len(ids):  # the usual chunk: a run of one stream
            return self._books[ids[0]].marks(streams[0].operation, ops)
        places: dict[int, list[int]] = {}
        for place, stream_id in enumerate(ids):
            places.setdefault(stream_id, []).append(place)
        marks: list[Mark | None] = [None] * len(ops)
        for stream_id, at in places.items():
            operation = streams[at[0]].operation
            for place, mark in zip(at, self._books[stream_id].marks(operation, [ops[i] for i in at])):
                marks[place] = mark
        return marks

    def placed(self, batch: Batch, op: Op, mark: Mark) -> None:
        """``op`` (its ``mark`` from ``filter_chunk``) went to ``batch`` (or was merged into an op there)."""
        body, bodies = op.body, batch.bodies
        if bodies and bodies[-1] is body:  # appended, not merged into an earlier op
            waiting = self._waiting.get(batch)
            if waiting is None:
                waiting = self._waiting[batch] = ([], [])
            marks, made_for = waiting
            if len(marks) != len(bodies) - 1:  # ops of streams without a ledger before it
                gap = [None] * (len(bodies) - 1 - len(marks))
                marks += gap
                made_for += gap
            marks.append(mark)
            made_for.append(body)

    @staticmethod
    def _marks(batch: Batch, waiting: _Waiting) -> list[Mark]:
        """The marks of ``batch``'s ops still to record: not refused, and not rebuilt by a merge."""
        marks, made_for = waiting
        if batch.merged:
            bodies = batch.bodies
            for index in batch.merged:
                if index < len(marks) and made_for[index] is not bodies[index]:
                    marks[index] = None
        return list(filter(None, marks))

    # --- delivery ------------------------------------------------------------------------------------

    async def before_send(self, batch: Batch) -> None:
        if self._ahead:
            waiting = self._waiting.get(batch)
            if waiting:
                await self.keeper.write_ahead(self._marks(batch, waiting))

    def refused(self, batch: Batch, index: int) -> None:
        waiting = self._waiting.get(batch)
        if waiting is not None and index < len(waiting[0]):
            waiting[0][index] = None

    def acknowledged(self, batch: Batch, removals: bool) -> None:
        waiting = self._waiting.pop(batch, None)
        if waiting is None:
            return
        marks = self._marks(batch, waiting)
        if self._only is not None:
            by_book = {self._only: marks}
        else:
            by_book = {}
            for mark in marks:
                by_book.setdefault(mark.book, []).append(mark)
        for book, group in by_book.items():
            book.delivered_all(group)
            book.removed += removals * len(group)

    def known(self, batch: Batch, index: int) -> bool | None:
        """For a dry run's summary: whether the op at ``index`` updates a key the ledger holds (True)
        or adds one (False); None when the ledger has no say (no ledger, a removal)."""
        waiting = self._waiting.get(batch)
        mark = waiting[0][index] if waiting is not None and index < len(waiting[0]) else None
        if mark is None or mark.flag == GONE:
            return None
        return mark.book.holds(mark.key)

    # --- states and the end --------------------------------------------------------------------------

    async def before_release(self) -> None:
        await self.keeper.persist()

    async def queue_removals(self, statuses: dict, halted: str | None, epoch: Epoch, batcher: Batcher,
                             checkpoints: Checkpoints, wait_for_room: Callable[[], Awaitable[Any]]) -> int:
        """The removals the judge allows, written ahead (their rows become MAYBE, durably), then added to
        the lanes under ``epoch`` (no state counts it). Returns how many were queued."""
        assert self.judge is not None
        plans = await self.judge.plans(self._pairs, statuses, halted=halted)
        for plan in plans:
            plan.book.intend_removals()
        await self.keeper.persist()
        queued = 0
        for plan in plans:
            removal_op = plan.stream.operation.removal_op
            for key, print_, _, _, _, text in plan.book.removals():  # in parts: never listed whole
                op = removal_op(text)
                mark = Mark(plan.book, key, print_, text, GONE)
                checkpoints.read(epoch, 1)
                batch = (batcher.add if op.route is None else batcher.add_id)(op, None, epoch, plan.stream)
                self.placed(batch, op, mark)
                queued += 1
                await wait_for_room()
        return queued

    def failure(self) -> Exception | None:
        return self.judge.failure() if self.judge is not None else None

    async def finish(self, completed: bool) -> None:
        """The last deltas; a completed sync compacts the books due for it (keeper.py); the working copies
        are removed."""
        await self.keeper.persist()
        if completed:
            await self.keeper.compact()
        self.keeper.close()

    # --- what the summaries say ----------------------------------------------------------------------

    def held(self) -> list[str]:
        return self.judge.held if self.judge is not None else []

    def unchanged(self, stream: Stream) -> int:
        book = self._books.get(id(stream))
        return book.unchanged_count if book is not None else 0

    def note(self, stream: Stream, dry: bool = False) -> str:
        """The stream summary's words about its ledger (unchanged ops, mirror removals), or ""."""
        book = self._books.get(id(stream))
        if book is None:
            return ""
        text = f"; {book.unchanged_count} unchanged, not sent again" if book.unchanged_count else ""
        if book.mirror:
            text += f"; mirror: {book.removed} {'would be removed' if dry else 'removed'}, {book.removal_note}"
        return text

    def waiting(self) -> str | None:
        return self.keeper.objects.waiting()


async def open_ledger(config: Config, needing: list[Stream], out: Output, objects: Any,
                      hold: Hold | None = None, readonly: bool = False) -> SyncLedger:
    """The ledger of the ``needing`` streams, each stream's book loaded from ``objects``; ``readonly``:
    looked up, never written (``hold`` then lists held-back removals elsewhere)."""
    keeper = Keeper(objects, files.scope_prefix(config.credentials.siteId, config.ledger_scope),
                    lambda text: out.log(text, "WARN"), readonly=readonly)
    books = []
    for stream in needing:
        started = time.monotonic()
        directory = files.stream_dir(stream.namespace, stream.name, stream.operation.object_name)
        book = await keeper.open_book(
            stream.label, directory, stream.generation_id, mirror=stream.mirror, skip=stream.skips_unchanged,
            resend_after_days=config.resend_unchanged_after_days, counted_on=config.mirror_without_stream_status)
        books.append((stream, book))
        out.log(f"Sync ledger of stream {stream.label}: {book.table.count()} keys (generation {book.generation}) "
            f"loaded in {time.monotonic() - started:.2f} s from {keeper.where(directory)}.")
    judge = None
    if any(stream.mirror for stream in needing):
        judge = MirrorJudge(keeper, without_status=config.mirror_without_stream_status,
                            max_percent=config.max_mirror_removal_percent, log=out.log, hold=hold)
    return SyncLedger(keeper, books, judge)
