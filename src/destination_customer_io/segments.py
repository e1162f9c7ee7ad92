"""Segment calls (v1 id lists) that carry people of several lanes: the barrier that keeps each person's
order, the identify that creates missing people before an add (``create_missing_people``), and the
count of adds of people this sync did not identify.

    lane 3: [batch, batch, IdBatch S]     S is sent by the last of its lanes to reach it, once every
    lane 9: [batch, IdBatch S, batch]     earlier op of its people is answered; the others wait for
                                          its answer (batching.py seals S into each of its lanes)
    S.creates: POST /api/v2/batch  {"batch":[{"type":"person","action":"identify","identifiers":{"email":id}},..]}
               then the add call with the ids whose identify Customer.io accepted
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .batching import Batch, Batcher, IdBatch, Lane
from .operations.base import Op

if TYPE_CHECKING:
    from .stream import Stream
    from .checkpoints import Epoch


class Barriers:
    """The lanes that reached each shared segment call, and the answer they wait for."""

    def __init__(self, failed: asyncio.Future[None]) -> None:
        self._arrived: dict[IdBatch, tuple[list[Lane], asyncio.Future[None]]] = {}
        self._failed = failed

    async def meet(self, batch: IdBatch, lane: Lane) -> bool:
        """``lane`` reached ``batch`` at the head of its queue. True for the last lane to arrive: it
        delivers the batch once, then calls ``answered``; the others return False once it is answered
        (or the sync failed: the caller then stops)."""
        arrived, answered = self._arrived.setdefault(batch, ([], asyncio.get_running_loop().create_future()))
        arrived.append(lane)
        if len(arrived) < len(batch.lanes):
            await asyncio.wait((answered, self._failed), return_when=asyncio.FIRST_COMPLETED)
            return False
        return True

    def answered(self, batch: IdBatch) -> None:
        """``batch`` is answered: off the queue of every lane that reached it; those lanes go on."""
        arrived, answered = self._arrived.pop(batch)
        for each in arrived:
            each.queue.popleft()
        answered.set_result(None)


def identify_ops(batch: IdBatch) -> list[bytes]:
    """The identify-only op of each id, with the identifier the call's ``id_type`` names."""
    kind = batch.route.rpartition("id_type=")[2].encode()
    opening = b'{"type":"person","action":"identify","identifiers":{"' + kind + b'":'
    return [opening + body + b"}}" for body in batch.bodies]


class WatchingBatcher(Batcher):
    """A Batcher that also counts, per segment (``Counts.unidentified_adds``), the adds of people no
    identify of this sync named before them (adds without ``create_missing_people``: Customer.io
    ignores an unknown person).

    The identified people are bits of a fixed bitmap indexed by the key's hash (bounded memory for
    any number of people): two people may share a bit, so the count is a lower bound."""

    __slots__ = ("_seen",)
    _BITS = 1 << 26  # 8 MB

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen = bytearray(self._BITS // 8)

    def add(self, op: Op, line: bytes | None, epoch: Epoch, stream: Stream) -> Batch:
        if op.key is not None and op.operation.object_name == "person_identify":
            bit = hash(op.key) % self._BITS
            self._seen[bit >> 3] |= 1 << (bit & 7)
        return Batcher.add(self, op, line, epoch, stream)

    def add_id(self, op: Op, line: bytes | None, epoch: Epoch, stream: Stream) -> IdBatch:
        route = op.route or ""
        if not op.creates and "/add_customers" in route:
            bit = hash(op.key) % self._BITS
            if not self._seen[bit >> 3] & (1 << (bit & 7)):
                self.counts.unidentified_add(route.split("/")[4])
        return Batcher.add_id(self, op, line, epoch, stream)


def watches(streams: dict) -> bool:
    """Whether a stream adds people to segments without creating them (the count is then kept)."""
    return any(stream.operation.object_name == "segment_membership" and not stream.creates_people
               for stream in streams.values())
