"""The sync ledger's delivery and build side in one process: what a sync 1 of N identify keys costs it
after the look-ups, phase by phase (issue 25's CPU bars; the CLI's whole-process figures are
``ledger_cli.py``'s).

    place    ``SyncLedger.placed`` for each op as the batcher appends it (4 lanes, 830 ops a batch, as the
             identify workload's batches hold), then ``before_send``
    ack      ``acknowledged``: each batch's marks become log rows in the book
    persist  ``before_release`` every 10,000 keys (a state each): the log rows written, one delta file
             each, uploaded to a Local store
    finish   the end of a completed sync: the last delta, the fold into the snapshot, its upload

Marks are made per batch from random 64-bit keys and prints (no BLAKE2b: that is intake's side) and
are not timed. User + sys CPU per phase from ``os.times`` (the store's worker thread included), the
best of ``--repeat`` runs per phase.

    .venv/bin/python bench/ledger_build.py 300000 [--repeat 3] [--src /path/to/other/checkout/src]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BATCH, LANES, STATE_EVERY = 830, 4, 10_000
PHASES = ("place", "ack", "persist", "finish")


async def one_sync(keys: int, folder: Path) -> dict[str, float]:
    from destination_customer_io.batching import Batch
    from destination_customer_io.ledger.book import Mark
    from destination_customer_io.ledger.keeper import Keeper
    from destination_customer_io.ledger.sync import SyncLedger
    from destination_customer_io.storage.objects import LocalObjects

    keeper = Keeper(LocalObjects(str(folder / "store")), "", print)
    book = await keeper.open_book("users", "users/", 1, mirror=False, skip=True, resend_after_days=30)
    ledger = SyncLedger(keeper, [(SimpleNamespace(), book)], None)
    spent = dict.fromkeys(PHASES, 0.0)
    draw, body = random.Random(1).getrandbits, b"{}"

    def timed(phase: str, since: Any) -> Any:
        now = os.times()
        spent[phase] += now.user - since.user + now.system - since.system
        return now

    released = 0
    for start in range(0, keys, BATCH * LANES):
        marks = [Mark(book, draw(64) - 2**63, draw(64) - 2**63, None, 1)
                 for _ in range(min(BATCH * LANES, keys - start))]
        op = SimpleNamespace(body=body)
        batches = [Batch(0) for _ in range(LANES)]
        since = os.times()
        for index, mark in enumerate(marks):
            batch = batches[index % LANES]
            batch.bodies.append(body)
            ledger.placed(batch, op, mark)  # type: ignore[arg-type]
        for batch in batches:
            await ledger.before_send(batch)
        since = timed("place", since)
        for batch in batches:
            ledger.acknowledged(batch, False)
        since = timed("ack", since)
        if (start + len(marks)) // STATE_EVERY > released:
            released = (start + len(marks)) // STATE_EVERY
            await ledger.before_release()
            timed("persist", since)
    since = os.times()
    await ledger.finish(True)
    timed("finish", since)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keys", type=int)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--src", type=Path, help="import destination_customer_io from this src/ instead")
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, str(args.src.resolve()))
    best = dict.fromkeys(PHASES, float("inf"))
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="ledger-build-") as folder:
            spent = asyncio.run(one_sync(args.keys, Path(folder)))
        best = {phase: min(best[phase], spent[phase]) for phase in PHASES}
    print(json.dumps({"keys": args.keys, "src": str(args.src or "this checkout"),
                      **{phase: round(best[phase], 3) for phase in PHASES},
                      "total": round(sum(best.values()), 3)}))


if __name__ == "__main__":
    main()
