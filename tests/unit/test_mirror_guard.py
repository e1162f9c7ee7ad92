"""The mirror guard's arithmetic (ledger/mirror.py): removals are weighed against every row the ledger holds
as possibly in Customer.io, MEMBER and MAYBE alike, since the removals include both."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import msgspec

from destination_customer_io.ledger.book import StreamBook
from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.ledger.table import MAYBE, MEMBER, Table, write_rows
from destination_customer_io.ledger.mirror import MirrorJudge
from destination_customer_io.operations import OPERATIONS

ROUTE = "/api/v1/segments/7/remove_customers?id_type=email"


def _book(tmp_path: Path, members: int, maybes: int) -> StreamBook:
    """Generation 1 delivered ``members``; generation 2 wrote ``maybes`` new ones ahead, then died and was
    abandoned; this is generation 3, and its input had none of them."""
    rows = [(i + 1, 0, 1 if i < members else 2, 0, MEMBER if i < members else MAYBE,
             msgspec.json.encode([f"person:email:m{i}@x.co", ROUTE, f'"m{i}@x.co"'])) for i in range(members + maybes)]
    write_rows(tmp_path / "rows.sqlite", True, {}, rows)
    table = Table(tmp_path, True)
    table.fold_file(tmp_path / "rows.sqlite")
    return StreamBook("shop.audience", table, 3, mirror=True, skip=False)


async def _judge(tmp_path: Path, book: StreamBook, max_percent: float) -> tuple[object, MirrorJudge]:
    keeper = Keeper(_Objects(tmp_path), "ledger/", lambda text: None)
    keeper.books.append(book)
    keeper._places[id(book)] = SimpleNamespace(directory="shop__audience__segment_membership/", folder=tmp_path)
    judge = MirrorJudge(keeper, without_status=False, max_percent=max_percent, log=lambda text, level: None)
    stream = SimpleNamespace(label="shop.audience", operation=OPERATIONS["segment_membership"])
    return await judge._judge(stream, book), judge  # type: ignore[arg-type]


class _Objects:
    def __init__(self, root: Path) -> None:
        self.root, self.stored = str(root), {}

    def put(self, key: str, body: bytes) -> None:
        self.stored[key] = body

    def put_file(self, key: str, path: Path) -> None:
        self.stored[key] = path.read_bytes()

    def get(self, key: str) -> bytes | None:
        return self.stored.get(key)


async def test_written_ahead_rows_count_among_the_previous_members(tmp_path: Path) -> None:
    # 111 removals of 111 ledger rows (52 MEMBER, 59 MAYBE): at 100% nothing may be held back. Weighed
    # against the 52 MEMBER rows only, the guard held them ("would remove 111 of its 52 previous members").
    plan, judge = await _judge(tmp_path, _book(tmp_path, 52, 59), 100)
    assert judge.held == []
    assert plan is not None and plan.count == 111  # type: ignore[attr-defined]


async def test_the_guard_still_holds_past_its_share(tmp_path: Path) -> None:
    plan, judge = await _judge(tmp_path, _book(tmp_path, 52, 59), 50)
    assert plan is None
    assert len(judge.held) == 1 and "would remove 111 of its 111 previous members" in judge.held[0]
    assert "more than max_mirror_removal_percent (50%: 56)" in judge.held[0]
