"""A mirror sync SIGKILLed while the sync ledger uploads (issue 25): the store (moto S3, a process of its
own) is paused with SIGSTOP after the first state, so the next state release's delta upload hangs, and
the connector is killed there. Whatever reached the store (a delta or not), the ledger may forget
deliveries but never claim one: the next complete sync of the same set leaves the segment and the ledger
equal to it, and the one after removes exactly who left."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from destination_customer_io.config import S3Storage
from destination_customer_io.ledger import files
from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.ledger.table import MEMBER
from destination_customer_io.storage.objects import S3Objects
from tests.support.s3 import MotoProcess

from .harness import SITE_ID as SITE
from .harness import make_config, run_cli

BUCKET = "ledger"
MEMBERS = [f"m{i:04d}@example.com" for i in range(3_000)]


@pytest.fixture
def s3() -> Iterator[MotoProcess]:
    with MotoProcess.with_bucket(BUCKET) as server:
        yield server


def _storage(s3: MotoProcess) -> dict[str, Any]:
    return {"storage_type": "S3", "s3_bucket_name": BUCKET, "bucket_path": "", "s3_endpoint": s3.endpoint,
            "s3_bucket_region": "us-east-1", "access_key_id": "AKIAKILL", "secret_access_key": "kill-secret",
            "format": {"format_type": "JSONL"}, "compression": {"compression_type": "No Compression"}}


def _lines(emails: list[str], generation: int) -> list[bytes]:
    lines = []
    for i, email in enumerate(emails, 1):
        lines.append(json.dumps({"type": "RECORD", "record": {"stream": "vips", "emitted_at": 1, "data": {
            "person_email": email, "segment_id": 7}}}).encode())
        if i % 500 == 0:
            lines.append(json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
                "stream_descriptor": {"name": "vips"}, "stream_state": {"at": i}}}}).encode())
    lines.append(json.dumps({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1, "stream_status": {
        "stream_descriptor": {"name": "vips"}, "status": "COMPLETE"}}}).encode())
    return lines


def _catalog(generation: int) -> dict[str, Any]:
    return {"streams": [{"stream": {"name": "vips", "json_schema": {"type": "object"},
                                    "supported_sync_modes": ["full_refresh"]},
                         "sync_mode": "full_refresh", "destination_sync_mode": "overwrite",
                         "destination_object_name": "segment_membership", "generation_id": generation,
                         "minimum_generation_id": generation, "sync_id": 9}]}


def _segment(emu: Any) -> set[str]:
    by_cio = {p["cio_id"]: p["email"] for p in emu.client.people(site_id=SITE)}
    return {by_cio[cio] for cio in emu.client.segments(site_id=SITE).get("7", [])}


def _ledger_members(s3: MotoProcess) -> set[str]:
    storage = S3Storage(s3_bucket_name=BUCKET, bucket_path="", s3_endpoint=s3.endpoint, s3_bucket_region="us-east-1",
                        access_key_id="AKIAKILL", secret_access_key="kill-secret")
    keeper = Keeper(S3Objects(storage), files.scope_prefix(SITE, "default"), print, readonly=True)
    book = asyncio.run(keeper.open_book("vips", files.stream_dir(None, "vips", "segment_membership"), None,
                                        mirror=True, skip=False, resend_after_days=30))
    members = {json.loads(row[5])[2].strip('"') for row in book.table.rows() if row[4] == MEMBER}
    keeper.close()
    return members


def test_a_mirror_killed_during_a_ledger_upload_converges(emu: Any, s3: MotoProcess, tmp_path: Path) -> None:
    config = make_config(emu.url, None, object_storage_config=_storage(s3), retry_max_seconds=30,
                         request_timeout_seconds=5, max_mirror_removal_percent=50)
    first = run_cli(tmp_path / "1", config, _lines(MEMBERS, 1), catalog=_catalog(1))
    assert first.returncode == 0, first.stderr[-2000:]
    killed: dict[str, Any] = {}

    def on_message(message: dict[str, Any], proc: Any) -> None:
        if message.get("type") == "STATE" and not killed:
            s3.pause()  # the next state release's delta upload now hangs
            killed["timer"] = threading.Timer(1.0, proc.send_signal, (signal.SIGKILL,))
            killed["timer"].start()

    left = MEMBERS[:2_000] + [f"n{i:04d}@example.com" for i in range(500)]
    second = run_cli(tmp_path / "2", config, _lines(left, 2), catalog=_catalog(2), on_message=on_message,
                     timeout=60)
    s3.resume()
    assert killed and second.returncode == -signal.SIGKILL, second.stderr[-2000:]
    # no state after the pause: each waits for the ledger's delta upload, which hung until the kill
    assert [m["type"] for m in second.messages].count("STATE") == 1
    again = run_cli(tmp_path / "3", config, _lines(left, 2), catalog=_catalog(2))  # the platform's retry
    assert again.returncode == 0, again.stderr[-2000:]
    assert _segment(emu) == set(left) == _ledger_members(s3)
    final = MEMBERS[:1_900] + left[2_000:]
    third = run_cli(tmp_path / "4", config, _lines(final, 3), catalog=_catalog(3))
    assert third.returncode == 0, third.stderr[-2000:]
    assert _segment(emu) == set(final) == _ledger_members(s3)
