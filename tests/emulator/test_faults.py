"""Fault injection: latency, 429 (with/without Retry-After), 5xx by schedule and by rate, dropped
connections before/after applying, hangs, the rate limiter, the faults API; never on /_emulator/."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from customerio_emulator import Emulator, FaultConfig
from customerio_emulator.testing import basic_auth, identify

AUTH = {"Authorization": basic_auth()}
OP = {"batch": [identify({"id": "u"}, {"a": 1})]}


async def post(session: aiohttp.ClientSession, emu: Emulator, body=OP) -> tuple[int, bytes, dict]:
    async with session.post(emu.url + "/api/v2/batch", json=body, headers=AUTH) as r:
        return r.status, await r.read(), dict(r.headers)


@pytest.fixture
async def emu():
    async with Emulator() as e:
        yield e


async def test_schedule_429_with_and_without_retry_after_then_5xx(emu, session):
    await emu.client.set_faults(
        schedule=[
            {"count": 1, "status": 429, "retry_after": 3},
            {"count": 1, "status": 429},
            {"count": 1, "status": 500},
            {"count": 1, "status": 502},
            {"count": 1, "status": 503},
        ]
    )
    s, body, headers = await post(session, emu)
    assert (s, body, headers["Retry-After"]) == (429, b'{"errors":[{"reason":"rate_limited","message":"too many requests"}]}', "3")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    s, body, headers = await post(session, emu)
    assert s == 429 and "Retry-After" not in headers
    s, body, _ = await post(session, emu)
    assert (s, body) == (500, b'{"errors":[{"reason":"server_error","message":"injected failure"}]}')
    s, body, headers = await post(session, emu)
    assert s == 502 and headers["Content-Type"] == "text/html" and b"502 Bad Gateway" in body
    s, body, _ = await post(session, emu)
    assert s == 503
    assert await emu.client.people() == []  # none of the failed requests was applied
    s, body, _ = await post(session, emu)
    assert (s, body) == (200, b"{}")
    assert len(await emu.client.people()) == 1
    faults = await emu.client.faults()
    assert faults["schedule_remaining"] == []
    assert faults["injected"] == {"429": 2, "500": 1, "502": 1, "503": 1}
    assert (await emu.client.counters())["status"] == {"429": 2, "500": 1, "502": 1, "503": 1, "200": 1}
    log = await emu.client.requests()
    assert [(e["status"], e.get("fault")) for e in log[:2]] == [(429, "schedule"), (429, "schedule")]


async def test_proxy_statuses_by_rate(emu, session):
    """What a proxy, CDN or load balancer answers in front of the API: 520 an HTML page, 507 and 423
    the v2 error shape; none of them applied."""
    await emu.client.set_faults(error_rate=1.0, error_statuses=[520, 507, 423], seed=3)
    answers = [await post(session, emu) for _ in range(30)]
    assert {s for s, _, _ in answers} == {520, 507, 423}
    for status, body, headers in answers:
        if status == 520:
            assert headers["Content-Type"] == "text/html" and b"520 Web server is returning" in body
        else:
            assert body == b'{"errors":[{"reason":"server_error","message":"injected failure"}]}'
    assert await emu.client.people() == []
    injected = (await emu.client.faults())["injected"]
    assert set(injected) == {"520", "507", "423"} and sum(injected.values()) == 30


async def test_schedule_count_and_pass(emu, session):
    await emu.client.set_faults(schedule=[{"count": 2, "action": "pass"}, {"count": 3, "status": 503}])
    statuses = [(await post(session, emu))[0] for _ in range(6)]
    assert statuses == [200, 200, 503, 503, 503, 200]


async def test_random_errors_at_a_rate(emu, session):
    await emu.client.set_faults(error_rate=0.5, error_statuses=[503, 429], retry_after=1, seed=7)
    statuses = [(await post(session, emu))[0] for _ in range(60)]
    failures = [s for s in statuses if s != 200]
    assert 15 <= len(failures) <= 45
    assert set(failures) == {503, 429}
    await emu.client.set_faults(error_rate=1.0)
    assert {(await post(session, emu))[0] for _ in range(5)} <= {500, 502, 503}


async def test_fixed_and_random_latency(emu, session):
    await emu.client.set_faults(latency_ms=150)
    start = time.monotonic()
    assert (await post(session, emu))[0] == 200
    assert time.monotonic() - start >= 0.15
    await emu.client.set_faults(latency_ms=10, latency_jitter_ms=40, seed=1)
    start = time.monotonic()
    for _ in range(3):
        await post(session, emu)
    elapsed = time.monotonic() - start
    assert 0.03 <= elapsed < 1.0
    # the inspection API is never delayed
    await emu.client.set_faults(latency_ms=2000)
    start = time.monotonic()
    await emu.client.people()
    assert time.monotonic() - start < 0.5


async def test_drop_before_applying(emu, session):
    await emu.client.set_faults(schedule=[{"count": 1, "action": "drop_before"}])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, emu)
    assert await emu.client.people() == []
    log = await emu.client.requests()
    assert [(e["status"], e["fault"]) for e in log] == [(None, "drop_before")]
    assert (await post(session, emu))[0] == 200


async def test_drop_after_applying(emu, session):
    await emu.client.set_faults(schedule=[{"count": 1, "action": "drop_after"}])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, emu)
    assert [p["attributes"] for p in await emu.client.people()] == [{"a": 1}]  # applied, never answered
    assert (await emu.client.faults())["injected"] == {"drop_after": 1}


async def test_random_drops(emu, session):
    await emu.client.set_faults(drop_before_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, emu)
    await emu.client.set_faults(drop_after_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, emu)
    assert len(await emu.client.people()) == 1


async def test_hang_until_shutdown(session):
    emu = Emulator(faults={"schedule": [{"count": 1, "action": "hang"}]}, shutdown_timeout=1.0)
    await emu.start()
    try:
        request = asyncio.ensure_future(post(session, emu))
        done, _ = await asyncio.wait({request}, timeout=0.3)
        assert not done  # accepted, never answered
        assert (await post(session, emu))[0] == 200  # other requests still served
        assert await emu.client.health() == {"ok": True, "lean": False, "unauthorized": 0}
    finally:
        start = time.monotonic()
        await emu.stop()
    with pytest.raises(aiohttp.ClientError):
        await request
    assert time.monotonic() - start < 2.0


async def test_rate_limiter_token_bucket(session):
    # 0.5 token/s: no refill can happen during the test, so the outcome is exact even on a loaded machine
    # (refill itself is unit-tested in test_units.py).
    async with Emulator(faults=FaultConfig(rate_limit_rps=0.5, rate_limit_burst=5)) as emu:
        statuses = [(await post(session, emu))[0] for _ in range(8)]
        assert statuses == [200] * 5 + [429] * 3
        s, body, headers = await post(session, emu)
        assert (s, body) == (429, b'{"errors":[{"reason":"rate_limited","message":"too many requests"}]}')
        assert "Retry-After" not in headers
        assert len(await emu.client.people()) == 1  # the limited requests were not applied
        assert [e.get("fault") for e in await emu.client.requests()][-1] == "rate_limit"
    async with Emulator(faults=FaultConfig(rate_limit_rps=0.5, retry_after=2)) as emu:
        assert (await post(session, emu))[0] == 200
        s, _, headers = await post(session, emu)
        assert (s, headers["Retry-After"]) == (429, "2")


async def test_rate_limit_is_per_workspace(session):
    workspaces = [{"site_id": "a", "api_key": "k"}, {"site_id": "b", "api_key": "k"}]
    async with Emulator(workspaces=workspaces, faults={"rate_limit_rps": 0.5}) as emu:
        for site, expected in (("a", 200), ("a", 429), ("b", 200), ("b", 429)):
            headers = {"Authorization": basic_auth(site, "k")}
            async with session.post(emu.url + "/api/v2/batch", json={"batch": []}, headers=headers) as r:
                assert r.status == expected, site


async def test_faults_api_get_set_clear(emu, session):
    assert await emu.client.faults() == {
        "latency_ms": 0.0,
        "latency_jitter_ms": 0.0,
        "error_rate": 0.0,
        "error_statuses": [500, 502, 503],
        "retry_after": None,
        "drop_before_rate": 0.0,
        "drop_after_rate": 0.0,
        "rate_limit_rps": None,
        "rate_limit_burst": None,
        "schedule": [],
        "seed": None,
        "schedule_remaining": [],
        "injected": {},
    }
    result = await emu.client.set_faults(schedule=[{"count": 2, "status": 503}])
    assert result["schedule_remaining"] == [{"count": 2, "status": 503}]
    assert (await post(session, emu))[0] == 503
    assert (await emu.client.faults())["schedule_remaining"] == [{"count": 1, "status": 503}]
    await emu.client.clear_faults()
    assert (await post(session, emu))[0] == 200
    for bad in ({"nope": 1}, {"error_rate": 2}, {"schedule": [{"count": 1}]}, {"schedule": [{"count": 0, "status": 500}]}):
        async with session.post(emu.url + "/_emulator/faults", json=bad) as r:
            assert r.status == 400 and "error" in await r.json()
    async with session.post(emu.url + "/_emulator/faults/reset") as r:
        assert r.status == 200


async def test_reset_restores_startup_faults(session):
    async with Emulator(faults={"rate_limit_rps": 1000}) as emu:
        await emu.client.set_faults(error_rate=1.0)
        await emu.client.reset()
        faults = await emu.client.faults()
        assert (faults["rate_limit_rps"], faults["error_rate"]) == (1000, 0.0)


async def test_faults_do_not_touch_inspection(emu, session):
    await emu.client.set_faults(error_rate=1.0, drop_before_rate=1.0)
    for _ in range(3):
        assert await emu.client.people() == []
