"""The ledger files 0.3.0-0.5.0 wrote (``*.ldg``), read once so a sync migrates them: used only then.

    CIOLEDGER1\\n + a JSON header line (rows, mirror, body_bytes, blake2b of the body, generation) + the body:
    keys u64[n] | prints u64[n] | gens u32[n] | sent u32[n] | flags u8[n] | (mirror) offsets u64[n+1] | texts

A key or print was the same 8 little-endian bytes the SQLite ledger stores, read unsigned then: read as
signed 64-bit here, it is the new key as it is (``table.digest``). The keeper folds a legacy snapshot and
its deltas into a fresh SQLite working copy and compacts at the end of that sync, which deletes them.
A legacy file is read whole: those ledgers were held whole in memory by the versions that wrote them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from array import array

MAGIC = b"CIOLEDGER1\n"
_COLUMNS = (("q", 8), ("q", 8), ("I", 4), ("I", 4), ("B", 1))  # keys, prints, gens, sent, flags


class Unreadable(Exception):
    """A legacy file that is not whole (or not a ledger file): ignored by the loader."""


def read_header(data: bytes) -> tuple[dict, int]:
    """A legacy file's JSON header and where its body starts, without checking the body."""
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


def decode(data: bytes) -> tuple[dict, list[tuple]]:
    """(header, rows in file order: (key, print, gen, sent, flag[, text]))."""
    header, start = read_header(data)
    body = memoryview(data)[start:]
    if len(body) != header.get("body_bytes") or \
            hashlib.blake2b(body, digest_size=32).hexdigest() != header.get("blake2b"):
        raise Unreadable(f"its body has {len(body)} bytes, not the {header.get('body_bytes')} whose "
                         "checksum the header names (a half-written file)")
    count, at, columns = int(header["rows"]), 0, []
    for code, size in _COLUMNS:
        columns.append(_array(code, body[at:at + count * size]))
        at += count * size
    if not header.get("mirror"):
        return header, list(zip(*columns))
    offsets = _array("Q", body[at:at + (count + 1) * 8])
    blob = bytes(body[at + (count + 1) * 8:])
    texts = [blob[offsets[i]:offsets[i + 1]] for i in range(count)]
    return header, list(zip(*columns, texts))


def _array(code: str, data: memoryview) -> array:
    values = array(code)
    values.frombytes(data)
    if sys.byteorder == "big":  # written little-endian (numpy's order on the machines that wrote them)
        values.byteswap()
    return values
