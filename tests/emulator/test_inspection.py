"""The /_emulator/ inspection API: request log, counters, reset, workspace scoping, look-ups."""

from __future__ import annotations

import aiohttp

from customerio_emulator import Emulator
from customerio_emulator.testing import identify, person_event

from .conftest import EU_AUTH


async def test_request_log_holds_the_exact_json(track, emu):
    ops = [identify({"id": "u"}, {"a": "é"}), identify({"id": "bad", "email": "b@x.y"})]
    await track.batch(ops)
    await track.call("POST", "/api/v2/batch", raw=b"{broken", auth=None)
    log = await emu.client.requests()
    assert len(log) == 2
    first = {k: v for k, v in log[0].items() if k not in ("time", "received")}
    assert 0 < log[0]["received"] <= log[0]["time"]
    assert first == {
        "method": "POST",
        "path": "/api/v2/batch",
        "query": "",
        "host": "us",
        "status": 207,
        "site_id": "us-site",
        "seq": 1,
        "body_bytes": len('{"batch":[{"type":"person","action":"identify","identifiers":{"id":"u"},"attributes":{"a":"é"}},{"type":"person","action":"identify","identifiers":{"id":"bad","email":"b@x.y"}}]}'.encode()),
        "body": {"batch": ops},
    }
    second = log[1]
    assert (second["status"], second["site_id"], second["body"], second["body_text"]) == (401, None, None, "{broken")
    assert [e["seq"] for e in await emu.client.requests(limit=1)] == [2]


async def test_request_log_is_a_bounded_ring(session):
    async with Emulator(request_log_size=3) as emu:
        from customerio_emulator.testing import basic_auth

        for i in range(5):
            async with session.get(emu.url + "/auth", headers={"Authorization": basic_auth()}) as r:
                assert r.status == 200
        assert [e["seq"] for e in await emu.client.requests()] == [3, 4, 5]


async def test_inspection_is_scoped_per_workspace(track, emu):
    await track.batch([identify({"id": "us-person"})])
    await track.batch([identify({"id": "eu-person"})], auth=EU_AUTH, host="eu")
    assert [p["id"] for p in await emu.client.people()] == ["us-person"]  # default: the first workspace
    assert [p["id"] for p in await emu.client.people(site_id="eu-site")] == ["eu-person"]
    eu_log = await emu.client.requests(site_id="eu-site")
    assert [(e["host"], e["path"]) for e in eu_log] == [("eu", "/eu/api/v2/batch")]
    async with track.session.get(emu.url + "/_emulator/people?site_id=nope") as r:
        assert (r.status, await r.json()) == (404, {"error": "unknown site_id"})


async def test_person_lookup_404(emu, session):
    async with session.get(emu.url + "/_emulator/people?email=none@x.io") as r:
        assert r.status == 404
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        assert await r.json() == {"error": "person not found"}


async def test_counters_shape(track, emu):
    await track.batch([identify({"id": "u"}), person_event({"id": "u"}, "e", timestamp="bad")])
    await track.batch([{"type": "x"}])
    counters = await emu.client.counters()
    assert counters == {
        "requests": 2,
        "ops": 3,
        "ops_rejected": 1,
        "bytes_received": counters["bytes_received"],
        "status": {"200": 1, "207": 1},
        "duplicates": 0,
        "invalid_timestamps": 1,
        "attribute_update_failures": 0,
        "update_only_skipped": 0,
        "suppressed_ignored": 0,
        "person_not_found": 0,
        "merge_failures": 0,
        "redirects": 0,
    }
    assert counters["bytes_received"] > 100


async def test_reset_clears_state_log_and_counters(track, emu):
    await track.batch([identify({"id": "u"})])
    await track.batch([identify({"id": "e"})], auth=EU_AUTH, host="eu")
    await emu.client.reset(site_id="eu-site")
    assert await emu.client.people(site_id="eu-site") == []
    assert len(await emu.client.people()) == 1
    await emu.client.reset()
    assert await emu.client.people() == []
    assert await emu.client.requests() == []
    assert (await emu.client.counters())["requests"] == 0
    # cio ids restart after a reset
    await track.batch([identify({"id": "again"})])
    assert (await emu.client.person(id="again"))["cio_id"] == "a0000001"


async def test_workspaces_and_health(emu):
    assert await emu.client.workspaces() == [
        {"site_id": "us-site", "api_key": "us-key", "region": "us", "environment_id": 1},
        {"site_id": "eu-site", "api_key": "eu-key", "region": "eu", "environment_id": 2},
    ]
    assert await emu.client.health() == {"ok": True, "lean": False, "unauthorized": 0}


async def test_inspection_needs_no_auth_and_is_not_logged(emu):
    async with aiohttp.ClientSession() as s:
        async with s.get(emu.url + "/_emulator/people") as r:
            assert (r.status, await r.json()) == (200, [])
    assert await emu.client.requests() == []


async def test_direct_state_access(track, emu):
    await track.batch([identify({"id": "u"})])
    assert emu.workspace().find("id", "u").cio_id == "a0000001"
    assert emu.workspace("eu-site").people == {}


async def test_emulator_fixture_helper():
    from customerio_emulator.testing import emulator_fixture

    async for emulator in emulator_fixture(lean=True):
        assert (await emulator.client.health())["lean"] is True
