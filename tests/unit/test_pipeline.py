"""The write pipeline against a scripted Track client: states, ordering, 207/400 handling, backpressure.

A toy operation stands in for the real ones so these tests pin the pipeline's own promises.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any, Awaitable, Callable

import msgspec
import pytest

from destination_customer_io.catalog import Stream
from destination_customer_io.config import parse_config
from destination_customer_io.errors import ConfigurationError, SystemFailure, TransientFailure
from destination_customer_io.operations.base import Op, Operation
from destination_customer_io.reasons import Rejection
from destination_customer_io.output import Output
from destination_customer_io.pipeline import Pipeline
from destination_customer_io.rejected.base import NoneStore, RejectedRecord
from destination_customer_io.answers import BatchResult
from destination_customer_io.track import TrackStats

CONFIG = parse_config({"credentials": {"siteId": "site", "apiKey": "key"}})


class ToyOperation(Operation):
    """``{"key": k, "kind": "set"|"event", "v": ...}`` -> an op; ``{"bad": true}`` -> a rejection."""

    object_name = "toy"
    sync_modes = ("append",)

    def build(self, data: dict[str, Any], stream: Stream) -> Op | Rejection:
        if data.get("bad"):
            return Rejection("toy_bad", "bad", "this record is bad")
        kind = data.get("kind", "event")
        payload = {"type": "person", "action": kind, "identifiers": {"id": data["key"]}, "v": data.get("v"),
                   "attributes": dict(data.get("attrs", {}))}
        return Op(msgspec.json.encode(payload), f"person:id:{data['key']}", ordered=kind == "set",
                  operation=self)

    def merge(self, earlier: Op, later: Op) -> Op | None:
        first, second = msgspec.json.decode(earlier.body), msgspec.json.decode(later.body)
        if second["attributes"].get("nomerge"):
            return None
        first["attributes"] = {**first["attributes"], **second["attributes"]}
        first["v"] = second["v"]
        return Op(msgspec.json.encode(first), earlier.key, ordered=True, operation=self)


TOY = ToyOperation()


class MemoryStore:
    buffers = True

    def __init__(self) -> None:
        self.added: list[RejectedRecord] = []
        self.durable: list[RejectedRecord] = []
        self.flushes = 0

    async def add(self, record: RejectedRecord) -> None:
        self.added.append(record)

    async def flush(self) -> None:
        self.flushes += 1
        self.durable = list(self.added)

    async def close(self) -> None:
        await self.flush()

    @property
    def count(self) -> int:
        return len(self.added)

    def waiting(self) -> None:
        return None


Responder = Callable[[list[dict[str, Any]]], Awaitable[BatchResult]]


class ScriptedClient:
    """Records every batch body that 'reached the server' and answers with ``responder``."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.stats = TrackStats()
        self.responder = responder

    async def send_batch(self, body: bytes) -> BatchResult:
        decoded = json.loads(body)
        assert list(decoded) == ["batch"]
        self.batches.append(decoded["batch"])
        if self.responder is None:
            return BatchResult(200, [])
        return await self.responder(decoded["batch"])


def record(data: dict[str, Any], stream: str = "toys") -> bytes:
    return json.dumps({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 1}}).encode()


def state(n: int) -> bytes:
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "toys"}, "stream_state": {"n": n}}}}).encode()


async def chunks_of(lines: list[bytes], size: int = 3, pause: asyncio.Event | None = None):
    for start in range(0, len(lines), size):
        yield lines[start:start + size]
        await asyncio.sleep(0)
    if pause is not None:
        await pause.wait()


def make_pipeline(client: ScriptedClient, store: MemoryStore | None = None, *, names: tuple[str, ...] = ("toys",),
                  **kw: Any) -> tuple[Pipeline, io.BytesIO]:
    out = io.BytesIO()
    streams = {(None, name): Stream(name=name, namespace=None, operation=TOY, destination_sync_mode="append",
                                    config=CONFIG) for name in names}
    options = {"lanes": 4, "batch_max_bytes": 500_000, "state_max_delay": 0.05, "flush_interval": 0.0}
    options.update(kw)
    pipeline = Pipeline(streams=streams, client=client, store=store or MemoryStore(), output=Output(out), **options)
    return pipeline, out


def messages(out: io.BytesIO, kind: str | None = None) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in out.getvalue().splitlines()]
    return [m for m in found if kind is None or m["type"] == kind]


async def test_state_waits_for_the_batch_answer_then_carries_counts() -> None:
    gate = asyncio.Event()

    async def slow(batch: list[dict[str, Any]]) -> BatchResult:
        await gate.wait()
        return BatchResult(200, [])

    client = ScriptedClient(slow)
    pipeline, out = make_pipeline(client)
    lines = [record({"key": f"p{i}"}) for i in range(5)] + [state(1)]
    task = asyncio.create_task(pipeline.run(chunks_of(lines)))
    await asyncio.sleep(0.3)  # longer than state_max_delay: the batch went out, its answer has not
    assert client.batches, "the pending state should have pushed its batch out"
    assert messages(out, "STATE") == []
    gate.set()
    await task
    states = messages(out, "STATE")
    assert states == [{"type": "STATE", "state": {"type": "STREAM", "stream": {
                                                      "stream_descriptor": {"name": "toys"}, "stream_state": {"n": 1}},
                                                  "destinationStats": {"recordCount": 5.0}}}]


async def test_exact_json_reaching_the_server_and_batches_fill_across_states() -> None:
    client = ScriptedClient()
    pipeline, out = make_pipeline(client, lanes=1)
    lines = []
    for i in range(6):
        lines.append(record({"key": f"p{i}", "v": i}))
        lines.append(state(i))
    await pipeline.run(chunks_of(lines, size=100))
    assert client.batches == [[{"type": "person", "action": "event", "identifiers": {"id": f"p{i}"}, "v": i,
                                "attributes": {}} for i in range(6)]]
    assert [m["state"]["stream"]["stream_state"]["n"] for m in messages(out, "STATE")] == list(range(6))
    assert all(m["state"]["destinationStats"] == {"recordCount": 1.0} for m in messages(out, "STATE"))


async def test_states_leave_in_input_order_when_lanes_answer_out_of_order() -> None:
    async def reverse_latency(batch: list[dict[str, Any]]) -> BatchResult:
        # the earliest records get the slowest answers
        await asyncio.sleep(0.2 if batch[0]["v"] < 2 else 0.0)
        return BatchResult(200, [])

    client = ScriptedClient(reverse_latency)
    pipeline, out = make_pipeline(client, lanes=4, state_max_delay=0.01)
    lines = []
    for i in range(4):
        lines += [record({"key": f"k{i}", "v": i}), state(i)]
    await pipeline.run(chunks_of(lines, size=2))
    assert [m["state"]["stream"]["stream_state"]["n"] for m in messages(out, "STATE")] == [0, 1, 2, 3]


async def test_207_rejects_exactly_the_listed_ops_and_counts_them_in_the_state() -> None:
    async def refuse_second(batch: list[dict[str, Any]]) -> BatchResult:
        return BatchResult(200, [{"batch_index": 1, "reason": "invalid", "field": "attributes.x",
                                  "message": "bad x"}])

    store = MemoryStore()
    client = ScriptedClient(refuse_second)
    pipeline, out = make_pipeline(client, store, lanes=1)
    await pipeline.run(chunks_of([record({"key": f"p{i}"}) for i in range(3)] + [state(1)]))
    assert [r.data["key"] for r in store.durable] == ["p1"]
    rejected = store.durable[0]
    assert (rejected.reason, rejected.field) == ("api_rejected", "attributes.x")
    assert rejected.message == "Customer.io refused this operation (invalid): bad x"
    assert messages(out, "STATE")[0]["state"]["destinationStats"] == {"recordCount": 2.0,
                                                                       "rejectedRecordCount": 1.0}
    assert pipeline.counts.accepted == 2


async def test_sparse_207_error_without_reason_field_or_message_is_tolerated() -> None:
    async def sparse(batch: list[dict[str, Any]]) -> BatchResult:
        return BatchResult(200, [{"batch_index": 0}])

    store = MemoryStore()
    pipeline, _ = make_pipeline(ScriptedClient(sparse), store, lanes=1)
    await pipeline.run(chunks_of([record({"key": "p"}), state(1)]))
    assert (store.durable[0].reason, store.durable[0].field) == ("api_rejected", None)
    assert store.durable[0].message == "Customer.io refused this operation (no reason given)"


async def test_400_splits_the_batch_until_only_the_bad_op_is_rejected() -> None:
    async def poisoned(batch: list[dict[str, Any]]) -> BatchResult:
        if any(op["v"] == "poison" for op in batch):
            return BatchResult(400, [{"reason": "malformed", "message": "cannot parse"}])
        return BatchResult(200, [])

    store = MemoryStore()
    client = ScriptedClient(poisoned)
    pipeline, out = make_pipeline(client, store, lanes=1)
    values = [1, 2, "poison", 4, 5, 6, 7]
    await pipeline.run(chunks_of([record({"key": f"p{i}", "v": v}) for i, v in enumerate(values)] + [state(1)],
                                 size=100))
    assert [r.data["v"] for r in store.durable] == ["poison"]
    accepted = [op["v"] for b in client.batches if all(o["v"] != "poison" for o in b) for op in b]
    assert sorted(accepted, key=str) == sorted([1, 2, 4, 5, 6, 7], key=str)
    assert messages(out, "STATE")[0]["state"]["destinationStats"] == {"recordCount": 6.0,
                                                                       "rejectedRecordCount": 1.0}


async def test_rejected_before_sending_never_reaches_the_server() -> None:
    store = MemoryStore()
    client = ScriptedClient()
    pipeline, out = make_pipeline(client, store)
    await pipeline.run(chunks_of([record({"key": "a"}), record({"bad": True}), state(1)]))
    assert [r.reason for r in store.durable] == ["toy_bad"]
    assert sum(len(b) for b in client.batches) == 1
    assert messages(out, "STATE")[0]["state"]["destinationStats"]["rejectedRecordCount"] == 1.0


async def test_state_is_emitted_only_after_the_store_flush() -> None:
    store = MemoryStore()
    pipeline, out = make_pipeline(ScriptedClient(), store)
    await pipeline.run(chunks_of([record({"bad": True}), state(1)]))
    assert store.flushes >= 1 and len(store.durable) == 1
    assert len(messages(out, "STATE")) == 1


@pytest.mark.parametrize("store_kind", ["buffering", "none"])
async def test_states_behind_rejections_wait_for_a_grouped_flush_only_when_the_store_buffers(
        store_kind: str) -> None:
    # flush_interval groups flushes so frequent states do not make tiny files; storage_type None has
    # nothing to flush, so its states must not wait.
    store = MemoryStore() if store_kind == "buffering" else NoneStore()
    pause = asyncio.Event()
    pipeline, out = make_pipeline(ScriptedClient(), store, flush_interval=30.0)
    lines = [record({"bad": True}), state(1), record({"bad": True}), state(2)]
    task = asyncio.create_task(pipeline.run(chunks_of(lines, size=2, pause=pause)))
    await asyncio.sleep(0.3)
    emitted = [m["state"]["stream"]["stream_state"]["n"] for m in messages(out, "STATE")]
    # The first flush is due at once; the second waits out the interval, unless there is nothing to flush.
    assert emitted == ([1] if store_kind == "buffering" else [1, 2])
    pause.set()
    started = asyncio.get_running_loop().time()
    await task  # the end of input cuts the 30 s wait short: every state leaves after a final flush
    assert asyncio.get_running_loop().time() - started < 10
    assert [m["state"]["stream"]["stream_state"]["n"] for m in messages(out, "STATE")] == [1, 2]
    assert store.count == 2
    if store_kind == "buffering":
        assert len(store.durable) == 2


async def test_unknown_stream_and_garbage_lines_do_not_stop_the_sync() -> None:
    store = MemoryStore()
    pipeline, out = make_pipeline(ScriptedClient(), store)
    lines = [b"not json", b'{"type":"RECORD","record":{"stream":"toys","data":[1,2]}}',
             record({"key": "a"}, stream="nope"), record({"key": "b"}), state(1)]
    await pipeline.run(chunks_of(lines))
    assert [r.reason for r in store.durable] == ["record_data_not_object", "stream_not_in_catalog"]
    assert pipeline.counts.unreadable_lines == 1
    # The state is the `toys` stream's: its two records (one malformed). The `nope` record counts on
    # no state here (it would on a state naming `nope`); the line that is not JSON counts nowhere.
    assert messages(out, "STATE")[0]["state"]["destinationStats"] == {"recordCount": 1.0,
                                                                       "rejectedRecordCount": 1.0}
    assert b"not json" not in out.getvalue()


async def test_each_record_finds_its_own_stream_whatever_the_stream_of_the_record_before() -> None:
    """Intake compares a record's stream name and namespace with the record before's instead of looking
    them up: records of two streams, a namespace that falls back to the namespace-less stream of its name
    and an unknown stream, interleaved and in runs, each reach their own stream (ops and counts)."""
    store = MemoryStore()
    client = ScriptedClient()
    pipeline, _ = make_pipeline(client, store, names=("toys", "more"))
    crm = Stream(name="toys", namespace="crm", operation=TOY, destination_sync_mode="append", config=CONFIG)
    pipeline.streams[("crm", "toys")] = crm  # the same name in a namespace of its own: another stream

    def of(stream: str, key: str, namespace: str | None = None) -> bytes:
        message = {"type": "RECORD", "record": {"stream": stream, "data": {"key": key}, "emitted_at": 1}}
        if namespace is not None:
            message["record"]["namespace"] = namespace
        return json.dumps(message).encode()

    order = [("toys", None), ("toys", None), ("more", None), ("toys", "crm"), ("toys", "crm"), ("nope", None),
             ("nope", None), ("toys", None), ("more", "crm"), ("more", None), ("nope", "crm"), ("toys", "crm"),
             ("toys", "erp"), ("toys", "erp"), ("toys", "crm"), ("toys", None)]
    lines = [of(name, f"{name}-{namespace}-{i}", namespace) for i, (name, namespace) in enumerate(order)]
    await pipeline.run(chunks_of(lines, size=5))
    sent = sorted(op["identifiers"]["id"] for batch in client.batches for op in batch)
    assert sent == sorted(f"{n}-{ns}-{i}" for i, (n, ns) in enumerate(order) if n != "nope")
    assert {key: s.counts.records_read for key, s in pipeline.streams.items()} == {
        (None, "toys"): 6, (None, "more"): 3, ("crm", "toys"): 4}  # "erp" has no stream: (None, "toys")
    assert [r.reason for r in store.added] == ["stream_not_in_catalog"] * 3


async def test_ordered_ops_of_one_person_are_merged_or_split_never_concurrent() -> None:
    in_flight: set[str] = set()
    overlaps: list[str] = []

    async def watch(batch: list[dict[str, Any]]) -> BatchResult:
        keys = [op["identifiers"]["id"] for op in batch if op["action"] == "set"]
        assert len(keys) == len(set(keys)), "two unmerged updates of one person in one batch"
        overlaps.extend(k for k in keys if k in in_flight)
        in_flight.update(keys)
        await asyncio.sleep(0.01)
        in_flight.difference_update(keys)
        return BatchResult(200, [])

    client = ScriptedClient(watch)
    pipeline, _ = make_pipeline(client, lanes=4, batch_max_bytes=2_000)
    lines = []
    for i in range(300):
        person = f"p{i % 7}"
        attrs = {"n": i, "nomerge": True} if i % 5 == 0 else {"n": i}
        lines.append(record({"key": person, "kind": "set", "v": i, "attrs": attrs}))
    await pipeline.run(chunks_of(lines, size=50))
    assert overlaps == []
    # Applying the batches in the order they were sent gives each person their last value.
    final: dict[str, int] = {}
    for batch in client.batches:
        for op in batch:
            final[op["identifiers"]["id"]] = op["attributes"]["n"]
    assert final == {f"p{k}": max(i for i in range(300) if i % 7 == k) for k in range(7)}
    assert pipeline.counts.merged > 0


async def test_merges_need_the_same_operation_in_a_batch_mixing_two() -> None:
    # A batch remembers its ordered ops by key and index only, plus the operation of those that are
    # not of the batch's first kind: each later op must find the right one.
    other = ToyOperation()
    client = ScriptedClient()
    out = io.BytesIO()
    streams = {(None, name): Stream(name=name, namespace=None, operation=op, destination_sync_mode="append",
                                    config=CONFIG) for name, op in (("toys", TOY), ("others", other))}
    pipeline = Pipeline(streams=streams, client=client, store=MemoryStore(), output=Output(out), lanes=1,
                        batch_max_bytes=500_000, state_max_delay=0.05, flush_interval=0.0)
    lines = [
        record({"key": "a", "kind": "set", "v": 1, "attrs": {"x": 1}}),
        record({"key": "b", "kind": "set", "v": 2, "attrs": {"y": 1}}, stream="others"),
        record({"key": "b", "kind": "set", "v": 3, "attrs": {"y": 2, "z": 1}}, stream="others"),  # merged
        record({"key": "a", "kind": "set", "v": 4, "attrs": {"x": 2}}),  # merged
        record({"key": "b", "kind": "set", "v": 5, "attrs": {"y": 3}}),  # b's op is others': new batch
    ]
    await pipeline.run(chunks_of(lines, size=10))
    assert client.batches == [
        [{"type": "person", "action": "set", "identifiers": {"id": "a"}, "v": 4, "attributes": {"x": 2}},
         {"type": "person", "action": "set", "identifiers": {"id": "b"}, "v": 3, "attributes": {"y": 2, "z": 1}}],
        [{"type": "person", "action": "set", "identifiers": {"id": "b"}, "v": 5, "attributes": {"y": 3}}],
    ]
    assert pipeline.counts.merged == 2


async def test_merge_keeps_every_record_accounted_for() -> None:
    store = MemoryStore()

    async def refuse_all(batch: list[dict[str, Any]]) -> BatchResult:
        return BatchResult(200, [{"batch_index": i} for i in range(len(batch))])

    pipeline, out = make_pipeline(ScriptedClient(refuse_all), store, lanes=1)
    lines = [record({"key": "p", "kind": "set", "attrs": {"a": i}}) for i in range(3)] + [state(1)]
    await pipeline.run(chunks_of(lines))
    assert len(store.durable) == 3  # one merged op refused -> its three records rejected
    assert messages(out, "STATE")[0]["state"]["destinationStats"] == {"recordCount": 0.0,
                                                                       "rejectedRecordCount": 3.0}


async def test_fatal_client_error_stops_the_sync_with_no_later_state() -> None:
    calls = 0

    async def fail_second(batch: list[dict[str, Any]]) -> BatchResult:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ConfigurationError("bad key")
        return BatchResult(200, [])

    client = ScriptedClient(fail_second)
    pipeline, out = make_pipeline(client, lanes=1, batch_max_bytes=1_000)
    lines = [record({"key": "a", "v": "x" * 400}), state(1)] + [record({"key": "b", "v": "y" * 400}) for _ in range(5)] + [state(2)]
    with pytest.raises(ConfigurationError):
        await pipeline.run(chunks_of(lines, size=1))
    emitted = [m["state"]["stream"]["stream_state"]["n"] for m in messages(out, "STATE")]
    assert emitted in ([], [1])  # state 1 may go out (its batch was accepted); state 2 never does
    assert 2 not in emitted


async def test_a_failure_interrupts_a_stalled_stdin() -> None:
    async def broken(batch: list[dict[str, Any]]) -> BatchResult:
        raise TransientFailure("outage")

    pipeline, _ = make_pipeline(ScriptedClient(broken), lanes=1)
    never = asyncio.Event()
    with pytest.raises(TransientFailure):
        await asyncio.wait_for(pipeline.run(chunks_of([record({"key": "a"}), state(1)], pause=never)), 5)


async def test_in_flight_bytes_stay_bounded() -> None:
    peak = 0
    pipeline_ref: list[Pipeline] = []

    async def measure(batch: list[dict[str, Any]]) -> BatchResult:
        nonlocal peak
        peak = max(peak, pipeline_ref[0]._batcher.inflight)
        await asyncio.sleep(0.001)
        return BatchResult(200, [])

    pipeline, _ = make_pipeline(ScriptedClient(measure), lanes=2, batch_max_bytes=5_000,
                                max_inflight_bytes=100_000)
    pipeline_ref.append(pipeline)
    lines = [record({"key": f"p{i}", "v": "z" * 100}) for i in range(5_000)]
    await pipeline.run(chunks_of(lines, size=200))
    # bound + what one chunk of input can add before the reader pauses
    assert 0 < peak <= 100_000 + 200 * 200


async def test_an_op_larger_than_a_whole_batch_is_rejected_not_sent() -> None:
    store = MemoryStore()
    client = ScriptedClient()
    pipeline, out = make_pipeline(client, store, batch_max_bytes=1_000)
    await pipeline.run(chunks_of([record({"key": "a", "v": "z" * 2_000}), record({"key": "b"}), state(1)]))
    assert [(r.reason, r.data["key"]) for r in store.durable] == [("op_too_large", "a")]
    assert [op["identifiers"]["id"] for b in client.batches for op in b] == ["b"]
    assert all(len(json.dumps({"batch": b}, separators=(",", ":"))) <= 1_000 for b in client.batches)


async def test_one_batch_spanning_epochs_charges_each_refusal_to_its_records_epoch() -> None:
    # Batches keep each op's epoch as runs (not a pair per op): a refusal must still find its records'
    # epochs, a merged record included, and each state must count exactly its own records.
    async def refuse_merged_and_last(batch: list[dict[str, Any]]) -> BatchResult:
        return BatchResult(200, [{"batch_index": 0, "reason": "invalid"}, {"batch_index": 3, "reason": "invalid"}])

    store = MemoryStore()
    client = ScriptedClient(refuse_merged_and_last)
    pipeline, out = make_pipeline(client, store, lanes=1, state_max_delay=60.0)
    lines = [record({"key": "p0", "kind": "set", "v": 1}), record({"key": "p1"}), state(1),
             record({"key": "p0", "kind": "set", "v": 2}), record({"key": "p2"}), state(2),
             record({"key": "p3"}), state(3)]
    await pipeline.run(chunks_of(lines, size=100))
    assert len(client.batches) == 1 and [op["identifiers"]["id"] for op in client.batches[0]] == \
        ["p0", "p1", "p2", "p3"]
    assert [(r.data["key"], r.data.get("v")) for r in store.durable] == [("p0", 1), ("p0", 2), ("p3", None)]
    assert [m["state"]["destinationStats"] for m in messages(out, "STATE")] == [
        {"recordCount": 1.0, "rejectedRecordCount": 1.0},
        {"recordCount": 1.0, "rejectedRecordCount": 1.0},
        {"recordCount": 0.0, "rejectedRecordCount": 1.0},
    ]
    assert (pipeline.counts.accepted, pipeline.counts.rejected, pipeline.counts.merged) == (2, 3, 1)


# --- checkpoint counts: the platform's checksum ----------------------------------------------------------

def stream_state(name: str, n: int, source_count: int) -> bytes:
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": name}, "stream_state": {"n": n}},
        "sourceStats": {"recordCount": float(source_count)}}}).encode()


def global_state(n: int, source_count: int) -> bytes:
    return json.dumps({"type": "STATE", "state": {"type": "GLOBAL", "global": {"shared_state": {"n": n}},
                                                  "sourceStats": {"recordCount": float(source_count)}}}).encode()


def counts_of(out: io.BytesIO) -> list[tuple[float, float, float]]:
    """(accepted, rejected, sourceStats) of every emitted state, in order."""
    return [(m["state"]["destinationStats"]["recordCount"],
             m["state"]["destinationStats"].get("rejectedRecordCount", 0.0),
             m["state"]["sourceStats"]["recordCount"]) for m in messages(out, "STATE")]


async def refuse_v_minus_one(batch: list[dict[str, Any]]) -> BatchResult:
    """Customer.io refuses (207) every op whose ``v`` is -1."""
    return BatchResult(200, [{"batch_index": i, "reason": "invalid"} for i, op in enumerate(batch) if op["v"] == -1])


async def test_stream_states_count_only_their_own_stream_since_its_previous_state() -> None:
    # users and events interleave; each state counts its own stream's records since that stream's last
    # state: accepted in recordCount, rejected (before sending or by a 207) only in rejectedRecordCount.
    lines = [record({"key": "u1"}, "users"), record({"bad": True}, "events"), record({"key": "e1"}, "events"),
             record({"key": "u2", "v": -1}, "users"), stream_state("users", 1, 2),
             record({"key": "e2"}, "events"), record({"key": "u3"}, "users"), stream_state("events", 2, 3),
             record({"bad": True}, "users"), stream_state("users", 3, 2), stream_state("events", 4, 0)]
    pipeline, out = make_pipeline(ScriptedClient(refuse_v_minus_one), names=("users", "events"))
    await pipeline.run(chunks_of(lines))
    assert counts_of(out) == [(1.0, 1.0, 2.0), (2.0, 1.0, 3.0), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0)]


@pytest.mark.parametrize("store_kind", ["kept", "none"])
async def test_refusals_count_the_same_whether_the_store_keeps_their_lines_or_none_is_kept(store_kind: str) -> None:
    # Storage None keeps no rejected record, so no batched line is kept (an in-flight record costs its op
    # only): each refusal, merged records' included, still counts to its stream, its state and the sync.
    store = MemoryStore() if store_kind == "kept" else NoneStore()
    lines = [record({"key": "u1"}, "users"), record({"key": "e1", "v": -1}, "events"),
             record({"key": "u2", "v": -1}, "users"), stream_state("users", 1, 2), stream_state("events", 2, 1),
             *[record({"key": "p", "kind": "set", "v": -1, "attrs": {"a": i}}, "users") for i in range(3)],
             stream_state("users", 3, 3)]
    pipeline, out = make_pipeline(ScriptedClient(refuse_v_minus_one), store, names=("users", "events"), lanes=1)
    await pipeline.run(chunks_of(lines))
    assert pipeline._batcher.keep_lines is (store_kind == "kept")
    assert counts_of(out) == [(1.0, 1.0, 2.0), (0.0, 1.0, 1.0), (0.0, 3.0, 3.0)]
    assert store.count == 5 and pipeline.counts.accepted == 1 and pipeline.counts.merged == 2
    assert {key[1]: s.counts.rejected["api_rejected"] for key, s in pipeline.streams.items()} == \
        {"users": 4, "events": 1}
    if store_kind == "kept":
        assert [(r.stream, r.data["key"]) for r in store.durable] == \
            [("events", "e1"), ("users", "u2"), ("users", "p"), ("users", "p"), ("users", "p")]


async def test_runs_of_one_stream_in_one_chunk_count_to_their_stream_on_each_state_and_at_the_end() -> None:
    # intake counts a stream's records once per run of them: a state in the middle of a run, a switch of
    # stream and the chunk's end each count what came before, so states and the summary stay exact.
    lines = [record({"key": "u1"}, "users"), record({"key": "u2"}, "users"), record({"key": "e1"}, "events"),
             record({"key": "u3"}, "users"), record({"key": "u4"}, "users"), stream_state("users", 1, 4),
             record({"key": "u5"}, "users"), record({"bad": True}, "users"), record({"key": "e2"}, "events"),
             stream_state("events", 2, 2), stream_state("users", 3, 2)]
    pipeline, out = make_pipeline(ScriptedClient(), names=("users", "events"))
    await pipeline.run(chunks_of(lines, size=len(lines)))
    assert counts_of(out) == [(4.0, 0.0, 4.0), (2.0, 0.0, 2.0), (1.0, 1.0, 2.0)]
    assert {s.name: s.counts.records_read for s in pipeline.streams.values()} == {"users": 6, "events": 2}


async def test_a_record_of_a_stream_missing_from_the_catalog_counts_on_a_state_naming_that_stream() -> None:
    lines = [record({"key": "a"}, "ghosts"), record({"key": "b"}), stream_state("toys", 1, 1),
             stream_state("ghosts", 2, 1), b"not json", stream_state("toys", 3, 0)]
    pipeline, out = make_pipeline(ScriptedClient())
    await pipeline.run(chunks_of(lines))
    assert counts_of(out) == [(1.0, 0.0, 1.0), (0.0, 1.0, 1.0), (0.0, 0.0, 0.0)]  # the garbage line: no count


async def test_global_states_count_every_stream_since_the_previous_global_state() -> None:
    lines = [record({"key": "u1"}, "users"), record({"bad": True}, "events"), global_state(1, 2),
             record({"key": "e1", "v": -1}, "events"), record({"key": "u2"}, "users"),
             record({"key": "e2"}, "events"), global_state(2, 3)]
    pipeline, out = make_pipeline(ScriptedClient(refuse_v_minus_one), names=("users", "events"))
    await pipeline.run(chunks_of(lines))
    assert counts_of(out) == [(1.0, 1.0, 2.0), (2.0, 1.0, 3.0)]


async def test_legacy_states_count_every_record_since_the_previous_state() -> None:
    legacy = json.dumps({"type": "STATE", "state": {"data": {"cursor": 1}, "sourceStats": {"recordCount": 2.0}}})
    pipeline, out = make_pipeline(ScriptedClient())
    await pipeline.run(chunks_of([record({"key": "a"}), record({"bad": True}), legacy.encode()]))
    assert counts_of(out) == [(1.0, 1.0, 2.0)]


async def test_stream_and_global_states_in_one_input_end_the_sync_as_a_system_error() -> None:
    lines = [record({"key": "a"}), stream_state("toys", 1, 1), record({"key": "b"}), global_state(2, 1)]
    pipeline, out = make_pipeline(ScriptedClient())
    with pytest.raises(SystemFailure, match="mixes STREAM and GLOBAL states"):
        await pipeline.run(chunks_of(lines, size=1))
    assert all(m["state"]["type"] == "STREAM" for m in messages(out, "STATE"))


def stream_status(name: str, status: str) -> bytes:
    return json.dumps({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0, "stream_status": {
        "stream_descriptor": {"name": name}, "status": status}}}).encode()


async def test_a_stream_left_without_a_complete_status_is_named_in_a_warning() -> None:
    lines = [stream_status("users", "STARTED"), stream_status("events", "STARTED"), record({"key": "a"}, "users"),
             stream_status("users", "COMPLETE"), record({"key": "b"}, "events"), stream_status("events", "INCOMPLETE")]
    pipeline, out = make_pipeline(ScriptedClient(), names=("users", "events"))
    await pipeline.run(chunks_of(lines))
    warnings = [m["log"]["message"] for m in messages(out, "LOG") if m["log"]["level"] == "WARN"]
    assert warnings == ["Stream events ended without a COMPLETE stream status (last status: INCOMPLETE); the "
                        "source may not have sent all of its records."]


async def test_input_without_stream_statuses_warns_of_nothing() -> None:
    pipeline, out = make_pipeline(ScriptedClient())
    await pipeline.run(chunks_of([record({"key": "a"}), state(1)]))
    assert [m for m in messages(out, "LOG") if m["log"]["level"] == "WARN"] == []


async def test_skipped_lines_are_logged_with_their_true_line_number() -> None:
    lines = [b"garbage"] * 3 + [record({"key": f"k{i}"}) for i in range(6)] + [b"", b"more garbage", state(1)]
    pipeline, out = make_pipeline(ScriptedClient())
    await pipeline.run(chunks_of(lines, size=4))
    logged = [m["log"]["message"] for m in messages(out, "LOG") if m["log"]["level"] == "WARN"]
    assert [re.search(r"line (\d+)\)", text).group(1) for text in logged] == ["1", "2", "3", "11"]


async def test_repeated_derived_ids_are_counted_per_stream_across_chunks_and_states() -> None:
    # The window checks each chunk's derived ids at once (Stream.count_repeats at the chunk's end): a
    # repeat within a chunk, in a later chunk and after a state counts once to its own stream, and the
    # same data in another stream is another id.
    from destination_customer_io.catalog import resolve_streams
    from tests.support.cli import configured_stream

    catalog = {"streams": [configured_stream(name, "person_event") for name in ("clicks", "views")]}
    streams = resolve_streams(CONFIG, catalog)

    def event(n: int, name: str) -> bytes:
        return record({"person_email": "a@b.co", "event_name": "x", "timestamp": 1_700_000_000 + n}, name)

    lines = [event(1, "clicks"), event(1, "clicks"), event(1, "views"), event(2, "clicks"), event(1, "clicks"),
             stream_state("clicks", 1, 4), event(2, "clicks"), event(1, "views"), event(3, "views")]
    client = ScriptedClient()
    pipeline = Pipeline(streams=streams, client=client, store=NoneStore(), output=Output(io.BytesIO()),
                        lanes=2, state_max_delay=0.05, flush_interval=0.0)
    await pipeline.run(chunks_of(lines, size=2))
    assert {key[1]: (s.counts.repeated_ids, s.new_ids) for key, s in streams.items()} == \
        {"clicks": (3, []), "views": (1, [])}
    ids = [op["id"] for batch in client.batches for op in batch]
    assert len(ids) == 8 and len(set(ids)) == 4


def test_a_decoded_line_leaves_only_its_data_to_the_collector() -> None:
    """Message and Record are decoded once per input line and hold no cycle: untracked by the collector
    (docs/performance.md, round 7), while the record's data stays tracked as any dict of containers."""
    import gc

    from destination_customer_io.protocol import message_decoder

    message = message_decoder.decode(b'{"type":"RECORD","record":{"stream":"events","data":{"items":[{"sku":1}]},'
                                     b'"emitted_at":1}}')
    assert message.record is not None
    assert not gc.is_tracked(message) and not gc.is_tracked(message.record)
    assert gc.is_tracked(message.record.data)
