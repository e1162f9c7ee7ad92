"""Rejected-records files read back (``replay``): every format the store writes gives back the records it
was given, exactly; a file that cannot be rebuilt exactly is refused with the reason; a stream's
directory is found from the keys the store renders."""

from __future__ import annotations

import gzip

import pytest

from destination_customer_io.config import CsvFormat, GzipCompression, JsonlFormat, NoCompression
from destination_customer_io.rejected.formats import encoder_factory
from destination_customer_io.rejected.keys import KeyTemplate, stream_directory
from destination_customer_io.rejected.readback import UnreadableFile, read_rows

from .helpers import record

FLAT = "Root level flattening"
FORMATS = [JsonlFormat(), JsonlFormat(flattening=FLAT), CsvFormat()]


def written(file_format, compression, records) -> bytes:
    encoder = encoder_factory(file_format, compression, 42)()
    for i, rec in enumerate(records):
        encoder.write(rec, f"raw-{i}")
    return encoder.finish()


@pytest.mark.parametrize("compression", [NoCompression(), GzipCompression()], ids=["plain", "gzip"])
@pytest.mark.parametrize("file_format", FORMATS, ids=["jsonl", "jsonl-flat", "csv"])
def test_every_readable_format_gives_the_records_back(file_format, compression) -> None:
    records = [record(i) for i in range(12)]
    records.append(record(12, big=2**70, surrogate="\ud800", rejected_reason="a source column"))
    rows, unreadable = read_rows(written(file_format, compression, records))
    assert unreadable == 0
    expected = [{k: v for k, v in r.data.items() if k != "rejected_reason"} for r in records]
    assert [row.data for row in rows] == expected  # a source column named rejected_* is lost (documented)
    assert [row.emitted_at for row in rows] == [r.emitted_at for r in records]
    assert [row.changes for row in rows] == [r.changes for r in records]
    assert {row.reason for row in rows} == {"invalid_email"}


def test_csv_with_root_level_flattening_is_refused_with_the_reason() -> None:
    body = written(CsvFormat(flattening=FLAT), NoCompression(), [record(1)])
    with pytest.raises(UnreadableFile, match="CSV with root-level flattening: its cells do not keep JSON types"):
        read_rows(body)


@pytest.mark.parametrize("body, why", [
    (b"\x1f\x8b\x08garbage", "a GZIP file that cannot be decompressed"),
    (b"\xff\xfe\x00", "not UTF-8 text"),
    (b"name,email\r\nx,y\r\n", "neither JSONL nor CSV with Airbyte's rejected-records columns"),
])
def test_a_file_that_is_not_rejected_records_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(UnreadableFile, match=why):
        read_rows(body)


def test_rows_that_are_not_rejected_records_rows_are_counted() -> None:
    good = written(JsonlFormat(), NoCompression(), [record(1)])
    rows, unreadable = read_rows(good + b'{"not": "a row"}\nnot json\n[1]\n\n' + good)
    assert len(rows) == 2 and unreadable == 3
    assert read_rows(gzip.compress(b"")) == ([], 0)


def keys_of(path_format: str, sync_id: int | None = 42) -> dict[str, str]:
    template = KeyTemplate("rejected", path_format, "", extension=".jsonl", sync_id=sync_id, sync_time_ms=0)
    streams = {"analytics.users": ("users", "analytics"), "users": ("users", None), "orders": ("orders", None)}
    return {label: "/data/" + template.render(stream=name, namespace=ns, part_number=0, timestamp_ms=1, uuid="u")
            for label, (name, ns) in streams.items()}


@pytest.mark.parametrize("path_format, sync_id", [
    ("", 42), ("", None), ("{sync_id}/{namespace}/{stream_name}/", 7),
    ("${NAMESPACE}/${STREAM_NAME}/${YEAR}/${MONTH}/", 42), ("{namespace}-{stream_name}/{date:yyyy}", 1),
])
def test_each_file_is_found_to_be_its_own_streams(path_format: str, sync_id: int | None) -> None:
    streams = {"analytics.users": ("users", "analytics"), "users": ("users", None), "orders": ("orders", None)}
    for label, key in keys_of(path_format, sync_id).items():
        directory = key.rpartition("/")[0] + "/"
        hits = []
        for other, (name, namespace) in streams.items():
            found = stream_directory(path_format, name, namespace)
            assert found is not None
            if found[0].search(directory):
                hits.append((found[1], other))
        assert max(hits)[1] == label, (key, hits)
        assert [pinned for pinned, _ in hits].count(max(hits)[0]) == 1


def test_a_path_format_without_the_stream_cannot_tell_streams_apart() -> None:
    assert stream_directory("{sync_id}/", "users", None) is None
