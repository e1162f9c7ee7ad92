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
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from .answers import BatchResult, refusals
from .batching import EMPTY_BATCH, Batch, Batcher, IdBatch, Lane
from .operations.base import Op
from .reasons import Rejection

if TYPE_CHECKING:
    from .checkpoints import Epoch
    from .summary import Counts


class Barriers:
    """The lanes that reached each shared segment call, and the answer they wait for."""

    def __init__(self, failed: asyncio.Future[None]) -> None:
        self._arrived: dict[IdBatch, tuple[list[Lane], asyncio.Future[None]]] = {}
        self._failed = failed

    async def meet(self, batch: IdBatch, lane: Lane, deliver: Callable[[Batch], Awaitable[None]],
                   acknowledge: Callable[[Batch], None]) -> None:
        """``lane`` reached ``batch`` at the head of its queue: the last lane to arrive delivers and
        acknowledges it once and takes it off every queue; the others return when it is answered (or
        the sync failed: the caller then stops)."""
        arrived, answered = self._arrived.setdefault(batch, ([], asyncio.get_running_loop().create_future()))
        arrived.append(lane)
        if len(arrived) < len(batch.lanes):
            await asyncio.wait((answered, self._failed), return_when=asyncio.FIRST_COMPLETED)
            return
        del self._arrived[batch]
        await deliver(batch)
        for each in arrived:
            each.queue.popleft()
        acknowledge(batch)
        answered.set_result(None)


async def refusals_of(batch: Batch, client: Any, counts: Counts, batch_max_bytes: int
                      ) -> AsyncIterator[tuple[int, Rejection]]:
    """Send ``batch`` through ``client`` (track.TrackClient) and yield (index, rejection) for each op
    Customer.io refused (``answers.refusals``: halved while an answer names no op). For an id list that
    creates missing people, their identifies go first, in v2 batches; an id whose identify was refused
    is not added (its record is rejected with the identify's reason)."""
    async def post(body: bytes, ops: int, route: str | None = None) -> BatchResult:
        counts.batches += 1
        counts.ops_sent += ops
        if route is not None:
            return await client.send_ids(route, body, ops)
        return await client.send_batch(body)

    indices: list[int] | range = range(len(batch.bodies))
    if type(batch) is not IdBatch:
        async for refusal in refusals(lambda part: post(batch.body(part), len(part)), indices):
            yield refusal
        return
    if batch.creates:
        refused: set[int] = set()
        for chunk, ops in _identifies(batch, batch_max_bytes):
            def identify(part: list[int] | range, ops: list[bytes] = ops) -> Awaitable[BatchResult]:
                return post(b'{"batch":[' + b",".join(ops[i] for i in part) + b"]}", len(part))

            async for position, rejection in refusals(identify, range(len(ops))):
                refused.add(chunk[position])
                yield chunk[position], rejection
        indices = [index for index in indices if index not in refused]
    if indices:
        async for refusal in refusals(lambda part: post(batch.body(part), len(part), batch.route), indices):
            yield refusal


def identify_ops(batch: IdBatch) -> list[bytes]:
    """The identify-only op of each id, with the identifier the call's ``id_type`` names."""
    kind = batch.route.rpartition("id_type=")[2].encode()
    opening = b'{"type":"person","action":"identify","identifiers":{"' + kind + b'":'
    return [opening + body + b"}}" for body in batch.bodies]


def _identifies(batch: IdBatch, batch_max_bytes: int) -> list[tuple[list[int], list[bytes]]]:
    """``identify_ops`` in chunks of (id indices, ops) whose v2 body stays within ``batch_max_bytes``."""
    chunks: list[tuple[list[int], list[bytes]]] = [([], [])]
    size = EMPTY_BATCH
    for index, op in enumerate(identify_ops(batch)):
        if chunks[-1][1] and size + len(op) + 1 > batch_max_bytes:
            chunks.append(([], []))
            size = EMPTY_BATCH
        chunks[-1][0].append(index)
        chunks[-1][1].append(op)
        size += len(op) + 1
    return chunks


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

    def add(self, op: Op, line: bytes, epoch: Epoch) -> None:
        if op.key is not None and op.operation.object_name == "person_identify":
            bit = hash(op.key) % self._BITS
            self._seen[bit >> 3] |= 1 << (bit & 7)
        Batcher.add(self, op, line, epoch)

    def add_id(self, op: Op, line: bytes, epoch: Epoch) -> None:
        route = op.route or ""
        if not op.creates and "/add_customers" in route:
            bit = hash(op.key) % self._BITS
            if not self._seen[bit >> 3] & (1 << (bit & 7)):
                self.counts.unidentified_adds[route.split("/")[4]] += 1
        Batcher.add_id(self, op, line, epoch)


def watches(streams: dict) -> bool:
    """Whether a stream adds people to segments without creating them (the count is then kept)."""
    return any(stream.operation.object_name == "segment_membership" and not stream.creates_people
               for stream in streams.values())
