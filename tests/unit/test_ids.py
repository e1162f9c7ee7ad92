"""Event id scheme v1 (docs/mapping.md), re-implemented here from its written rule with the standard
library only (json, hashlib, decimal), against the connector's values.py.

The ids must never change: a replayed sync whose ids changed would create each of its events twice. The
pinned ids below were computed by the code before its C accelerator was removed (0.1.2); the property
tests show the written rule is exact, so anyone can derive the same ids without this code.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_customer_io import values

ROOT = Path(__file__).resolve().parents[2]
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A ULID's characters in either case, plus the two that Python's case-insensitive (Unicode) match also
# takes for s and k: U+017F and U+212A (a quirk of v1, kept so no id changes; docs/mapping.md).
IN_ULID = set(CROCKFORD) | set(CROCKFORD.lower()) | {"\u017f", "\u212a"}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
MS = st.integers(-(2**70), 2**70) | st.sampled_from([0, 1, (1 << 48) - 1, 1 << 48, 1_700_000_000_000])


# --- the rule, as docs/mapping.md writes it ------------------------------------------------------------

def float_text(x: float) -> str:
    """The shortest digits that read back as ``x``; plain decimal (at least one digit after the point)
    when its decimal exponent is -5..15, else ``d[.ddd]e<exponent>`` with no ``+`` and no leading zeros."""
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    if not any(digits):
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    while len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    e10, d, minus = len(digits) - 1 + exponent, "".join(map(str, digits)), "-" if sign else ""
    if -5 <= e10 <= 15:
        if e10 >= 0:
            return f"{minus}{d[:e10 + 1].ljust(e10 + 1, '0')}.{d[e10 + 1:] or '0'}"
        return f"{minus}0.{'0' * (-e10 - 1)}{d}"
    return f"{minus}{d[0]}{'.' + d[1:] if len(d) > 1 else ''}e{e10}"


def canonical(value: Any) -> str:
    """Canonical JSON: no whitespace, object keys sorted by code point at every level, strings as
    json.dumps(ensure_ascii=False) writes them, integers in decimal, floats as ``float_text``."""
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical(value[k])}"
                              for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def ulid_text(ms: int, hashed: bytes) -> str:
    """Time part: ``ms`` clamped to 0..2**48-1 as 10 base32 characters, big-endian; random part: the
    Crockford character of the low 5 bits of each of the 16 bytes of blake2b (digest size 16)."""
    ms = min(max(ms, 0), (1 << 48) - 1)
    time = "".join(CROCKFORD[(ms >> (5 * i)) & 31] for i in range(9, -1, -1))
    digest = hashlib.blake2b(hashed, digest_size=16).digest()
    return time + "".join(CROCKFORD[b & 31] for b in digest)


def scheme_v1(event_id: Any, ms: int, stream: str, namespace: str | None, data: dict[str, Any]) -> str:
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        return ulid_text(ms, canonical([stream, namespace, data]).encode("utf-8"))
    if isinstance(event_id, str) and len(event_id) == 26 and event_id[0] in "01234567" \
            and all(c in IN_ULID for c in event_id[1:]):
        return event_id.upper()
    text = event_id if isinstance(event_id, str) else canonical(event_id)
    return ulid_text(0, b"event_id\x00" + text.encode("utf-8"))


# --- the connector follows it --------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(ms=MS, stream=st.text(max_size=20), namespace=st.none() | st.text(max_size=10),
       data=st.dictionaries(st.text(max_size=12), JSON, max_size=25))
def test_record_ids_follow_the_written_rule(ms: int, stream: str, namespace: str | None, data: dict) -> None:
    expected = scheme_v1(None, ms, stream, namespace, data)
    assert values.record_ulid(ms, stream, namespace, data) == expected
    assert values.seeded_record_ulid(ms, values.id_seed(stream, namespace), data) == expected
    assert values.event_ulid("  ", ms, stream, namespace, data) == expected


@given(event_id=st.text(st.characters(blacklist_categories=["Cs"]), max_size=40) | st.integers()
       | st.floats(allow_nan=False, allow_infinity=False) | st.booleans())
def test_user_event_ids_follow_the_written_rule(event_id: object) -> None:
    assert values.event_ulid(event_id, 5, "s", None, {}) == scheme_v1(event_id, 5, "s", None, {})


@given(st.text(alphabet=CROCKFORD + CROCKFORD.lower() + "ILOUilou\u017f\u212a\u0131\u0130", min_size=26,
               max_size=26))
def test_ulid_event_ids_follow_the_written_rule(event_id: str) -> None:
    assert values.event_ulid(event_id, 5, "s", None, {}) == scheme_v1(event_id, 5, "s", None, {})


@settings(max_examples=2_000)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_are_written_as_the_rule_says(x: float) -> None:
    assert values._CANONICAL.encode(x).decode() == float_text(x)


@pytest.mark.parametrize(("x", "text"), [
    (1.0, "1.0"), (-0.0, "-0.0"), (0.1, "0.1"), (1.5e-5, "0.000015"), (1e-6, "1e-6"),
    (1e15, "1000000000000000.0"), (1e16, "1e16"), (1.25e16, "1.25e16"), (5e-324, "5e-324"),
])
def test_float_examples_of_the_doc(x: float, text: str) -> None:
    assert values._CANONICAL.encode(x).decode() == float_text(x) == text


# --- pinned: the ids of today's users never change -----------------------------------------------------

def test_pinned_ids_keep_their_values() -> None:
    data = {"a": [1, 2.5, "é"], "b": {"y": None, "x": True}, "c": 1e16, "d": '\n"'}
    assert values.record_ulid(1_700_000_000_000, "events", None, data) == "01HF7YAT008CAKDPYJZ3R9J0G6"
    assert values.event_ulid("  ", 1_699_920_000_000, "pages", "web", {"url": "/a"}) == "01HF5J1D00F2JNEBBEBX6HGHS5"
    assert [values.user_id_ulid(x) for x in ("order-123", 77, 2.5, "é x")] == [
        "0000000000QEK9XQMR3KR9Y6QJ", "0000000000CFHHH49SHRG5H1F8", "0000000000YGYAMPDMF8E7T29R",
        "0000000000XR9ZJKSS9T4RVCDM"]
    assert values.user_id_ulid(77) == values.user_id_ulid("77")


def test_the_examples_of_the_doc() -> None:
    record = {"person_email": "ann@example.com", "event_name": "paid", "timestamp": "2023-11-14T22:13:21Z",
              "amount": 1.50, "tags": ["a", "é"]}
    assert canonical(["shop", "web", record]) == (
        '["shop","web",{"amount":1.5,"event_name":"paid","person_email":"ann@example.com","tags":["a","é"],'
        '"timestamp":"2023-11-14T22:13:21Z"}]')
    ms = values.unix_seconds(record["timestamp"]) * 1000
    assert ms == 1_700_000_001_000
    assert values.event_ulid(None, ms, "shop", "web", record) == "01HF7YATZ8DKX535W1CJHYP4ZF"
    assert values.event_ulid("01arz3ndektsv4rrffq69g5fav", ms, "shop", "web", record) == "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def test_there_is_one_id_path_and_no_native_code() -> None:
    # One definition, run alike by the image, the benchmarks and the tests (issue 16).
    package = ROOT / "src" / "destination_customer_io"
    assert not (ROOT / "setup.py").exists()
    assert not [p.name for p in package.rglob("*.c")]  # (a stale, untracked _ids*.so is never imported)
    assert not hasattr(values, "ACCELERATED")


@given(ms=MS | st.integers(0, 1 << 49), body=st.binary(max_size=300), warm=st.booleans())
@settings(max_examples=300, deadline=None)
def test_blake2b_ulid_fast_time_part_is_hash_ulid(ms: int, body: bytes, warm: bool) -> None:
    """blake2b_ulid writes the usual time part itself (no calls): the same text as hash_ulid, whether the
    time's ~17-minute span is already cached or not."""
    if not warm:
        values._HIGH_TIME.clear()
    digest = hashlib.blake2b(b"h" + body + b"]", digest_size=16).digest()
    assert values.blake2b_ulid(ms, b"h", body, b"]") == values.hash_ulid(ms, digest)
    assert values.blake2b_ulid(ms, b"h", body, b"]") == values.hash_ulid(ms, digest)  # now cached


@pytest.mark.parametrize("ms", [0, -1, 1_700_000_000_123, 2**48 + 5, 2**60])
def test_a_streams_record_ids_are_seeded_record_ulid_even_after_an_unencodable_record(ms: int) -> None:
    """RecordIds.ulid (the event path's id: data encoded after the seed in the stream's buffer) gives
    seeded_record_ulid's text, whatever lengths came before and after a record that failed to encode."""
    seed = values.id_seed("orders", "shop")
    ids = values.RecordIds(seed)
    records = [{"b": [1, {"z": None}], "a": "é" * 300}, {"x": 1}, {"bad": object()}, {}, {"a": "\udc80"}, {"n": 2}]
    for data in records:
        try:
            expected = values.seeded_record_ulid(ms, seed, data)
        except (TypeError, UnicodeEncodeError):
            with pytest.raises((TypeError, UnicodeEncodeError)):
                ids.ulid(ms, data)
            continue
        assert ids.ulid(ms, data) == expected
