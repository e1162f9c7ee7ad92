"""retry.py's bookkeeping without a sync: which queued records stay, with what attempts, and the counts
the summary gives (taken, refused again, given up at the maximum, superseded); the queue's key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from destination_customer_io.batching import Batch
from destination_customer_io.catalog import resolve_streams
from destination_customer_io.checkpoints import Epoch
from destination_customer_io.config import parse_config
from destination_customer_io.retry import LAST_SYNC, QUEUE, RetryQueue, describe, queue_key
from destination_customer_io.storage.objects import LocalObjects
from tests.support.cli import configured_stream, record_line

CONFIG = parse_config({"credentials": {"siteId": "site-secret-1", "apiKey": "k"}, "retry_refused": True,
                       "object_storage_config": {"storage_type": "Local", "destination_path": "/unused"}})
STREAMS = resolve_streams(CONFIG, {"streams": [configured_stream("users", "person_identify")]})
USERS = STREAMS[(None, "users")]


def _line(email: str) -> bytes:
    return record_line("users", {"person_email": email}).encode()


def _queue(tmp: Path, entries: list[tuple[int, bytes]], max_attempts: int = 3) -> RetryQueue:
    objects = LocalObjects(str(tmp))
    key = queue_key("site-secret-1", "default", USERS)
    objects.put(key, b"".join(json.dumps({"attempts": a, "line": line.decode()}).encode() + b"\n"
                              for a, line in entries))
    queue = RetryQueue(objects, {(None, "users"): key}, max_attempts)
    asyncio.run(queue.load())
    return queue


def _batch(lines: list[bytes], epoch: Epoch) -> Batch:
    batch = Batch(0.0)
    for line in lines:
        batch.append(b"{}", line, epoch, USERS)
    return batch


def _saved(queue: RetryQueue) -> list[tuple[int, str]]:
    asyncio.run(queue.save())
    body = queue.objects.get(queue.keys[(None, "users")])
    return [(e["attempts"], json.loads(e["line"])["record"]["data"]["person_email"])
            for e in map(json.loads, body.splitlines())]


def test_the_key_sits_beside_the_ledger_and_never_names_the_site_id() -> None:
    key = queue_key("site-secret-1", "conn a", USERS)
    assert key.startswith("_customerio_retry/site-") and key.endswith("/conn_a/___users/queue.jsonl")
    assert "site-secret-1" not in key


def test_taken_leave_refused_again_count_up_and_the_last_attempt_gives_up(tmp_path: Path) -> None:
    queue = _queue(tmp_path, [(1, _line("taken@x.io")), (1, _line("again@x.io")), (2, _line("last@x.io"))])
    asyncio.run(queue.queue(_FakeBatcher(), _FakeCheckpoints(), STREAMS))
    retried = _batch([_line("taken@x.io"), _line("again@x.io"), _line("last@x.io")], queue.epoch)
    queue.refused(retried, 1)
    queue.refused(retried, 2)
    fresh = _batch([_line("new@x.io")], Epoch())  # an input record refused in this sync
    queue.refused(fresh, 0)
    assert _saved(queue) == [(2, "again@x.io"), (1, "new@x.io")]
    t = queue.tally
    assert (t.retried, t.succeeded, t.given_up, t.superseded, t.queued) == (3, 1, 1, 0, 2)
    # the stream's counts beside its queue, for `ledger show`
    last = json.loads(queue.objects.get(queue.keys[(None, "users")].removesuffix(QUEUE) + LAST_SYNC))
    assert last.pop("synced_at").endswith("Z")
    assert last == {"retried": 3, "succeeded": 1, "given_up": 1, "superseded": 0, "queued": 2}


def test_an_input_record_of_a_queued_key_supersedes_it(tmp_path: Path) -> None:
    queue = _queue(tmp_path, [(1, _line("p@x.io")), (1, _line("q@x.io"))])
    asyncio.run(queue.queue(_FakeBatcher(), _FakeCheckpoints(), STREAMS))
    queue.refused(_batch([_line("p@x.io"), _line("q@x.io")], queue.epoch), 0)
    queue.refused(_batch([_line("p@x.io"), _line("q@x.io")], queue.epoch), 1)
    queue.acknowledged(_batch([record_line("users", {"person_email": "p@x.io", "plan": "new"}).encode()], Epoch()))
    assert _saved(queue) == [(2, "q@x.io")]
    assert (queue.tally.superseded, queue.tally.queued) == (1, 1)


class _FakeBatcher:
    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, op: Any, line: bytes, epoch: Epoch, stream: Any) -> None:
        self.added.append(line)

    add_id = add


class _FakeCheckpoints:
    def read(self, epoch: Epoch, count: int) -> None:
        epoch.pending += count


def test_an_unreadable_line_of_the_queue_is_given_up_not_fatal(tmp_path: Path) -> None:
    queue = _queue(tmp_path, [(1, _line("ok@x.io"))])
    key = queue.keys[(None, "users")]
    queue.objects.put(key, queue.objects.get(key) + b"{not json\n")
    again = RetryQueue(queue.objects, queue.keys, 3)
    asyncio.run(again.load())
    assert list(again.loaded) == [_line("ok@x.io")] and again.tally.given_up == 1


def test_describe_counts_the_records_by_attempts_and_reads_the_last_sync() -> None:
    queue = b"".join(json.dumps({"attempts": a, "line": "{}"}).encode() + b"\n" for a in (2, 1, 1)) + b"{torn\n"
    last = b'{"synced_at": "2026-12-05T05:00:00Z", "retried": 1, "succeeded": 0, "given_up": 0, ' \
           b'"superseded": 0, "queued": 3}\n'
    assert describe(queue, last) == {"records": 3, "attempts": {1: 2, 2: 1}, "unreadable": 1, "last_sync": {
        "synced_at": "2026-12-05T05:00:00Z", "retried": 1, "succeeded": 0, "given_up": 0, "superseded": 0,
        "queued": 3}}
    assert describe(None, None) == {"records": 0, "attempts": {}, "unreadable": 0, "last_sync": None}
    assert describe(b"", b"not json")["last_sync"] is None
