"""Test data and an independent reader for rejected-record files (decodes what the store wrote)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import socket
import uuid
from typing import Any

from destination_customer_io.rejected import RejectedRecord

META = ["_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id"]
SYNC_ID = 42


def record(i: int, *, stream: str = "users", namespace: str | None = "analytics",
           **data: Any) -> RejectedRecord:
    """A rejected record whose values exercise CSV quoting, unicode, nesting and nulls."""
    body: dict[str, Any] = {
        "person_email": f"user{i}@example.com",
        "plan": 'pro, "annual"\nline two' if i % 3 == 0 else "free",
        "name": "Zoë Ångström ✓",
        "age": i,
        "score": i / 4,
        "active": i % 2 == 0,
        "tags": ["a", "b,c"],
        "address": {"city": "Paris", "zip": None},
        "nothing": None,
    }
    if i % 4 == 1:
        body["only_sometimes"] = f"extra-{i}"  # CSV root flattening: a column not every row has
    body.update(data)
    return RejectedRecord(
        stream=stream, namespace=namespace, data=body, emitted_at=1_700_000_000_000 + i,
        reason="invalid_email", field=None if i % 7 == 0 else "person_email", message=f"msg-{i}: not an email",
        generation_id=3, changes=[{"field": "age", "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}]
        if i % 5 == 0 else None)


def expected_data(rec: RejectedRecord) -> dict[str, Any]:
    return {**rec.data, "rejected_reason": rec.reason, "rejected_field": rec.field,
            "rejected_message": rec.message}


def expected_meta(rec: RejectedRecord, sync_id: int | None = SYNC_ID) -> dict[str, Any]:
    return {"sync_id": sync_id, "changes": rec.changes or []}


def decode(key: str, body: bytes) -> bytes:
    if key.endswith(".gz"):
        assert body[:2] == b"\x1f\x8b", "a .gz object must be gzip"
        return gzip.decompress(body)
    return body


def read_rows(key: str, body: bytes) -> list[dict[str, Any]]:
    """Rows as written: dicts for JSONL, dicts of strings for CSV (header order kept in ``columns``)."""
    text = decode(key, body).decode("utf-8")
    if ".jsonl" in key:
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text, newline="")))


def csv_header(key: str, body: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(decode(key, body).decode("utf-8"), newline="")))


def assert_uuid4(value: str) -> None:
    assert uuid.UUID(value).version == 4


def check_jsonl_row(row: dict[str, Any], rec: RejectedRecord, flatten: bool) -> None:
    assert_uuid4(row["_airbyte_raw_id"])
    assert row["_airbyte_extracted_at"] == rec.emitted_at
    assert row["_airbyte_meta"] == expected_meta(rec)
    assert row["_airbyte_generation_id"] == rec.generation_id
    if flatten:
        assert {k: v for k, v in row.items() if k not in META} == expected_data(rec)
    else:
        assert set(row) == {*META, "_airbyte_data"}
        assert row["_airbyte_data"] == expected_data(rec)


def check_csv_row(row: dict[str, str], rec: RejectedRecord, flatten: bool) -> None:
    assert_uuid4(row["_airbyte_raw_id"])
    assert row["_airbyte_extracted_at"] == str(rec.emitted_at)
    assert json.loads(row["_airbyte_meta"]) == expected_meta(rec)
    assert row["_airbyte_generation_id"] == str(rec.generation_id)
    if not flatten:
        assert json.loads(row["_airbyte_data"]) == expected_data(rec)
        return
    data = expected_data(rec)
    for column, cell in row.items():
        if column in META:
            continue
        if column not in data or data[column] is None:
            assert cell == "", column
        elif isinstance(data[column], str):
            assert cell == data[column], column
        else:
            assert json.loads(cell) == data[column], column
    assert set(data) <= set(row)


def check_rows(key: str, rows: list[dict[str, Any]], by_message: dict[str, RejectedRecord],
               flatten: bool) -> None:
    for row in rows:
        message = row["rejected_message"] if flatten else _data(row)["rejected_message"]
        rec = by_message[message]
        if ".jsonl" in key:
            check_jsonl_row(row, rec, flatten)
        else:
            check_csv_row(row, rec, flatten)


def _data(row: dict[str, Any]) -> dict[str, Any]:
    data = row["_airbyte_data"]
    return json.loads(data) if isinstance(data, str) else data


def message_of(row: dict[str, Any]) -> str:
    return row["rejected_message"] if "rejected_message" in row else _data(row)["rejected_message"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
