"""person_identify and person_event: the exact ops built, every rejection, policies, mapping, merge,
discover and the registry."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from destination_customer_io import reasons, values
from destination_customer_io.catalog import Stream
from destination_customer_io.config import parse_config
from destination_customer_io.operations import (
    OPERATIONS, Op, Rejection, discover_entries,
)
from destination_customer_io.operations.common import apply_field_map
from destination_customer_io.operations.person_event import PersonEvent
from destination_customer_io.operations.person_identify import PersonIdentify

NOW = 1_800_000_000
T = 1_700_000_000
IDENTIFY = PersonIdentify(clock=lambda: NOW + 0.9)
EVENT = PersonEvent()
EURO = "\u20ac"  # 3 UTF-8 bytes


def make_stream(
    operation: Any, mode: str | None = None, *, name: str = "users", namespace: str | None = "crm",
    timestamp_fields: tuple[str, ...] = (), field_map: dict[str, Any] | None = None, **config: Any,
) -> Stream:
    cfg = parse_config({"credentials": {"siteId": "site", "apiKey": "key"}, **config})
    default_mode = "append" if operation.object_name == "person_event" else "append_dedup"
    return Stream(
        name=name, namespace=namespace, operation=operation, destination_sync_mode=mode or default_mode,
        config=cfg, timestamp_fields=frozenset(timestamp_fields), field_map=field_map or {},
    )


def ident(data: dict[str, Any], **kw: Any) -> Op | Rejection:
    return IDENTIFY.build(data, make_stream(IDENTIFY, **kw))


def event(data: dict[str, Any], **kw: Any) -> Op | Rejection:
    return EVENT.build(data, make_stream(EVENT, **kw))


def body(op: Op | Rejection) -> dict[str, Any]:
    assert isinstance(op, Op), op
    return msgspec.json.decode(op.body)


def rejected(result: Op | Rejection) -> tuple[str, str | None, str]:
    assert isinstance(result, Rejection), result
    return result.reason, result.field, result.message


def limit_msg(subject: str, size: int, limit: int) -> str:
    return f"{subject} is {size:,} bytes; Customer.io allows at most {limit:,} bytes"


# --- person_identify: the op --------------------------------------------------------------------

def test_identify_op_exact() -> None:
    # Defaults as in Airbyte's Kotlin connector: a null clears the attribute, identifier columns are
    # never attributes.
    op = ident({"person_email": "Ann@Example.com", "person_id": "u1", "person_cio_id": "c1", "plan": "pro",
                "seats": 3, "tags": ["a"], "x": None})
    assert body(op) == {
        "type": "person", "action": "identify", "identifiers": {"email": "Ann@Example.com"},
        "attributes": {"plan": "pro", "seats": 3, "tags": ["a"], "x": None}, "timestamp": NOW,
    }
    assert op.key == "person:email:ann@example.com"
    assert op.ordered is True and op.changes is None
    assert op.operation is IDENTIFY


def test_identify_op_bytes_in_the_order_sent() -> None:
    """The encoded op itself (what reaches the batch), key order included, plain and in update mode."""
    data = {"person_email": "a@b.co", "plan": "pro", "seats": 3, "x": None}
    assert ident(data).body == (b'{"type":"person","action":"identify","identifiers":{"email":"a@b.co"},'
                                b'"attributes":{"plan":"pro","seats":3,"x":null},"timestamp":1800000000}')
    assert ident(data, mode="update").body == (
        b'{"type":"person","action":"identify","identifiers":{"email":"a@b.co"},'
        b'"attributes":{"plan":"pro","seats":3,"x":null,"_update":true},"timestamp":1800000000}')


def test_identify_sends_secondary_identifiers_as_attributes() -> None:
    op = ident({"person_email": "a@b.co", "person_id": 42, "person_cio_id": "c1", "plan": "pro"},
               send_other_identifiers=True)
    assert body(op)["identifiers"] == {"email": "a@b.co"}
    assert body(op)["attributes"] == {"plan": "pro", "id": "42"}  # cio_id is immutable: never an attribute


def test_identify_by_id_sets_email_attribute() -> None:
    op = ident({"person_id": "u1", "person_email": " a@b.co ", "plan": "x"}, identifierType="id",
               send_other_identifiers=True)
    assert body(op)["identifiers"] == {"id": "u1"}
    assert body(op)["attributes"] == {"plan": "x", "email": "a@b.co"}
    assert op.key == "person:id:u1"


def test_identify_by_cio_id() -> None:
    op = ident({"person_cio_id": "a1b2", "person_email": None, "person_id": ""}, identifierType="cio_id")
    assert body(op)["identifiers"] == {"cio_id": "a1b2"}
    assert body(op)["attributes"] == {}
    assert op.key == "person:cio_id:a1b2"


@pytest.mark.parametrize("policy", ["null", "empty_string"])
def test_null_secondary_identifiers_are_never_sent(policy: str) -> None:
    op = ident({"person_id": "u1", "person_email": None}, identifierType="id", null_values=policy,
               send_other_identifiers=True)
    assert body(op)["attributes"] == {}


def test_identifier_columns_are_dropped_unless_send_other_identifiers() -> None:
    op = ident({"person_id": "u1", "person_email": "nope", "person_cio_id": "c", "plan": "x"}, identifierType="id")
    assert body(op)["attributes"] == {"plan": "x"}  # dropped, so not even checked


def test_invalid_secondary_email_rejects() -> None:
    assert rejected(ident({"person_id": "u1", "person_email": "nope"}, identifierType="id",
                          send_other_identifiers=True)) == (
        reasons.IDENTIFIER_INVALID, "person_email",
        "`person_email` is not an email address (one @ with text on both sides, no spaces)",
    )


def test_update_mode_adds_update_flag() -> None:
    op = ident({"person_email": "a@b.co", "plan": "pro"}, mode="update")
    assert body(op)["attributes"] == {"plan": "pro", "_update": True}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("omit", {"plan": "pro"}), ("null", {"plan": "pro", "gone": None}),
     ("empty_string", {"plan": "pro", "gone": ""})],
)
def test_null_values_policy(policy: str, expected: dict[str, Any]) -> None:
    op = ident({"person_email": "a@b.co", "plan": "pro", "gone": None}, null_values=policy)
    assert body(op)["attributes"] == expected


def test_nested_nulls_are_kept() -> None:
    op = ident({"person_email": "a@b.co", "address": {"city": None}})
    assert body(op)["attributes"] == {"address": {"city": None}}


# --- identifiers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["absent", None, "", "   ", "\t"])
def test_identifier_missing(value: Any) -> None:
    data = {"plan": "pro"} if value == "absent" else {"person_email": value, "plan": "pro"}
    assert rejected(ident(data)) == (
        reasons.IDENTIFIER_MISSING, "person_email",
        "`person_email` is missing, null or empty; identifierType `email` needs it",
    )
    assert rejected(event({**data, "event_name": "e"}))[0] == reasons.IDENTIFIER_MISSING


@pytest.mark.parametrize("value", ["plain", "a@@b.co", "a@", "@b.co", "a b@c.de", "a@b.co@d.e"])
def test_email_identifier_must_be_email_shaped(value: str) -> None:
    assert rejected(ident({"person_email": value})) == (
        reasons.IDENTIFIER_INVALID, "person_email",
        "`person_email` is not an email address (one @ with text on both sides, no spaces)",
    )


def test_the_usual_email_check_agrees_with_the_email_pattern_on_every_string() -> None:
    """``person_identifier`` skips the pattern for an email that is printable, space-free and has one @
    inside it: that shortcut must accept exactly what the pattern (and the parser after it) accepts, key
    included, whatever the characters (unicode whitespace, unprintable, several @, surrounding spaces)."""
    import random
    import re

    from destination_customer_io.operations.common import identifier, person_identifier, person_key

    pattern = re.compile(r"[^@\s]+@[^@\s]+")
    # the fact the shortcut rests on: every character \s matches, but the space, is unprintable
    assert [c for c in map(chr, range(0x110000)) if pattern.fullmatch(f"a{c}@b") is None and c != "@"
            and c.isprintable()] == [" "]
    stream = make_stream(EVENT)
    rng = random.Random(6)
    alphabet = "ab.@ \t\n\x00\x1f\x85\xa0\u1680\u2007\u2028\u200d\u3000\ufeff\u00e9" + "\U0001f600"
    for _ in range(20_000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12)))
        who = person_identifier({"person_email": raw}, stream)
        value = identifier("email", raw, "person_email")
        if value is None or isinstance(value, Rejection):
            assert isinstance(who, Rejection), repr(raw)
        else:
            assert pattern.fullmatch(raw.strip()) is not None
            assert who == ({"email": value}, person_key("email", value)), repr(raw)


@pytest.mark.parametrize(("kind", "value"), [("email", 5), ("id", 1.5), ("id", True), ("cio_id", ["x"])])
def test_identifier_of_wrong_type(kind: str, value: Any) -> None:
    field = f"person_{kind}"
    suffix = "" if kind == "email" else " (integers are accepted)"
    assert rejected(ident({field: value}, identifierType=kind)) == (
        reasons.IDENTIFIER_INVALID, field,
        f"`{field}` holds a value of type {type(value).__name__}; Customer.io needs a string{suffix}",
    )


def test_integer_ids_become_strings() -> None:
    op = ident({"person_id": 12345}, identifierType="id")
    assert body(op)["identifiers"] == {"id": "12345"} and op.key == "person:id:12345"


def test_email_is_stripped_ids_are_not() -> None:
    assert body(ident({"person_email": "  a@b.co\n"}))["identifiers"] == {"email": "a@b.co"}
    assert body(ident({"person_id": " u1 "}, identifierType="id"))["identifiers"] == {"id": " u1 "}


def test_identifier_byte_boundary_multibyte() -> None:
    ok = EURO * 50  # 150 bytes
    assert body(ident({"person_id": ok}, identifierType="id"))["identifiers"] == {"id": ok}
    assert rejected(ident({"person_id": ok + "a"}, identifierType="id")) == (
        reasons.IDENTIFIER_TOO_LONG, "person_id", limit_msg("identifier `person_id`", 151, 150),
    )
    email_ok = EURO * 48 + "@b.cde"  # 144 + 6 = 150 bytes
    assert isinstance(ident({"person_email": email_ok}), Op)
    assert rejected(ident({"person_email": email_ok + "f"})) == (
        reasons.IDENTIFIER_TOO_LONG, "person_email", limit_msg("identifier `person_email`", 151, 150),
    )


def test_email_key_is_case_insensitive_id_key_is_not() -> None:
    assert ident({"person_email": "A@B.CO"}).key == ident({"person_email": "a@b.co"}).key
    assert ident({"person_id": "U1"}, identifierType="id").key != ident({"person_id": "u1"}, identifierType="id").key


# --- attribute limits ------------------------------------------------------------------------------

def test_attribute_value_byte_boundary() -> None:
    ok = EURO * 333 + "a"  # 1,000 bytes
    assert body(ident({"person_email": "a@b.co", "bio": ok}))["attributes"] == {"bio": ok}
    assert rejected(ident({"person_email": "a@b.co", "bio": ok + "b"})) == (
        reasons.ATTRIBUTE_VALUE_TOO_LONG, "bio", limit_msg("attribute `bio`", 1001, 1000),
    )


def test_nested_attribute_value_measured_as_json() -> None:
    ok = {"k": "x" * 992}  # {"k":"xxx..."} = 1,000 bytes
    assert body(ident({"person_email": "a@b.co", "doc": ok}))["attributes"] == {"doc": ok}
    assert rejected(ident({"person_email": "a@b.co", "doc": {"k": "x" * 993}})) == (
        reasons.ATTRIBUTE_VALUE_TOO_LONG, "doc", limit_msg("attribute `doc`", 1001, 1000),
    )


def test_attribute_name_byte_boundary() -> None:
    ok = EURO * 50
    assert body(ident({"person_email": "a@b.co", ok: 1}))["attributes"] == {ok: 1}
    assert rejected(ident({"person_email": "a@b.co", ok + "a": 1})) == (
        reasons.ATTRIBUTE_NAME_TOO_LONG, ok + "a", limit_msg("the attribute name", 151, 150),
    )


def test_names_remembered_as_short_never_hide_a_long_one() -> None:
    # One stream, many records: names measured short once are not measured again, a long name
    # next to them still is (and is never remembered).
    stream = make_stream(IDENTIFY)
    long_name = EURO * 50 + "a"
    for i in range(3):
        assert isinstance(IDENTIFY.build({"person_email": "a@b.co", "plan": i, "seats": i}, stream), Op)
    assert stream.short_names == {"plan", "seats"}
    for _ in range(2):
        assert rejected(IDENTIFY.build({"person_email": "a@b.co", "plan": 1, long_name: 1}, stream))[:2] == (
            reasons.ATTRIBUTE_NAME_TOO_LONG, long_name)
    assert long_name not in stream.short_names
    assert body(IDENTIFY.build({"person_email": "a@b.co", "plan": 2, EURO * 50: 1}, stream))["attributes"] == \
        {"plan": 2, EURO * 50: 1}  # 150 bytes: allowed, but longer than 37 characters: not remembered
    assert EURO * 50 not in stream.short_names


def test_attribute_count_boundary() -> None:
    attrs = {f"a{i}": i for i in range(300)}
    assert len(body(ident({"person_email": "a@b.co", **attrs}))["attributes"]) == 300
    assert len(body(ident({"person_email": "a@b.co", **attrs}, mode="update"))["attributes"]) == 301
    assert rejected(ident({"person_email": "a@b.co", "person_id": "u", **attrs}, send_other_identifiers=True)) == (
        reasons.TOO_MANY_ATTRIBUTES, None, "the record sets 301 attributes; Customer.io allows at most 300 per call",
    )


def test_attributes_too_large_and_op_too_large() -> None:
    big = {f"a{i:03d}": "x" * 990 for i in range(110)}
    result = ident({"person_email": "a@b.co", **big})
    size = len(msgspec.json.encode(big))
    assert rejected(result) == (reasons.ATTRIBUTES_TOO_LARGE, None, limit_msg("the attributes object", size, 100_000))
    some = {f"a{i:03d}": "x" * 990 for i in range(40)}
    result = ident({"person_email": "a@b.co", **some})
    op_size = len(msgspec.json.encode({
        "type": "person", "action": "identify", "identifiers": {"email": "a@b.co"}, "attributes": some,
        "timestamp": NOW,
    }))
    assert rejected(result) == (reasons.OP_TOO_LARGE, None, limit_msg("the encoded operation", op_size, 32_768))


def test_op_size_boundary_exact() -> None:
    base = {"type": "person", "action": "identify", "identifiers": {"email": "a@b.co"}, "timestamp": NOW}

    def attrs_for(total: int) -> dict[str, str]:
        attrs = {f"a{i:02d}": "x" * 990 for i in range(32)}
        filler = total - len(msgspec.json.encode({**base, "attributes": {**attrs, "zz": ""}}))
        return {**attrs, "zz": "y" * filler}

    fits = attrs_for(32_768)
    assert len(ident({"person_email": "a@b.co", **fits}).body) == 32_768
    assert rejected(ident({"person_email": "a@b.co", **attrs_for(32_769)}))[0] == reasons.OP_TOO_LARGE


# --- oversized policies ----------------------------------------------------------------------------

def test_oversized_drop_policy() -> None:
    op = ident({"person_email": "a@b.co", "bio": "x" * 1001, "doc": ["y" * 1000], "plan": "p"},
               oversized_attributes="drop")
    assert body(op)["attributes"] == {"plan": "p"}
    assert op.changes == [
        {"field": "bio", "change": "NULLED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"},
        {"field": "doc", "change": "NULLED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"},
    ]


def test_oversized_truncate_policy_cuts_at_character_boundary() -> None:
    op = ident({"person_email": "a@b.co", "bio": EURO * 334, "doc": {"k": "y" * 1000}},
               oversized_attributes="truncate")
    attributes = body(op)["attributes"]
    assert attributes == {"bio": EURO * 333}  # 999 bytes: the 334th character would cross 1,000
    assert op.changes == [
        {"field": "bio", "change": "TRUNCATED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"},
        {"field": "doc", "change": "NULLED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"},
    ]


def test_truncate_keeps_exactly_1000_ascii_bytes() -> None:
    op = ident({"person_email": "a@b.co", "bio": "z" * 5000}, oversized_attributes="truncate")
    assert body(op)["attributes"]["bio"] == "z" * 1000


def test_changes_name_the_source_column() -> None:
    op = ident({"person_email": "a@b.co", "long_bio": "x" * 2000}, oversized_attributes="drop",
               field_map={"bio": "long_bio"})
    assert op.changes == [{"field": "long_bio", "change": "NULLED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"}]


# --- timestamps in attributes -------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw", [T, T * 1000, T * 1_000_000, float(T), str(T), "2023-11-14T22:13:20Z", "2023-11-15T00:13:20+02:00",
            "2023-11-14T22:13:20"],
)
def test_timestamp_columns_become_unix_seconds(raw: Any) -> None:
    op = ident({"person_email": "a@b.co", "signup_at": raw, "note": "2023-11-14T22:13:20Z"},
               timestamp_fields=("signup_at",))
    # only schema-typed columns convert: `note` looks like a date but stays a string
    assert body(op)["attributes"] == {"signup_at": T, "note": "2023-11-14T22:13:20Z"}


def test_timestamp_columns_allow_pre_1970() -> None:
    op = ident({"person_email": "a@b.co", "born": "1965-03-01"}, timestamp_fields=("born",))
    assert body(op)["attributes"] == {"born": -152_668_800}


def test_timestamp_conversion_can_be_turned_off() -> None:
    op = ident({"person_email": "a@b.co", "signup_at": "2023-11-14T22:13:20Z"},
               timestamp_fields=("signup_at",), convert_timestamps=False)
    assert body(op)["attributes"] == {"signup_at": "2023-11-14T22:13:20Z"}


@pytest.mark.parametrize(("raw", "type_name"), [("soon", "str"), (True, "bool"), ({"t": 1}, "dict")])
def test_unparseable_timestamp_column_rejects(raw: Any, type_name: str) -> None:
    assert rejected(ident({"person_email": "a@b.co", "signup_at": raw}, timestamp_fields=("signup_at",))) == (
        reasons.INVALID_TIMESTAMP, "signup_at",
        f"`signup_at` (type {type_name}) is not a timestamp: expected unix seconds, milliseconds, "
        "microseconds or nanoseconds, or an ISO-8601 date-time, between 0001-01-01 and 9999-12-31",
    )


@pytest.mark.parametrize(
    ("policy", "expected"), [("omit", {}), ("null", {"signup_at": None}), ("empty_string", {"signup_at": ""})],
)
def test_blank_timestamp_column_counts_as_null(policy: str, expected: dict[str, Any]) -> None:
    for blank in (None, "", "  "):
        op = ident({"person_email": "a@b.co", "signup_at": blank}, timestamp_fields=("signup_at",),
                   null_values=policy)
        assert body(op)["attributes"] == expected


# --- person_event: the op ----------------------------------------------------------------------------

def test_event_op_exact() -> None:
    data = {"person_email": "a@b.co", "person_id": "u1", "event_name": "purchase", "timestamp": T,
            "event_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "price": 9.5, "items": [{"sku": "s"}], "note": None}
    op = event(data)
    assert body(op) == {
        "type": "person", "action": "event", "identifiers": {"email": "a@b.co"}, "name": "purchase",
        "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "timestamp": T,
        "attributes": {"price": 9.5, "items": [{"sku": "s"}], "note": None},
    }
    assert op.key == "person:email:a@b.co" and op.ordered is False


def test_event_without_timestamp_or_data() -> None:
    decoded = body(event({"person_email": "a@b.co", "event_name": "login", "timestamp": None}))
    assert set(decoded) == {"type", "action", "identifiers", "name", "id"}
    assert decoded["id"].startswith("0000000000")  # ULID time part 0 when the event has no time


def test_event_ops_bytes_and_ids_on_every_id_path() -> None:
    """The usual event (no event_id, derived ids) is built on its own short path: its exact bytes, its
    derived id (``values.record_ulid`` of the record as read), a repeat counted on the stream; a blank
    event_id, a given one and ``event_ids: source`` take activity_id's general path."""
    data = {"person_email": "a@b.co", "event_name": "paid", "timestamp": T, "price": 9.5}
    stream = make_stream(EVENT, name="events", namespace=None)
    derived = values.record_ulid(T * 1000, "events", None, data)
    first, again = EVENT.build(data, stream), EVENT.build(dict(data), stream)
    assert first.body == again.body == (
        b'{"type":"person","action":"event","identifiers":{"email":"a@b.co"},"name":"paid","id":"'
        + derived.encode() + b'","timestamp":1700000000,"attributes":{"price":9.5}}')
    assert stream.count_repeats() == 1 and stream.counts.repeated_ids == 1
    assert body(EVENT.build({**data, "event_id": " "}, stream))["id"] == values.record_ulid(
        T * 1000, "events", None, {**data, "event_id": " "})
    assert stream.count_repeats() == 1  # another record (its blank event_id is part of it): a new id
    assert body(EVENT.build({**data, "event_id": "order-7"}, stream))["id"] == values.user_id_ulid("order-7")
    source = make_stream(EVENT, name="events", namespace=None, event_ids="source")
    assert "id" not in body(EVENT.build(data, source))
    assert body(EVENT.build({**data, "event_id": "order-7"}, source))["id"] == values.user_id_ulid("order-7")
    assert source.count_repeats() == 0 and source.new_ids == []
    bare = body(EVENT.build({"person_email": "a@b.co", "event_name": "paid"}, stream))
    assert list(bare) == ["type", "action", "identifiers", "name", "id"]


@pytest.mark.parametrize(
    "raw", [T, T * 1000, T * 1_000_000, T + 0.5, str(T), str(T * 1000), "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20.500+00:00", "2023-11-14T22:13:20"],
)
def test_event_timestamp_forms(raw: Any) -> None:
    decoded = body(event({"person_email": "a@b.co", "event_name": "e", "timestamp": raw}))
    assert decoded["timestamp"] == T
    assert decoded["id"][:10] == body(event({"person_email": "a@b.co", "event_name": "e", "timestamp": T}))["id"][:10]


@pytest.mark.parametrize(
    ("raw", "type_name"),
    [("tomorrow", "str"), (True, "bool"), (-5, "int"), ("1969-12-31", "str"), (10**20, "int"), ([T], "list"),
     (float("nan"), "float")],
)
def test_event_timestamp_rejected(raw: Any, type_name: str) -> None:
    assert rejected(event({"person_email": "a@b.co", "event_name": "e", "timestamp": raw})) == (
        reasons.INVALID_TIMESTAMP, "timestamp",
        f"`timestamp` (type {type_name}) is not a timestamp: expected unix seconds, milliseconds, "
        "microseconds or nanoseconds, or an ISO-8601 date-time, between 1970-01-01 and 9999-12-31",
    )


def test_event_data_timestamp_columns_convert() -> None:
    op = event({"person_email": "a@b.co", "event_name": "e", "paid_at": "2023-11-14T22:13:20Z", "empty": ""},
               timestamp_fields=("paid_at", "empty"))
    assert body(op)["attributes"] == {"paid_at": T, "empty": ""}


@pytest.mark.parametrize("value", ["absent", None, "", "  "])
def test_event_name_missing(value: Any) -> None:
    data = {"person_email": "a@b.co"} if value == "absent" else {"person_email": "a@b.co", "event_name": value}
    assert rejected(event(data)) == (reasons.EVENT_NAME_MISSING, "event_name", "`event_name` is missing, null or empty")


def test_event_name_not_a_string() -> None:
    assert rejected(event({"person_email": "a@b.co", "event_name": 7})) == (
        reasons.EVENT_NAME_INVALID, "event_name", "`event_name` holds a value of type int; Customer.io needs a string",
    )


def test_event_name_byte_boundary() -> None:
    ok = EURO * 33 + "a"  # 100 bytes
    assert body(event({"person_email": "a@b.co", "event_name": ok}))["name"] == ok
    assert rejected(event({"person_email": "a@b.co", "event_name": ok + "b"})) == (
        reasons.EVENT_NAME_TOO_LONG, "event_name", limit_msg("the event name", 101, 100),
    )


def test_event_data_too_large_and_op_too_large() -> None:
    big = {f"d{i:03d}": "x" * 990 for i in range(110)}
    size = len(msgspec.json.encode(big))
    assert rejected(event({"person_email": "a@b.co", "event_name": "e", **big})) == (
        reasons.EVENT_DATA_TOO_LARGE, None, limit_msg("the event data", size, 100_000),
    )
    some = {f"d{i:03d}": "x" * 990 for i in range(40)}
    result = event({"person_email": "a@b.co", "event_name": "e", **some})
    assert rejected(result)[0] == reasons.OP_TOO_LARGE


def test_event_data_values_have_no_per_value_limit() -> None:
    decoded = body(event({"person_email": "a@b.co", "event_name": "e", "body": "x" * 5000}))
    assert decoded["attributes"] == {"body": "x" * 5000}


def test_unencodable_value_is_rejected() -> None:
    for build in (ident, event):
        assert rejected(build({"person_email": "a@b.co", "event_name": "e", "bad": "\ud800"})) == (
            reasons.INVALID_VALUE, None, "the record cannot be encoded as JSON (UnicodeEncodeError)",
        )


# --- deterministic event ids ---------------------------------------------------------------------

RECORD = {"person_email": "a@b.co", "event_name": "purchase", "timestamp": T, "price": 3}


def test_same_record_same_id_and_emitted_at_is_not_part_of_it() -> None:
    first = body(event(dict(RECORD)))["id"]
    assert body(event(dict(reversed(list(RECORD.items())))))["id"] == first
    assert first[:10] == "01HF7YAT00"  # the event's own time, in ms


def test_different_data_stream_or_namespace_different_id() -> None:
    first = body(event(RECORD))["id"]
    assert body(event({**RECORD, "price": 4}))["id"] != first
    assert body(event(RECORD, name="other"))["id"] != first
    assert body(event(RECORD, namespace=None))["id"] != first
    # person_id is not sent with an event, but two rows that differ in it are still two events
    assert body(event({**RECORD, "person_id": "u2"}))["id"] != first


def test_user_ulid_passes_through_and_other_ids_hash() -> None:
    assert body(event({**RECORD, "event_id": "01arz3ndektsv4rrffq69g5fav"}))["id"] == "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    hashed = body(event({**RECORD, "event_id": "order-1"}))["id"]
    assert hashed == body(event({**RECORD, "event_id": "order-1", "timestamp": T + 60, "price": 5}))["id"]
    assert hashed != body(event({**RECORD, "event_id": "order-2"}))["id"]
    assert body(event({**RECORD, "event_id": 77}))["id"] == body(event({**RECORD, "event_id": "77"}))["id"]


# --- field mapping ----------------------------------------------------------------------------------

def test_apply_field_map() -> None:
    data = {"email": "a@b.co", "what": "buy", "plan": "p"}
    mapped = apply_field_map(data, {"person_email": "email", "event_name": {"const": "purchase"}, "kind": "what"})
    assert mapped == {"plan": "p", "person_email": "a@b.co", "event_name": "purchase", "kind": "buy"}
    assert apply_field_map(data, {}) is data
    assert apply_field_map(data, {"person_id": "missing"}) == data


def test_field_map_drives_ops_and_rejections_name_source_columns() -> None:
    fm = {"person_email": "mail", "event_name": {"const": "purchase"}, "timestamp": "at"}
    op = event({"mail": "a@b.co", "at": T, "sku": "s"}, field_map=fm)
    decoded = body(op)
    assert decoded["identifiers"] == {"email": "a@b.co"} and decoded["name"] == "purchase"
    assert decoded["timestamp"] == T and decoded["attributes"] == {"sku": "s"}
    assert rejected(event({"mail": "nope", "at": T}, field_map=fm))[:2] == (reasons.IDENTIFIER_INVALID, "mail")
    assert rejected(event({"mail": "a@b.co", "at": "x"}, field_map=fm))[:2] == (reasons.INVALID_TIMESTAMP, "at")
    assert rejected(event({"mail": "a@b.co"}, field_map={"person_email": "mail", "event_name": "kind"}))[:2] == (
        reasons.EVENT_NAME_MISSING, "kind")


def test_field_map_for_identify_secondary_identifier() -> None:
    fm = {"person_id": "uid", "person_email": "mail"}
    op = ident({"uid": "u1", "mail": "a@b.co", "plan": "p"}, identifierType="id", field_map=fm,
               send_other_identifiers=True)
    assert body(op)["identifiers"] == {"id": "u1"} and body(op)["attributes"] == {"plan": "p", "email": "a@b.co"}
    assert rejected(ident({"uid": "u1", "mail": "bad"}, identifierType="id", field_map=fm,
                          send_other_identifiers=True))[:2] == (
        reasons.IDENTIFIER_INVALID, "mail")


# --- merge ----------------------------------------------------------------------------------------

def test_merge_later_attributes_win() -> None:
    earlier = ident({"person_email": "A@b.co", "plan": "free", "seats": 1})
    later = ident({"person_email": "a@b.co", "plan": "pro", "team": "x"})
    merged = IDENTIFY.merge(earlier, later)
    assert isinstance(merged, Op)
    assert body(merged) == {
        "type": "person", "action": "identify", "identifiers": {"email": "a@b.co"},
        "attributes": {"plan": "pro", "seats": 1, "team": "x"}, "timestamp": NOW,
    }
    assert merged.key == later.key and merged.ordered
    assert body(earlier)["attributes"] == {"plan": "free", "seats": 1}  # inputs untouched


def test_merge_keeps_changes() -> None:
    earlier = ident({"person_email": "a@b.co", "bio": "x" * 2000}, oversized_attributes="drop")
    later = ident({"person_email": "a@b.co", "plan": "p"})
    assert IDENTIFY.merge(earlier, later).changes == earlier.changes


def test_merge_refuses_when_limits_would_break() -> None:
    earlier = ident({"person_email": "a@b.co", **{f"a{i}": i for i in range(200)}})
    later = ident({"person_email": "a@b.co", **{f"b{i}": i for i in range(101)}})
    assert IDENTIFY.merge(earlier, later) is None  # 301 attributes
    earlier = ident({"person_email": "a@b.co", **{f"a{i}": "x" * 990 for i in range(20)}})
    later = ident({"person_email": "a@b.co", **{f"b{i}": "x" * 990 for i in range(20)}})
    assert IDENTIFY.merge(earlier, later) is None  # > 32,768 bytes


def test_merge_refuses_update_and_create_mix() -> None:
    earlier = ident({"person_email": "a@b.co", "plan": "x"}, mode="update")
    later = ident({"person_email": "a@b.co", "plan": "y"})
    assert IDENTIFY.merge(earlier, later) is None
    both = IDENTIFY.merge(earlier, ident({"person_email": "a@b.co", "seats": 2}, mode="update"))
    assert body(both)["attributes"] == {"plan": "x", "_update": True, "seats": 2}


def test_event_ops_do_not_merge() -> None:
    op = event(RECORD)
    assert EVENT.merge(op, op) is None


# --- registry and discover ------------------------------------------------------------------------

def test_registry() -> None:
    assert set(OPERATIONS) == {  # the whole surface: tests/unit/test_operations_surface.py
        "person_identify", "person_event", "person_anonymous_event", "person_page", "person_screen",
        "person_delete", "person_suppress", "person_unsuppress", "person_device", "person_merge",
        "object_identify", "object_delete", "relationship", "segment_membership"}
    assert all(name == operation.object_name for name, operation in OPERATIONS.items())


def test_discover_is_a_superset_of_airbytes_kotlin_connector() -> None:
    airbyte = [
        {"object_name": "person_identify", "sync_mode": "append_dedup",
         "json_schema": {"type": "object", "additionalProperties": True, "properties": {
             "person_email": {"type": "string"}, "person_id": {"type": "string"},
             "person_cio_id": {"type": "string"}}},
         "matching_keys": [["person_email"], ["person_id"], ["person_cio_id"]]},
        {"object_name": "person_event", "sync_mode": "append",
         "json_schema": {"type": "object", "required": ["event_name"], "additionalProperties": True, "properties": {
             "person_email": {"type": "string"}, "person_id": {"type": "string"},
             "person_cio_id": {"type": "string"}, "event_name": {"type": "string"},
             "event_id": {"type": "string"}, "timestamp": {"type": "integer"}}}},
    ]
    ours = [entry.to_json() for entry in discover_entries()]
    for entry in airbyte:
        assert entry in ours
    update = [e for e in ours if e["sync_mode"] == "update"]
    assert update == [{**airbyte[0], "sync_mode": "update"}]


def test_reason_vocabulary_is_complete() -> None:
    codes = {v for k, v in vars(reasons).items() if k.isupper() and isinstance(v, str)}
    assert codes == set(reasons.DESCRIPTIONS)
