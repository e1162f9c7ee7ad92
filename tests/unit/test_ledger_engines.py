"""bench/ledger_engines.py (issue 25's spike): each candidate engine makes the same decisions as today's
ledger (sync 2 sends exactly the changed 1%), keeps every key, and a 1%-changed resync's delta is a
small part of the whole file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")  # a bench dependency (matplotlib's), not the connector's since issue 25

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import ledger_engines  # noqa: E402

KEYS, CHUNK = 6_000, 1_000


@pytest.mark.parametrize("engine", ["sqlite", "sqlite-wr"])
def test_an_engine_builds_the_ledger_then_resends_only_the_changed_keys(engine: str, tmp_path: Path) -> None:
    first = ledger_engines.run_sync(engine, KEYS, False, 1, tmp_path, CHUNK)
    second = ledger_engines.run_sync(engine, KEYS, False, 2, tmp_path, CHUNK)
    assert (first["sent"], first["rows"]) == (KEYS, KEYS)
    assert (second["sent"], second["rows"]) == (KEYS // ledger_engines.CHANGED_EVERY, KEYS)
    assert second["upload_delta_bytes"] < second["upload_whole_bytes"] / 10


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_a_mirror_engine_keeps_each_members_text_and_sends_every_member_again(engine: str, tmp_path: Path) -> None:
    if engine == "duckdb":
        connect = pytest.importorskip("duckdb").connect  # not a dependency of the project: measured by hand
    else:
        connect = ledger_engines.sqlite3.connect
    ledger_engines.run_sync(engine, KEYS, True, 1, tmp_path, CHUNK)
    second = ledger_engines.run_sync(engine, KEYS, True, 2, tmp_path, CHUNK)
    assert (second["sent"], second["rows"]) == (KEYS, KEYS)
    con = connect(str(tmp_path / ledger_engines.ENGINES_BASE[engine]))
    texts = {bytes(text) for (text,) in con.execute("SELECT text FROM ledger").fetchall()}
    con.close()
    assert texts == {ledger_engines.key_text(index) for index in range(KEYS)}


def test_sync_2_meets_the_keys_of_sync_1_with_a_new_print_every_hundredth_key() -> None:
    first, second = (list(ledger_engines.chunks(250, False, sync, 100)) for sync in (1, 2))
    keys_1, prints_1, keys_2, prints_2 = (np.concatenate([chunk[column] for chunk in run])
                                          for run in (first, second) for column in (0, 1))
    assert (keys_1 == keys_2).all() and len(np.unique(keys_1)) == 250
    assert np.flatnonzero(prints_1 != prints_2).tolist() == [0, 100, 200]
