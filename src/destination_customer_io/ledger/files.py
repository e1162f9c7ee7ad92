"""Ledger files: where a stream's ledger lives in the store, and the one file format of its snapshots and deltas.

    <root>/_customerio_ledger/site-<hash of siteId>/<ledger_scope>/<namespace>__<stream>__<operation>/
        snapshot-00000004.ldg             everything delivered up to the end of sync 4's compaction
        delta-00000004-00000001.ldg       outcomes since, written at each state release (and intents)
        removals-held-<utc time, µs>.jsonl  the removals a mirror guard held back, for the user to read
        allow-removals.json               ``ledger allow-removals``: the next sync may remove up to N

A file: ``CIOLEDGER1\\n`` + one JSON header line + the body (the five columns, then for a mirror the key
texts' offsets and blob). The header names the body's length and BLAKE2b-256; a file whose body is
short, longer or differs (an interrupted upload, a disk that lost the tail, an edit) is ignored with a
warning, which only forgets deliveries (they are re-sent). Deltas name the snapshot they follow: deltas of
an older snapshot were folded into a newer one already and are ignored (and deleted by the next compaction).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np

from ..storage.names import s3_safe, stream_folder
from ..storage.names import scope_prefix as scoped
from .table import COLUMNS, Rows, Texts

MAGIC = b"CIOLEDGER1\n"
ROOT = "_customerio_ledger"
_SNAPSHOT = re.compile(r"snapshot-(\d{8})\.ldg$")
_DELTA = re.compile(r"delta-(\d{8})-(\d{8})\.ldg$")


def scope_prefix(site_id: str, ledger_scope: str) -> str:
    """The workspace and connection part of every ledger key: never the site id itself (a secret)."""
    return scoped(ROOT, site_id, ledger_scope)


def stream_dir(namespace: str | None, name: str, operation: str) -> str:
    return f"{stream_folder(namespace, name)}__{operation}/"


def operation_of(directory: str) -> str:
    """The operation a ``stream_dir`` names (its inverse, with ``label_of``)."""
    return directory.rstrip("/").rsplit("__", 1)[-1]


def label_of(directory: str) -> str:
    """The stream's name as its directory spells it (S3-safe): ``name`` or ``namespace.name``."""
    head = directory.rstrip("/").rsplit("__", 1)[0]
    if head.startswith("___"):  # "_": no namespace
        return head[3:]
    namespace, _, name = head.partition("__")
    return f"{namespace}.{name}"


def matches(directory: str, wanted: str) -> bool:
    """``wanted`` names this directory's stream as ``name`` (in any namespace) or ``namespace.name``,
    compared in the S3-safe spelling ``files.stream_dir`` gave the directory."""
    head = directory.rstrip("/").rsplit("__", 1)[0]
    name = "__" + s3_safe(wanted)
    if head.endswith(name) and "__" not in head[:-len(name)]:
        return True
    return any(head == f"{s3_safe(wanted[:at]) or '_'}__{s3_safe(wanted[at + 1:])}"
               for at, char in enumerate(wanted) if char == ".")


def snapshot_name(seq: int) -> str:
    return f"snapshot-{seq:08d}.ldg"


def delta_name(snapshot: int, number: int) -> str:
    return f"delta-{snapshot:08d}-{number:08d}.ldg"


@dataclass(slots=True)
class Listing:
    """The files of one stream directory, by role."""

    snapshots: dict[int, str]
    deltas: dict[tuple[int, int], str]

    @classmethod
    def of(cls, keys: list[str]) -> "Listing":
        snapshots, deltas = {}, {}
        for key in keys:
            name = key.rsplit("/", 1)[-1]
            if found := _SNAPSHOT.match(name):
                snapshots[int(found.group(1))] = key
            elif found := _DELTA.match(name):
                deltas[(int(found.group(1)), int(found.group(2)))] = key
        return cls(snapshots, deltas)

    def all(self) -> list[str]:
        return [*self.snapshots.values(), *self.deltas.values()]


def encode(rows: Rows, header: dict) -> bytes:
    """The file's bytes, built with one copy of the columns (they are hashed and joined as views)."""
    parts: list = [memoryview(np.ascontiguousarray(column)).cast("B") for column in rows.columns()]
    if rows.texts is not None:
        parts += [memoryview(np.asarray(rows.texts.offsets, np.uint64)).cast("B"), rows.texts.blob]
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(part)
    header = {**header, "rows": len(rows), "mirror": rows.texts is not None,
              "body_bytes": sum(len(part) for part in parts), "blake2b": digest.hexdigest()}
    return b"".join([MAGIC, json.dumps(header, sort_keys=True).encode(), b"\n", *parts])


class Unreadable(Exception):
    """A ledger file that is not whole (or not a ledger file): ignored by the loader."""


def read_header(data: bytes) -> tuple[dict, int]:
    """A ledger file's JSON header and where its body starts, without checking the body."""
    if not data.startswith(MAGIC):
        raise Unreadable("it does not start with the ledger file marker")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise Unreadable("its header is cut short")
    try:
        header = json.loads(data[len(MAGIC):end])
    except ValueError:
        raise Unreadable("its header is not JSON") from None
    if not isinstance(header, dict):
        raise Unreadable("its header is not a JSON object")
    return header, end + 1


def decode(data: bytes) -> tuple[dict, Rows]:
    header, start = read_header(data)
    body = memoryview(data)[start:]
    if len(body) != header.get("body_bytes") or \
            hashlib.blake2b(body, digest_size=32).hexdigest() != header.get("blake2b"):
        raise Unreadable(f"its body has {len(body)} bytes, not the {header.get('body_bytes')} whose "
                         "checksum the header names (a half-written file)")
    return header, _rows(body, int(header["rows"]), bool(header.get("mirror")))


def _rows(body: memoryview, count: int, mirror: bool) -> Rows:
    columns, at = [], 0
    for _, kind in COLUMNS:
        size = count * np.dtype(kind).itemsize
        columns.append(np.frombuffer(body[at:at + size], kind).copy())
        at += size
    texts = None
    if mirror:
        size = (count + 1) * 8
        offsets = np.frombuffer(body[at:at + size], np.uint64).copy()
        texts = Texts(bytes(body[at + size:]), offsets)
    return Rows(*columns, texts=texts)
