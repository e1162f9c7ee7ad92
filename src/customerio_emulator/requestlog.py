"""A bounded ring buffer of the Track requests the emulator received, for tests to assert on.

Bodies are kept as raw bytes and decoded only when inspected, so logging costs almost nothing per
request; the buffer is bounded both in entries and in total body bytes.
"""

from __future__ import annotations

import collections
from typing import Any

import orjson


class RequestLog:
    def __init__(self, max_entries: int = 1_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clear()

    def clear(self) -> None:
        self.entries: collections.deque[dict[str, Any]] = collections.deque()
        self.bytes = 0
        self.seq = 0

    def add(self, entry: dict[str, Any], body: bytes) -> None:
        """`entry`: method, path, query, host, status, site_id (and fault when one was injected)."""
        self.seq += 1
        entry["seq"] = self.seq
        entry["_body"] = body
        self.entries.append(entry)
        self.bytes += len(body)
        while self.entries and (len(self.entries) > self.max_entries or self.bytes > self.max_bytes):
            self.bytes -= len(self.entries.popleft()["_body"])

    def view(self, site_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        chosen = [e for e in self.entries if site_id is None or e.get("site_id") == site_id]
        if limit is not None:
            chosen = chosen[-limit:] if limit > 0 else []
        return [_decoded(e) for e in chosen]


def _decoded(entry: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in entry.items() if k != "_body"}
    raw: bytes = entry["_body"]
    result["body_bytes"] = len(raw)
    if not raw:
        result["body"] = None
        return result
    try:
        result["body"] = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Not JSON: show the text (truncated) so malformed requests can still be asserted on.
        result["body"] = None
        result["body_text"] = raw[:10_000].decode("utf-8", "replace")
    return result
