"""The floor: what Python cannot avoid doing for a sync, with no I/O and no checks.

Reads Airbyte lines from stdin in 1 MB chunks (as the connector does), decodes each with a typed msgspec
decoder, maps it to the v2 op (identifiers, name, timestamp, attributes = the other columns), encodes
it, and adds it to a batch body of at most 500,000 bytes that is joined and then dropped instead of
sent. No validation, no event ids, no network, no states. One process, one thread.

    .venv/bin/python bench/floor.py < bench/data/v1-event-100000-s10000.jsonl

Prints one JSON line: {"records", "bodies", "body_bytes", "loop_seconds"}.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import msgspec

BATCH_MAX_BYTES = 500_000
CHUNK_BYTES = 1 << 20
_EVENT_FIELDS = ("person_email", "person_id", "person_cio_id", "event_name", "event_id", "timestamp")
_PERSON_FIELDS = ("person_email", "person_id", "person_cio_id")


class Record(msgspec.Struct):
    stream: str
    data: dict[str, Any]


class Message(msgspec.Struct):
    type: str
    record: Record | None = None


def event_op(data: dict[str, Any]) -> dict[str, Any]:
    attributes = data.copy()
    for field in _EVENT_FIELDS:
        attributes.pop(field, None)
    return {"type": "person", "action": "event", "identifiers": {"email": data["person_email"]},
            "name": data["event_name"], "timestamp": data["timestamp"], "attributes": attributes}


def identify_op(data: dict[str, Any]) -> dict[str, Any]:
    attributes = data.copy()
    for field in _PERSON_FIELDS:
        attributes.pop(field, None)
    return {"type": "person", "action": "identify", "identifiers": {"email": data["person_email"]},
            "attributes": attributes}


def run(stream: Any) -> dict[str, Any]:
    decode = msgspec.json.Decoder(Message).decode
    encode = msgspec.json.Encoder().encode
    builders = {"events": event_op, "people": identify_op}
    records = bodies = body_bytes = 0
    batch: list[bytes] = []
    size = 12
    pending = b""
    start = time.perf_counter()
    while chunk := stream.read1(CHUNK_BYTES):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            message = decode(line)
            if message.record is None:
                continue
            body = encode(builders[message.record.stream](message.record.data))
            records += 1
            if size + len(body) + 1 > BATCH_MAX_BYTES:
                body_bytes += len(b'{"batch":[' + b",".join(batch) + b"]}")
                bodies += 1
                batch, size = [], 12
            batch.append(body)
            size += len(body) + 1
    if batch:
        body_bytes += len(b'{"batch":[' + b",".join(batch) + b"]}")
        bodies += 1
    return {"records": records, "bodies": bodies, "body_bytes": body_bytes,
            "loop_seconds": time.perf_counter() - start}


def main() -> None:
    print(msgspec.json.encode(run(sys.stdin.buffer)).decode())


if __name__ == "__main__":
    main()
