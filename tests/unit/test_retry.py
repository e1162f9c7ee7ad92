"""retry.py's bookkeeping without a sync: which queued records stay, with what attempts, and the counts
the summary gives (taken, refused again, given up at the maximum, superseded); the queue's parts (read
oldest first, a 0.5.0 ``queue.jsonl`` included, a line in two parts once; the input's refusals durable at
each release; the old parts deleted only once the new generation is written)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec

from destination_customer_io.batching import Batch
from destination_customer_io.catalog import resolve_streams
from destination_customer_io.checkpoints import Epoch
from destination_customer_io.config import parse_config
from destination_customer_io.ledgerview import describe_queue
from destination_customer_io.retry import LAST_SYNC, RetryQueue, open_retry, queue_folder, queue_parts
from destination_customer_io.storage.objects import LocalObjects
from tests.support.cli import configured_stream, record_line
from tests.support.retry import FakeBatcher, FakeCheckpoints

SITE = "site-secret-1"
CATALOG = {"streams": [configured_stream("users", "person_identify")]}


def _config(tmp: Path, max_attempts: int = 3) -> Any:
    return parse_config({"credentials": {"siteId": SITE, "apiKey": "k"}, "retry_refused": True,
                         "retry_max_attempts": max_attempts,
                         "object_storage_config": {"storage_type": "Local", "destination_path": str(tmp)}})


USERS = resolve_streams(_config(Path("/unused")), CATALOG)[(None, "users")]


def _line(email: str) -> bytes:
    return record_line("users", {"person_email": email}).encode()


def _folder(tmp: Path) -> str:
    return queue_folder(SITE, "default", USERS)


def _part(tmp: Path, name: str, entries: list[tuple[int, bytes]], extra: bytes = b"") -> None:
    LocalObjects(str(tmp)).put(_folder(tmp) + name, b"".join(
        json.dumps({"attempts": a, "line": line.decode()}).encode() + b"\n" for a, line in entries) + extra)


def _open(tmp: Path, max_attempts: int = 3) -> tuple[RetryQueue, FakeBatcher]:
    """The queue as a sync opens it, its records fed into a fake batcher."""
    config = _config(tmp, max_attempts)
    queue = asyncio.run(open_retry(config, resolve_streams(config, CATALOG)))
    batcher = FakeBatcher()

    async def room() -> None:
        return None

    asyncio.run(queue.queue(batcher, FakeCheckpoints(), room))
    return queue, batcher


def _batch(lines: list[bytes], epoch: Epoch) -> Batch:
    batch = Batch(0.0)
    for line in lines:
        batch.append(b"{}", line, epoch, USERS)
    return batch


def _stored(tmp: Path) -> list[tuple[str, list[tuple[int, str]]]]:
    """Each part of the queue, oldest first: its name and its (attempts, email) entries."""
    objects = LocalObjects(str(tmp))
    return [(key.rpartition("/")[2], [(e["attempts"], json.loads(e["line"])["record"]["data"]["person_email"])
                                      for e in map(json.loads, objects.get(key).splitlines())])
            for _, key in queue_parts(objects.list(_folder(tmp)))]


def _refuse(queue: RetryQueue, batch: Batch, *indices: int) -> None:
    async def refuse() -> None:
        for index in indices:
            await queue.refused(batch, index)
    asyncio.run(refuse())


def test_the_folder_sits_beside_the_ledger_and_never_names_the_site_id(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert folder.startswith("_customerio_retry/site-") and folder.endswith("/default/___users/")
    assert SITE not in folder


def test_parts_are_read_oldest_first_a_050_queue_first_of_all() -> None:
    keys = ["f/queue-00000002-000000.jsonl", "f/last_sync.json", "f/queue-00000001-000010.jsonl",
            "f/queue.jsonl", "f/queue-00000001-000002.jsonl", "f/notes.txt"]
    assert queue_parts(keys) == [(0, "f/queue.jsonl"), (1, "f/queue-00000001-000002.jsonl"),
                                 (1, "f/queue-00000001-000010.jsonl"), (2, "f/queue-00000002-000000.jsonl")]


def test_taken_leave_refused_again_count_up_and_the_last_attempt_gives_up(tmp_path: Path) -> None:
    _part(tmp_path, "queue.jsonl", [(1, _line("taken@x.io")), (1, _line("again@x.io")), (2, _line("last@x.io"))])
    queue, batcher = _open(tmp_path)
    assert batcher.added == [_line("taken@x.io"), _line("again@x.io"), _line("last@x.io")]
    retried = _batch(batcher.added, queue.epoch)
    _refuse(queue, retried, 1, 2)
    _refuse(queue, _batch([_line("new@x.io")], Epoch()), 0)  # an input record refused in this sync
    asyncio.run(queue.save())
    # the 0.5.0 queue read as generation 0 and deleted; the next generation: the input's refusal, then
    # the queued record refused again
    assert _stored(tmp_path) == [("queue-00000001-000000.jsonl", [(1, "new@x.io"), (2, "again@x.io")])]
    t = queue.tally
    assert (t.retried, t.succeeded, t.given_up, t.superseded, t.queued) == (3, 1, 1, 0, 2)
    last = json.loads(LocalObjects(str(tmp_path)).get(_folder(tmp_path) + LAST_SYNC))
    assert last.pop("synced_at").endswith("Z")
    assert last == {"retried": 3, "succeeded": 1, "given_up": 1, "superseded": 0, "queued": 2}


def test_the_inputs_refusals_are_durable_at_each_release_and_the_old_parts_stay_until_the_end(
        tmp_path: Path) -> None:
    _part(tmp_path, "queue-00000004-000000.jsonl", [(1, _line("old@x.io"))])
    queue, batcher = _open(tmp_path)
    _refuse(queue, _batch([_line("a@x.io")], Epoch()), 0)
    asyncio.run(queue.before_release())  # a state is about to leave
    _refuse(queue, _batch([_line("b@x.io")], Epoch()), 0)
    # what a SIGKILL here leaves: the old part, and the refusals known before the state
    assert _stored(tmp_path) == [("queue-00000004-000000.jsonl", [(1, "old@x.io")]),
                                 ("queue-00000005-000000.jsonl", [(1, "a@x.io")])]
    _refuse(queue, _batch(batcher.added, queue.epoch), 0)
    asyncio.run(queue.save())
    assert _stored(tmp_path) == [("queue-00000005-000000.jsonl", [(1, "a@x.io")]),
                                 ("queue-00000005-000001.jsonl", [(1, "b@x.io"), (2, "old@x.io")])]


def test_after_a_killed_sync_a_line_in_two_generations_is_sent_and_kept_once(tmp_path: Path) -> None:
    """The killed sync had begun writing its generation: the old line is in both, with attempts 1 and 2."""
    _part(tmp_path, "queue-00000001-000000.jsonl", [(1, _line("p@x.io")), (1, _line("q@x.io"))])
    _part(tmp_path, "queue-00000002-000000.jsonl", [(1, _line("fresh@x.io")), (2, _line("p@x.io"))])
    queue, batcher = _open(tmp_path)
    assert batcher.added == [_line("p@x.io"), _line("q@x.io"), _line("fresh@x.io")]
    _refuse(queue, _batch(batcher.added, queue.epoch), 0)
    asyncio.run(queue.save())
    assert _stored(tmp_path) == [("queue-00000003-000000.jsonl", [(2, "p@x.io")])]
    assert (queue.tally.retried, queue.tally.succeeded, queue.tally.queued) == (3, 2, 1)


def test_an_input_record_of_a_queued_key_supersedes_it(tmp_path: Path) -> None:
    _part(tmp_path, "queue-00000001-000000.jsonl", [(1, _line("p@x.io")), (1, _line("q@x.io"))])
    queue, batcher = _open(tmp_path)
    _refuse(queue, _batch(batcher.added, queue.epoch), 0, 1)
    queue.acknowledged(_batch([record_line("users", {"person_email": "p@x.io", "plan": "new"}).encode()], Epoch()))
    asyncio.run(queue.save())
    assert _stored(tmp_path) == [("queue-00000002-000000.jsonl", [(2, "q@x.io")])]
    assert (queue.tally.superseded, queue.tally.queued) == (1, 1)


def test_a_later_queued_row_of_the_same_key_supersedes_the_earlier(tmp_path: Path) -> None:
    old, new = (record_line("users", {"person_email": "p@x.io", "plan": plan}).encode() for plan in ("a", "b"))
    _part(tmp_path, "queue-00000001-000000.jsonl", [(1, old), (1, new)])
    queue, batcher = _open(tmp_path)
    _refuse(queue, _batch(batcher.added, queue.epoch), 0, 1)
    asyncio.run(queue.save())
    [(_, [(attempts, _)])] = _stored(tmp_path)
    entry = json.loads(LocalObjects(str(tmp_path)).get(queue_parts(LocalObjects(str(tmp_path)).list(
        _folder(tmp_path)))[0][1]))
    assert (attempts, json.loads(entry["line"])["record"]["data"]["plan"]) == (2, "b")
    assert queue.tally.superseded == 1


def test_the_same_line_queued_twice_is_not_its_own_superseder(tmp_path: Path) -> None:
    """The input delivered one record twice and both were refused: both go, both stay queued."""
    _part(tmp_path, "queue-00000001-000000.jsonl", [(1, _line("p@x.io")), (1, _line("p@x.io"))])
    queue, batcher = _open(tmp_path)
    _refuse(queue, _batch(batcher.added, queue.epoch), 0, 1)
    asyncio.run(queue.save())
    assert _stored(tmp_path) == [("queue-00000002-000000.jsonl", [(2, "p@x.io"), (2, "p@x.io")])]
    assert queue.tally.superseded == 0


def test_an_unreadable_line_of_the_queue_is_given_up_not_fatal(tmp_path: Path) -> None:
    _part(tmp_path, "queue-00000001-000000.jsonl", [(1, _line("ok@x.io"))], extra=b"{not json\n")
    queue, batcher = _open(tmp_path)
    assert batcher.added == [_line("ok@x.io")] and queue.tally.given_up == 1


def test_describe_counts_the_records_by_attempts_once_each_and_reads_the_last_sync() -> None:
    part = b"".join(msgspec.json.encode({"attempts": a, "line": f"{{{n}}}"}) + b"\n"
                    for a, n in ((2, 1), (1, 2), (1, 3))) + b"{torn\n"
    again = msgspec.json.encode({"attempts": 3, "line": "{1}"}) + b"\n"  # a killed sync's copy: counted once
    last = b'{"synced_at": "2026-12-05T05:00:00Z", "retried": 1, "succeeded": 0, "given_up": 0, ' \
           b'"superseded": 0, "queued": 3}\n'
    assert describe_queue([part, again], last) == {"records": 3, "attempts": {1: 2, 2: 1}, "unreadable": 1,
                                                   "last_sync": {"synced_at": "2026-12-05T05:00:00Z", "retried": 1,
                                                                 "succeeded": 0, "given_up": 0, "superseded": 0,
                                                                 "queued": 3}}
    assert describe_queue([], None) == {"records": 0, "attempts": {}, "unreadable": 0, "last_sync": None}
    assert describe_queue([b""], b"not json")["last_sync"] is None
