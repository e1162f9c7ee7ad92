"""The Local store: same files and keys as S3 under destination_path, written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from destination_customer_io.config import (CsvFormat, GzipCompression, JsonlFormat, LocalStorage,
                                            NoCompression)
from destination_customer_io.rejected import StoreError, open_store
from destination_customer_io.storage.options import StoreOptions

from .helpers import SYNC_ID, check_rows, read_rows, record


def _clock() -> float:
    return 1_709_618_828.009


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("compression", [NoCompression(), GzipCompression()], ids=["plain", "gzip"])
@pytest.mark.parametrize("file_format", [CsvFormat(), JsonlFormat(flattening="Root level flattening")],
                         ids=["csv-nested", "jsonl-root"])
async def test_local_rows_and_layout(tmp_path: Path, file_format: object, compression: object) -> None:
    cfg = LocalStorage(destination_path=str(tmp_path), format=file_format, compression=compression)
    store = open_store(cfg, sync_id=SYNC_ID, now=_clock, options=StoreOptions(part_max_bytes=3_000))
    records = [record(i) for i in range(20)]
    for rec in records:
        await store.add(rec)
    await store.close()
    written = files(tmp_path)
    assert all(k.startswith("42/analytics/users/2024_03_05_") for k in written)
    assert not any(".tmp" in k for k in written)  # temp files were renamed into place
    assert len(written) > 1  # rolled over
    flatten = "Root" in file_format.flattening
    rows = []
    for key, body in written.items():
        part_rows = read_rows(key, body)
        check_rows(key, part_rows, {r.message: r for r in records}, flatten)
        rows += part_rows
    assert len(rows) == len(records)


async def test_local_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = open_store(LocalStorage(destination_path=str(blocker)))
    await store.add(record(1))
    with pytest.raises(StoreError) as caught:
        await store.flush()
    assert caught.value.step == "MakeDirectory" and caught.value.target == str(blocker)


async def test_local_keys_cannot_escape(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = open_store(LocalStorage(destination_path=str(root), path_format="../../{stream_name}"))
    await store.add(record(1))
    with pytest.raises(StoreError) as caught:
        await store.flush()
    assert caught.value.step == "ResolvePath"
    assert not (tmp_path / "users").exists()
