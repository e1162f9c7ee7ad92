"""Rejected-records files read back, for ``replay``: a file's bytes -> its rows as the records they were.

    read_rows(body) -> ([Row(data, emitted_at, changes, reason), ...], unreadable rows)

Reads what ``formats.py`` writes, whatever the config said then: GZIP or not (found from the bytes, not
the name), JSONL nested or with root-level flattening (a flattened row has ``rejected_reason`` beside the
meta columns), CSV without flattening (``_airbyte_data`` is a JSON cell). A row's data is the record's
data without the three ``rejected_*`` fields; ``_airbyte_extracted_at`` is its ``emitted_at``.

CSV with root-level flattening is refused (:class:`UnreadableFile`): its cells lost their JSON types (the
string "123" and the number 123 are written alike, null and a missing field both as an empty cell), so a
record rebuilt from it would not be the record that was rejected, and its derived event id would differ.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from dataclasses import dataclass
from typing import Any

import msgspec

from .formats import DATA_COLUMN, META_COLUMNS

REJECTED_FIELDS = ("rejected_reason", "rejected_field", "rejected_message")
_GZIP_MAGIC = b"\x1f\x8b"
_decode = msgspec.json.decode


class UnreadableFile(ValueError):
    """A file that holds no rejected records this module can rebuild exactly; the text says why."""


@dataclass(slots=True)
class Row:
    data: dict[str, Any]  # the record's data as it was read by the sync that rejected it
    emitted_at: int  # ms
    changes: list[Any] | None  # the record's meta.changes, when it had any
    reason: str | None  # the rejected_reason the row carries


def read_rows(body: bytes) -> tuple[list[Row], int]:
    """The rows of one rejected-records file, and how many of its rows could not be read."""
    text = _text(_decompressed(body))
    if text.lstrip().startswith("{") or not text.strip():
        return _jsonl_rows(text)
    return _csv_rows(text)


def _decompressed(body: bytes) -> bytes:
    if not body.startswith(_GZIP_MAGIC):
        return body
    try:
        return zlib.decompress(body, 47)  # 32 + 15: a gzip header
    except zlib.error as exc:
        raise UnreadableFile(f"a GZIP file that cannot be decompressed ({exc})") from None


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile("not UTF-8 text: not a JSONL or CSV rejected-records file") from None


def _json(text: str | bytes) -> Any:
    """Strict JSON first; the stdlib reads what the writer's fallback wrote (ints beyond 64 bits, lone
    UTF-16 surrogate escapes)."""
    try:
        return _decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def _jsonl_rows(text: str) -> tuple[list[Row], int]:
    rows: list[Row] = []
    unreadable = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = _row(_json(line))
        except ValueError:
            row = None
        if row is None:
            unreadable += 1
        else:
            rows.append(row)
    return rows, unreadable


def _row(value: Any) -> Row | None:
    """A decoded JSONL row (nested or flattened) as a Row; None when it is not a rejected-records row."""
    if not isinstance(value, dict):
        return None
    if "rejected_reason" in value:  # root-level flattening: the data beside the meta columns
        fields = {k: v for k, v in value.items() if k not in META_COLUMNS}
    elif isinstance(value.get(DATA_COLUMN), dict):
        fields = value[DATA_COLUMN]
    else:
        return None
    return _rebuilt(fields, value.get("_airbyte_extracted_at"), value.get("_airbyte_meta"))


def _rebuilt(fields: dict[str, Any], extracted_at: Any, meta: Any) -> Row:
    data = {k: v for k, v in fields.items() if k not in REJECTED_FIELDS}
    reason = fields.get("rejected_reason")
    changes = meta.get("changes") if isinstance(meta, dict) else None
    emitted_at = extracted_at if isinstance(extracted_at, int) and not isinstance(extracted_at, bool) else 0
    return Row(data, emitted_at, changes if isinstance(changes, list) and changes else None,
               reason if isinstance(reason, str) else None)


def _csv_rows(text: str) -> tuple[list[Row], int]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise UnreadableFile(f"a CSV file that cannot be parsed ({exc})") from None
    if tuple(header) != (*META_COLUMNS, DATA_COLUMN):
        if tuple(header[:len(META_COLUMNS)]) == META_COLUMNS:
            raise UnreadableFile(
                "CSV with root-level flattening: its cells do not keep JSON types (\"123\" and 123 are "
                "written alike), so the records cannot be rebuilt exactly; write rejected records as JSONL, "
                "or CSV without flattening, to replay them")
        raise UnreadableFile("neither JSONL nor CSV with Airbyte's rejected-records columns")
    rows: list[Row] = []
    unreadable = 0
    try:
        for cells in reader:
            try:
                row = _csv_row(cells) if cells else None
            except ValueError:
                row = None
            if row is not None:
                rows.append(row)
            elif cells:
                unreadable += 1
    except csv.Error as exc:  # a broken quote or a NUL: nothing after it can be trusted
        raise UnreadableFile(f"a CSV file that cannot be parsed ({exc})") from None
    return rows, unreadable


def _csv_row(cells: list[str]) -> Row | None:
    if len(cells) != len(META_COLUMNS) + 1:
        return None
    _, extracted_at, meta, _, data = cells
    fields = _json(data)
    if not isinstance(fields, dict):
        return None
    return _rebuilt(fields, int(extracted_at) if extracted_at.isdigit() else None, _json(meta) if meta else None)
