"""Stand-ins for what the retry queue feeds (retry.RetryQueue.queue): a batcher that keeps the lines it
is given, and checkpoints that count them pending in their epoch."""

from __future__ import annotations

from typing import Any

from destination_customer_io.checkpoints import Epoch


class FakeBatcher:
    def __init__(self) -> None:
        self.added: list[bytes] = []
        self.peak_inflight = 0

    def add(self, op: Any, line: bytes, epoch: Epoch, stream: Any) -> None:
        self.added.append(line)

    add_id = add


class FakeCheckpoints:
    def read(self, epoch: Epoch, count: int) -> None:
        epoch.pending += count
