"""Row encoding for rejected-record files: CSV / JSONL, with or without root-level flattening, GZIP or not.

Every rejected row is Airbyte's raw-table shape::

    _airbyte_raw_id         uuid4 string, one per row
    _airbyte_extracted_at   ms since epoch (the input record's ``emitted_at``)
    _airbyte_meta           {"sync_id": .., "changes": [..]}
    _airbyte_generation_id  the stream's generation id (null / empty when unknown)
    _airbyte_data           the record data plus rejected_reason, rejected_field, rejected_message

With "Root level flattening" the data fields sit beside the four meta columns instead of inside
``_airbyte_data``; on a name clash the meta column wins. A part encoder (``storage.rolling.PartEncoder``)
accumulates rows uncompressed (its ``size`` drives rollover) and ``finish()`` returns the file body,
compressed when asked.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from typing import Any

import orjson

from ..config import CsvFormat, GzipCompression, JsonlFormat, NoCompression
from .base import RejectedRecord

META_COLUMNS = ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id")
DATA_COLUMN = "_airbyte_data"
ROOT_LEVEL = "Root level flattening"


def dumps(value: Any) -> bytes:
    """Compact JSON; falls back to the stdlib for what orjson refuses (ints beyond 64 bits, lone
    UTF-16 surrogates: those are written as ``\\udXXX`` escapes, valid JSON for the same string)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate (a record rejected as invalid_value holds one)
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def rejected_data(record: RejectedRecord) -> dict[str, Any]:
    """The original data plus the three rejected_* fields (ours overwrite same-named source fields)."""
    data = dict(record.data)
    data["rejected_reason"] = record.reason
    data["rejected_field"] = record.field
    data["rejected_message"] = record.message
    return data


def meta_values(record: RejectedRecord, raw_id: str, sync_id: int | None) -> tuple[Any, ...]:
    """The four meta column values, in :data:`META_COLUMNS` order."""
    meta = {"sync_id": record.sync_id if record.sync_id is not None else sync_id,
            "changes": list(record.changes or [])}
    return (raw_id, record.emitted_at, meta, record.generation_id)


def nested_row(record: RejectedRecord, raw_id: str, sync_id: int | None) -> dict[str, Any]:
    row = dict(zip(META_COLUMNS, meta_values(record, raw_id, sync_id)))
    row[DATA_COLUMN] = rejected_data(record)
    return row


def flat_row(record: RejectedRecord, raw_id: str, sync_id: int | None) -> dict[str, Any]:
    row = {name: value for name, value in rejected_data(record).items() if name not in META_COLUMNS}
    # meta columns first, so readers see the same leading columns in every file
    return dict(zip(META_COLUMNS, meta_values(record, raw_id, sync_id))) | row


def csv_cell(value: Any) -> str:
    """Strings as they are, null as empty, everything else (numbers, booleans, objects) as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return dumps(value).decode()


class _ChunkEncoder:
    """Shared bookkeeping: rows kept as encoded chunks, compressed only at finish."""

    def __init__(self, sync_id: int | None, gzip: bool) -> None:
        self._sync_id = sync_id
        self._gzip = gzip
        self._chunks: list[bytes] = []
        self._size = 0
        self._rows = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def rows(self) -> int:
        return self._rows

    def _append(self, chunk: bytes) -> int:
        self._chunks.append(chunk)
        self._size += len(chunk)
        return len(chunk)

    def finish(self) -> bytes:
        chunks, self._chunks = self._chunks, []
        return compress(chunks) if self._gzip else b"".join(chunks)


def compress(chunks: Iterable[bytes]) -> bytes:
    """One GZIP member (wbits=31 writes the gzip header), fed chunk by chunk to keep peak memory low."""
    zipper = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [zipper.compress(chunk) for chunk in chunks]
    out.append(zipper.flush())
    return b"".join(out)


class JsonlEncoder(_ChunkEncoder):
    def __init__(self, sync_id: int | None, gzip: bool, flatten: bool) -> None:
        super().__init__(sync_id, gzip)
        self._row = flat_row if flatten else nested_row

    def write(self, record: RejectedRecord, raw_id: str) -> int:
        self._rows += 1
        return self._append(dumps(self._row(record, raw_id, self._sync_id)) + b"\n")


_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def csv_line(cells: Iterable[str]) -> bytes:
    """One RFC 4180 line as Python's csv module writes it (minimal quoting, CRLF), but faster:
    csv.writer through a StringIO cost about 10 us per row of JSON-heavy cells."""
    quoted = ('"' + c.replace('"', '""') + '"' if _NEEDS_QUOTES.search(c) else c for c in cells)
    # backslashreplace: a lone surrogate in a cell is shown as \\udXXX instead of failing the store
    return (",".join(quoted) + "\r\n").encode("utf-8", "backslashreplace")


class CsvEncoder(_ChunkEncoder):
    """No flattening: the fixed five-column header, ``_airbyte_data`` as a JSON string."""

    def __init__(self, sync_id: int | None, gzip: bool) -> None:
        super().__init__(sync_id, gzip)
        self._append(csv_line((*META_COLUMNS, DATA_COLUMN)))

    def write(self, record: RejectedRecord, raw_id: str) -> int:
        self._rows += 1
        cells = [csv_cell(v) for v in meta_values(record, raw_id, self._sync_id)]
        cells.append(dumps(rejected_data(record)).decode())
        return self._append(csv_line(cells))


class CsvRootEncoder:
    """Root-level flattening: one column per top-level data field, the union over this part.

    The header must precede the rows but is known only once the part is complete, so rows are
    kept as cell dicts and the file is rendered at ``finish()``; the part size bound caps memory.
    Missing fields are empty cells.
    """

    def __init__(self, sync_id: int | None, gzip: bool) -> None:
        self._sync_id = sync_id
        self._gzip = gzip
        self._columns: dict[str, None] = {}  # insertion-ordered set: first-seen order
        self._pending: list[tuple[list[str], dict[str, str]]] = []
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def rows(self) -> int:
        return len(self._pending)

    def write(self, record: RejectedRecord, raw_id: str) -> int:
        meta = [csv_cell(v) for v in meta_values(record, raw_id, self._sync_id)]
        data = {k: csv_cell(v) for k, v in rejected_data(record).items() if k not in META_COLUMNS}
        for name in data:
            if name not in self._columns:
                self._columns[name] = None
                self._size += len(name) + 1
        self._pending.append((meta, data))
        # an estimate (quotes not counted) that is close enough for a rollover bound
        added = sum(len(c) + 1 for c in meta) + sum(len(c) + 1 for c in data.values()) + 1
        self._size += added
        return added

    def finish(self) -> bytes:
        columns = list(self._columns)
        rows, self._pending = self._pending, []
        chunks = [csv_line((*META_COLUMNS, *columns))]
        chunks.extend(csv_line(meta + [data.get(c, "") for c in columns]) for meta, data in rows)
        return compress(chunks) if self._gzip else b"".join(chunks)


def extension(file_format: CsvFormat | JsonlFormat, compression: NoCompression | GzipCompression) -> str:
    """``{format_extension}``: ``.csv`` / ``.jsonl``, plus ``.gz`` with GZIP."""
    base = ".csv" if isinstance(file_format, CsvFormat) else ".jsonl"
    return base + (".gz" if isinstance(compression, GzipCompression) else "")


def encoder_factory(file_format: CsvFormat | JsonlFormat, compression: NoCompression | GzipCompression,
                    sync_id: int | None):
    """A zero-argument callable making a fresh part encoder (``storage.rolling.PartEncoder``) for each
    new part."""
    gzip = isinstance(compression, GzipCompression)
    flatten = file_format.flattening == ROOT_LEVEL
    if isinstance(file_format, JsonlFormat):
        return lambda: JsonlEncoder(sync_id, gzip, flatten)
    if flatten:
        return lambda: CsvRootEncoder(sync_id, gzip)
    return lambda: CsvEncoder(sync_id, gzip)
