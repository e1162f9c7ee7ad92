"""docs/mirror.md's SQL query ("Read it with SQL") runs on a snapshot the keeper wrote, as printed there."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from destination_customer_io.ledger.book import Mark
from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.ledger.table import MEMBER, digest
from destination_customer_io.storage.objects import LocalObjects

DOC = Path(__file__).parents[2] / "docs" / "mirror.md"
DAY = 86_400


def documented_query() -> str:
    """The SQL of the ``sqlite3 snapshot-... "..."`` example in docs/mirror.md."""
    found = re.search(r'sqlite3 snapshot-\S+ \\\n  "(.+?)"\n', DOC.read_text(), re.S)
    assert found, "docs/mirror.md lost its SQL example"
    return found.group(1)


def snapshot(tmp_path: Path) -> Path:
    """A snapshot holding three people: sent 40 days ago, 31 days ago, and now."""
    keeper = Keeper(LocalObjects(str(tmp_path / "store")), "", print)
    book = asyncio.run(keeper.open_book("users", "users/", 1, mirror=False, skip=True, resend_after_days=30))
    now = time.time()
    for name, age in ((b"old", 40 * DAY), (b"older-than-30", 31 * DAY), (b"fresh", 0)):
        book.clock = lambda age=age: now - age
        book.delivered(Mark(book, digest(b"person:email:" + name), 1, None, MEMBER))
    asyncio.run(keeper.persist())
    asyncio.run(keeper.compact())
    keeper.close()
    [path] = (tmp_path / "store/users").glob("snapshot-00000001-*.sqlite")
    return path


def test_the_documented_query_counts_the_people_last_delivered_over_30_days_ago(tmp_path: Path) -> None:
    path = snapshot(tmp_path)
    con = sqlite3.connect(path)
    count, oldest = con.execute(documented_query()).fetchone()
    assert count == 2 and oldest.startswith(time.strftime("%Y-%m-%d", time.gmtime(time.time() - 40 * DAY)))
    assert dict(con.execute("SELECT name, value FROM meta").fetchall())["stream"] == "users"
    con.close()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 command line is not installed")
def test_the_sqlite3_command_line_runs_it_as_printed(tmp_path: Path) -> None:
    done = subprocess.run(["sqlite3", str(snapshot(tmp_path)), documented_query()], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("2|"), done.stderr
