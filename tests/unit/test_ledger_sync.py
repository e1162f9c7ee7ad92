"""The sync ledger's bookkeeping between a batch and the log (ledger/sync.py): what it records of the ops
waiting in a batch once the batch is answered (an accepted op: its row; a refused one, or one whose body
a merge rebuilt: nothing), batches holding ops of two streams or of a stream without a ledger, and a
mirror's write-ahead before sending."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import msgspec

from destination_customer_io.batching import Batcher
from destination_customer_io.ledger.book import Mark, StreamBook
from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.ledger.sync import SyncLedger
from destination_customer_io.ledger.table import GONE, MAYBE, MEMBER, ROWS_PER_INSERT, Table, digest
from destination_customer_io.operations import OPERATIONS
from destination_customer_io.operations.base import Op
from destination_customer_io.storage.objects import LocalObjects
from destination_customer_io.summary import Counts

IDENTIFY = OPERATIONS["person_identify"]
SEGMENT = OPERATIONS["segment_membership"]
EPOCH = object()


def _identify(email: str, plan: str) -> Op:
    body = msgspec.json.encode({"type": "person", "action": "identify", "identifiers": {"email": email},
                                "attributes": {"plan": plan}})
    return Op(body, f"person:email:{email}", ordered=True, operation=IDENTIFY)


def _book(keeper: Keeper, name: str, mirror: bool = False) -> StreamBook:
    return asyncio.run(keeper.open_book(name, f"{name}/", 1, mirror=mirror, skip=not mirror, resend_after_days=30))


def _logged(book: StreamBook) -> list[tuple[int, int, int, int]]:
    book.flush()
    return book.table.con.execute("SELECT key, print, gen, flag FROM work.log ORDER BY seq").fetchall()


def test_an_answered_batch_logs_its_accepted_ops_of_each_stream_in_order_and_nothing_else(tmp_path: Path) -> None:
    keeper = Keeper(LocalObjects(str(tmp_path)), "", print)
    users, admins, plain = SimpleNamespace(), SimpleNamespace(), SimpleNamespace()
    books = {"users": _book(keeper, "users"), "admins": _book(keeper, "admins")}
    ledger = SyncLedger(keeper, [(users, books["users"]), (admins, books["admins"])], None)
    batcher = Batcher(1, 500_000, Counts(), lambda lane: None)

    def add(stream: object, name: str | None, email: str, plan: str) -> Mark | None:
        op = _identify(email, plan)
        batch = batcher.add(op, b"line", EPOCH, stream)  # type: ignore[arg-type]
        if name is None:  # a stream without a ledger: never placed
            return None
        mark = Mark(books[name], digest(email.encode()), digest(op.body), None, MEMBER)
        ledger.placed(batch, op, mark)
        return mark

    add(users, "users", "a@x.io", "free")  # 0: rebuilt by the merge of 4: forgotten (sent again next time)
    add(plain, None, "p@x.io", "free")  # 1: no ledger
    admin = add(admins, "admins", "b@x.io", "free")  # 2
    add(users, "users", "c@x.io", "free")  # 3: refused
    add(users, "users", "a@x.io", "pro")  # merged into 0: no op of its own
    last = add(users, "users", "d@x.io", "free")  # 4
    (batch,) = [batcher.lanes[0].open]
    assert len(batch.bodies) == 5 and list(batch.merged) == [0]
    asyncio.run(ledger.before_send(batch))  # no mirror: nothing written ahead
    assert list(tmp_path.rglob("delta-*")) == []
    assert ledger.known(batch, 4) is False and ledger.known(batch, 1) is None
    ledger.refused(batch, 3)
    ledger.acknowledged(batch, removals=False)
    assert last is not None and admin is not None
    assert _logged(books["users"]) == [(last.key, last.print, 1, MEMBER)]
    assert _logged(books["admins"]) == [(admin.key, admin.print, 1, MEMBER)]
    ledger.acknowledged(batch, removals=False)  # answered once: a second call records nothing
    assert len(_logged(books["users"])) == 1
    keeper.close()


def test_a_mirror_batch_is_written_ahead_before_it_is_sent(tmp_path: Path) -> None:
    keeper = Keeper(LocalObjects(str(tmp_path)), "", print)
    audience = SimpleNamespace()
    book = _book(keeper, "audience", mirror=True)
    ledger = SyncLedger(keeper, [(audience, book)], None)
    batcher = Batcher(1, 500_000, Counts(), lambda lane: None)
    marks = []
    for email in ("a@x.io", "b@x.io"):
        op = Op(msgspec.json.encode(email), f"person:email:{email}", ordered=False, operation=SEGMENT,
                route="/api/v1/segments/7/add_customers?id_type=email")
        batch = batcher.add_id(op, b"line", EPOCH, audience)  # type: ignore[arg-type]
        marks.append(Mark(book, digest(email.encode()), digest(op.body), email.encode(), MEMBER))
        ledger.placed(batch, op, marks[-1])
    asyncio.run(ledger.before_send(batch))
    assert [flag for _, _, _, flag in _logged(book)] == [MAYBE, MAYBE]
    assert len(list(tmp_path.rglob("delta-*"))) == 1  # durable before sending
    ledger.acknowledged(batch, removals=False)
    assert [(key, flag) for key, _, _, flag in _logged(book)] == [
        (marks[0].key, MAYBE), (marks[1].key, MAYBE), (marks[0].key, MEMBER), (marks[1].key, MEMBER)]
    keeper.close()


def test_log_rows_keep_their_order_and_columns_across_the_statements_that_carry_them(tmp_path: Path) -> None:
    for mirror in (False, True):
        folder = tmp_path / f"mirror-{mirror}"
        folder.mkdir()
        table = Table(folder, mirror)
        text = (lambda n: (b"t%d" % n,)) if mirror else (lambda n: ())
        count = 3 * ROWS_PER_INSERT + 77  # full statements, then the rest in halves
        whole = [(n, -n, 7, 9, MAYBE) + text(n) for n in range(5)]
        shared = [(n, n * 3, GONE if n % 5 == 0 else MEMBER) + text(n) for n in range(5, count)]
        table.log([(None, whole), ((2, 1_700_000_000), shared)])
        got = table.con.execute(f"SELECT seq, {table.columns} FROM work.log ORDER BY seq").fetchall()
        expected = [*whole, *((key, print_, 2, 1_700_000_000, flag, *rest) for key, print_, flag, *rest in shared)]
        assert got == [(seq, *row) for seq, row in enumerate(expected, 1)] and table.logged == count
        table.close()


def test_the_build_bench_leaves_one_snapshot_of_every_key_it_delivered(tmp_path: Path) -> None:
    import sqlite3
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import ledger_build

    spent = asyncio.run(ledger_build.one_sync(25_000, tmp_path))
    assert set(spent) == set(ledger_build.PHASES)
    (snapshot,) = (tmp_path / "store" / "users").iterdir()  # the deltas were deleted by the compaction
    con = sqlite3.connect(snapshot)
    assert con.execute("SELECT count(DISTINCT key), count(*), min(flag), max(flag) FROM ledger").fetchone() == (
        25_000, 25_000, MEMBER, MEMBER)
    con.close()
