"""Track API v1 endpoints: identify, events, anonymous events, delete, suppress/unsuppress, devices,
merge and manual segments (with their v1 error shapes)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


async def test_identify_by_id_email_and_cio_id(track, emu):
    assert (await track.call("PUT", "/api/v1/customers/u1", {"email": "u1@x.io", "plan": "a"}))[:2] == (200, {})
    assert (await emu.client.person(id="u1"))["email"] == "u1@x.io"
    path = "/api/v1/customers/" + quote("U1@X.io", safe="")
    assert (await track.call("PUT", path, {"plan": "b"}))[:2] == (200, {})
    assert (await track.call("PUT", "/api/v1/customers/cio_a0000001", {"x": 1}))[:2] == (200, {})
    assert (await emu.client.person(id="u1"))["attributes"] == {"plan": "b", "x": 1}
    assert len(await emu.client.people()) == 1


async def test_identify_url_encoded_id(track, emu):
    assert (await track.call("PUT", "/api/v1/customers/" + quote("a b+c", safe=""), {}))[:2] == (200, {})
    assert (await emu.client.person(id="a b+c"))["id"] == "a b+c"


async def test_identify_timestamp_orders_updates(track, emu):
    await track.call("PUT", "/api/v1/customers/u", {"plan": "new", "_timestamp": 2000})
    await track.call("PUT", "/api/v1/customers/u", {"plan": "old", "_timestamp": 1000})
    assert (await emu.client.person(id="u"))["attributes"] == {"plan": "new"}


async def test_v1_errors_use_meta_shape(track):
    assert (await track.call("PUT", "/api/v1/customers/u", raw=b"{nope"))[:2] == (
        400,
        {"meta": {"errors": ["malformed JSON body: expected an object"]}},
    )
    assert (await track.call("PUT", "/api/v1/customers/u", {"v": "x" * 1001}))[:2] == (
        400,
        {"meta": {"errors": ["attributes.v: attribute value longer than 1000 bytes"]}},
    )
    assert (await track.call("POST", "/api/v1/customers/u/events", {"name": "e", "id": "bad"}))[:2] == (
        400,
        {"meta": {"errors": ["id: id must be a ULID (26 Crockford base32 characters)"]}},
    )


async def test_events_page_and_dedupe(track, emu):
    body = {"name": "bought", "id": ULID, "timestamp": 1_700_000_000, "data": {"sku": "x"}}
    assert (await track.call("POST", "/api/v1/customers/u/events", body))[:2] == (200, {})
    assert (await track.call("POST", "/api/v1/customers/u/events", body))[:2] == (200, {})
    assert (await track.call("POST", "/api/v1/customers/u/events", {"name": "/home", "type": "page"}))[:2] == (200, {})
    events = await emu.client.events()
    assert [(e["type"], e["name"], e["data"], e["timestamp"]) for e in events[:1]] == [("event", "bought", {"sku": "x"}, 1_700_000_000)]
    assert [e["type"] for e in events] == ["event", "page"]
    assert (await emu.client.counters())["duplicates"] == 1


async def test_anonymous_events(track, emu):
    assert (await track.call("POST", "/api/v1/events", {"name": "visit", "anonymous_id": "an1", "data": {"a": 1}}))[:2] == (200, {})
    assert (await track.call("POST", "/api/v1/events", {"name": "invite", "data": {"recipient": "x@y.z"}}))[:2] == (200, {})
    events = await emu.client.events()
    assert [(e["name"], e["anonymous_id"], e["cio_id"]) for e in events] == [("visit", "an1", None), ("invite", None, None)]
    assert await emu.client.people() == []
    assert (await track.call("POST", "/api/v1/events", {"anonymous_id": "an1"}))[:2] == (
        400,
        {"meta": {"errors": ["name: name is required and must be a non-empty string"]}},
    )


async def test_delete_suppress_unsuppress(track, emu):
    await track.call("PUT", "/api/v1/customers/u", {"a": 1})
    assert (await track.call("POST", "/api/v1/customers/u/suppress"))[:2] == (200, {})
    assert await emu.client.people() == []
    await track.call("PUT", "/api/v1/customers/u", {"a": 2})
    assert await emu.client.people() == []
    assert (await track.call("POST", "/api/v1/customers/u/unsuppress"))[:2] == (200, {})
    await track.call("PUT", "/api/v1/customers/u", {"a": 3})
    assert (await emu.client.person(id="u"))["attributes"] == {"a": 3}
    assert (await track.call("DELETE", "/api/v1/customers/u"))[:2] == (200, {})
    assert await emu.client.people() == []


async def test_devices(track, emu):
    body = {"device": {"id": "tok-1", "platform": "ios", "last_used": 1_700_000_000}}
    assert (await track.call("PUT", "/api/v1/customers/u/devices", body))[:2] == (200, {})
    assert await emu.client.devices() == [{"token": "tok-1", "platform": "ios", "last_used": 1_700_000_000, "cio_id": "a0000001"}]
    assert (await track.call("PUT", "/api/v1/customers/u/devices", {"device": {"platform": "ios"}}))[:2] == (
        400,
        {"meta": {"errors": ["device.token: device.token is required"]}},
    )
    assert (await track.call("DELETE", "/api/v1/customers/u/devices/tok-1"))[:2] == (200, {})
    assert await emu.client.devices() == []


async def test_merge_customers(track, emu):
    await track.call("PUT", "/api/v1/customers/p", {"a": 1})
    await track.call("PUT", "/api/v1/customers/s", {"b": 2})
    body = {"primary": {"id": "p"}, "secondary": {"id": "s"}}
    assert (await track.call("POST", "/api/v1/merge_customers", body))[:2] == (200, {})
    assert [(p["id"], p["attributes"]) for p in await emu.client.people()] == [("p", {"a": 1, "b": 2})]
    assert (await track.call("POST", "/api/v1/merge_customers", {"primary": {"id": "p"}}))[:2] == (
        400,
        {"meta": {"error": "secondary: secondary is required and must be an object"}},
    )


async def test_segments_add_remove_by_id_type(track, emu):
    await track.call("PUT", "/api/v1/customers/u1", {"email": "one@x.io"})
    await track.call("PUT", "/api/v1/customers/u2", {})
    assert (await track.call("POST", "/api/v1/segments/7/add_customers", {"ids": ["u1", "u2", "ghost"]}))[:2] == (200, {})
    assert await emu.client.segments() == {"7": ["a0000001", "a0000002"]}
    assert (await track.call("POST", "/api/v1/segments/7/remove_customers?id_type=email", {"ids": ["ONE@x.io"]}))[:2] == (200, {})
    assert await emu.client.segments() == {"7": ["a0000002"]}
    assert (await track.call("POST", "/api/v1/segments/8/add_customers?id_type=cio_id", {"ids": ["a0000002"]}))[:2] == (200, {})
    assert (await emu.client.person(id="u2"))["segments"] == ["7", "8"]
    assert (await emu.client.counters())["person_not_found"] == 1


@pytest.mark.parametrize(
    "query, body, message",
    [
        ("", {"ids": [str(i) for i in range(1001)]}, "at most 1000 ids per call"),
        ("?id_type=phone", {"ids": ["1"]}, "id_type must be one of id, email, cio_id"),
        ("", {"ids": "u1"}, "ids must be a list of strings"),
    ],
)
async def test_segment_errors(track, emu, query, body, message):
    status, payload, _ = await track.call("POST", f"/api/v1/segments/1/add_customers{query}", body)
    assert (status, payload) == (400, {"meta": {"errors": [message]}})
    assert await emu.client.segments() == {}


async def test_segment_1000_ids_accepted(track, emu):
    status, payload, _ = await track.call("POST", "/api/v1/segments/1/add_customers", {"ids": [str(i) for i in range(1000)]})
    assert (status, payload) == (200, {})


async def test_v1_on_eu_host_for_eu_workspace(track, emu):
    from .conftest import EU_AUTH

    status, _, headers = await track.call("PUT", "/api/v1/customers/x", {"a": 1}, auth=EU_AUTH)
    assert status == 307 and headers["Location"] == emu.url + "/eu/api/v1/customers/x"
    assert (await track.call("PUT", "/api/v1/customers/x", {"a": 1}, auth=EU_AUTH, host="eu"))[:2] == (200, {})
