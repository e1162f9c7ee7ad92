"""``replay``'s reading side without a server: which files are read as which stream, what is left out,
the RECORD lines the pipeline gets, and the refusals before anything is sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from destination_customer_io.catalog import resolve_streams
from destination_customer_io.config import parse_config
from destination_customer_io.errors import ConfigurationError
from destination_customer_io.storage.objects import LocalObjects
from destination_customer_io.replay import Replay, chosen_streams
from tests.support.cli import configured_stream

CONFIG = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}})
STREAMS = resolve_streams(CONFIG, {"streams": [
    configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]]),
    configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]],
                      namespace="crm"),
    configured_stream("orders", "person_event"),
]})


def row(email: str, reason: str = "identifier_invalid") -> str:
    return json.dumps({"_airbyte_raw_id": "r", "_airbyte_extracted_at": 5, "_airbyte_generation_id": 1,
                       "_airbyte_meta": {"sync_id": 7, "changes": []},
                       "_airbyte_data": {"person_email": email, "rejected_reason": reason,
                                         "rejected_field": None, "rejected_message": "m"}}) + "\n"


def layout(root: Path) -> None:
    files = {
        "7/users/a.jsonl": row("u@x.io"),
        "7/crm/users/a.jsonl": row("crm@x.io"),
        "7/orders/a.jsonl": row("o@x.io"),
        "7/refunds/a.jsonl": row("r1@x.io") + row("r2@x.io"),
        "7/users/_check_test_0f": "probe",
        "_customerio_replay/20261205T000000.000000Z/7/users/a.jsonl": row("again@x.io"),
        "_customerio_ledger/site-1/default/x/snapshot-00000001.ldg": "ledger",
        "7/users/b.csv": "_airbyte_raw_id,_airbyte_extracted_at,_airbyte_meta,_airbyte_generation_id,plan\r\n",
    }
    for key, body in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


def replayed(root: Path, wanted: str | None = None, path_format: str = "") -> tuple[Replay, list[dict]]:
    replay = Replay(LocalObjects(str(root)), STREAMS, chosen_streams(STREAMS, wanted), path_format)

    async def collect() -> list[dict]:
        await replay.find_files()
        return [json.loads(line)["record"] async for chunk in replay.chunks() for line in chunk]
    return replay, asyncio.run(collect())


def test_each_file_goes_to_its_stream_and_the_rest_is_counted(tmp_path: Path) -> None:
    layout(tmp_path)
    replay, records = replayed(tmp_path)
    assert [(r.get("namespace", ""), r["stream"], r["data"]["person_email"]) for r in records] == [
        ("crm", "users", "crm@x.io"), ("", "orders", "o@x.io"), ("", "users", "u@x.io")]  # key order
    assert records[0] == {"stream": "users", "namespace": "crm", "data": {"person_email": "crm@x.io"}, "emitted_at": 5}
    tally = replay.tally
    assert tally.unknown == {"7/refunds/": 2}
    assert tally.records == 5 and tally.files == 4
    assert list(tally.unreadable_files) == ["7/users/b.csv"]
    assert tally.unreadable_files["7/users/b.csv"].startswith("CSV with root-level flattening")


def test_stream_option_reads_that_streams_files_only(tmp_path: Path) -> None:
    layout(tmp_path)
    replay, records = replayed(tmp_path, "crm.users")
    assert [r["data"]["person_email"] for r in records] == ["crm@x.io"]
    assert replay.tally.other_streams == 3  # orders, users (a.jsonl, b.csv)
    with pytest.raises(ConfigurationError, match=r"--stream refunds: no such stream in the catalog \(its "
                                                 r"streams: crm.users, orders, users\)"):
        chosen_streams(STREAMS, "refunds")


def test_a_path_format_without_the_stream_needs_the_stream_option(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "a.jsonl").write_text(row("x@x.io"))
    with pytest.raises(ConfigurationError, match="does not name the stream"):
        replayed(tmp_path, None, "{sync_id}/")
    _, records = replayed(tmp_path, "orders", "{sync_id}/")
    assert [(r["stream"], r["data"]) for r in records] == [("orders", {"person_email": "x@x.io"})]
