"""A ledger written by 0.5.0 (``*.ldg``, tests/fixtures/ledger-0.5.0, written by 0.5.0's own Keeper: a
snapshot and a delta per stream, the delta of a sync that died) is read once and rewritten as SQLite."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.storage.objects import LocalObjects

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ledger-0.5.0"
STREAMS = {"___users__person_identify/": False, "___vips__segment_membership/": True}


def _load(store: Path, directory: str, warnings: list[str]) -> tuple[Keeper, list[list], int]:
    keeper = Keeper(LocalObjects(str(store)), "scope/", warnings.append)
    book = asyncio.run(keeper.open_book(directory, directory, None, mirror=STREAMS[directory], skip=False,
                                        resend_after_days=30))
    rows = [[*row[:5], row[5].decode() if len(row) > 5 else None] for row in book.table.rows()]
    return keeper, rows, book.generation


def test_a_0_5_0_ledger_loads_as_0_5_0_loaded_it_and_the_next_compaction_rewrites_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(FIXTURE, store)
    expected = json.loads((FIXTURE / "loaded-by-0.5.0.json").read_text())
    warnings: list[str] = []
    for directory in STREAMS:
        keeper, rows, generation = _load(store, directory, warnings)
        assert (rows, generation) == (expected[directory]["rows"], expected[directory]["next_generation"])
        asyncio.run(keeper.compact())  # due however small its deltas: the legacy files go
        keeper.close()
        names = sorted(p.name for p in (store / "scope" / directory).iterdir())
        assert len(names) == 1 and names[0].startswith("snapshot-00000002-") and names[0].endswith(".sqlite")
        _, again, next_generation = _load(store, directory, warnings)
        # what sync 3 (the one that migrated) completed: the same rows; the next sync is 4
        assert again == expected[directory]["rows"] and next_generation == expected[directory]["next_generation"] + 1
    assert warnings == []


def test_a_half_written_0_5_0_file_is_ignored_with_a_warning(tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(FIXTURE, store)
    delta = store / "scope/___users__person_identify/delta-00000001-00000001.ldg"
    delta.write_bytes(delta.read_bytes()[:-3])
    warnings: list[str] = []
    _, rows, _ = _load(store, "___users__person_identify/", warnings)
    assert len(rows) == 5 and "half-written" in warnings[0]  # the snapshot's five rows, the delta forgotten
