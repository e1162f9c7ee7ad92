"""The contract between one Customer.io operation module and the write pipeline.

An operation turns one record's ``data`` (a dict, field names already mapped) into one Track API v2 op, or
into a :class:`Rejection` that says exactly why it cannot be sent. It never does I/O.

    record data --Operation.build(data, stream)--> Op        (encoded JSON + ordering key)
                                               \\-> Rejection (reason code, field path, message)

The pipeline then batches ``Op.body`` bytes, routes by ``Op.key`` (same key -> same lane -> applied in
input order), and asks ``Operation.merge`` whether a later op on the same key may be folded into an
earlier one still waiting in the same batch (identify: later attributes win).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from ..reasons import Rejection

if TYPE_CHECKING:
    from ..catalog import Stream


class _OpTarget(msgspec.Struct, gc=False):
    body: bytes
    key: str | None


class Op(_OpTarget, kw_only=True, gc=False):
    """One Track API op ready to batch.

    ``body``: the op's JSON, encoded once (its length is what the batcher adds up).
    ``key``: the Customer.io entity the op touches (``person:email:a@b.c``, ``object:1:acme``) or None
    for ops with no entity. Ops with one key go to one lane, so they are applied in input order.
    ``ordered``: True when the op changes state whose order matters (identify, delete, devices...);
    the batcher never puts two ordered ops of one key in one batch unless ``merge`` folds them.
    ``operation``: the operation that built it (for ``merge``).
    ``changes``: Airbyte meta changes made to the record (attribute dropped/truncated), or None.
    ``route``: None for v2 ops (the usual case). Otherwise the Track API path of a v1 id-list call
    (``/api/v1/segments/7/add_customers?id_type=email``): ``body`` is then one JSON id, and ops with
    one route are sent together as ``{"ids":[...]}`` instead of in a v2 batch.

    A msgspec Struct rather than a plain class: one is built per record, and building it is ~50 ns
    instead of ~230 ns (keyword arguments into a Python ``__init__``). ``gc=False``: an op refers to
    nothing that refers back to it, so the collector need not track the ops in flight.
    """

    ordered: bool
    operation: "Operation"
    changes: list[dict[str, str]] | None = None
    route: str | None = None

    def __repr__(self) -> str:  # record contents stay out of logs: show the size only
        return f"Op({self.operation.object_name}, key={self.key!r}, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True)
class DiscoverEntry:
    """One ``DestinationOperation`` of the ``discover`` answer."""

    object_name: str
    sync_mode: str
    json_schema: dict[str, Any]
    matching_keys: list[list[str]] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object_name": self.object_name,
            "sync_mode": self.sync_mode,
            "json_schema": self.json_schema,
        }
        if self.matching_keys is not None:
            out["matching_keys"] = self.matching_keys
        return out


class Operation:
    """Base class of one Customer.io operation (one module under ``operations/``).

    Subclasses set ``object_name`` and ``sync_modes`` and implement ``discover`` and ``build``.
    """

    object_name: ClassVar[str]
    sync_modes: ClassVar[tuple[str, ...]]
    # The person column it reads (chosen by the stream's identifier): "required", "or_anonymous" (page
    # and screen views), or None (no person, or other columns). Checked against stream schemas at start.
    person: ClassVar[str | None] = None

    def discover(self) -> list[DiscoverEntry]:
        raise NotImplementedError

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        raise NotImplementedError

    def merge(self, earlier: Op, later: Op) -> Op | None:
        """Fold ``later`` into ``earlier`` (same key, same batch); None when they cannot be folded."""
        return None
