"""The operations beyond person_identify/person_event: the exact op each builds, its key and order flag,
every rejection (reason, field, message), discover entries; the pipeline's v1 id lists for
segment_membership (ordering against v2 ops, 1,000 ids per call, repeated ids, 400 splits); and the
Track client's v1 answers (400 with v1 error bodies, 404)."""

from __future__ import annotations

import dataclasses

import asyncio
import io
import json
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from destination_customer_io import reasons
from destination_customer_io.catalog import Stream
from destination_customer_io.config import parse_config
from destination_customer_io.operations import OPERATIONS, Op, Rejection, discover_entries
from destination_customer_io.operations.base import fold_identical
from destination_customer_io.output import Output
from destination_customer_io.pipeline import Pipeline
from destination_customer_io.rejected.base import RejectedRecord
from destination_customer_io.answers import BatchResult
from destination_customer_io.track import TrackClient, TrackStats

T = 1_700_000_000
A = "a@b.co"


def make_stream(name: str, mode: str = "append", *, field_map: dict[str, Any] | None = None,
                timestamp_fields: tuple[str, ...] = (), **config: Any) -> Stream:
    cfg = parse_config({"credentials": {"siteId": "site", "apiKey": "key"}, **config})
    return Stream(name="s", namespace="ns", operation=OPERATIONS[name], destination_sync_mode=mode, config=cfg,
                  field_map=field_map or {}, timestamp_fields=frozenset(timestamp_fields))


def build(name: str, data: dict[str, Any], mode: str = "append", **kw: Any) -> Op | Rejection:
    return OPERATIONS[name].build(data, make_stream(name, mode, **kw))


def body(op: Op | Rejection) -> Any:
    assert isinstance(op, Op), op
    return msgspec.json.decode(op.body)


def rejected(result: Op | Rejection) -> tuple[str, str | None, str]:
    assert isinstance(result, Rejection), result
    return result.reason, result.field, result.message


# --- person_anonymous_event, person_page, person_screen -------------------------------------------

def test_anonymous_event_op() -> None:
    op = build("person_anonymous_event", {"anonymous_id": "v1", "event_name": "viewed", "timestamp": "2023-11-14",
                                          "event_id": "01HF7YAT00ZKRNPAVAAZY64QGD", "plan": "pro", "x": None})
    assert body(op) == {"type": "person", "action": "event", "identifiers": {"anonymous_id": "v1"},
                        "name": "viewed", "id": "01HF7YAT00ZKRNPAVAAZY64QGD", "timestamp": 1699920000,
                        "attributes": {"plan": "pro", "x": None}}
    assert (op.key, op.ordered, op.route) == ("anonymous:v1", False, None)


def test_anonymous_event_ids_are_deterministic_and_integers_are_accepted() -> None:
    data = {"anonymous_id": 42, "event_name": "e"}
    first, again = build("person_anonymous_event", data), build("person_anonymous_event", dict(data))
    assert body(first)["identifiers"] == {"anonymous_id": "42"}
    assert body(first)["id"] == body(again)["id"] and len(body(first)["id"]) == 26
    assert "timestamp" not in body(first) and "attributes" not in body(first)


@pytest.mark.parametrize(("data", "expected"), [
    ({"event_name": "e"}, (reasons.IDENTIFIER_MISSING, "anonymous_id", "`anonymous_id` is missing, null or empty")),
    ({"anonymous_id": " ", "event_name": "e"},
     (reasons.IDENTIFIER_MISSING, "anonymous_id", "`anonymous_id` is missing, null or empty")),
    ({"anonymous_id": 1.5, "event_name": "e"},
     (reasons.IDENTIFIER_INVALID, "anonymous_id",
      "`anonymous_id` holds a value of type float; Customer.io needs a string (integers are accepted)")),
    ({"anonymous_id": "x" * 151, "event_name": "e"},
     (reasons.IDENTIFIER_TOO_LONG, "anonymous_id",
      "identifier `anonymous_id` is 151 bytes; Customer.io allows at most 150 bytes")),
    ({"anonymous_id": "v"}, (reasons.EVENT_NAME_MISSING, "event_name", "`event_name` is missing, null or empty")),
    ({"anonymous_id": "v", "event_name": "e", "timestamp": "soon"},
     (reasons.INVALID_TIMESTAMP, "timestamp",
      "`timestamp` (type str) is not a timestamp: expected unix seconds, milliseconds, microseconds or "
      "nanoseconds, or an ISO-8601 date-time, between 1970-01-01 and 9999-12-31")),
])
def test_anonymous_event_rejections(data: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert rejected(build("person_anonymous_event", data)) == expected


def test_page_of_a_person_and_of_an_anonymous_visitor() -> None:
    op = build("person_page", {"person_email": A, "anonymous_id": "v1", "url": "https://x.io/a", "timestamp": T,
                               "ref": "ad"})
    assert body(op) == {"type": "person", "action": "page", "identifiers": {"email": A}, "name": "https://x.io/a",
                        "id": body(op)["id"], "timestamp": T, "attributes": {"ref": "ad"}}
    assert (op.key, op.ordered) == ("person:email:a@b.co", False)
    anonymous = build("person_page", {"person_email": None, "anonymous_id": "v1", "url": "https://x.io/a"})
    assert body(anonymous)["identifiers"] == {"anonymous_id": "v1"} and anonymous.key == "anonymous:v1"


def test_page_properties_are_strings_as_customer_ios_contract_has_them() -> None:
    op = build("person_page", {"person_email": A, "url": "https://x.io/a", "referrer": None, "path": "/a",
                               "search": 7, "title": True, "keywords": ["a", 2, None], "ref": None, "n": 1})
    assert body(op)["attributes"] == {"path": "/a", "search": "7", "title": "true", "keywords": ["a", "2"],
                                      "ref": None, "n": 1}  # other data is kept as it is, nulls included
    assert "attributes" not in body(build("person_page", {"person_email": A, "url": "u", "referrer": None}))
    screen = build("person_screen", {"person_email": A, "screen_name": "Home", "referrer": None})
    assert body(screen)["attributes"] == {"referrer": None}  # screen views have no typed properties


def test_a_page_property_that_cannot_be_a_string_is_rejected() -> None:
    assert rejected(build("person_page", {"person_email": A, "url": "u", "title": {"en": "Hi"}})) == (
        reasons.ATTRIBUTE_VALUE_NOT_STRING, "title",
        "page property `title` holds an object; Customer.io's published contract takes a string there")
    assert rejected(build("person_page", {"person_email": A, "url": "u", "keywords": "a,b"})) == (
        reasons.ATTRIBUTE_VALUE_NOT_STRING, "keywords",
        "page property `keywords` is not an array of strings; Customer.io's published contract takes an array of "
        "strings there")


def test_source_event_ids_that_are_not_ulids_are_sent_as_their_derived_ulid() -> None:
    def sent_id(event_id: Any) -> Any:
        return body(build("person_event", {"person_email": A, "event_name": "paid", "event_id": event_id},
                          event_ids="source")).get("id")

    assert sent_id("order-77") == "0000000000KB7TAKB9QZ1PZFME" == sent_id("order-77")
    assert sent_id("01hf2xq5m7t9c3n8v4b6k0w2zr") == "01hf2xq5m7t9c3n8v4b6k0w2zr"  # a ULID: as given
    assert sent_id(None) is None


def test_screen_op_and_mapped_columns() -> None:
    op = build("person_screen", {"uid": "u1", "screen": "Home"}, identifierType="id",
               field_map={"person_id": "uid", "screen_name": "screen"})
    assert {k: v for k, v in body(op).items() if k != "id"} == {
        "type": "person", "action": "screen", "identifiers": {"id": "u1"}, "name": "Home"}


def test_view_rejections() -> None:
    assert rejected(build("person_page", {"url": "https://x.io"})) == (
        reasons.IDENTIFIER_MISSING, "person_email",
        "`person_email` is missing, null or empty; identifierType `email` needs it, or give an `anonymous_id`")
    # a present but invalid identifier never falls back to the anonymous id
    assert rejected(build("person_page", {"person_email": "nope", "anonymous_id": "v", "url": "u"}))[:2] == (
        reasons.IDENTIFIER_INVALID, "person_email")
    assert rejected(build("person_page", {"person_email": A, "url": "https://x.io/" + "y" * 90})) == (
        reasons.EVENT_NAME_TOO_LONG, "url", "the event name is 103 bytes; Customer.io allows at most 100 bytes")
    assert rejected(build("person_screen", {"person_email": A, "screen_name": 3})) == (
        reasons.EVENT_NAME_INVALID, "screen_name", "`screen_name` holds a value of type int; Customer.io needs a string")


def test_view_data_too_large() -> None:
    result = build("person_page", {"person_email": A, "url": "u", **{f"k{i}": "x" * 900 for i in range(120)}})
    assert rejected(result)[:2] == (reasons.EVENT_DATA_TOO_LARGE, None)


# --- person_delete / suppress / unsuppress --------------------------------------------------------

@pytest.mark.parametrize("name", ["person_delete", "person_suppress", "person_unsuppress"])
def test_whole_person_ops(name: str) -> None:
    op = build(name, {"person_email": "Ann@B.co", "ignored": 1})
    assert body(op) == {"type": "person", "action": name.removeprefix("person_"), "identifiers": {"email": "Ann@B.co"}}
    assert (op.key, op.ordered) == ("person:email:ann@b.co", True)
    assert OPERATIONS[name].merge(op, build(name, {"person_email": "Ann@B.co"})) is op  # identical: sent once
    assert rejected(build(name, {"person_email": ""}))[:2] == (reasons.IDENTIFIER_MISSING, "person_email")


# --- person_device --------------------------------------------------------------------------------

def test_add_device_op() -> None:
    op = build("person_device", {"person_id": 7, "person_email": A, "device_token": "t" * 200, "platform": " iOS ",
                                 "last_used": 1_700_000_000_123, "app": "1.2", "gone": None,
                                 "_ab_cdc_deleted_at": None}, "append_dedup", identifierType="id",
               null_values="omit")
    assert body(op) == {"type": "person", "action": "add_device", "identifiers": {"id": "7"},
                        "device": {"token": "t" * 200, "platform": "ios", "last_used": T,
                                   "attributes": {"app": "1.2"}}}
    assert (op.key, op.ordered) == ("person:id:7", True)


@pytest.mark.parametrize(("mode", "data"), [
    ("soft_delete", {}), ("append_dedup", {"_ab_cdc_deleted_at": "2024-01-01T00:00:00Z"})])
def test_delete_device_op(mode: str, data: dict[str, Any]) -> None:
    op = build("person_device", {"person_email": A, "device_token": "t1", "platform": "web", **data}, mode)
    assert body(op) == {"type": "person", "action": "delete_device", "identifiers": {"email": A},
                        "device": {"token": "t1"}}


@pytest.mark.parametrize(("data", "expected"), [
    ({"device_token": "t"}, (reasons.DEVICE_PLATFORM_INVALID, "platform",
                             "`platform` is missing; Customer.io accepts ios or android")),
    ({"device_token": "t", "platform": "web"},
     (reasons.DEVICE_PLATFORM_INVALID, "platform", "`platform` is not ios or android; Customer.io accepts ios or android")),
    ({"device_token": "t", "platform": 1},
     (reasons.DEVICE_PLATFORM_INVALID, "platform", "`platform` holds a int; Customer.io accepts ios or android")),
    ({"platform": "ios"}, (reasons.IDENTIFIER_MISSING, "device_token", "`device_token` is missing, null or empty")),
    ({"device_token": "t", "platform": "ios", "last_used": True},
     (reasons.INVALID_TIMESTAMP, "last_used",
      "`last_used` (type bool) is not a timestamp: expected unix seconds, milliseconds, microseconds or "
      "nanoseconds, or an ISO-8601 date-time, between 1970-01-01 and 9999-12-31")),
    ({"device_token": "t", "platform": "ios", "bio": "x" * 1001},
     (reasons.ATTRIBUTE_VALUE_TOO_LONG, "bio", "attribute `bio` is 1,001 bytes; Customer.io allows at most 1,000 bytes")),
])
def test_device_rejections(data: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert rejected(build("person_device", {"person_email": A, **data}, "append_dedup")) == expected


def test_device_attribute_policies_and_timestamp_columns() -> None:
    op = build("person_device", {"person_email": A, "device_token": "t", "platform": "android", "bio": "é" * 600,
                                 "seen": "2023-11-14T22:13:20Z"}, "append_dedup", oversized_attributes="truncate",
               timestamp_fields=("seen",))
    assert body(op)["device"]["attributes"] == {"bio": "é" * 500, "seen": str(T)}  # attributes are strings
    assert op.changes == [{"field": "bio", "change": "TRUNCATED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"}]


def test_device_attributes_are_strings_as_customer_ios_contract_has_them() -> None:
    data = {"person_email": A, "device_token": "t", "platform": "ios", "push_enabled": True, "screen_scale": 3,
            "ratio": 2.5, "carrier": None, "os": "17.1", "beta": False}
    assert body(build("person_device", data, "append_dedup")) == {
        "type": "person", "action": "add_device", "identifiers": {"email": A},
        "device": {"token": "t", "platform": "ios", "attributes": {
            "push_enabled": "true", "screen_scale": "3", "ratio": "2.5", "os": "17.1", "beta": "false"}}}
    blank = build("person_device", {**data, "push_enabled": None}, "append_dedup", null_values="empty_string")
    assert body(blank)["device"]["attributes"]["push_enabled"] == "" and body(blank)["device"]["attributes"]["carrier"] == ""
    assert "attributes" not in body(build("person_device", {"person_email": A, "device_token": "t", "platform": "ios",
                                                            "carrier": None}, "append_dedup"))["device"]


@pytest.mark.parametrize(("value", "kind"), [({"a": 1}, "an object"), ([1, 2], "an array")])
def test_a_device_attribute_that_cannot_be_a_string_is_rejected(value: Any, kind: str) -> None:
    result = build("person_device", {"person_email": A, "device_token": "t", "platform": "ios", "model": value},
                   "append_dedup", field_map={"model": "hw"})
    assert rejected(result) == (reasons.ATTRIBUTE_VALUE_NOT_STRING, "hw",
                                f"device attribute `hw` holds {kind}; Customer.io's published contract takes a "
                                "string there")


# --- person_merge ---------------------------------------------------------------------------------

def test_merge_op_prefers_the_identifier_type_then_id_email_cio_id() -> None:
    op = build("person_merge", {"primary_email": A, "primary_id": "p", "secondary_cio_id": "c9"})
    assert body(op) == {"type": "person", "action": "merge", "primary": {"email": A}, "secondary": {"cio_id": "c9"}}
    assert (op.key, op.ordered) == ("person:email:a@b.co", True)
    by_id = build("person_merge", {"primary_email": A, "primary_id": 5, "secondary_email": "z@b.co"},
                  identifierType="id")
    assert body(by_id)["primary"] == {"id": "5"} and by_id.key == "person:id:5"


def test_merge_rejections() -> None:
    assert rejected(build("person_merge", {"secondary_id": "x"})) == (
        reasons.IDENTIFIER_MISSING, "primary_email",
        "`primary_email` is missing, null or empty (and so are `primary_id`, `primary_cio_id`); "
        "a merge needs one identifier per person")
    assert rejected(build("person_merge", {"primary_email": A, "secondary_email": " A@B.CO "})) == (
        reasons.MERGE_SAME_PERSON, "secondary_email", "`secondary_email` names the same person as the primary; "
        "nothing to merge")
    assert rejected(build("person_merge", {"primary_email": A, "secondary_email": "x"}))[:2] == (
        reasons.IDENTIFIER_INVALID, "secondary_email")


# --- object_identify, object_delete ---------------------------------------------------------------

def test_object_identify_op() -> None:
    op = build("object_identify", {"object_type_id": "01", "object_id": 9, "name": "Acme", "gone": None, "tier": ""},
               "append_dedup", null_values="null")
    assert body(op) == {"type": "object", "action": "identify",
                        "identifiers": {"object_type_id": "1", "object_id": "9"},
                        "attributes": {"name": "Acme", "gone": None, "tier": ""}}
    assert (op.key, op.ordered) == ("object:1:9", True)


def test_object_identify_refuses_update_mode() -> None:
    assert rejected(build("object_identify", {"object_type_id": "1", "object_id": "a"}, "update")) == (
        reasons.SYNC_MODE_UNSUPPORTED, None,
        "object_identify cannot update only: Customer.io documents no update-only flag for objects; "
        "use append_dedup (create or update)")


@pytest.mark.parametrize(("data", "expected"), [
    ({"object_id": "a"}, (reasons.IDENTIFIER_MISSING, "object_type_id", "`object_type_id` is missing, null or empty")),
    ({"object_type_id": "-1", "object_id": "a"},
     (reasons.IDENTIFIER_INVALID, "object_type_id", "`object_type_id` must be a whole number such as 1 "
      "(Customer.io's object type id; got a str that is not one)")),
    ({"object_type_id": True, "object_id": "a"},
     (reasons.IDENTIFIER_INVALID, "object_type_id", "`object_type_id` must be a whole number such as 1 "
      "(Customer.io's object type id; got a bool that is not one)")),
    ({"object_type_id": 1}, (reasons.IDENTIFIER_MISSING, "object_id", "`object_id` is missing, null or empty")),
    ({"object_type_id": 1, "object_id": "é" * 76},
     (reasons.IDENTIFIER_TOO_LONG, "object_id", "identifier `object_id` is 152 bytes; Customer.io allows at most "
      "150 bytes")),
])
@pytest.mark.parametrize("name", ["object_identify", "object_delete", "relationship"])
def test_object_identifier_rejections(name: str, data: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert rejected(build(name, {"person_email": A, **data}, "append_dedup")) == expected


def test_object_attribute_limits() -> None:
    many = {f"a{i}": i for i in range(301)}
    assert rejected(build("object_identify", {"object_type_id": 1, "object_id": "a", **many}, "append_dedup")) == (
        reasons.TOO_MANY_ATTRIBUTES, None, "the record sets 301 attributes; Customer.io allows at most 300 per call")
    big = {f"a{i}": "x" * 999 for i in range(40)}
    assert rejected(build("object_identify", {"object_type_id": 1, "object_id": "a", **big}, "append_dedup"))[:2] \
        == (reasons.OP_TOO_LARGE, None)


@pytest.mark.parametrize("value", [{"k": "\ud800"}, ["\udfff"]])
@pytest.mark.parametrize(("name", "mode", "data"), [
    ("object_identify", "append_dedup", {"object_type_id": 1, "object_id": "a"}),
    ("person_device", "append_dedup", {"person_email": A, "device_token": "t", "platform": "ios"}),
    ("relationship", "append_dedup", {"person_email": A, "object_type_id": 1, "object_id": "a"}),
    ("person_identify", "append_dedup", {"person_email": A}),
])
def test_a_nested_value_json_cannot_hold_is_rejected_not_raised(
        name: str, mode: str, data: dict[str, Any], value: Any) -> None:
    # a device's attributes are strings: an object or array is refused for that before encoding
    expected = ("attribute_value_not_string", "meta") if name == "person_device" else ("invalid_value", None)
    assert rejected(build(name, {**data, "meta": value}, mode))[:2] == expected
    assert rejected(build(name, {**data, "meta": "\ud800"}, mode))[:2] == ("invalid_value", None)


def test_object_delete_op() -> None:
    op = build("object_delete", {"object_type_id": 2, "object_id": "acme", "name": "ignored"})
    assert body(op) == {"type": "object", "action": "delete", "identifiers": {"object_type_id": "2", "object_id": "acme"}}
    assert (op.key, op.ordered) == ("object:2:acme", True)


# --- relationship ---------------------------------------------------------------------------------

def test_relationship_add_and_remove() -> None:
    data = {"person_email": A, "person_id": "u1", "object_type_id": 1, "object_id": "acme", "role": "admin"}
    op = build("relationship", data, "append_dedup")
    assert body(op) == {"type": "person", "action": "add_relationships", "identifiers": {"email": A},
                        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"},
                                               "relationship_attributes": {"role": "admin"}}]}
    assert (op.key, op.ordered) == ("person:email:a@b.co", True)
    for removal in (build("relationship", data, "soft_delete"),
                    build("relationship", {**data, "_ab_cdc_deleted_at": T}, "append_dedup")):
        assert body(removal) == {"type": "person", "action": "delete_relationships", "identifiers": {"email": A},
                                 "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}]}
    bare = build("relationship", {"person_email": A, "object_type_id": 1, "object_id": "acme"}, "append_dedup")
    assert body(bare)["cio_relationships"] == [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}]


def test_relationship_ledger_entry_comes_from_the_ops_identity_not_its_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger key text is the pair's removal op (email lower-cased), the same bytes ledgers already
    hold; it is written from the person and object the op carries, without decoding the body."""
    relationship = OPERATIONS["relationship"]
    add = build("relationship", {"person_email": "A@B.co", "object_type_id": 1, "object_id": "acme",
                                 "role": "admin"}, "overwrite")
    gone = build("relationship", {"person_email": "A@B.co", "object_type_id": 1, "object_id": "acme"},
                 "soft_delete")
    monkeypatch.setattr(msgspec.json, "decode", lambda *a, **k: pytest.fail("the body was decoded"))
    removal = ('{"type":"person","action":"delete_relationships","identifiers":{"email":"a@b.co"},'
               '"cio_relationships":[{"identifiers":{"object_type_id":"1","object_id":"acme"}}]}')
    text = msgspec.json.encode(["person:email:a@b.co", removal])
    assert relationship.ledger_entry(add) == (text, False)
    assert relationship.ledger_entry(gone) == (text, True)
    monkeypatch.undo()
    assert relationship.removal_op(text).body == removal.encode()


# --- segment_membership ---------------------------------------------------------------------------

def test_segment_adds_create_missing_people_by_default_only_in_a_mirror() -> None:
    person = {"person_email": A, "segment_id": 7}
    assert build("segment_membership", person, "overwrite").creates is True
    assert build("segment_membership", person, "append_dedup").creates is False
    assert build("segment_membership", person, "overwrite", create_missing_people=False).creates is False
    assert build("segment_membership", person, "append_dedup", create_missing_people=True).creates is True
    # A removal never creates; a person known by cio_id exists (Customer.io assigned the id).
    assert build("segment_membership", person, "soft_delete", create_missing_people=True).creates is False
    assert build("segment_membership", {"person_cio_id": "c1", "segment_id": 7}, "append_dedup",
                 identifierType="cio_id", create_missing_people=True).creates is False


def test_segment_membership_op_is_one_id_on_a_v1_route() -> None:
    op = build("segment_membership", {"person_email": " Ann@B.co ", "segment_id": "0012"}, "append_dedup")
    assert (op.body, op.key, op.ordered, op.route) == (
        b'"Ann@B.co"', "person:email:ann@b.co", True, "/api/v1/segments/12/add_customers?id_type=email")
    removal = build("segment_membership", {"person_cio_id": "c1", "segment_id": 12}, "soft_delete",
                    identifierType="cio_id")
    assert (removal.body, removal.route) == (b'"c1"', "/api/v1/segments/12/remove_customers?id_type=cio_id")
    cdc = build("segment_membership", {"person_id": 5, "segment_id": 3, "_ab_cdc_deleted_at": "x"},
                "append_dedup", identifierType="id")
    assert (cdc.body, cdc.route) == (b'"5"', "/api/v1/segments/3/remove_customers?id_type=id")


def test_segment_membership_rejections() -> None:
    assert rejected(build("segment_membership", {"person_email": A})) == (
        reasons.IDENTIFIER_MISSING, "segment_id", "`segment_id` is missing, null or empty")
    assert rejected(build("segment_membership", {"person_email": A, "segment_id": "7a"})) == (
        reasons.IDENTIFIER_INVALID, "segment_id",
        "`segment_id` must be a whole number such as 7 (a manual segment's id; got a str that is not one)")
    assert rejected(build("segment_membership", {"segment_id": 7}))[:2] == (reasons.IDENTIFIER_MISSING, "person_email")


# --- rejection messages never hold record values --------------------------------------------------

SECRET = "s3cr3t-value"


@pytest.mark.parametrize(("name", "data"), [
    ("person_merge", {"primary_email": SECRET, "secondary_email": A}),
    ("object_identify", {"object_type_id": SECRET, "object_id": "a"}),
    ("segment_membership", {"person_email": A, "segment_id": SECRET}),
    ("person_device", {"person_email": A, "device_token": "t", "platform": SECRET}),
    ("person_page", {"person_email": A, "url": "u", "timestamp": SECRET}),
])
def test_messages_hold_no_values(name: str, data: dict[str, Any]) -> None:
    assert SECRET not in rejected(build(name, data, "append_dedup"))[2]


# --- discover -------------------------------------------------------------------------------------

def test_every_append_dedup_entry_has_matching_keys_and_every_mode_one_entry() -> None:
    entries = [e.to_json() for e in discover_entries()]
    pairs = [(e["object_name"], e["sync_mode"]) for e in entries]
    assert len(pairs) == len(set(pairs)) == 20
    assert {name for name, _ in pairs} == set(OPERATIONS)
    for entry in entries:
        if entry["sync_mode"] in ("append_dedup", "soft_delete"):
            keys = entry["matching_keys"]
            assert keys and all(set(k) <= set(entry["json_schema"]["properties"]) for k in keys), entry
    for name, operation in OPERATIONS.items():
        assert sorted(e["sync_mode"] for e in entries if e["object_name"] == name) == sorted(operation.sync_modes)


def test_discover_schemas() -> None:
    schema = {(e.object_name, e.sync_mode): e.json_schema for e in discover_entries()}
    assert schema[("person_page", "append")] == {
        "type": "object", "required": ["url"], "additionalProperties": True,
        "properties": {"anonymous_id": {"type": "string"}, "event_id": {"type": "string"},
                       "person_cio_id": {"type": "string"}, "person_email": {"type": "string"},
                       "person_id": {"type": "string"}, "timestamp": {"type": "integer"}, "url": {"type": "string"}}}
    assert schema[("person_anonymous_event", "append")]["required"] == ["anonymous_id", "event_name"]
    assert schema[("person_device", "append_dedup")]["properties"]["platform"] == {
        "type": "string", "enum": ["ios", "android"]}
    assert schema[("person_device", "soft_delete")]["required"] == ["device_token"]
    assert schema[("segment_membership", "append_dedup")]["properties"]["segment_id"] == {"type": "integer"}
    assert sorted(schema[("person_merge", "append")]["properties"]) == [
        "primary_cio_id", "primary_email", "primary_id", "secondary_cio_id", "secondary_email", "secondary_id"]
    # answers are copies: editing one does not change the next
    schema[("person_page", "append")]["properties"]["url"]["type"] = "changed"
    again = {(e.object_name, e.sync_mode): e.json_schema for e in discover_entries()}
    assert again[("person_page", "append")]["properties"]["url"] == {"type": "string"}


def test_fold_identical() -> None:
    one = build("object_delete", {"object_type_id": 1, "object_id": "a"})
    assert fold_identical(one, build("object_delete", {"object_type_id": 1, "object_id": "a"})) is one
    assert fold_identical(one, build("object_delete", {"object_type_id": 1, "object_id": "b"})) is None


# --- the pipeline's v1 id lists -------------------------------------------------------------------

class Recorder:
    """A Track client that records, in send order, every v2 batch and v1 id list that reached it."""

    def __init__(self, ids_answer: BatchResult | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.stats = TrackStats()
        self.ids_answer = ids_answer

    async def send_batch(self, body: bytes) -> BatchResult:
        self.calls.append(("batch", [(op["action"], op["identifiers"]) for op in json.loads(body)["batch"]]))
        return BatchResult(200, [])

    async def send_ids(self, path: str, body: bytes, count: int) -> BatchResult:
        ids = json.loads(body)["ids"]
        assert len(ids) == count
        self.calls.append((path, ids))
        if self.ids_answer is not None and len(ids) == 1 and ids[0] == "bad@b.co":
            return self.ids_answer
        if self.ids_answer is not None and "bad@b.co" in ids:
            return BatchResult(400, [])
        return BatchResult(200, [])


class Store:
    buffers = True

    def __init__(self) -> None:
        self.added: list[RejectedRecord] = []

    async def add(self, record: RejectedRecord) -> None:
        self.added.append(record)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def waiting(self) -> None:
        return None


def line(stream: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 1}}).encode()


STATE = json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {"n": 1}}}).encode()


async def run_pipeline(lines: list[bytes], client: Recorder, store: Store | None = None) -> list[dict[str, Any]]:
    streams = {(None, "users"): make_stream("person_identify", "append_dedup"),
               (None, "vips"): make_stream("segment_membership", "append_dedup"),
               (None, "ex"): make_stream("segment_membership", "soft_delete")}
    streams = {name: dataclasses.replace(stream, name=name[1], namespace=None) for name, stream in streams.items()}
    out = io.BytesIO()
    pipeline = Pipeline(streams=streams, client=client, store=store or Store(), output=Output(out),  # type: ignore[arg-type]
                        lanes=1, state_max_delay=0.05, flush_interval=0.0)

    async def chunks():
        yield lines

    await asyncio.wait_for(pipeline.run(chunks()), 10)
    return [json.loads(x)["state"]["destinationStats"] for x in out.getvalue().splitlines()
            if json.loads(x)["type"] == "STATE"]


ADD7 = "/api/v1/segments/7/add_customers?id_type=email"


async def test_ids_follow_their_persons_earlier_ops_and_precede_later_ones() -> None:
    client = Recorder()
    lines = [line("users", {"person_email": "a@b.co"}), line("users", {"person_email": "b@b.co"}),
             line("vips", {"person_email": "a@b.co", "segment_id": 7}),
             line("vips", {"person_email": "c@b.co", "segment_id": 7}),
             line("users", {"person_email": "c@b.co", "plan": "x"}),
             line("ex", {"person_email": "c@b.co", "segment_id": 7}),
             line("vips", {"person_email": "c@b.co", "segment_id": 7}), STATE]
    assert await run_pipeline(lines, client) == [{"recordCount": 7.0}]
    assert client.calls == [
        ("batch", [("identify", {"email": "a@b.co"}), ("identify", {"email": "b@b.co"})]),  # before a's id
        (ADD7, ["a@b.co", "c@b.co"]),  # before c's identify
        ("batch", [("identify", {"email": "c@b.co"})]),  # before c's removal
        ("/api/v1/segments/7/remove_customers?id_type=email", ["c@b.co"]),
        (ADD7, ["c@b.co"]),  # after the removal
    ]


async def test_ids_per_call_are_capped_and_repeats_are_sent_once() -> None:
    client = Recorder()
    lines = [line("vips", {"person_email": f"p{i}@b.co", "segment_id": 7}) for i in range(1_001)]
    lines += [line("vips", {"person_email": "p0@b.co", "segment_id": 7}), STATE]
    assert await run_pipeline(lines, client) == [{"recordCount": 1_002.0}]
    assert [(path, len(ids)) for path, ids in client.calls] == [(ADD7, 1_000), (ADD7, 2)]
    assert client.calls[1][1] == ["p1000@b.co", "p0@b.co"]  # p0 again: its list was already sent


async def test_a_refused_id_list_is_split_down_to_the_refused_id() -> None:
    client = Recorder(ids_answer=BatchResult(400, [{"reason": "invalid", "message": "no such person"}]))
    store = Store()
    lines = [line("vips", {"person_email": e, "segment_id": 7}) for e in ("a@b.co", "bad@b.co", "c@b.co")]
    assert await run_pipeline([*lines, STATE], client, store) == [{"recordCount": 2.0, "rejectedRecordCount": 1.0}]
    assert [(r.data["person_email"], r.reason, r.message) for r in store.added] == [
        ("bad@b.co", "api_rejected", "Customer.io refused this operation (invalid): no such person")]
    assert client.calls[0] == (ADD7, ["a@b.co", "bad@b.co", "c@b.co"])


# --- the Track client's v1 id-list answers --------------------------------------------------------

async def ids_answer(status: int, payload: Any, count: int = 2) -> tuple[BatchResult, list[tuple[str, bytes]]]:
    seen: list[tuple[str, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.path_qs, await request.read()))
        return web.json_response(payload, status=status)

    app = web.Application()
    app.router.add_post("/api/v1/segments/{segment_id}/{action}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        config = parse_config({"credentials": {"siteId": "site", "apiKey": "key"},
                               "track_api_base_url": f"http://127.0.0.1:{port}"})
        async with aiohttp.ClientSession() as session:
            result = await TrackClient(config, session).send_ids(ADD7, b'{"ids":["a","b"]}', count)
    finally:
        await runner.cleanup()
    return result, seen


async def test_send_ids_answers() -> None:
    ok, seen = await ids_answer(200, {})
    assert ok == BatchResult(200, []) and seen == [(ADD7, b'{"ids":["a","b"]}')]
    bad, _ = await ids_answer(400, {"meta": {"errors": ["ids must be a list of strings"]}})
    assert bad == BatchResult(400, [{"reason": "invalid", "message": "ids must be a list of strings"}])
    missing, _ = await ids_answer(404, {"meta": {"error": "not found"}})
    error = {"reason": "segment_not_found",
             "message": "Customer.io answered 404 for this segment (no manual segment with this id)"}
    assert missing == BatchResult(200, [{**error, "batch_index": 0}, {**error, "batch_index": 1}])


# --- what we build is what the emulator (Customer.io's documented rules) accepts -------------------

VALID = [
    ("person_anonymous_event", "append", {"anonymous_id": "v", "event_name": "e", "timestamp": T, "k": 1}),
    ("person_page", "append", {"anonymous_id": "v", "url": "https://x.io"}),
    ("person_page", "append", {"person_email": A, "url": "https://x.io", "k": [1]}),
    ("person_screen", "append", {"person_email": A, "screen_name": "Home"}),
    ("person_delete", "append", {"person_email": A}),
    ("person_suppress", "append", {"person_email": A}),
    ("person_unsuppress", "append", {"person_email": A}),
    ("person_device", "append_dedup", {"person_email": A, "device_token": "t", "platform": "ios", "last_used": T,
                                       "app": "1"}),
    ("person_device", "soft_delete", {"person_email": A, "device_token": "t"}),
    ("person_merge", "append", {"primary_email": A, "secondary_id": 3}),
    ("object_identify", "append_dedup", {"object_type_id": 1, "object_id": "a", "name": "n"}),
    ("object_delete", "append", {"object_type_id": 1, "object_id": "a"}),
    ("relationship", "append_dedup", {"person_email": A, "object_type_id": 1, "object_id": "a", "role": "r"}),
    ("relationship", "soft_delete", {"person_email": A, "object_type_id": 1, "object_id": "a"}),
]


@pytest.mark.parametrize(("name", "mode", "data"), VALID)
def test_built_ops_pass_the_emulators_validation(name: str, mode: str, data: dict[str, Any]) -> None:
    from customerio_emulator.validate import validate_op

    op = build(name, data, mode)
    assert validate_op(body(op), len(op.body)) is None
