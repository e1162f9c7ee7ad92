"""segments.py and delivery.py: the requests a segment call takes with create_missing_people (identify-only v2 batches
first, sized to batch_max_bytes; a refused identify keeps its id out of the call), and the barrier's
bookkeeping in batching.py (an id list joins the queue of each lane of its people, once)."""

from __future__ import annotations

import dataclasses

import json
from typing import Any

from destination_customer_io.answers import BatchResult
from destination_customer_io.batching import Batcher, IdBatch
from destination_customer_io.checkpoints import Epoch
from destination_customer_io.operations import OPERATIONS
from destination_customer_io.operations.base import Op
from destination_customer_io.delivery import TrackSender
from destination_customer_io.summary import Counts

ROUTE = "/api/v1/segments/7/add_customers?id_type=email"
SEGMENT = OPERATIONS["segment_membership"]


class FakeClient:
    """Records each request; refuses the identify of ``refused`` with a 207 entry naming its index."""

    def __init__(self, refused: str | None = None) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.refused = refused

    async def send_batch(self, body: bytes) -> BatchResult:
        ops = json.loads(body)["batch"]
        self.sent.append(("/api/v2/batch", ops))
        errors = [{"reason": "invalid", "message": "no", "batch_index": i} for i, op in enumerate(ops)
                  if op["identifiers"]["email"] == self.refused]
        return BatchResult(200, errors)

    async def send_ids(self, route: str, body: bytes, count: int) -> BatchResult:
        self.sent.append((route, json.loads(body)))
        return BatchResult(200, [])


def id_batch(emails: list[str], creates: bool = True) -> IdBatch:
    batch = IdBatch(0.0, ROUTE, creates)
    epoch = Epoch()
    for email in emails:
        batch.append(json.dumps(email).encode(), b"{}", epoch, None)  # type: ignore[arg-type]
    return batch


async def collect(batch: IdBatch, client: FakeClient, max_bytes: int = 500_000) -> list[tuple[int, str]]:
    sender = TrackSender(client, Counts(), max_bytes)
    return [(index, rejection.reason) async for index, rejection in sender.refusals(batch)]


async def test_identifies_go_first_and_a_refused_one_stays_out_of_the_call() -> None:
    client = FakeClient(refused="b@x.co")
    assert await collect(id_batch(["a@x.co", "b@x.co", "c@x.co"]), client) == [(1, "api_rejected")]
    identify = [{"type": "person", "action": "identify", "identifiers": {"email": e}} for e in ("a@x.co", "b@x.co", "c@x.co")]
    assert client.sent == [("/api/v2/batch", identify), (ROUTE, {"ids": ["a@x.co", "c@x.co"]})]


async def test_identifies_are_split_to_fit_batch_max_bytes() -> None:
    client = FakeClient()
    emails = [f"person{i}@example.com" for i in range(40)]
    await collect(id_batch(emails), client, max_bytes=1_000)
    batches = [ops for path, ops in client.sent if path == "/api/v2/batch"]
    assert [e["identifiers"]["email"] for ops in batches for e in ops] == emails
    size = lambda ops: len(json.dumps({"batch": ops}, separators=(",", ":")))  # noqa: E731
    assert len(batches) > 1 and all(size(ops) <= 1_000 for ops in batches)
    assert all(size([*ops, after[0]]) > 1_000 for ops, after in zip(batches, batches[1:]))  # each one full
    assert client.sent[-1] == (ROUTE, {"ids": emails})


async def test_without_creates_only_the_call_is_sent() -> None:
    client = FakeClient()
    assert await collect(id_batch(["a@x.co"], creates=False), client) == []
    assert client.sent == [(ROUTE, {"ids": ["a@x.co"]})]


def test_an_id_list_joins_each_lane_of_its_people_after_their_earlier_ops() -> None:
    sealed: list[int] = []
    batcher = Batcher(4, 500_000, Counts(), lambda lane: sealed.append(lane.index))
    epoch = Epoch()
    identify = OPERATIONS["person_identify"]
    people = [f"p{i}@x.co" for i in range(12)]
    for email in people[:6]:  # earlier ops of half of them, in their lanes' open batches
        batcher.add(Op(b"{}", f"person:email:{email}", ordered=True, operation=identify), b"{}", epoch, None)
    for email in people:
        batcher.add_id(Op(json.dumps(email).encode(), f"person:email:{email}", ordered=True, operation=SEGMENT,
                          route=ROUTE), b"{}", epoch, None)
    assert all(not lane.queue for lane in batcher.lanes)  # nothing sealed yet: one open call
    batcher.seal_all()
    (call,) = {id(lane.queue[-1]): lane.queue[-1] for lane in batcher.lanes if lane.queue}.values()
    assert type(call) is IdBatch and json.loads(call.body(range(12))) == {"ids": people}
    holding = {hash(f"person:email:{e}") % 4 for e in people}
    assert set(call.lanes) == holding
    for lane in batcher.lanes:  # the call comes after the lane's batch holding an earlier identify
        entries = list(lane.queue)
        assert entries.count(call) == (lane.index in holding)
        if lane.index in holding and len(entries) > 1:
            assert entries[-1] is call and type(entries[0]) is not IdBatch
    assert batcher.inflight == sum(b.size for lane in batcher.lanes for b in lane.queue if b is not call) + call.weight


# --- property: per-person order across lanes, through the pipeline ---------------------------------

import asyncio  # noqa: E402
import io  # noqa: E402
import random  # noqa: E402

from hypothesis import given, settings, strategies as st  # noqa: E402

from destination_customer_io.output import Output  # noqa: E402
from destination_customer_io.pipeline import Pipeline  # noqa: E402
from destination_customer_io.track import TrackStats  # noqa: E402
from tests.unit.test_operations_surface import STATE, Store, line, make_stream  # noqa: E402


class SlowRecorder:
    """Answers after a random pause and records, per person, when each of their ops was sent and
    answered (a global sequence number), so a test can see whether one was sent before an earlier
    one was answered."""

    def __init__(self, seed: int) -> None:
        self.stats = TrackStats()
        self.rng = random.Random(seed)
        self.clock = 0
        self.seen: dict[str, list[tuple[str, int, int]]] = {}

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    async def _answer(self, people: list[tuple[str, str]]) -> BatchResult:
        start = self._tick()
        await asyncio.sleep(self.rng.random() * 0.004)
        end = self._tick()
        for person, what in people:
            self.seen.setdefault(person, []).append((what, start, end))
        return BatchResult(200, [])

    async def send_batch(self, body: bytes) -> BatchResult:
        ops = json.loads(body)["batch"]
        return await self._answer([(op["identifiers"]["email"], "identify") for op in ops])

    async def send_ids(self, path: str, body: bytes, count: int) -> BatchResult:
        action = path.split("/")[4] + " " + path.split("/")[5].split("?")[0]
        return await self._answer([(email, action) for email in json.loads(body)["ids"]])


STEPS = st.lists(st.tuples(st.sampled_from(["identify", "add", "remove"]), st.integers(0, 9), st.sampled_from([7, 8])),
                 min_size=1, max_size=60)


def _collapsed(items: list[str]) -> list[str]:
    """Consecutive repeats folded (an identify merged into the previous one, an id listed twice in one
    call: both are one op on the wire)."""
    return [item for i, item in enumerate(items) if i == 0 or items[i - 1] != item]


@settings(max_examples=40, deadline=None)
@given(steps=STEPS, lanes=st.integers(1, 5), seed=st.integers(0, 1_000))
def test_every_persons_ops_leave_in_input_order_and_one_at_a_time(
        steps: list[tuple[str, int, int]], lanes: int, seed: int) -> None:
    streams = {(None, "users"): make_stream("person_identify", "append_dedup"),
               (None, "vips"): make_stream("segment_membership", "append_dedup"),
               (None, "ex"): make_stream("segment_membership", "soft_delete")}
    streams = {name: dataclasses.replace(stream, name=name[1], namespace=None) for name, stream in streams.items()}
    stream_of = {"identify": "users", "add": "vips", "remove": "ex"}
    lines = [line(stream_of[kind], {"person_email": f"p{who}@b.co", "segment_id": segment, "n": n})
             for n, (kind, who, segment) in enumerate(steps)] + [STATE]
    client = SlowRecorder(seed)

    async def run() -> None:
        pipeline = Pipeline(streams=streams, client=client, store=Store(), output=Output(io.BytesIO()),  # type: ignore[arg-type]
                            lanes=lanes, state_max_delay=0.01, flush_interval=0.0)

        async def chunks():  # type: ignore[no-untyped-def]
            yield lines

        await asyncio.wait_for(pipeline.run(chunks()), 20)

    asyncio.run(run())
    for who in {who for _, who, _ in steps}:
        person = f"p{who}@b.co"
        expected = [kind if kind == "identify" else f"{segment} {'add_customers' if kind == 'add' else 'remove_customers'}"
                    for kind, whom, segment in steps if whom == who]
        sent = client.seen[person]
        # A repeat may be folded or sent again (an identify of another person between two adds seals
        # the first call): either way the person's distinct steps leave in input order.
        assert _collapsed([what for what, _, _ in sent]) == _collapsed(expected)
        assert all(earlier[2] < later[1] for earlier, later in zip(sent, sent[1:]))  # answered before the next
