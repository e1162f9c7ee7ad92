"""Object key rendering: every placeholder, defaults, slashes, unsafe names, Java date patterns."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from destination_customer_io.config import LocalStorage, S3Storage
from destination_customer_io.rejected import StoreError, open_store
from destination_customer_io.rejected.keys import KeyTemplate, java_date
from destination_customer_io.storage.names import s3_safe

SYNC_MS = 1_709_618_828_009  # 2024-03-05T06:07:08.009Z


def template(path: str, name: str, *, prefix: str = "dlq", ext: str = ".csv",
             sync_id: int | None = 42) -> KeyTemplate:
    return KeyTemplate(prefix, path, name, extension=ext, sync_id=sync_id, sync_time_ms=SYNC_MS)


def render(t: KeyTemplate, *, stream: str = "users", namespace: str | None = "analytics",
           part: int = 7, ts: int = 1_709_618_900_123, uid: str = "u-u-i-d") -> str:
    return t.render(stream=stream, namespace=namespace, part_number=part, timestamp_ms=ts, uuid=uid)


def test_defaults_match_airbyte() -> None:
    t = template("{sync_id}/{namespace}/{stream_name}/",
                 "{date}_{timestamp}_{part_number}{format_extension}")
    assert render(t) == "dlq/42/analytics/users/2024_03_05_1709618900123_7.csv"
    # empty strings mean "the default", as in Airbyte's spec
    assert render(template("", "")) == render(t)


def test_every_placeholder() -> None:
    t = template("{namespace}/{stream_name}/{year}/{month}/{day}/{hour}/{minute}/{second}/"
                 "{millisecond}/{epoch}/{date}/{date:yyyy_MM}/",
                 "{timestamp}-{part_number}-{sync_id}-{uuid}{format_extension}", ext=".jsonl.gz")
    assert render(t) == ("dlq/analytics/users/2024/03/05/06/07/08/0009/1709618828009/2024_03_05/"
                         "2024_03/1709618900123-7-42-u-u-i-d.jsonl.gz")


def test_airbyte_path_variable_style() -> None:
    t = template("${NAMESPACE}/${STREAM_NAME}/${YEAR}_${MONTH}_${DAY}_${EPOCH}_", "{part_number}")
    assert render(t) == "dlq/analytics/users/2024_03_05_1709618828009_/7"


def test_empty_namespace_and_sync_id_leave_no_empty_segment() -> None:
    t = template("{sync_id}/{namespace}/{stream_name}/", "{part_number}{format_extension}",
                 prefix="/dlq//inner/", sync_id=None)
    assert render(t, namespace=None) == "dlq/inner/users/7.csv"
    assert render(t, namespace="") == "dlq/inner/users/7.csv"
    assert render(template("{stream_name}", "x", prefix="")) == "users/x"


def test_path_and_file_name_are_separated() -> None:
    assert render(template("{stream_name}", "{part_number}")) == "dlq/users/7"


def test_unknown_placeholders_stay_as_written() -> None:
    assert render(template("{stream}/{stream_name}", "{nope}")) == "dlq/{stream}/users/{nope}"


@pytest.mark.parametrize(("name", "safe"), [
    ("users", "users"), ("Zoë Ångström", "Zoe_Angstrom"), ("a/b", "a_b"), ("..", "__"),
    ("weird#name%", "weird_name_"), ("ok-name_1.2(3)", "ok-name_1.2(3)"),
])
def test_stream_names_are_made_s3_safe(name: str, safe: str) -> None:
    assert s3_safe(name) == safe


@pytest.mark.parametrize(("pattern", "expected"), [
    ("yyyy_MM", "2024_03"), ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2024-03-05T06:07:08.009"),
    ("yy/M/d", "24/3/5"), ("MMM yyyy", "Mar 2024"), ("MMMM", "March"), ("'it''s'", "it's"),
    ("uuuuMMdd", "20240305"), ("''", "'"),
])
def test_java_date_patterns(pattern: str, expected: str) -> None:
    moment = datetime.fromtimestamp(SYNC_MS / 1000, tz=timezone.utc)
    assert java_date(pattern, moment) == expected


@pytest.mark.parametrize("pattern", ["yyyy_QQ", "'open"])
def test_bad_date_pattern_is_refused_at_open(pattern: str) -> None:
    cfg = LocalStorage(destination_path="/nonexistent", file_name_format=f"{{date:{pattern}}}")
    with pytest.raises(StoreError) as caught:
        open_store(cfg)
    assert caught.value.step == "path_format"


def test_uuid_placeholder_is_fresh_per_object() -> None:
    t = template("", "{uuid}")
    a, b = (render(t, uid=str(uuid.uuid4())) for _ in range(2))
    assert a != b


def test_open_store_without_storage_is_none_store() -> None:
    from destination_customer_io.config import NoStorage
    from destination_customer_io.rejected import NoneStore

    assert isinstance(open_store(NoStorage()), NoneStore)


def test_s3_and_local_share_keys() -> None:
    s3 = S3Storage(s3_bucket_name="b", bucket_path="p")
    assert s3.path_format == "{sync_id}/{namespace}/{stream_name}/"
    assert s3.file_name_format == "{date}_{timestamp}_{part_number}{format_extension}"
