"""Value conversion for Customer.io: timestamps to integer unix seconds, and deterministic event ULIDs.

Customer.io silently replaces a timestamp it cannot read with "now" and reads milliseconds as far-future
dates, so every timestamp is converted (or refused) here, before sending. Event ids are ULIDs derived
deterministically ("event id scheme v1", docs/mapping.md), so re-sending a record never creates a
second event.
"""

from __future__ import annotations

from hashlib import blake2b
import math
import re
from datetime import datetime, timezone
from typing import Any

import msgspec

# The range Python's datetime (and therefore ISO-8601 parsing) can represent.
MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z

# Unit detection by magnitude: seconds reach 1e11 only after year 5138, milliseconds fall below 1e11 only
# before 1973-03-03, so the boundaries below never mistake a plausible date for another unit.
_UNIT_BOUNDS = ((10**11, 1), (10**14, 1_000), (10**17, 1_000_000), (10**20, 1_000_000_000))

_NUMERIC = re.compile(r"-?\d+(?:\.\d+)?")


def unix_seconds(value: Any, *, allow_negative: bool = False) -> int | None:
    """``value`` as integer unix seconds, or None when it is not a timestamp we can read.

    Accepts int/float seconds, milliseconds, microseconds or nanoseconds (by magnitude), numeric strings
    of those, and ISO-8601 strings (naive = UTC; date-only = midnight UTC; ``Z`` or an offset). Fractions
    are floored. Rejects bools, NaN/inf, other types and anything outside 0001-01-01..9999-12-31; before
    1970 only with ``allow_negative`` (birthdays may be; an event time may not).
    """
    if isinstance(value, str):
        seconds = _string_seconds(value)
    elif isinstance(value, bool):  # bool is an int subclass: True must not become 1970-01-01T00:00:01
        return None
    elif isinstance(value, (int, float)):
        seconds = _number_seconds(value)
    else:
        return None
    if seconds is None or seconds > MAX_SECONDS or seconds < (MIN_SECONDS if allow_negative else 0):
        return None
    return seconds


def _number_seconds(value: int | float) -> int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    magnitude = abs(value)
    for bound, per_second in _UNIT_BOUNDS:
        if magnitude < bound:
            if per_second == 1:
                return math.floor(value)
            if isinstance(value, int):
                return value // per_second
            return math.floor(value / per_second)
    return None


def _string_seconds(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if _NUMERIC.fullmatch(text):
        return _number_seconds(float(text) if "." in text else int(text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return math.floor(moment.timestamp())
    except (OverflowError, ValueError):  # an offset pushing year 1 / year 9999 out of range
        return None


# --- ULIDs ---------------------------------------------------------------------------------------

_ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two Crockford characters per 10 bits: 13 lookups make a ULID (base64.b32encode is pure Python, and
# slower: docs/performance.md).
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
# byte -> the Crockford character of its low 5 bits: one bytes.translate turns 16 hash bytes into the
# 16 characters (80 bits) of a ULID's random part.
_LOW5 = bytes(_CROCKFORD[b & 31].encode("ascii")[0] for b in range(256))
_ZERO_TIME = "0" * 10
_HIGH_TIME: dict[int, str] = {}  # ms >> 20 -> the first 6 characters of a ULID's time part
_MAX_ULID_MS = (1 << 48) - 1
_CANONICAL = msgspec.json.Encoder(order="sorted")
_ENCODE_INTO = _CANONICAL.encode_into
# Copying a ready hasher skips blake2b()'s keyword parsing and parameter block set-up: the same digest,
# cheaper (docs/performance.md).
_BLAKE2B_16 = blake2b(digest_size=16)
_RECORD_TAIL = b"]"
_USER_ID_HEAD = b"event_id\x00"


def is_ulid(text: str) -> bool:
    """True when ``text`` is a ULID: 26 Crockford base32 characters (any case), within 128 bits."""
    return len(text) == 26 and _ULID_RE.fullmatch(text) is not None


def ulid(ms: int, randomness: bytes) -> str:
    """The standard ULID of time ``ms`` (clamped to 0..2**48-1) and the 80 bits ``randomness[:10]``.

    130 bits of text for 128 of data: the first character carries the top 3 bits of the time.
    """
    low = int.from_bytes(randomness[:10], "big")
    a, b = low >> 40, low & 0xFF_FFFF_FFFF
    t = _PAIRS
    return _time_part(ms) + (
        t[a >> 30] + t[(a >> 20) & 1023] + t[(a >> 10) & 1023] + t[a & 1023]
        + t[b >> 30] + t[(b >> 20) & 1023] + t[(b >> 10) & 1023] + t[b & 1023]
    )


def hash_ulid(ms: int, digest: bytes) -> str:
    """The ULID of time ``ms`` whose 80 random bits are the low 5 bits of each byte of a 16-byte
    ``digest``: as unpredictable as the digest's first 80 bits, and one ``translate`` instead of 8 lookups."""
    return f"{_time_part(ms)}{digest.translate(_LOW5).decode('ascii')}"


def _time_part(ms: int) -> str:
    """The 10 characters of time ``ms`` (clamped to 0..2**48-1)."""
    if ms <= 0:
        return _ZERO_TIME
    if ms > _MAX_ULID_MS:
        ms = _MAX_ULID_MS
    # The first 6 characters change every ~17 minutes of event time: kept, they save 3 of 5 lookups.
    high = _HIGH_TIME.get(ms >> 20)
    if high is None:
        high = _high_time(ms)
    t = _PAIRS
    return f"{high}{t[(ms >> 10) & 1023]}{t[ms & 1023]}"


def _high_time(ms: int) -> str:
    if len(_HIGH_TIME) >= 4096:  # bounded: a sync spanning years of event time recomputes, never grows
        _HIGH_TIME.clear()
    t = _PAIRS
    high = _HIGH_TIME[ms >> 20] = f"{t[ms >> 40]}{t[(ms >> 30) & 1023]}{t[(ms >> 20) & 1023]}"
    return high


def id_seed(stream_name: str, namespace: str | None) -> bytes:
    """The start of ``record_ulid``'s canonical encoding, ``["<stream>",<namespace>,``: encoded once per
    stream, so each record only encodes its own data (see ``seeded_record_ulid``)."""
    return _CANONICAL.encode((stream_name, namespace))[:-1] + b","


def record_ulid(ms: int, stream_name: str, namespace: str | None, data: dict[str, Any]) -> str:
    """A ULID for a record without an event id: same stream and same data -> same id.

    The hash covers the canonical encoding (sorted keys at every level) of ``[stream name, namespace,
    data]``; ``emitted_at`` is not part of it, so a replayed sync re-sends the same ids. Two truly
    identical rows of one stream collapse into one event.
    """
    return seeded_record_ulid(ms, id_seed(stream_name, namespace), data)


def blake2b_ulid(ms: int, head: bytes, body: bytes, tail: bytes) -> str:
    """The ULID of time ``ms`` and blake2b-128(head + body + tail): the one hash of every derived id
    (event id scheme v1). Three parts, so no caller concatenates bytes to hash them."""
    hasher = _BLAKE2B_16.copy()
    hasher.update(head)
    hasher.update(body)
    hasher.update(tail)
    high = _HIGH_TIME.get(ms >> 20) if 0 < ms <= _MAX_ULID_MS else None
    if high is None:  # time 0, a clamped time, or a new ~17-minute span: the general path
        return hash_ulid(ms, hasher.digest())
    # hash_ulid's text for the usual time, without its two calls (one id per event: docs/performance.md)
    t = _PAIRS
    return f"{high}{t[(ms >> 10) & 1023]}{t[ms & 1023]}{hasher.digest().translate(_LOW5).decode('ascii')}"


def seeded_record_ulid(ms: int, seed: bytes, data: dict[str, Any]) -> str:
    """``record_ulid`` with the stream part already encoded (``seed`` from ``id_seed``): the same id."""
    return blake2b_ulid(ms, seed, _CANONICAL.encode(data), _RECORD_TAIL)


class RecordIds:
    """One stream's derived record ids (``seeded_record_ulid``'s, the same text): the stream's part kept
    in a buffer that each record's data is encoded after, so an id is one hash update with no bytes
    joined and no call in between (docs/performance.md). The buffer is the stream's own (one sync
    builds its ops in one thread)."""

    __slots__ = ("seed", "_buffer", "_start")

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self._buffer = bytearray(seed)
        self._start = len(seed)

    def ulid(self, ms: int, data: dict[str, Any]) -> str:
        buffer = self._buffer
        _ENCODE_INTO(data, buffer, self._start)  # writes after the seed, then trims the buffer to fit
        buffer += _RECORD_TAIL
        hasher = _BLAKE2B_16.copy()
        hasher.update(buffer)
        high = _HIGH_TIME.get(ms >> 20) if 0 < ms <= _MAX_ULID_MS else None
        if high is None:
            return hash_ulid(ms, hasher.digest())
        t = _PAIRS
        return f"{high}{t[(ms >> 10) & 1023]}{t[ms & 1023]}{hasher.digest().translate(_LOW5).decode('ascii')}"


def user_id_ulid(event_id: Any) -> str:
    """A ULID for a user-given event id that is not a ULID: same id -> same ULID.

    Only the id is hashed (time part 0), so one id is one event even when its row's timestamp changes,
    which is what a user giving ids expects. The prefix keeps these apart from ``record_ulid`` hashes.
    """
    text = event_id if isinstance(event_id, str) else _CANONICAL.encode(event_id).decode("utf-8")
    return blake2b_ulid(0, _USER_ID_HEAD, text.encode("utf-8"), b"")


def event_ulid(
    event_id: Any, ms: int, stream_name: str, namespace: str | None, data: dict[str, Any]
) -> str:
    """The ``id`` to send for an event: the user's ULID (upper-cased), a hash of the user's other id,
    or a hash of the record when it has none (None or a blank string count as none)."""
    return seeded_event_ulid(event_id, ms, id_seed(stream_name, namespace), data)


def seeded_event_ulid(event_id: Any, ms: int, seed: Any, data: dict[str, Any]) -> str:
    """``event_ulid`` with the stream part already hashed (``seed`` from ``id_seed``): the same id."""
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        return seeded_record_ulid(ms, seed, data)
    if isinstance(event_id, str) and is_ulid(event_id):
        return event_id.upper()
    return user_id_ulid(event_id)


def source_event_ulid(event_id: Any) -> str | None:
    """``event_ids: source`` (the source decides identity, as with Airbyte's Kotlin connector): the
    record's own ``event_id`` as given when it is a ULID, else the ULID ``user_id_ulid`` derives from it
    (Customer.io's ``id`` is a ULID; same id -> same ULID, the one ``event_ids: derived`` sends too), None
    when it has none (then no ``id`` is sent)."""
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        return None
    if isinstance(event_id, str) and is_ulid(event_id):
        return event_id
    return user_id_ulid(event_id)


class RepeatWindow:
    """Which ids were already seen, over the last ``limit`` to ``2 * limit`` distinct ids: two generations
    (sets of the id strings themselves), the older dropped when the newer fills. Bounded (at most 2 x
    100,000 ids, ~24 MB), so a repeat further back than that is not counted. The ids, not their hashes: an
    int per id costs an allocation and its release, and sets hash a string once (docs/performance.md).
    ``count`` checks many ids at once with the same result as ``repeated`` on each in order: set
    operations in C instead of a call per id."""

    __slots__ = ("current", "previous", "limit")

    def __init__(self, limit: int = 100_000) -> None:
        self.current: set[str] = set()
        self.previous: set[str] = set()
        self.limit = limit

    def count(self, ids: list[str]) -> int:
        """How many of ``ids``, in order, repeat an id of the window or one earlier in ``ids``; the others
        join the window."""
        current = self.current
        if len(current) + len(ids) >= self.limit:  # the generation may fill on the way: one at a time
            return sum(map(self.repeated, ids))
        before = len(current)
        # Not in the older generation, then added: an id already in ``current`` is found by the insert
        # itself, one pass over that table instead of a look-up and then an insert (docs/performance.md).
        current |= set(ids).difference(self.previous) if self.previous else set(ids)
        return len(ids) - (len(current) - before)

    def repeated(self, value: str) -> bool:
        current = self.current
        if value in current or value in self.previous:
            return True
        current.add(value)
        if len(current) >= self.limit:
            self.previous, self.current = current, set()
        return False
