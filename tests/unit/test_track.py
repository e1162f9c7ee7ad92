"""The Track client against a scripted HTTP server: classification, retries, Retry-After, redirects."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from destination_customer_io.config import parse_config
from destination_customer_io.errors import ConfigurationError, SystemFailure, TransientFailure
from destination_customer_io.pacing import ConcurrencyGate, parse_retry_after
from destination_customer_io.track import TrackClient


class Script:
    """Answers POST /api/v2/batch from a list of (status, body, headers); records what arrived."""

    def __init__(self, answers: list[tuple[int, Any, dict[str, str]]]) -> None:
        self.answers = answers
        self.seen: list[dict[str, Any]] = []

    async def batch(self, request: web.Request) -> web.StreamResponse:
        self.seen.append({"auth": request.headers.get("Authorization"), "body": await request.read(),
                          "at": time.monotonic(), "path": request.path})
        status, body, headers = self.answers.pop(0) if self.answers else (200, {}, {})
        if status == -1:  # hang
            await asyncio.sleep(10)
        return web.json_response(body, status=status, headers=headers)


async def serve(script: Script, extra_routes: list | None = None) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/api/v2/batch", script.batch)
    app.router.add_post("/eu/api/v2/batch", script.batch)
    for route in extra_routes or []:
        app.router.add_route(*route)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def config(url: str, **extra: Any):
    return parse_config({"credentials": {"siteId": "site-1", "apiKey": "secret-key"},
                         "track_api_base_url": url, "retry_initial_backoff_seconds": 0.01,
                         "retry_max_backoff_seconds": 0.05, **extra})


async def send(script: Script, body: bytes = b'{"batch":[]}', **extra: Any):
    runner, url = await serve(script)
    try:
        async with aiohttp.ClientSession() as session:
            client = TrackClient(config(url, **extra), session)
            result = await client.send_batch(body)
            return result, client
    finally:
        await runner.cleanup()


async def test_200_and_basic_auth() -> None:
    script = Script([(200, {}, {})])
    result, client = await send(script, b'{"batch":[{"x":1}]}')
    assert (result.status, result.errors) == (200, [])
    expected = "Basic " + base64.b64encode(b"site-1:secret-key").decode()
    assert script.seen[0]["auth"] == expected
    assert script.seen[0]["body"] == b'{"batch":[{"x":1}]}'
    assert client.stats.requests == 1 and client.stats.retries == 0


async def test_207_errors_are_returned() -> None:
    errors = [{"batch_index": 0, "reason": "invalid", "field": "name", "message": "m"}]
    result, _ = await send(Script([(207, {"errors": errors}, {})]))
    assert (result.status, result.errors) == (200, errors)


async def test_errors_on_a_200_are_read_too() -> None:
    result, _ = await send(Script([(200, {"errors": [{"batch_index": 2}]}, {})]))
    assert result.errors == [{"batch_index": 2}]


async def test_400_is_returned_for_splitting() -> None:
    result, client = await send(Script([(400, {"errors": [{"reason": "bad"}]}, {})]))
    assert (result.status, result.errors) == (400, [{"reason": "bad"}])
    assert client.stats.retries == 0


# Segment's rule for its Customer.io destination: 408, 423, 429 and every 5xx but 501 and 505 (425 Too
# Early too: the request may be sent again as it is). 507 and 520 come from proxies and load balancers.
@pytest.mark.parametrize("status", [408, 423, 425, 429, 500, 502, 503, 504, 506, 507, 508, 511, 520, 522,
                                    524, 598, 599])
async def test_transient_statuses_are_retried(status: int) -> None:
    script = Script([(status, {}, {}), (status, {}, {}), (200, {}, {})])
    result, client = await send(script)
    assert result.status == 200
    assert client.stats.retries == 2 and len(script.seen) == 3
    assert client.stats.by_status == {status: 2, 200: 1}


@pytest.mark.parametrize(("status", "named"), [
    (501, "HTTP 501 (Not Implemented)"), (505, "HTTP 505 (HTTP Version Not Supported)"),
    (404, "HTTP 404 (Not Found)"), (409, "HTTP 409 (Conflict)"), (410, "HTTP 410 (Gone)"),
    (422, "HTTP 422 (Unprocessable Entity)")])
async def test_terminal_statuses_end_the_sync_at_once_naming_the_status(status: int, named: str) -> None:
    script = Script([(status, {}, {})] * 3)
    with pytest.raises(SystemFailure) as raised:
        await send(script)
    assert raised.value.message == f"Customer.io answered a batch with unexpected {named}, which is not retried."
    assert len(script.seen) == 1


@pytest.mark.parametrize("status", [520, 507, 423])
async def test_a_segment_call_is_retried_like_a_batch(status: int) -> None:
    seen: list[bytes] = []

    async def add_customers(request: web.Request) -> web.StreamResponse:
        seen.append(await request.read())
        return web.json_response({}, status=status if len(seen) < 3 else 200)

    path = "/api/v1/segments/7/add_customers"
    runner, url = await serve(Script([]), [("POST", path, add_customers)])
    try:
        async with aiohttp.ClientSession() as session:
            client = TrackClient(config(url), session)
            result = await client.send_ids(path, b'{"ids":["a","b"]}', 2)
    finally:
        await runner.cleanup()
    assert result.status == 200 and client.stats.retries == 2
    assert seen == [b'{"ids":["a","b"]}'] * 3


async def test_a_segment_call_answered_505_ends_the_sync_naming_it() -> None:
    async def add_customers(request: web.Request) -> web.StreamResponse:
        return web.json_response({}, status=505)

    path = "/api/v1/segments/7/add_customers"
    runner, url = await serve(Script([]), [("POST", path, add_customers)])
    try:
        async with aiohttp.ClientSession() as session:
            client = TrackClient(config(url), session)
            with pytest.raises(SystemFailure) as raised:
                await client.send_ids(path, b'{"ids":["a"]}', 1)
    finally:
        await runner.cleanup()
    assert raised.value.message == ("Customer.io answered a segment call with unexpected HTTP 505 "
                                    "(HTTP Version Not Supported), which is not retried.")
    assert client.stats.retries == 0


async def test_retry_after_is_honoured() -> None:
    script = Script([(429, {}, {"Retry-After": "1"}), (200, {}, {})])
    result, client = await send(script)
    assert result.status == 200
    assert script.seen[1]["at"] - script.seen[0]["at"] >= 1.0
    assert client.stats.throttled == 1


async def test_401_is_a_config_error_at_once() -> None:
    script = Script([(401, {"meta": {"error": "Unauthorized"}}, {})])
    with pytest.raises(ConfigurationError) as raised:
        await send(script)
    assert "Site ID or Track API key is wrong" in raised.value.message
    assert "secret-key" not in raised.value.message
    assert len(script.seen) == 1


async def test_unexpected_status_is_a_system_error() -> None:
    with pytest.raises(SystemFailure):
        await send(Script([(404, {}, {})]))


async def test_retry_budget_ends_in_a_transient_failure() -> None:
    script = Script([(503, {}, {})] * 1000)
    started = time.monotonic()
    with pytest.raises(TransientFailure) as raised:
        await send(script, retry_max_seconds=0.5)
    assert time.monotonic() - started < 2.0
    assert "HTTP 503" in raised.value.message


async def test_a_hanging_server_times_out_and_the_budget_ends_the_wait() -> None:
    script = Script([(-1, {}, {})] * 100)
    started = time.monotonic()
    with pytest.raises(TransientFailure) as raised:
        await send(script, request_timeout_seconds=0.2, retry_max_seconds=0.5)
    assert time.monotonic() - started < 3.0
    assert "timed out" in raised.value.message


async def test_redirect_to_the_override_host_moves_later_requests() -> None:
    script = Script([])

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/eu/api/v2/batch")

    runner, url = await serve(script, [("POST", "/us/api/v2/batch", redirect)])
    try:
        async with aiohttp.ClientSession() as session:
            client = TrackClient(config(url + "/us"), session)
            assert (await client.send_batch(b'{"batch":[]}')).status == 200
            assert client.base_url == url + "/eu"
            await client.send_batch(b'{"batch":[]}')
    finally:
        await runner.cleanup()
    assert [s["path"] for s in script.seen] == ["/eu/api/v2/batch", "/eu/api/v2/batch"]
    assert script.seen[0]["body"] == b'{"batch":[]}'


async def test_redirect_to_a_foreign_host_is_refused() -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("https://evil.example.com/api/v2/batch")

    runner, url = await serve(Script([]), [("POST", "/x/api/v2/batch", redirect)])
    try:
        async with aiohttp.ClientSession() as session:
            client = TrackClient(config(url + "/x"), session)
            with pytest.raises(SystemFailure) as raised:
                await client.send_batch(b'{"batch":[]}')
    finally:
        await runner.cleanup()
    assert "evil.example.com" in raised.value.message


def test_allowed_hosts_without_override() -> None:
    cfg = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}})

    async def check() -> None:
        async with aiohttp.ClientSession() as session:
            client = TrackClient(cfg, session)
            assert client.base_url == "https://track.customer.io"
            assert client._allowed("https://track-eu.customer.io/api/v2/batch")
            assert not client._allowed("http://track-eu.customer.io/api/v2/batch")  # TLS only
            assert not client._allowed("https://customer.io.evil.com/x")

    asyncio.run(check())


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") <= 0.0 + 1e-9


async def test_gate_halves_on_throttle_and_recovers() -> None:
    gate = ConcurrencyGate(8)
    for _ in range(2):
        async with gate:  # a request started after the previous cut: each 429 cuts again
            gate.throttled()
    assert gate.limit == 2.0
    stale = gate._cut_at - 1.0  # a 429 for a request sent before the last cut is the same burst
    from destination_customer_io.pacing import _STARTED
    _STARTED.set(stale)
    gate.throttled()
    assert gate.limit == 2.0 and gate.rate is not None
    for _ in range(100):
        gate.succeeded()
    assert gate.limit == 8.0


async def test_region_lookup_is_retried_like_a_batch() -> None:
    calls = []

    async def region(request: web.Request) -> web.StreamResponse:
        calls.append(1)
        if len(calls) < 3:
            return web.json_response({}, status=(520, 423)[len(calls) - 1])
        return web.json_response({"url": "https://track-eu.customer.io", "region": "eu", "environment_id": 1})

    runner, url = await serve(Script([]), [("GET", "/api/v1/accounts/region", region)])
    try:
        async with aiohttp.ClientSession() as session:
            client = TrackClient(config(url), session)
            assert await client.detect_region() == "eu"
    finally:
        await runner.cleanup()
    assert len(calls) == 3 and client.stats.retries == 2
    assert client.base_url == "https://track-eu.customer.io"  # a customer.io host from region auto


def _most_in_one_second(starts: list[float]) -> int:
    """The most starts in any half-open one-second window [t, t + 1)."""
    return max(sum(1 for other in starts if start <= other < start + 1.0) for start in starts)


def test_rate_cap_lets_one_seconds_worth_through_then_holds_every_window() -> None:
    from destination_customer_io.pacing import RateCap

    cap = RateCap(20)
    starts = [cap.reserve(0.0) for _ in range(60)]
    # The start-up burst, then one start every 1/20 s: no burst at a window's edge afterwards.
    assert starts[:20] == [0.0] * 20
    assert starts[20:] == pytest.approx([1.0 + k / 20 for k in range(40)])
    assert _most_in_one_second([round(s, 9) for s in starts]) == 20
    # After a pause the spacing still holds (no second burst); a start never goes before an earlier one.
    assert cap.reserve(10.0) == 10.0 and cap.reserve(10.0) == pytest.approx(10.05)
    assert cap.reserve(5.0) == pytest.approx(10.1)


def test_rate_cap_keeps_a_fractional_average() -> None:
    from destination_customer_io.pacing import RateCap

    half = RateCap(0.5)
    assert [half.reserve(0.0) for _ in range(3)] == [0.0, 2.0, 4.0]
    odd = RateCap(2.5)
    starts = [odd.reserve(0.0) for _ in range(6)]
    assert starts == pytest.approx([0.0, 0.0, 0.8, 1.2, 1.6, 2.0])  # 2.5/s on average


async def test_gate_with_a_cap_paces_starts_even_when_aimd_is_unpaced() -> None:
    gate = ConcurrencyGate(8, cap=50)
    started: list[float] = []

    async def one() -> None:
        async with gate:
            started.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(75)))
    assert started[-1] - started[0] >= 0.95  # the 51st start waits for the first second to pass
    assert _most_in_one_second(started) <= 51  # the timer's slack, at most one


async def test_a_region_lookup_answered_501_ends_the_sync_naming_it() -> None:
    async def region(request: web.Request) -> web.StreamResponse:
        return web.json_response({}, status=501)

    runner, url = await serve(Script([]), [("GET", "/api/v1/accounts/region", region)])
    try:
        async with aiohttp.ClientSession() as session:
            client = TrackClient(config(url), session)
            with pytest.raises(SystemFailure) as raised:
                await client.detect_region()
    finally:
        await runner.cleanup()
    assert raised.value.message == ("Customer.io's region endpoint answered HTTP 501 (Not Implemented), "
                                    "which is not retried.")
    assert client.stats.requests == 1
