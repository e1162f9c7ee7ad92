"""values.py: timestamps to unix seconds, ULID encoding and deterministic event ids."""

from __future__ import annotations

import pytest
import ulid as ulid_lib

from destination_customer_io import values

T = 1_700_000_000  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (T, T),  # seconds
        (T * 1000 + 999, T),  # milliseconds, floored
        (T * 1_000_000 + 5, T),  # microseconds
        (T * 1_000_000_000, T),  # nanoseconds
        (T + 0.9, T),  # float seconds, floored
        (T * 1000.0 + 500.0, T),  # float milliseconds
        (0, 0),
        (99_999_999_999, 99_999_999_999),  # largest value read as seconds (year 5138)
        (100_000_000_000, 100_000_000),  # smallest value read as milliseconds (1973)
        (str(T), T),  # numeric strings
        (f" {T * 1000} ", T),
        ("1700000000.75", T),
        ("2023-11-14T22:13:20Z", T),
        ("2023-11-14T22:13:20.999Z", T),
        ("2023-11-14T22:13:20+00:00", T),
        ("2023-11-15T00:13:20+02:00", T),  # offsets are honoured
        ("2023-11-14T17:13:20-05:00", T),
        ("2023-11-14T22:13:20", T),  # naive = UTC
        ("2023-11-14 22:13:20", T),
        ("2023-11-14", T - (22 * 3600 + 13 * 60 + 20)),  # date-only = midnight UTC
        ("2023-11-14T22:13:20.123456789+00:00", T),  # more than 6 fraction digits
        ("9999-12-31T23:59:59Z", values.MAX_SECONDS),
    ],
)
def test_unix_seconds_accepts(raw: object, expected: int) -> None:
    assert values.unix_seconds(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        True, False, None, "", "   ", "yesterday", "2023-13-01", "2023-11-14T25:00:00", "1e9", "0x10",
        "1_700_000_000", "nan", "inf", float("nan"), float("inf"), -1, -1.5, "-5", "1969-12-31T23:59:59Z",
        10**20, -(10**20), "10000-01-01", [T], {"t": T}, b"1700000000",
    ],
)
def test_unix_seconds_rejects(raw: object) -> None:
    assert values.unix_seconds(raw) is None


def test_negative_timestamps_only_when_allowed() -> None:
    assert values.unix_seconds("1965-03-01", allow_negative=True) == -152_668_800
    assert values.unix_seconds(-152_668_800, allow_negative=True) == -152_668_800
    assert values.unix_seconds(-152_668_800_000, allow_negative=True) == -152_668_800  # ms by magnitude
    assert values.unix_seconds("0001-01-01T00:00:00Z", allow_negative=True) == values.MIN_SECONDS
    assert values.unix_seconds("0001-01-01T00:00:00+01:00", allow_negative=True) is None
    assert values.unix_seconds("1965-03-01") is None


def test_ulid_matches_reference_implementation() -> None:
    for ms, entropy in [(0, bytes(10)), (T * 1000, bytes(range(10))), ((1 << 48) - 1, b"\xff" * 10)]:
        expected = str(ulid_lib.ULID.from_bytes(ms.to_bytes(6, "big") + entropy))
        assert values.ulid(ms, entropy) == expected
    assert values.ulid((1 << 48) - 1, b"\xff" * 10) == "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"


def test_ulid_time_part_is_the_event_time() -> None:
    text = values.ulid(T * 1000, bytes(10))
    assert ulid_lib.ULID.from_str(text).milliseconds == T * 1000


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("01ARZ3NDEKTSV4RRFFQ69G5FAV", True),
        ("01arz3ndektsv4rrffq69g5fav", True),
        ("7ZZZZZZZZZZZZZZZZZZZZZZZZZ", True),
        ("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", False),  # over 128 bits
        ("01ARZ3NDEKTSV4RRFFQ69G5FAU", False),  # U is not Crockford
        ("01ARZ3NDEKTSV4RRFFQ69G5FA", False),
        ("01ARZ3NDEKTSV4RRFFQ69G5FAVV", False),
        ("order-123", False),
    ],
)
def test_is_ulid(text: str, ok: bool) -> None:
    assert values.is_ulid(text) is ok


DATA = {"person_email": "a@b.co", "event_name": "buy", "price": 3, "meta": {"b": 1, "a": [1, 2]}}


def test_record_ulid_is_deterministic_and_key_order_free() -> None:
    first = values.record_ulid(T * 1000, "orders", "shop", DATA)
    reordered = {"meta": {"a": [1, 2], "b": 1}, "price": 3, "event_name": "buy", "person_email": "a@b.co"}
    assert values.record_ulid(T * 1000, "orders", "shop", dict(DATA)) == first
    assert values.record_ulid(T * 1000, "orders", "shop", reordered) == first
    assert values.is_ulid(first)
    assert ulid_lib.ULID.from_str(first).milliseconds == T * 1000


@pytest.mark.parametrize(
    "change",
    [
        {"price": 4},
        {"meta": {"b": 1, "a": [2, 1]}},
        {"extra": None},
    ],
)
def test_record_ulid_changes_with_the_data(change: dict) -> None:
    assert values.record_ulid(0, "orders", "shop", {**DATA, **change}) != values.record_ulid(0, "orders", "shop", DATA)


def test_record_ulid_changes_with_stream_and_namespace() -> None:
    base = values.record_ulid(0, "orders", "shop", DATA)
    assert values.record_ulid(0, "orders2", "shop", DATA) != base
    assert values.record_ulid(0, "orders", None, DATA) != base
    assert values.record_ulid(0, "orders", "shop2", DATA) != base


def test_event_ulid_passes_user_ulids_through_upper_cased() -> None:
    assert values.event_ulid("01arz3ndektsv4rrffq69g5fav", 5, "s", None, DATA) == "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def test_event_ulid_hashes_other_user_ids_by_id_only() -> None:
    first = values.event_ulid("order-123", T * 1000, "s", None, DATA)
    assert values.is_ulid(first)
    assert first.startswith("0000000000")  # time part 0: the id alone decides
    assert values.event_ulid("order-123", 0, "other", "ns", {"x": 1}) == first
    assert values.event_ulid("order-124", T * 1000, "s", None, DATA) != first
    assert values.event_ulid(123, 0, "s", None, DATA) == values.event_ulid("123", 0, "s", None, DATA)


@pytest.mark.parametrize("absent", [None, "", "   "])
def test_event_ulid_without_user_id_hashes_the_record(absent: object) -> None:
    assert values.event_ulid(absent, 7, "s", "n", DATA) == values.record_ulid(7, "s", "n", DATA)


def test_hash_ulid_is_a_valid_ulid_with_the_event_time() -> None:
    digest = bytes(range(0, 256, 16))  # 16 bytes
    text = values.hash_ulid(T * 1000, digest)
    assert values.is_ulid(text) and ulid_lib.ULID.from_str(text).milliseconds == T * 1000
    assert values.hash_ulid(0, digest).startswith("0000000000")
    assert values.hash_ulid(T * 1000, bytes(16)) != values.hash_ulid(T * 1000, b"\x01" + bytes(15))
    # the random part carries the low 5 bits of each digest byte
    assert values.hash_ulid(0, bytes([31] * 16))[10:] == "Z" * 16


def test_repeat_window_remembers_between_limit_and_twice_limit_ids() -> None:
    from destination_customer_io.values import RepeatWindow

    window = RepeatWindow(limit=3)
    assert [window.repeated(x) for x in ("a", "b", "a")] == [False, False, True]
    assert [window.repeated(x) for x in ("c", "d", "e", "f")] == [False, False, False, False]
    # a, b, c filled the first generation; d, e, f the second: "a" is now forgotten, "d" still known
    assert window.repeated("d") is True and window.repeated("a") is False


def test_repeat_window_keys_every_value_as_itself() -> None:
    """The window keeps the ids themselves: any value is a key like any other, ints whose hashes collide
    (hash(-1) == hash(-2)) and 0 and 1 included."""
    from destination_customer_io.values import RepeatWindow

    window = RepeatWindow(limit=10)
    assert [window.repeated(x) for x in (-2, 0, 1, 2, -1, -2, 0, 1, 2, -1)] == [False] * 5 + [True] * 5
    assert not any(window.repeated(x) for x in (3, 2**63, -(2**63)))


def test_source_event_ids_are_sent_as_given_when_ulids_else_as_their_derived_ulid() -> None:
    from destination_customer_io.values import is_ulid, source_event_ulid, user_id_ulid

    sent = [source_event_ulid(v) for v in ("01hf2xq5m7t9c3n8v4b6k0w2zr", "order-7", 77, None, " ")]
    assert sent == ["01hf2xq5m7t9c3n8v4b6k0w2zr", user_id_ulid("order-7"), user_id_ulid(77), None, None]
    # pinned: a source id maps to the same ULID in every version (event id scheme v1, rule 2)
    assert source_event_ulid("order-77") == "0000000000KB7TAKB9QZ1PZFME"
    assert all(is_ulid(v) for v in sent[:3]) and source_event_ulid("order-7") == source_event_ulid("order-7")


def test_repeat_window_of_thousands_counts_exactly_its_generations() -> None:
    from destination_customer_io.values import RepeatWindow

    window = RepeatWindow(limit=1_000)
    ids = [f"01HF{n:022d}" for n in range(3_500)]
    assert not any(window.repeated(x) for x in ids)
    # 3,000 ids made three full generations; the last two are 2,000-2,999 and 3,000-3,499
    assert all(window.repeated(x) for x in ids[2_000:])
    assert not any(window.repeated(x) for x in ids[:2_000])


def test_repeat_window_counts_ids_in_bulk_exactly_as_one_at_a_time_across_generations() -> None:
    """``count`` (a chunk of ids at once, set operations) gives what ``repeated`` on each id in order gives,
    over inputs that repeat within a chunk, across chunks and across generation ends, with chunks of
    every size, so each generation drops the same ids either way."""
    import random

    from destination_customer_io.values import RepeatWindow

    rng = random.Random(23)
    for _ in range(40):
        limit = rng.choice([3, 10, 57, 200])
        ids = [f"01HF{rng.randrange(limit * 3):022d}" for _ in range(rng.randrange(1, limit * 8))]
        one_by_one, bulk = RepeatWindow(limit=limit), RepeatWindow(limit=limit)
        expected = sum(one_by_one.repeated(x) for x in ids)
        counted, start = 0, 0
        while start < len(ids):
            size = rng.choice([1, 2, limit // 2 or 1, limit - 1 or 1, limit, limit + 5, limit * 3])
            counted += bulk.count(ids[start:start + size])
            start += size
        assert counted == expected
        assert (bulk.current, bulk.previous) == (one_by_one.current, one_by_one.previous)
    window = RepeatWindow(limit=2_000)  # room for the whole chunk: the set operations' path
    assert window.count([f"id{n}" for n in range(500)] * 2) == 500 and len(window.current) == 500
    assert window.count(["id7", "new"]) == 1 and len(window.current) == 501
