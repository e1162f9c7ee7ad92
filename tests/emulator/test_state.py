"""Workspace state semantics: dedupe, timestamp ordering, email case, cio_id, _update, conflicts,
delete/suppress/unsuppress, merge, devices, objects and relationships, invalid timestamps."""

from __future__ import annotations

import time

from customerio_emulator.testing import identify, person_event, person_op

ULID_A = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
ULID_B = "01BX5ZZKBKACTAV9WEVGEMMVRZ"


async def test_cio_id_assigned_on_create_and_addressable(track, emu):
    assert await track.batch([identify({"email": "Ann@Example.com"}, {"plan": "pro"}), identify({"id": "bob"})]) == (200, {})
    ann = await emu.client.person(email="ann@example.com")
    assert ann == {
        "cio_id": "a0000001",
        "id": None,
        "email": "Ann@Example.com",
        "phone": None,
        "attributes": {"plan": "pro"},
        "devices": [],
        "segments": [],
        "invalid_timestamp": False,
    }
    assert (await emu.client.person(cio_id="a0000002"))["id"] == "bob"
    # v2 cio_id identifiers are bare values
    assert await track.batch([identify({"cio_id": "a0000001"}, {"x": 1})]) == (200, {})
    assert (await emu.client.person(email="ANN@EXAMPLE.COM"))["attributes"] == {"plan": "pro", "x": 1}


async def test_email_case_insensitive_id_case_sensitive(track, emu):
    await track.batch([identify({"email": "a@x.com"}, {"n": 1}), identify({"email": "A@X.COM"}, {"m": 2})])
    await track.batch([identify({"id": "Abc"}), identify({"id": "abc"})])
    people = await emu.client.people()
    assert len(people) == 3
    assert (await emu.client.person(email="A@x.Com"))["attributes"] == {"n": 1, "m": 2}


async def test_attributes_merge_and_identifier_attributes(track, emu):
    await track.batch([identify({"id": "u"}, {"a": 1, "b": 2}), identify({"id": "u"}, {"b": 3, "email": "u@x.io"})])
    person = await emu.client.person(id="u")
    assert (person["attributes"], person["email"]) == ({"a": 1, "b": 3}, "u@x.io")
    assert (await emu.client.person(email="U@X.IO"))["id"] == "u"


async def test_null_and_empty_person_attributes_are_stored(track, emu):
    # [guess, documented] for people null and "" are set as given, not removed.
    await track.batch([identify({"id": "u"}, {"a": 1, "b": 2}), identify({"id": "u"}, {"a": None, "b": ""})])
    assert (await emu.client.person(id="u"))["attributes"] == {"a": None, "b": ""}


async def test_timestamp_orders_attribute_updates(track, emu):
    ops = [
        identify({"id": "u"}, {"plan": "new", "seen": 2}, timestamp=2_000),
        identify({"id": "u"}, {"plan": "old", "other": "x"}, timestamp=1_000),  # older: plan kept, other set
    ]
    assert await track.batch(ops) == (200, {})
    assert (await emu.client.person(id="u"))["attributes"] == {"plan": "new", "seen": 2, "other": "x"}
    # an op without timestamp counts as "now": newer than both
    await track.batch([identify({"id": "u"}, {"plan": "now"})])
    assert (await emu.client.person(id="u"))["attributes"]["plan"] == "now"
    # and an op timestamped in the past cannot overwrite it
    await track.batch([identify({"id": "u"}, {"plan": "past"}, timestamp=int(time.time()) - 60)])
    assert (await emu.client.person(id="u"))["attributes"]["plan"] == "now"


async def test_invalid_timestamps_replaced_with_now_and_recorded(track, emu):
    before = int(time.time())
    ops = [
        person_event({"id": "u"}, "string_ts", timestamp="2024-01-01"),
        person_event({"id": "u"}, "ms_ts", timestamp=1_700_000_000_000),
        person_event({"id": "u"}, "float_ts", timestamp=1_700_000_000.5),
        person_event({"id": "u"}, "good_ts", timestamp=1_700_000_000),
        identify({"id": "v"}, {"created_at": "yesterday"}),
    ]
    assert await track.batch(ops) == (200, {})  # never rejected
    events = {e["name"]: e for e in await emu.client.events()}
    for name in ("string_ts", "ms_ts", "float_ts"):
        assert events[name]["invalid_timestamp"] is True
        assert before <= events[name]["timestamp"] <= int(time.time())
    assert (events["good_ts"]["timestamp"], events["good_ts"]["invalid_timestamp"]) == (1_700_000_000, False)
    assert (await emu.client.person(id="u"))["invalid_timestamp"] is True
    v = await emu.client.person(id="v")
    assert v["invalid_timestamp"] is True and before <= v["attributes"]["created_at"] <= int(time.time())
    assert (await emu.client.counters())["invalid_timestamps"] == 4


async def test_events_deduplicated_by_id(track, emu):
    ops = [
        person_event({"id": "u"}, "a", id=ULID_A, attributes={"n": 1}),
        person_event({"id": "u"}, "a", id=ULID_A, attributes={"n": 2}),
        person_event({"id": "u"}, "other", id=ULID_A.lower()),  # ULIDs are case-insensitive
        person_event({"id": "u"}, "b", id=ULID_B),
        person_event({"id": "u"}, "c"),
        person_event({"id": "u"}, "c"),  # no id: no dedupe
    ]
    assert await track.batch(ops) == (200, {})
    assert await track.batch(ops[:1]) == (200, {})  # a retried batch
    events = await emu.client.events()
    assert [(e["name"], e["data"]) for e in events] == [("a", {"n": 1}), ("b", None), ("c", None), ("c", None)]
    assert (await emu.client.counters())["duplicates"] == 3
    assert [e["id"] for e in await emu.client.events(id=ULID_A.lower())] == [ULID_A]


async def test_event_for_unknown_person_creates_the_person(track, emu):
    await track.batch([person_event({"email": "new@x.io"}, "signed_up", timestamp=1_700_000_000, attributes={"k": "v"})])
    person = await emu.client.person(email="new@x.io")
    assert person["cio_id"] == "a0000001"
    events = await emu.client.events(name="signed_up")
    assert len(events) == 1
    event = events[0]
    del event["received_at"]
    assert event == {
        "type": "event",
        "name": "signed_up",
        "id": None,
        "timestamp": 1_700_000_000,
        "data": {"k": "v"},
        "identifiers": {"email": "new@x.io"},
        "cio_id": "a0000001",
        "anonymous_id": None,
        "invalid_timestamp": False,
    }
    assert len(await emu.client.events(email="NEW@x.io")) == 1


async def test_anonymous_page_and_screen_events(track, emu):
    ops = [
        person_event({"anonymous_id": "anon-1"}, "viewed"),
        {"type": "person", "action": "page", "identifiers": {"anonymous_id": "anon-1"}, "name": "https://x.io/"},
        {"type": "person", "action": "screen", "identifiers": {"id": "u"}, "name": "Home"},
    ]
    assert await track.batch(ops) == (200, {})
    events = await emu.client.events()
    assert [(e["type"], e["name"], e["anonymous_id"], e["cio_id"]) for e in events] == [
        ("event", "viewed", "anon-1", None),
        ("page", "https://x.io/", "anon-1", None),
        ("screen", "Home", None, "a0000001"),
    ]
    assert [p["id"] for p in await emu.client.people()] == ["u"]
    assert len(await emu.client.events(anonymous_id="anon-1", type="page")) == 1


async def test_update_only_never_creates(track, emu):
    assert await track.batch([identify({"id": "ghost"}, {"_update": True, "a": 1})]) == (200, {})
    assert await emu.client.people() == []
    assert (await emu.client.counters())["update_only_skipped"] == 1
    assert (await emu.client.notices())[0]["kind"] == "update_only_skipped"
    await track.batch([identify({"id": "real"}, {"a": 1}), identify({"id": "real"}, {"_update": True, "a": 2})])
    assert (await emu.client.person(id="real"))["attributes"] == {"a": 2}


async def test_identifiers_of_two_people_is_attribute_update_failure(track, emu):
    await track.batch([identify({"id": "p1"}), identify({"email": "p2@x.io"})])
    status, body = await track.batch([identify({"id": "p1"}, {"email": "p2@x.io", "a": 1})])
    assert (status, body) == (200, {})
    assert (await emu.client.person(id="p1"))["attributes"] == {}
    assert (await emu.client.person(email="p2@x.io"))["id"] is None
    assert (await emu.client.counters())["attribute_update_failures"] == 1
    notice = (await emu.client.notices())[0]
    assert notice == {
        "kind": "attribute_update_failures",
        "message": "identifiers belong to different people; change not applied",
        "identifiers": {"id": "p1"},
        "cio_ids": ["a0000001", "a0000002"],
    }


async def test_identify_by_unknown_cio_id_creates_nobody(track, emu):
    assert await track.batch([identify({"cio_id": "ffff"}, {"a": 1})]) == (200, {})
    assert await emu.client.people() == []
    assert (await emu.client.counters())["person_not_found"] == 1


async def test_delete_then_recreate(track, emu):
    await track.batch([identify({"id": "u"}, {"a": 1}), person_op("delete", {"id": "u"})])
    assert await emu.client.person(id="u") is None
    await track.batch([identify({"id": "u"}, {"b": 2})])
    person = await emu.client.person(id="u")
    assert (person["cio_id"], person["attributes"]) == ("a0000002", {"b": 2})
    await track.batch([person_op("delete", {"id": "nobody"})])
    assert (await emu.client.counters())["person_not_found"] == 1


async def test_suppress_blocks_recreation_and_unsuppress_frees(track, emu):
    await track.batch([identify({"id": "u"}, {"email": "u@x.io"}), person_op("suppress", {"email": "U@x.io"})])
    assert await emu.client.people() == []
    assert await emu.client.suppressed() == [{"cio_id": "a0000001", "id": "u", "email": "u@x.io"}]
    later = [identify({"id": "u"}, {"a": 1}), person_event({"email": "u@x.io"}, "e"), identify({"cio_id": "a0000001"})]
    assert await track.batch(later) == (200, {})
    assert await emu.client.people() == [] and await emu.client.events() == []
    assert (await emu.client.counters())["suppressed_ignored"] == 3
    # unsuppressing by any of the identifiers frees them all
    await track.batch([person_op("unsuppress", {"email": "u@x.io"}), identify({"id": "u"}, {"a": 2})])
    assert await emu.client.suppressed() == []
    assert (await emu.client.person(id="u"))["attributes"] == {"a": 2}


async def test_suppress_unknown_identifier_blocks_it(track, emu):
    await track.batch([person_op("suppress", {"id": "never"}), identify({"id": "never"})])
    assert await emu.client.people() == []
    assert await emu.client.suppressed() == [{"id": "never"}]


async def test_merge_moves_data_to_primary(track, emu):
    ops = [
        identify({"id": "primary"}, {"plan": "pro", "shared": "p"}),
        identify({"email": "second@x.io"}, {"shared": "s", "extra": 1}),
        person_event({"email": "second@x.io"}, "e1"),
        {"type": "person", "action": "add_device", "identifiers": {"email": "second@x.io"}, "device": {"token": "t1", "platform": "ios"}},
        {
            "type": "person",
            "action": "add_relationships",
            "identifiers": {"email": "second@x.io"},
            "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}],
        },
        {"type": "person", "action": "merge", "primary": {"id": "primary"}, "secondary": {"email": "second@x.io"}},
    ]
    assert await track.batch(ops) == (200, {})
    people = await emu.client.people()
    assert len(people) == 1
    primary = people[0]
    assert primary["cio_id"] == "a0000001"
    assert primary["email"] == "second@x.io"  # [guess] fills the primary's missing identifier
    assert primary["attributes"] == {"plan": "pro", "shared": "p", "extra": 1}
    assert [d["token"] for d in primary["devices"]] == ["t1"]
    assert [e["cio_id"] for e in await emu.client.events()] == ["a0000001"]
    assert [(r["cio_id"], r["object_id"]) for r in await emu.client.relationships()] == [("a0000001", "acme")]


async def test_merge_needs_an_existing_primary(track, emu):
    ops = [identify({"id": "s"}), {"type": "person", "action": "merge", "primary": {"id": "ghost"}, "secondary": {"id": "s"}}]
    assert await track.batch(ops) == (200, {})
    assert [p["id"] for p in await emu.client.people()] == ["s"]
    assert (await emu.client.counters())["merge_failures"] == 1


async def test_devices_add_update_move_delete(track, emu):
    def add(person: str, token: str, **device):
        return {"type": "person", "action": "add_device", "identifiers": {"id": person}, "device": {"token": token, **device}}

    ops = [
        add("u", "t1", platform="ios", last_used=1_700_000_000, attributes={"app_version": "1"}),
        add("u", "t1", platform="ios", attributes={"app_version": "2"}),
        add("u", "t2", platform="android"),
    ]
    assert await track.batch(ops) == (200, {})
    devices = await emu.client.devices()
    assert devices == [
        {"token": "t1", "platform": "ios", "last_used": 1_700_000_000, "attributes": {"app_version": "2"}, "cio_id": "a0000001"},
        {"token": "t2", "platform": "android", "cio_id": "a0000001"},
    ]
    # a token is one device: adding it to another person moves it
    await track.batch([add("v", "t2", platform="android")])
    assert [(d["token"], d["cio_id"]) for d in await emu.client.devices()] == [("t1", "a0000001"), ("t2", "a0000002")]
    delete = {"type": "person", "action": "delete_device", "identifiers": {"id": "u"}, "device": {"token": "t1"}}
    assert await track.batch([delete]) == (200, {})
    assert [d["token"] for d in await emu.client.devices()] == ["t2"]


async def test_objects_attributes_and_removal(track, emu):
    obj = {"object_type_id": "1", "object_id": "acme"}
    ops = [
        {"type": "object", "action": "identify", "identifiers": obj, "attributes": {"name": "Acme", "tier": "gold", "x": 1}},
        {"type": "object", "action": "identify", "identifiers": obj, "attributes": {"tier": None, "x": "", "size": 5}},
    ]
    assert await track.batch(ops) == (200, {})
    assert await emu.client.objects() == [{"object_type_id": "1", "object_id": "acme", "attributes": {"name": "Acme", "size": 5}}]
    assert await track.batch([{"type": "object", "action": "delete", "identifiers": obj}]) == (200, {})
    assert await emu.client.objects() == []


async def test_relationships_person_and_object_sides(track, emu):
    obj = {"object_type_id": "2", "object_id": "team-1"}
    ops = [
        {
            "type": "object",
            "action": "identify",
            "identifiers": obj,
            "attributes": {"name": "T"},
            "cio_relationships": [{"identifiers": {"id": "u1"}, "relationship_attributes": {"role": "admin"}}],
        },
        {
            "type": "person",
            "action": "add_relationships",
            "identifiers": {"id": "u2"},
            "cio_relationships": [{"identifiers": obj, "relationship_attributes": {"role": "member"}}],
        },
        {
            "type": "object",
            "action": "identify_anonymous",
            "identifiers": obj,
            "cio_relationships": [{"identifiers": {"anonymous_id": "anon-9"}}],
        },
    ]
    assert await track.batch(ops) == (200, {})
    rels = await emu.client.relationships()
    assert rels == [
        {"object_type_id": "2", "object_id": "team-1", "cio_id": "a0000001", "id": "u1", "email": None, "anonymous_id": None, "attributes": {"role": "admin"}},
        {"object_type_id": "2", "object_id": "team-1", "cio_id": "a0000002", "id": "u2", "email": None, "anonymous_id": None, "attributes": {"role": "member"}},
        {"object_type_id": "2", "object_id": "team-1", "cio_id": None, "id": None, "email": None, "anonymous_id": "anon-9", "attributes": {}},
    ]
    remove = [
        {"type": "person", "action": "delete_relationships", "identifiers": {"id": "u2"}, "cio_relationships": [{"identifiers": obj}]},
        {"type": "object", "action": "delete_relationships", "identifiers": obj, "cio_relationships": [{"identifiers": {"id": "u1"}}]},
    ]
    assert await track.batch(remove) == (200, {})
    assert [r["anonymous_id"] for r in await emu.client.relationships()] == ["anon-9"]
    assert len(await emu.client.relationships(id="u1")) == 0


async def test_identify_with_relationships(track, emu):
    op = identify({"id": "u"}, {"a": 1}, cio_relationships=[{"identifiers": {"object_type_id": "1", "object_id": "o"}}])
    assert await track.batch([op]) == (200, {})
    assert [(r["id"], r["object_id"]) for r in await emu.client.relationships()] == [("u", "o")]
    assert await emu.client.objects() == [{"object_type_id": "1", "object_id": "o", "attributes": {}}]


async def test_delete_person_drops_relationships(track, emu):
    op = identify({"id": "u"}, cio_relationships=[{"identifiers": {"object_type_id": "1", "object_id": "o"}}])
    await track.batch([op, person_op("delete", {"id": "u"})])
    assert await emu.client.relationships() == []


async def test_delivery_event_stored(track, emu):
    op = {"type": "delivery", "action": "event", "identifiers": {"id": "dlv-1"}, "name": "opened", "attributes": {"device_token": "tok"}}
    assert await track.batch([op]) == (200, {})
    events = await emu.client.events(type="delivery")
    assert [(e["name"], e["identifiers"], e["data"]) for e in events] == [("opened", {"id": "dlv-1"}, {"device_token": "tok"})]


async def test_phone_identifier(track, emu):
    await track.batch([identify({"phone": "+15551234567"}, {"a": 1})])
    assert (await emu.client.person(phone="+15551234567"))["attributes"] == {"a": 1}
