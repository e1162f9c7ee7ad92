"""The contract between one Customer.io operation module and the write pipeline.

An operation turns one record's ``data`` into one Track API op, or into a :class:`Rejection` that says
exactly why it cannot be sent. It never does I/O. ``Operation.build`` is shared: it applies the stream's
field map and resolves who the op is about once, then hands the ready values to the module's ``op``:

    record data --build: field map, who (person / object / anonymous)--> op(data, who, stream, record)
                                                                           |-> Op        (encoded JSON + key)
                                                                           \\-> Rejection (reason, field, message)

An operation module is a declaration: ``object_name``, ``sync_modes``, ``json_schema`` (discover),
``matching_keys``, ``person`` (which identifier it needs), ``ordered``, ``idempotent`` and ``op``.

The pipeline then batches ``Op.body`` bytes, routes by ``Op.key`` (same key -> same lane -> applied in
input order), and asks ``Operation.merge`` whether a later op on the same key may be folded into an
earlier one still waiting in the same batch (identify: later attributes win).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import msgspec

from ..reasons import Rejection
from . import common

if TYPE_CHECKING:
    from ..stream import Stream


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

    A msgspec Struct: one is built per record and it is cheaper to build than a plain class (see
    docs/performance.md). ``gc=False``: an op refers to nothing that refers back to it, so the
    collector need not track the ops in flight.
    """

    ordered: bool
    operation: "Operation"
    changes: list[dict[str, str]] | None = None
    route: str | None = None
    creates: bool = False  # a segment add that identifies its person first (create_missing_people)

    def __repr__(self) -> str:  # record contents stay out of logs: show the size only
        return f"Op({self.operation.object_name}, key={self.key!r}, {len(self.body)} bytes)"


def fold_identical(earlier: Op, later: Op) -> Op | None:
    """``merge`` for idempotent ops: two identical ops of one key in one batch are sent once."""
    return earlier if earlier.body == later.body else None


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


Who = tuple[dict[str, str], str]  # (Customer.io's ``identifiers``, the op key)
# An op's top-level fields, each value kept as its raw JSON: encoded again, it is the same bytes.
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])


@functools.cache
def _marker(field: str) -> bytes:
    """``,"<field>":``: where a print_omits field starts in an op's body (ledger_print)."""
    return b',"%s":' % field.encode()


def _cut_last(body: bytes, marker: bytes) -> bytes | None:
    """``body`` up to ``marker`` when the field it starts is the last one and an integer, as an op
    encodes a field it adds last (identify's ``timestamp``): cut, not decoded. None otherwise."""
    at = body.rfind(marker)
    if at > 0 and body[at + len(marker):-1].isdigit() and body[-1:] == b"}":
        return body[:at]
    return None


def _nobody(data: dict[str, Any], stream: "Stream") -> None:
    return None


# Operation.person -> how the person is found (resolved once per class, not per record)
_PERSON_RESOLVERS: dict[str | None, Callable[..., Any]] = {
    "required": common.person_identifier, "or_anonymous": common.person_or_anonymous, None: _nobody,
}


class Operation:
    """Base class of one Customer.io operation (one module under ``operations/``): see the module doc."""

    object_name: ClassVar[str]
    sync_modes: ClassVar[tuple[str, ...]]
    json_schema: ClassVar[dict[str, Any]]  # discover's schema (``schema(mode)`` may vary it by mode)
    matching_keys: ClassVar[tuple[tuple[str, ...], ...] | None] = None
    # The person column it reads (chosen by the stream's identifier): "required", "or_anonymous" (page
    # and screen views), or None (no person, or other columns). Checked against stream schemas at start.
    person: ClassVar[str | None] = None
    ordered: ClassVar[bool] = True  # see Op.ordered
    idempotent: ClassVar[bool] = False  # two identical ops of one key in one batch are sent once

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "person" in vars(cls) and "who" not in vars(cls):
            cls.who = staticmethod(_PERSON_RESOLVERS[cls.person])  # type: ignore[method-assign]

    def __init__(self) -> None:
        # Read per record by ``build``: an instance attribute is one look-up, where CPython 3.11 reads a
        # class attribute through an instance by walking the class each time (docs/performance.md).
        self._who = self.who

    def schema(self, mode: str) -> dict[str, Any]:
        return self.json_schema

    def discover(self) -> list[DiscoverEntry]:
        # copies: a caller editing its answer must not change the next one
        keys = None if self.matching_keys is None else [list(key) for key in self.matching_keys]
        return [DiscoverEntry(self.object_name, mode, copy.deepcopy(self.schema(mode)), copy.deepcopy(keys))
                for mode in self.sync_modes]

    def who(self, data: dict[str, Any], stream: "Stream") -> Who | Rejection | None:
        """Who or what the op is about; by ``person`` unless the operation says otherwise."""
        return None

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        record = data  # as read: activity ids hash it before mapping or conversion
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        who = self._who(data, stream)
        if type(who) is Rejection:
            return who
        return self.op(data, who, stream, record)  # type: ignore[arg-type]

    def op(self, data: dict[str, Any], who: Any, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        """The op of one record: ``data`` mapped, ``who`` resolved (None when ``who`` finds nobody)."""
        raise NotImplementedError

    def encoded(self, payload: dict[str, Any], key: str | None, section: dict[str, Any] | None = None,
                changes: list[dict[str, str]] | None = None) -> Op | Rejection:
        """``payload`` encoded as an op (over 32,768 bytes, ``section`` is named when it is the bigger problem)."""
        body = common.encode_within_limits(payload, section)
        if type(body) is Rejection:
            return body
        return Op(body, key, ordered=self.ordered, operation=self, changes=changes)  # type: ignore[arg-type]

    def merge(self, earlier: Op, later: Op) -> Op | None:
        """Fold ``later`` into ``earlier`` (same key, same batch); None when they cannot be folded."""
        return fold_identical(earlier, later) if self.idempotent else None

    # --- the sync ledger (skip_unchanged, mirror mode) ---------------------------------------------
    # The op's top-level fields its ledger print leaves out: what may differ between two sends of one
    # op that skip_unchanged still takes as unchanged (identify: its build time).
    print_omits: ClassVar[tuple[str, ...]] = ()

    def ledger_print(self, op: Op) -> bytes:
        """What the ledger's print of ``op`` digests: its JSON without the ``print_omits`` fields, by
        name wherever they stand. When one is left out, that JSON without its closing brace: the bytes
        stored prints have always covered (an identify's body before ``,"timestamp":``), so the prints
        of ledgers already written still match."""
        if not self.print_omits:
            return op.body
        if len(self.print_omits) == 1:
            cut = _cut_last(op.body, _marker(self.print_omits[0]))
            if cut is not None:
                return cut
        payload = _FIELDS.decode(op.body)
        kept = {name: value for name, value in payload.items() if name not in self.print_omits}
        if len(kept) == len(payload):
            return op.body
        return common.ENCODER.encode(kept)[:-1]

    def ledger_prints(self, ops: list[Op]) -> list[bytes]:
        """``ledger_print`` of each of ``ops`` (a run of this operation's ops), the way chosen once for
        the run rather than per op."""
        if not self.print_omits:
            return [op.body for op in ops]
        if len(self.print_omits) == 1:
            marker, whole = _marker(self.print_omits[0]), self.ledger_print
            return [_cut_last(op.body, marker) or whole(op) for op in ops]
        return [self.ledger_print(op) for op in ops]

    def ledger_entry(self, op: Op) -> tuple[bytes, bool]:
        """The ledger's key text for ``op`` and whether ``op`` removes what the key names. A mirror
        operation's key text is its removal op (``removal_op`` rebuilds it)."""
        return (op.key or "").encode(), False

    def ledger_entries(self, ops: list[Op]) -> tuple[list[bytes], list[bool] | None]:
        """``ledger_entry`` of each of ``ops``: their key texts, and which of them remove (None: none)."""
        if type(self).ledger_entry is Operation.ledger_entry:  # the key text is the op's key
            return [(op.key or "").encode() for op in ops], None
        entries = [self.ledger_entry(op) for op in ops]
        return [text for text, _ in entries], [removes for _, removes in entries]

    def removal_op(self, text: bytes) -> Op:
        raise NotImplementedError(f"{self.object_name} has no mirror mode")
