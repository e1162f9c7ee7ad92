"""Auth (both base64 alphabets, 401 bodies), the region endpoint on both hosts, EU redirect, US-on-EU."""

from __future__ import annotations

import base64

from customerio_emulator.testing import basic_auth

from .conftest import EU_AUTH

UNAUTHORIZED = {
    "errors": [
        {
            "reason": "unauthorized",
            "field": "authorization",
            "message": "invalid or missing credentials (HTTP Basic: site id, API key)",
        }
    ]
}


async def test_auth_standard_alphabet(track):
    status, body, headers = await track.call("GET", "/auth")
    assert (status, body) == (200, {})
    assert headers["Content-Type"] == "application/json; charset=utf-8"


async def test_auth_urlsafe_alphabet_unpadded(track, emu):
    # Credentials whose base64 holds '+' and '/' in the standard alphabet, so the alphabets really differ.
    from customerio_emulator import Emulator

    async with Emulator(workspaces=[{"site_id": "s>>>", "api_key": "k???"}]) as other:
        standard = basic_auth("s>>>", "k???")
        urlsafe = basic_auth("s>>>", "k???", urlsafe=True)
        assert ("+" in standard or "/" in standard) and ("-" in urlsafe or "_" in urlsafe)
        track.emu = other
        for header in (standard, urlsafe, standard.rstrip("=")):
            status, body, _ = await track.call("GET", "/auth", auth=header)
            assert (status, body) == (200, {}), header


async def test_auth_failures_answer_401_json(track, emu):
    wrong_key = basic_auth("us-site", "nope")
    unknown_site = basic_auth("ghost", "us-key")
    garbage = "Basic !!!not-base64!!!"
    no_colon = "Basic " + base64.b64encode(b"us-site").decode()
    bearer = "Bearer us-key"
    for header in (None, wrong_key, unknown_site, garbage, no_colon, bearer):
        status, body, headers = await track.call("POST", "/api/v2/batch", {"batch": []}, auth=header)
        assert (status, body) == (401, UNAUTHORIZED), header
        assert headers["Content-Type"] == "application/json; charset=utf-8"
    status, body, _ = await track.call("GET", "/auth", auth=wrong_key)
    assert (status, body) == (401, UNAUTHORIZED)
    assert (await emu.client.health())["unauthorized"] == 7


async def test_region_endpoint_on_both_hosts(track, emu):
    for host in ("us", "eu"):
        status, body, _ = await track.call("GET", "/api/v1/accounts/region", host=host)
        assert (status, body) == (200, {"url": emu.url, "region": "us", "environment_id": 1})
        status, body, _ = await track.call("GET", "/api/v1/accounts/region", auth=EU_AUTH, host=host)
        assert (status, body) == (200, {"url": emu.url + "/eu", "region": "eu", "environment_id": 2})


async def test_region_endpoint_401(track):
    status, body, _ = await track.call("GET", "/api/v1/accounts/region", auth=basic_auth("us-site", "x"))
    assert (status, body) == (401, UNAUTHORIZED)


async def test_eu_workspace_on_us_host_is_redirected_307(track, emu):
    ops = [{"type": "person", "action": "identify", "identifiers": {"id": "e1"}}]
    status, body, headers = await track.call("POST", "/api/v2/batch?x=1", {"batch": ops}, auth=EU_AUTH)
    assert status == 307
    assert headers["Location"] == emu.url + "/eu/api/v2/batch?x=1"
    assert await emu.client.person(site_id="eu-site", id="e1") is None  # not applied on the US host
    # Following the redirect (307 keeps method and body) applies it.
    status, body, _ = await track.call("POST", "/api/v2/batch", {"batch": ops}, auth=EU_AUTH, redirects=True)
    assert (status, body) == (200, {})
    assert (await emu.client.person(site_id="eu-site", id="e1"))["cio_id"] == "a0000001"
    assert (await emu.client.counters(site_id="eu-site"))["redirects"] == 2


async def test_eu_workspace_auth_endpoint_answers_on_us_host(track):
    status, body, _ = await track.call("GET", "/auth", auth=EU_AUTH)
    assert (status, body) == (200, {})


async def test_us_workspace_on_eu_host_fails_401(track, emu):
    status, body = await track.batch([], host="eu")
    assert (status, body) == (401, UNAUTHORIZED)
    status, body, _ = await track.call("PUT", "/api/v1/customers/u1", {"a": 1}, host="eu")
    assert (status, body) == (401, UNAUTHORIZED)
    status, body, _ = await track.call("GET", "/auth", host="eu")
    assert (status, body) == (200, {})


async def test_eu_workspace_on_eu_host(track, emu):
    ops = [{"type": "person", "action": "identify", "identifiers": {"id": "e1"}, "attributes": {"a": 1}}]
    assert await track.batch(ops, auth=EU_AUTH, host="eu") == (200, {})
    assert (await emu.client.person(site_id="eu-site", id="e1"))["attributes"] == {"a": 1}
    assert await emu.client.person(site_id="us-site", id="e1") is None
