"""Ledger files: where a stream's ledger lives in the store, their names, and how a file proves it is whole.

    <root>/_customerio_ledger/site-<hash of siteId>/<ledger_scope>/<namespace>__<stream>__<operation>/
        snapshot-00000004-<blake2b>.sqlite        the ledger as of compaction 4 (a SQLite file: table.py)
        delta-00000004-00000001-<blake2b>.sqlite  outcomes since, written at each state release (and intents)
        removals-held-<utc time, µs>.jsonl        the removals a mirror guard held back, for the user to read
        allow-removals.json                       ``ledger allow-removals``: the next sync may remove up to N

Each file's name carries the BLAKE2b-128 of its bytes, so a file and its checksum are one object written
in one request (no manifest to keep in step): a file whose bytes differ (an interrupted upload, a disk
that lost the tail, an edit) is ignored with a warning, which only forgets deliveries (they are re-sent).
Deltas name the snapshot they follow: deltas of an older snapshot were folded into a newer one already
and are ignored (and deleted by the next compaction). ``*.ldg`` files are 0.3.0-0.5.0's format
(``legacy.py``): read once, then replaced by the first compaction.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..storage.names import s3_safe, stream_folder
from ..storage.names import scope_prefix as scoped
from .legacy import Unreadable

ROOT = "_customerio_ledger"
_SUM = r"(?:-([0-9a-f]{32})\.sqlite|\.ldg)$"  # a SQLite file with its checksum, or a legacy file
_SNAPSHOT = re.compile(r"snapshot-(\d{8})" + _SUM)
_DELTA = re.compile(r"delta-(\d{8})-(\d{8})" + _SUM)


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


def snapshot_name(seq: int, checksum: str) -> str:
    return f"snapshot-{seq:08d}-{checksum}.sqlite"


def delta_name(snapshot: int, number: int, checksum: str) -> str:
    return f"delta-{snapshot:08d}-{number:08d}-{checksum}.sqlite"


def is_legacy(name: str) -> bool:
    return name.endswith(".ldg")


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


def checksum(path: Path) -> str:
    """The BLAKE2b-128 of a file, read in parts."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def read_meta(path: Path) -> dict:
    """A ledger file's meta table; raises ``sqlite3.DatabaseError`` when it is not a ledger file."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT name, value FROM meta").fetchall())
    finally:
        con.close()


def verify(path: Path, name: str) -> dict:
    """A downloaded SQLite ledger file's meta, once its bytes match the checksum its name carries."""
    name = name.rsplit("/", 1)[-1]
    found = _SNAPSHOT.match(name) or _DELTA.match(name)
    expected = found.group(found.lastindex) if found else None
    actual = checksum(path)
    if actual != expected:
        raise Unreadable(f"its {path.stat().st_size} bytes do not have the checksum its name carries (a "
                         "half-written file)")
    try:
        return read_meta(path)
    except sqlite3.DatabaseError as exc:
        raise Unreadable(f"it is not a ledger file ({exc})") from None
