"""RollingFiles semantics (the rejected-records store) with an in-memory sink: durability of flush, backpressure, errors."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from destination_customer_io.config import CsvFormat, NoCompression
from destination_customer_io.pacing import RetryPolicy
from destination_customer_io.rejected import StoreError
from destination_customer_io.rejected.formats import encoder_factory
from destination_customer_io.rejected.keys import KeyTemplate
from destination_customer_io.storage.options import StoreOptions
from destination_customer_io.storage.rolling import RollingFiles

from .helpers import message_of, read_rows, record


class MemorySink:
    """Records puts; ``gate`` (when set) holds every put until released; ``fail`` makes puts raise."""

    step = "memory put"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0
        self.gate: threading.Event | None = None
        self.fail: Exception | None = None
        self.closed = False

    @property
    def target(self) -> str:
        return "memory"

    def put(self, key: str, body: bytes) -> None:
        if self.gate is not None:
            assert self.gate.wait(5), "gate never opened"
        self.puts += 1
        if self.fail is not None:
            raise self.fail
        assert key not in self.objects, f"{key} written twice"
        self.objects[key] = body

    def close(self) -> None:
        self.closed = True


def make_store(sink: MemorySink, file_name: str = "{part_number}{format_extension}",
               **options: Any) -> RollingFiles:
    keys = KeyTemplate("", "{stream_name}", file_name, extension=".csv", sync_id=1,
                       sync_time_ms=0)
    return RollingFiles(sink, keys, encoder_factory(CsvFormat(), NoCompression(), 1),
                            options=StoreOptions(**options))


def messages(sink: MemorySink) -> list[str]:
    return sorted(message_of(r) for k, b in sink.objects.items() for r in read_rows(k, b))


async def test_flush_waits_for_uploads_started_by_rollover() -> None:
    sink = MemorySink()
    sink.gate = threading.Event()
    store = make_store(sink, part_max_bytes=1)  # every record seals its part
    await store.add(record(1))
    flush = asyncio.create_task(store.flush())
    await asyncio.sleep(0.05)
    assert not flush.done()  # the upload is held: flush must not return
    sink.gate.set()
    await flush
    assert messages(sink) == [record(1).message]


async def test_flush_covers_a_part_sealed_by_a_concurrent_add() -> None:
    sink = MemorySink()
    sink.gate = threading.Event()
    store = make_store(sink, part_max_bytes=1, max_pending_uploads=1, max_concurrent_uploads=1)
    await store.add(record(1))
    adder = asyncio.create_task(store.add(record(2)))  # waits for room behind record 1's upload
    await asyncio.sleep(0.02)
    flush = asyncio.create_task(store.flush())
    await asyncio.sleep(0.02)
    assert not flush.done() and not adder.done()
    sink.gate.set()
    await asyncio.gather(adder, flush)
    assert messages(sink) == sorted([record(1).message, record(2).message])


async def test_backpressure_bounds_pending_parts() -> None:
    sink = MemorySink()
    sink.gate = threading.Event()
    store = make_store(sink, part_max_bytes=1, max_pending_uploads=2, max_concurrent_uploads=1)
    await store.add(record(1))
    await store.add(record(2))
    blocked = asyncio.create_task(store.add(record(3)))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # three parts waiting: add() waits for an upload to finish
    sink.gate.set()
    await blocked
    await store.close()
    assert len(sink.objects) == 3 and sink.closed


async def test_quiet_flush_makes_no_request() -> None:
    sink = MemorySink()
    store = make_store(sink)
    await store.flush()
    await store.add(record(1))
    await store.flush()
    await store.flush()
    await store.close()
    assert sink.puts == 1


async def test_errors_are_sticky() -> None:
    sink = MemorySink()
    sink.fail = StoreError("boom", step="PutObject", target="memory", code="InternalError")
    store = make_store(sink)
    await store.add(record(1))
    with pytest.raises(StoreError, match="boom"):
        await store.flush()
    sink.fail = None  # even if the sink recovers, the lost part must not be forgotten
    with pytest.raises(StoreError, match="boom"):
        await store.flush()
    with pytest.raises(StoreError, match="boom"):
        await store.add(record(2))


class FlakySink(MemorySink):
    """Fails ``failures`` puts with a StoreError that may pass, then stores."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def put(self, key: str, body: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("timed out", step="PutObject", target="memory", code="ReadTimeout", transient=True)
        super().put(key, body)


QUICK_RETRY = RetryPolicy(max_seconds=1.0, initial=0.01, maximum=0.05)


async def test_a_put_that_may_pass_is_retried_and_nothing_is_lost_or_doubled() -> None:
    sink = FlakySink(failures=3)
    store = make_store(sink, retry=QUICK_RETRY)
    for i in range(3):
        await store.add(record(i))
    await store.flush()
    assert sink.failures == 0 and len(sink.objects) == 1
    assert messages(sink) == sorted(record(i).message for i in range(3))


async def test_a_put_that_keeps_failing_ends_within_the_budget_as_transient() -> None:
    sink = FlakySink(failures=10_000)
    store = make_store(sink, retry=QUICK_RETRY)
    await store.add(record(1))
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        await store.flush()
    assert time.monotonic() - started < 1.5
    assert caught.value.transient and "retry_max_seconds: 1" in str(caught.value)
    assert sink.objects == {}


async def test_unexpected_sink_exception_becomes_store_error() -> None:
    sink = MemorySink()
    sink.fail = RuntimeError("secret-ish details")
    store = make_store(sink)
    await store.add(record(1))
    with pytest.raises(StoreError) as caught:
        await store.flush()
    assert caught.value.step == "upload" and "RuntimeError" in str(caught.value)
    assert "secret-ish" not in str(caught.value)


async def test_same_key_twice_gets_a_suffix_instead_of_overwriting() -> None:
    sink = MemorySink()
    store = make_store(sink, file_name="rejected{format_extension}")
    for i in range(3):
        await store.add(record(i))
        await store.flush()
    assert sorted(sink.objects) == ["users/rejected-1.csv", "users/rejected-2.csv", "users/rejected.csv"]


async def test_count_and_closed_store() -> None:
    sink = MemorySink()
    store = make_store(sink)
    for i in range(5):
        await store.add(record(i))
    assert store.count == 5
    await store.close()
    await store.close()  # idempotent
    assert store.objects_written == 1
    with pytest.raises(StoreError):
        await store.add(record(9))


@pytest.mark.parametrize("cells", [
    ["plain", "", "with,comma", 'with "quote"', "line\nbreak", "cr\rreturn", " spaced ", "ünï"],
    ["", ""], ['{"a":"b,c"}', "1"],
])
def test_csv_line_matches_the_csv_module(cells: list[str]) -> None:
    import csv
    import io

    from destination_customer_io.rejected.formats import csv_line

    expected = io.StringIO()
    csv.writer(expected).writerow(cells)
    assert csv_line(cells) == expected.getvalue().encode()
