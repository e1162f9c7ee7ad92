"""The rejected-records store contract ("dead letter queue") and the record it stores.

    pipeline --add(RejectedRecord)--> store buffers (and may upload finished parts)
    pipeline --flush()-------------> every record added so far is durable (objects fully uploaded)
    pipeline --close()-------------> flush, then release resources

A state is emitted only after ``flush()`` returned for every rejected record before it. A store whose
``buffers`` is False keeps nothing to flush (``NoneStore``): states behind its rejections leave at once
instead of waiting to share a grouped flush. A store that
cannot write raises :class:`~destination_customer_io.errors.StoreError`, which ends the sync with a TRACE
error naming the failing step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import StoreError  # defined in the connector's one exception tree

if TYPE_CHECKING:
    from ..storage.retrying import Wait

__all__ = ["NoneStore", "RejectedRecord", "RejectedStore", "StoreError"]


@dataclass(slots=True)
class RejectedRecord:
    stream: str
    namespace: str | None
    data: dict[str, Any]  # the original record data, as read
    emitted_at: int  # ms, from the input record
    reason: str  # rejected_reason: a code of the documented vocabulary
    field: str | None  # rejected_field
    message: str  # rejected_message
    sync_id: int | None = None
    generation_id: int | None = None
    changes: list[dict[str, Any]] | None = None  # the input record's meta.changes


class RejectedStore(Protocol):
    buffers: bool  # add() keeps records that only flush() makes durable

    async def add(self, record: RejectedRecord) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def count(self) -> int: ...

    def waiting(self) -> Wait | None: ...  # what an upload has waited on for long, for progress lines


class NoneStore:
    """``storage_type: None``: rejected records are counted, not kept."""

    buffers = False  # nothing is kept, so nothing waits for a flush

    def __init__(self) -> None:
        self._count = 0

    async def add(self, record: RejectedRecord) -> None:
        self._count += 1

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @property
    def count(self) -> int:
        return self._count

    def waiting(self) -> Wait | None:
        return None
