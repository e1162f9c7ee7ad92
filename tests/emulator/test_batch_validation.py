"""v2 batch/entity: 200 {}, 207 per invalid op at exact byte boundaries (multi-byte UTF-8), 400 for a
malformed or oversize body with nothing applied."""

from __future__ import annotations

import orjson
import pytest

from customerio_emulator.limits import BATCH_BYTES, OP_BYTES
from customerio_emulator.testing import identify, person_event

from .conftest import US_AUTH

EURO = "€"  # 3 UTF-8 bytes
E_ACUTE = "é"  # 2 UTF-8 bytes
ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def err(index: int, reason: str, field: str, message: str) -> dict:
    return {"batch_index": index, "reason": reason, "field": field, "message": message}


def utf8(n: int) -> str:
    """A string of exactly n UTF-8 bytes made mostly of 3-byte characters."""
    return EURO * (n // 3) + "a" * (n % 3)


async def test_batch_all_valid_answers_200_empty(track, emu):
    status, body, headers = await track.call("POST", "/api/v2/batch", {"batch": [identify({"id": "1"})]})
    assert (status, body) == (200, {})
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert await track.batch([]) == (200, {})


async def test_207_lists_only_invalid_ops_and_applies_the_rest(track, emu):
    ops = [
        identify({"id": "ok1"}, {"a": 1}),
        identify({"id": "x", "email": "x@y.z"}),
        {"type": "person", "action": "identify"},
        identify({"id": "ok2"}),
        {"type": "nope", "action": "identify", "identifiers": {"id": "z"}},
        {"type": "person", "action": "fly", "identifiers": {"id": "z"}},
        "not an object",
    ]
    status, body = await track.batch(ops)
    assert status == 207
    assert body == {
        "errors": [
            err(1, "multiple_identifiers", "identifiers", "identifiers must hold exactly one identifier"),
            err(2, "missing_identifier", "identifiers", "identifiers is required and must be an object"),
            err(4, "invalid_type", "type", "type must be person, object or delivery"),
            err(5, "invalid_action", "action", "unknown person action 'fly'"),
            err(6, "invalid_op", "", "an operation must be a JSON object"),
        ]
    }
    people = await emu.client.people()
    assert sorted(p["id"] for p in people) == ["ok1", "ok2"]
    counters = await emu.client.counters()
    assert (counters["ops"], counters["ops_rejected"], counters["status"]) == (7, 5, {"207": 1})


@pytest.mark.parametrize(
    "identifiers, expected",
    [
        ({}, ("missing_identifier", "identifiers", "identifiers must hold one of cio_id, email, id, phone")),
        ({"id": None}, ("missing_identifier", "identifiers", "identifiers must hold one of cio_id, email, id, phone")),
        ({"user_id": "1"}, ("invalid_identifier", "identifiers.user_id", "user_id is not an identifier here")),
        ({"id": ""}, ("invalid_identifier", "identifiers.id", "identifiers.id must be a non-empty string")),
        ({"id": True}, ("invalid_identifier", "identifiers.id", "identifiers.id must be a non-empty string")),
        ({"email": "nope"}, ("invalid_identifier", "identifiers.email", "email must contain @")),
        ({"email": 5}, ("invalid_identifier", "identifiers.email", "identifiers.email must be a string")),
        ({"anonymous_id": "a"}, ("invalid_identifier", "identifiers.anonymous_id", "anonymous_id is not an identifier here")),
        ({"id": utf8(151)}, ("identifier_too_long", "identifiers.id", "identifiers.id is longer than 150 bytes")),
    ],
)
async def test_identifier_errors(track, identifiers, expected):
    status, body = await track.batch([identify(identifiers)])
    assert (status, body) == (207, {"errors": [err(0, *expected)]})


async def test_identifier_boundary_150_bytes_multibyte(track, emu):
    ok_id = EURO * 50  # 150 bytes, 50 characters
    bad_id = EURO * 50 + "a"  # 151 bytes
    status, body = await track.batch([identify({"id": ok_id}), identify({"id": bad_id}), identify({"id": 7})])
    assert (status, body) == (
        207,
        {"errors": [err(1, "identifier_too_long", "identifiers.id", "identifiers.id is longer than 150 bytes")]},
    )
    assert (await emu.client.person(id=ok_id))["id"] == ok_id
    assert (await emu.client.person(id="7"))["id"] == "7"  # an integer id is stored as its string


async def test_attribute_value_boundary_1000_bytes(track, emu):
    ok = EURO * 333 + "a"  # 1,000 bytes
    bad = EURO * 333 + E_ACUTE  # 1,001 bytes
    nested_ok = {"k": "x" * (1000 - len('{"k":""}'))}
    nested_bad = {"k": "x" * (1001 - len('{"k":""}'))}
    ops = [
        identify({"id": "a"}, {"v": ok}),
        identify({"id": "b"}, {"v": bad}),
        identify({"id": "c"}, {"v": nested_ok}),
        identify({"id": "d"}, {"v": nested_bad}),
    ]
    status, body = await track.batch(ops)
    message = "attribute value longer than 1000 bytes"
    assert (status, body) == (
        207,
        {"errors": [err(1, "attribute_value_too_long", "attributes.v", message), err(3, "attribute_value_too_long", "attributes.v", message)]},
    )
    assert (await emu.client.person(id="a"))["attributes"] == {"v": ok}
    assert (await emu.client.person(id="c"))["attributes"] == {"v": nested_ok}
    assert await emu.client.person(id="b") is None


async def test_attribute_name_boundary_150_bytes(track):
    ok = E_ACUTE * 75  # 150 bytes
    bad = E_ACUTE * 75 + "a"
    status, body = await track.batch([identify({"id": "a"}, {ok: 1}), identify({"id": "b"}, {bad: 1})])
    assert (status, body) == (
        207,
        {"errors": [err(1, "attribute_name_too_long", f"attributes.{bad}", "attribute name longer than 150 bytes")]},
    )


async def test_attribute_count_boundary_300(track):
    ok = {f"a{i}": i for i in range(300)}
    bad = {f"a{i}": i for i in range(301)}
    update_only = {**ok, "_update": False}  # a flag, not an attribute: not counted
    status, body = await track.batch([identify({"id": "a"}, ok), identify({"id": "b"}, bad), identify({"id": "c"}, update_only)])
    assert (status, body) == (207, {"errors": [err(1, "too_many_attributes", "attributes", "more than 300 attributes")]})


async def test_attributes_must_be_an_object(track):
    status, body = await track.batch([identify({"id": "a"}, ["x"])])  # type: ignore[arg-type]
    assert (status, body) == (207, {"errors": [err(0, "invalid_field", "attributes", "attributes must be an object")]})


async def test_event_name_boundary_100_bytes(track, emu):
    ok = EURO * 33 + "a"  # 100 bytes
    bad = EURO * 33 + E_ACUTE  # 101 bytes
    status, body = await track.batch([person_event({"id": "u"}, ok), person_event({"id": "u"}, bad)])
    assert (status, body) == (207, {"errors": [err(1, "event_name_too_long", "name", "name longer than 100 bytes")]})
    assert [e["name"] for e in await emu.client.events()] == [ok]


@pytest.mark.parametrize(
    "op, expected",
    [
        (person_event({"id": "u"}, ""), ("missing_field", "name", "name is required and must be a non-empty string")),
        ({"type": "person", "action": "event", "identifiers": {"id": "u"}}, ("missing_field", "name", "name is required and must be a non-empty string")),
        (person_event({"id": "u"}, "e", id="not-a-ulid"), ("invalid_event_id", "id", "id must be a ULID (26 Crockford base32 characters)")),
        (person_event({"id": "u"}, "e", id="01ARZ3NDEKTSV4RRFFQ69G5FAU"), ("invalid_event_id", "id", "id must be a ULID (26 Crockford base32 characters)")),
        (person_event({"id": "u"}, "e", id="81ARZ3NDEKTSV4RRFFQ69G5FAV"), ("invalid_event_id", "id", "id must be a ULID (26 Crockford base32 characters)")),
        (person_event({"id": "u"}, "e", id=12), ("invalid_event_id", "id", "id must be a ULID (26 Crockford base32 characters)")),
        (person_event({"id": "u"}, "e", attributes=[1]), ("invalid_field", "attributes", "attributes must be an object")),
        ({"type": "person", "action": "page", "identifiers": {"id": "u"}}, ("missing_field", "name", "name is required and must be a non-empty string")),
        ({"type": "person", "action": "add_device", "identifiers": {"id": "u"}}, ("missing_field", "device", "device is required and must be an object")),
        ({"type": "person", "action": "add_device", "identifiers": {"id": "u"}, "device": {"platform": "ios"}}, ("missing_field", "device.token", "device.token is required")),
        ({"type": "person", "action": "add_device", "identifiers": {"id": "u"}, "device": {"token": "t", "platform": "web"}}, ("invalid_field", "device.platform", "device.platform must be ios or android")),
        ({"type": "person", "action": "delete_device", "identifiers": {"id": "u"}, "device": {}}, ("missing_field", "device.token", "device.token is required")),
        ({"type": "person", "action": "merge", "primary": {"id": "a"}}, ("missing_identifier", "secondary", "secondary is required and must be an object")),
        ({"type": "person", "action": "merge", "primary": {"phone": "+1"}, "secondary": {"id": "b"}}, ("invalid_identifier", "primary.phone", "phone is not an identifier here")),
        ({"type": "person", "action": "add_relationships", "identifiers": {"id": "u"}}, ("missing_field", "cio_relationships", "cio_relationships is required")),
        ({"type": "person", "action": "add_relationships", "identifiers": {"id": "u"}, "cio_relationships": []}, ("invalid_field", "cio_relationships", "cio_relationships must be a non-empty list")),
        ({"type": "person", "action": "add_relationships", "identifiers": {"id": "u"}, "cio_relationships": [{"identifiers": {"object_type_id": 1, "object_id": "o"}}]}, ("invalid_identifier", "cio_relationships.0.identifiers.object_type_id", "object_type_id must be a string integer")),
        ({"type": "object", "action": "identify", "identifiers": {"object_type_id": "1"}}, ("missing_identifier", "identifiers.object_id", "object_id is required")),
        ({"type": "object", "action": "identify", "identifiers": {"object_type_id": "x", "object_id": "o"}}, ("invalid_identifier", "identifiers.object_type_id", "object_type_id must be a string integer")),
        ({"type": "object", "action": "identify", "identifiers": {"object_type_id": "1", "object_id": utf8(151)}}, ("identifier_too_long", "identifiers.object_id", "identifiers.object_id is longer than 150 bytes")),
        ({"type": "object", "action": "add_relationships", "identifiers": {"object_type_id": "1", "object_id": "o"}, "cio_relationships": [{"identifiers": {"anonymous_id": "a"}}]}, ("invalid_identifier", "cio_relationships.0.identifiers.anonymous_id", "anonymous_id is not an identifier here")),
        ({"type": "object", "action": "explode", "identifiers": {"object_type_id": "1", "object_id": "o"}}, ("invalid_action", "action", "unknown object action 'explode'")),
        ({"type": "delivery", "action": "event", "identifiers": {"id": "d1"}, "name": "opened"}, ("missing_field", "attributes.device_token", "attributes.device_token is required")),
        ({"type": "delivery", "action": "event", "identifiers": {}, "name": "opened"}, ("missing_identifier", "identifiers.id", "identifiers.id (the delivery id) is required")),
        ({"type": "delivery", "action": "open", "identifiers": {"id": "d"}}, ("invalid_action", "action", "unknown delivery action 'open'")),
    ],
)
async def test_required_fields_per_type_and_action(track, op, expected):
    status, body = await track.batch([op])
    assert (status, body) == (207, {"errors": [err(0, *expected)]})


async def test_relationship_attributes_are_limited(track):
    rel = {"identifiers": {"object_type_id": "1", "object_id": "o"}, "relationship_attributes": {"r": "x" * 1001}}
    op = {"type": "person", "action": "add_relationships", "identifiers": {"id": "u"}, "cio_relationships": [rel]}
    status, body = await track.batch([op])
    assert (status, body) == (
        207,
        {"errors": [err(0, "attribute_value_too_long", "cio_relationships.0.relationship_attributes.r", "attribute value longer than 1000 bytes")]},
    )


def event_of_size(size: int) -> dict:
    op = person_event({"id": "u"}, "big", attributes={"blob": ""})
    base = len(orjson.dumps(op))
    op["attributes"]["blob"] = "x" * (size - base)
    assert len(orjson.dumps(op)) == size
    return op


async def test_op_size_boundary_32768_bytes(track, emu):
    status, body = await track.batch([event_of_size(OP_BYTES), event_of_size(OP_BYTES + 1)])
    assert (status, body) == (207, {"errors": [err(1, "op_too_large", "", "operation larger than 32768 bytes")]})
    assert len(await emu.client.events()) == 1


def batch_body_of_size(size: int) -> bytes:
    ops = [identify({"id": f"p{i}"}, {"pad": "x" * 900}) for i in range(400)]
    body = orjson.dumps({"batch": ops})
    assert len(body) <= size
    return body + b" " * (size - len(body))  # trailing whitespace is valid JSON: exact sizes


async def test_batch_body_boundary_500000_bytes(track, emu):
    status, body, _ = await track.call("POST", "/api/v2/batch", raw=batch_body_of_size(BATCH_BYTES))
    assert (status, body) == (200, {})
    assert len(await emu.client.people()) == 400
    await emu.client.reset()
    status, body, _ = await track.call("POST", "/api/v2/batch", raw=batch_body_of_size(BATCH_BYTES + 1))
    assert (status, body) == (
        400,
        {"errors": [{"reason": "body_too_large", "field": "batch", "message": "request body larger than 500000 bytes"}]},
    )
    assert await emu.client.people() == []


@pytest.mark.parametrize(
    "raw, reason, field",
    [
        (b'{"batch":[{"type":"person","action":"identify","identifiers":{"id":"1"}},', "malformed_json", ""),
        (b"not json", "malformed_json", ""),
        (b"", "malformed_json", ""),
        (b'{"ops":[]}', "invalid_batch", "batch"),
        (b'{"batch":{}}', "invalid_batch", "batch"),
        (b"[]", "invalid_batch", "batch"),
    ],
)
async def test_400_nothing_applied(track, emu, raw, reason, field):
    status, body, _ = await track.call("POST", "/api/v2/batch", raw=raw)
    assert status == 400
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    error = body["errors"][0]
    assert (error["reason"], error["field"]) == (reason, field)
    assert "batch_index" not in error and error["message"]
    assert await emu.client.people() == []


async def test_400_malformed_exact_body(track):
    status, body, _ = await track.call("POST", "/api/v2/batch", raw=b"{")
    assert (status, body) == (
        400,
        {"errors": [{"reason": "malformed_json", "field": "", "message": "malformed JSON: Input data was truncated"}]},
    )


async def test_valid_batch_before_a_malformed_one_is_kept(track, emu):
    assert await track.batch([identify({"id": "keep"})]) == (200, {})
    status, _, _ = await track.call("POST", "/api/v2/batch", raw=b'{"batch":[{"type":"person","action":"identify","identifiers":{"id":"no"}}')
    assert status == 400
    assert [p["id"] for p in await emu.client.people()] == ["keep"]


async def test_entity_endpoint(track, emu):
    assert await track.entity(identify({"id": "e"}, {"a": 1})) == (200, {})
    assert (await emu.client.person(id="e"))["attributes"] == {"a": 1}
    assert await track.entity(identify({"id": "e", "email": "e@x.y"})) == (
        400,
        {"errors": [{"reason": "multiple_identifiers", "field": "identifiers", "message": "identifiers must hold exactly one identifier"}]},
    )
    assert await track.entity(event_of_size(OP_BYTES)) == (200, {})
    assert await track.entity(event_of_size(OP_BYTES + 1)) == (
        400,
        {"errors": [{"reason": "op_too_large", "field": "", "message": "operation larger than 32768 bytes"}]},
    )
    status, body, _ = await track.call("POST", "/api/v2/entity", raw=b"{oops")
    assert status == 400 and body["errors"][0]["reason"] == "malformed_json"


async def test_v1_event_data_boundary_100000_bytes(track, emu):
    # The 100,000-byte event data limit is unreachable in v2 (an op is at most 32,768 bytes): use v1.
    def data_of(size: int) -> dict:
        return {"blob": "x" * (size - len('{"blob":""}'))}

    status, body, _ = await track.call("POST", "/api/v1/customers/u/events", {"name": "e", "data": data_of(100_000)})
    assert (status, body) == (200, {})
    status, body, _ = await track.call("POST", "/api/v1/customers/u/events", {"name": "e", "data": data_of(100_001)})
    assert (status, body) == (400, {"meta": {"errors": ["attributes: event data larger than 100000 bytes"]}})
    assert len(await emu.client.events()) == 1


async def test_v1_total_attributes_boundary_100000_bytes(track, emu):
    # 100 attributes of (4-byte name + 996-byte value) = 100,000 bytes; one byte more is rejected.
    attrs = {f"a{i:03d}": "x" * 996 for i in range(100)}
    status, body, _ = await track.call("PUT", "/api/v1/customers/u", attrs)
    assert (status, body) == (200, {})
    attrs["a000"] += "x"
    status, body, _ = await track.call("PUT", "/api/v1/customers/u2", attrs)
    assert (status, body) == (400, {"meta": {"errors": ["attributes: attributes larger than 100000 bytes"]}})
    assert await emu.client.person(id="u2") is None


async def test_valid_ulid_lowercase_accepted(track, emu):
    assert await track.batch([person_event({"id": "u"}, "e", id=ULID.lower())]) == (200, {})


async def test_invalid_auth_on_batch_applies_nothing(track, emu):
    status, _ = await track.batch([identify({"id": "x"})], auth="Basic eDp5")
    assert status == 401
    assert await emu.client.people() == []
    assert US_AUTH.startswith("Basic ")
