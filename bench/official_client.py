"""The alternative: the official ``customerio`` Python package (3.x), scripted as a user would.

Two modes, both sequential (one request at a time, as the package's API is synchronous):
    batch  read each line with ``json.loads``, map it to a v2 op, and call ``CustomerIO.batch(ops)``
           whenever the next op would push the body past 500,000 bytes (sizes measured with
           ``json.dumps``, the only way a user can know them);
    v1     one call per record: ``identify(person_id, email=..., **attributes)`` or ``track(email, name, data,
           timestamp=...)``; ``--limit N`` stops after N records (a sample: at 50 ms per call a
           million records would take 14 hours).

The package hard-codes ``https://``; the emulator speaks plain HTTP on loopback. ``PlainHTTPCustomerIO``
(this file only) rewrites the scheme of each URL the package built, ``https://`` -> ``http://``, and
mounts the package's own keep-alive/retry adapter for ``http://`` too. Nothing else of the package
changes: its request building, sanitising, JSON encoding (requests' ``json=``), pooling and retries run
as shipped.

    .venv/bin/python bench/official_client.py --url http://127.0.0.1:8089 --mode batch < input.jsonl

Prints one JSON line: {"records", "calls", "loop_seconds"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

from customerio import CustomerIO

BATCH_LIMIT = 500_000
_ENVELOPE = len('{"batch": []}')
_EVENT_FIELDS = ("person_email", "person_id", "person_cio_id", "event_name", "event_id", "timestamp")


class PlainHTTPCustomerIO(CustomerIO):
    """The official client pointed at a plain-HTTP host (benchmark only; see the module docstring)."""

    def send_request(self, method: str, url: str, data: Any) -> Any:
        if url.startswith("https://"):
            url = "http://" + url[len("https://"):]
        return super().send_request(method, url, data)

    def _build_session(self) -> Any:
        session = super()._build_session()
        session.mount("http://", session.adapters["https://"])  # the package's keep-alive + retry adapter
        return session


def records(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for line in lines:
        message = json.loads(line)
        if message.get("type") == "RECORD":
            record = message["record"]
            yield record["stream"], record["data"]


def to_op(stream: str, data: dict[str, Any]) -> dict[str, Any]:
    """The v2 op a user would write for one row (no event id: the package does not make one)."""
    email = data["person_email"]
    if stream == "events":
        attributes = {k: v for k, v in data.items() if k not in _EVENT_FIELDS}
        return {"type": "person", "action": "event", "identifiers": {"email": email},
                "name": data["event_name"], "timestamp": data["timestamp"], "attributes": attributes}
    attributes = {k: v for k, v in data.items() if k not in ("person_email", "person_id")}
    attributes["id"] = data["person_id"]
    return {"type": "person", "action": "identify", "identifiers": {"email": email}, "attributes": attributes}


def run_batch(client: CustomerIO, lines: Iterator[str]) -> tuple[int, int]:
    ops: list[dict[str, Any]] = []
    size = _ENVELOPE
    count = calls = 0
    for stream, data in records(lines):
        op = to_op(stream, data)
        op_size = len(json.dumps(op)) + 2  # ", " between ops, as json.dumps separates them
        if ops and size + op_size > BATCH_LIMIT:
            client.batch(ops)
            calls += 1
            ops, size = [], _ENVELOPE
        ops.append(op)
        size += op_size
        count += 1
    if ops:
        client.batch(ops)
        calls += 1
    return count, calls


def run_v1(client: CustomerIO, lines: Iterator[str], limit: int) -> tuple[int, int]:
    count = 0
    for stream, data in records(lines):
        if count >= limit:
            break
        if stream == "events":
            event = {k: v for k, v in data.items() if k not in _EVENT_FIELDS}
            client.track(data["person_email"], data["event_name"], event, timestamp=data["timestamp"])
        else:
            attributes = {k: v for k, v in data.items() if k not in ("person_email", "person_id")}
            # v1 puts the identifier in the path: the person id there, the email as an attribute.
            client.identify(data["person_id"], email=data["person_email"], **attributes)
        count += 1
    return count, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the emulator's base URL (http://127.0.0.1:PORT)")
    parser.add_argument("--site-id", default="demo-site")
    parser.add_argument("--api-key", default="demo-key")
    parser.add_argument("--mode", choices=("batch", "v1"), default="batch")
    parser.add_argument("--limit", type=int, default=1_000, help="v1 mode: records to send")
    args = parser.parse_args()
    where = urlsplit(args.url)
    client = PlainHTTPCustomerIO(args.site_id, args.api_key, host=where.hostname, port=where.port)
    lines = iter(sys.stdin)
    start = time.perf_counter()
    with client:
        if args.mode == "batch":
            count, calls = run_batch(client, lines)
        else:
            count, calls = run_v1(client, lines, args.limit)
    print(json.dumps({"records": count, "calls": calls, "loop_seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
