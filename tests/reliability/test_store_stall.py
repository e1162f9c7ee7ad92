"""A rejected-records store that stops answering mid-sync: the S3 server (moto, in a process of its own)
is paused with SIGSTOP a moment into the sync, once the first state proved the store works.

The sync must end within ``retry_max_seconds`` plus about one request timeout of the stall (not the SDK's
attempts x timeouts: 368 s with ``retry_max_seconds: 15`` before), as a ``transient_error`` so the
platform retries the attempt; no state may be emitted whose rejected rows are not in the store; and the
progress lines must say what is waited on."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.s3 import MotoProcess

from .harness import StateAuditor, build_dataset, make_config, run_cli, state_marker

RETRY_BUDGET, REQUEST_TIMEOUT = 3.0, 1.0
# What the bound does not count: the grouped store flush that meets the stall (flush_interval, 1 s),
# interpreter exit, and a loaded 2-core machine.
SLACK = 3.0
BUCKET = "dlq"


@pytest.fixture
def s3() -> Iterator[MotoProcess]:
    with MotoProcess.with_bucket(BUCKET) as server:
        yield server


def _stored_rows(server: MotoProcess, before: datetime.datetime) -> tuple[set[int], set[int]]:
    """The ``row`` of every rejected record in the bucket: (in objects written before ``before``, in all)."""
    client = server.client()
    early: set[int] = set()
    every: set[int] = set()
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        rows = {json.loads(line)["_airbyte_data"]["row"] for line in body.splitlines()}
        every |= rows
        if item["LastModified"] < before:
            early |= rows
    return early, every


def test_a_stalled_store_ends_the_sync_in_its_retry_budget_as_transient(
        emu: Any, s3: MotoProcess, tmp_path: Path, figures: Any) -> None:
    dataset = build_dataset(people=40, events=500, seed=21)
    storage = {"storage_type": "S3", "s3_bucket_name": BUCKET, "bucket_path": "", "s3_endpoint": s3.endpoint,
               "s3_bucket_region": "us-east-1", "access_key_id": "AKIASTALL", "secret_access_key": "stall-secret",
               "format": {"format_type": "JSONL"}, "compression": {"compression_type": "No Compression"}}
    config = make_config(emu.url, None, object_storage_config=storage, retry_max_seconds=RETRY_BUDGET,
                         request_timeout_seconds=REQUEST_TIMEOUT, progress_interval_seconds=0.5)
    auditor = StateAuditor(emu.client, dataset, None)  # the emulator's side, at each state
    stall: dict[str, Any] = {}

    def on_message(message: dict[str, Any], proc: Any) -> None:
        auditor(message, proc)
        if message.get("type") == "STATE" and not stall:
            # the first state: the store has answered; now it stops answering
            stall["wall"] = datetime.datetime.now(datetime.timezone.utc)
            stall["at"] = time.monotonic()
            s3.pause()
            stall["after"] = []
        elif message.get("type") == "STATE":
            stall["after"].append(state_marker(message))

    # a source still producing: the input keeps coming while the store is stalled
    run = run_cli(tmp_path / "run", config, dataset.lines, on_message=on_message, trickle=(10, 0.05),
                  timeout=60)
    ended = time.monotonic()
    s3.resume()

    assert stall, "no state before the stall: the test proved nothing"
    assert run.returncode == 1, run.stderr[-2000:]
    assert [e["failure_type"] for e in run.errors] == ["transient_error"], run.errors
    message = run.errors[0]["message"]
    assert message.startswith(f"Could not write rejected records: Rejected-records bucket '{BUCKET}': PutObject "
                              "failed: "), message
    assert "; still failing after " in message and f" s (retry_max_seconds: {RETRY_BUDGET:g})" in message
    assert run.stderr == b""  # a TRACE, no traceback
    stalled_for = ended - stall["at"]
    assert stalled_for < RETRY_BUDGET + REQUEST_TIMEOUT + SLACK, stalled_for
    # no state ahead of its rows: every rejected row before any emitted state was in an object written
    # before the stall (nothing can be written while the server is stopped; puts it received then and
    # applies once resumed are written seconds later, and do not count)
    durable, _ = _stored_rows(s3, stall["wall"] + datetime.timedelta(seconds=1))
    for marker in auditor.markers:
        index = dataset.state_index[marker]
        missing = [row for row, (line, _) in dataset.rejected.items() if line < index and row not in durable]
        assert missing == [], f"state {marker} emitted before rejected rows {missing[:3]} were stored"
    assert auditor.problems == []
    assert len(auditor.markers) < len(dataset.state_index)  # the states behind the stall were held back
    # the progress lines said what was waited on
    waits = [text for text in run.logs() if "; waiting for the rejected-records store (S3 PutObject) for " in text]
    assert waits, [text for text in run.logs() if text.startswith("Progress")]
    assert any("failed, the last ReadTimeout" in text or "failed, the last ConnectTimeout" in text
               for text in waits), waits
    figures(faults=1, records=len(dataset.rejected), duplicates=0, seconds_after_stall=round(stalled_for, 2),
            states_after_stall=len(stall["after"]), message=message)
