"""Customer.io's answer to one request, as per-op outcomes: which ops of a batch were refused, and why.

    v2 /api/v2/batch     200 / 207        accepted, except the ops its ``errors`` name by ``batch_index``
                         400 / 413        nothing applied: the batch is halved until the bad op is alone
                         200 with errors naming no (valid) batch_index: halved the same way
    v1 segment id lists  200 / 201 / 204  every id accepted
                         400 / 413        nothing applied: halved like a v2 400
                         404              every id refused at once (no such manual segment)

The halving itself is delivery.py's. Other statuses (401/403, unexpected) are the client's to raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec



@dataclass(frozen=True, slots=True)
class BatchResult:
    status: int  # 200 (all accepted, or some listed in errors) or 400 (nothing applied)
    errors: list[dict[str, Any]]


def batch_answer(status: int, payload: bytes) -> BatchResult | None:
    """A v2 batch answer, or None when the status is not an answer about the ops."""
    if status in (200, 207):
        return BatchResult(200, errors_of(payload))
    if status in (400, 413):
        return BatchResult(400, errors_of(payload))
    return None


def ids_answer(status: int, payload: bytes, count: int) -> BatchResult | None:
    """A v1 id-list answer for ``count`` ids, or None when the status is not an answer about the ids.

    v1 has no per-id errors. 404 [guess: the segment does not exist or is not a manual segment; not
    documented] refuses every id at once, so one wrong segment id rejects its records instead of failing
    the sync or costing a split per id."""
    if status in (200, 201, 204):
        return BatchResult(200, [])
    if status in (400, 413):
        return BatchResult(400, v1_errors(payload))
    if status == 404:
        error = {"reason": "segment_not_found",
                 "message": "Customer.io answered 404 for this segment (no manual segment with this id)"}
        return BatchResult(200, [{**error, "batch_index": index} for index in range(count)])
    return None


def errors_of(body: bytes) -> list[dict[str, Any]]:
    """The ``errors`` list of an answer, tolerating any shape (missing keys, not JSON at all)."""
    if not body:
        return []
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return []
    errors = decoded.get("errors") if isinstance(decoded, dict) else None
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict)]


def v1_errors(body: bytes) -> list[dict[str, Any]]:
    """A v1 error answer (``{"meta":{"errors":["..."]}}`` or ``{"meta":{"error":"..."}}``) in the v2
    error shape; v2-shaped bodies pass through ``errors_of``."""
    try:
        decoded = msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        return []
    meta = decoded.get("meta") if isinstance(decoded, dict) else None
    if not isinstance(meta, dict):
        return errors_of(body)
    messages = meta.get("errors") if isinstance(meta.get("errors"), list) else [meta.get("error")]
    return [{"reason": "invalid", "message": m} for m in messages if isinstance(m, str) and m]


def refused_positions(result: BatchResult, count: int) -> dict[int, dict[str, Any]] | None:
    """Position in the request -> its error, for an answer of ``count`` ops; None when an error names
    no valid position (a request of one op: that op)."""
    refused: dict[int, dict[str, Any]] = {}
    for error in result.errors:
        position = error.get("batch_index")
        if type(position) is not int or not 0 <= position < count:
            return None if count > 1 else {0: error}
        refused[position] = error
    return refused
