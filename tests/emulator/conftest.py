"""Fixtures for the emulator suite: an in-process emulator with one US and one EU workspace, and a
small Track API caller that returns (status, decoded JSON, headers)."""

from __future__ import annotations

from typing import Any, AsyncIterator

import aiohttp
import orjson
import pytest

from customerio_emulator import Emulator
from customerio_emulator.testing import basic_auth

US = {"site_id": "us-site", "api_key": "us-key", "region": "us"}
EU = {"site_id": "eu-site", "api_key": "eu-key", "region": "eu"}
US_AUTH = basic_auth("us-site", "us-key")
EU_AUTH = basic_auth("eu-site", "eu-key")


class Track:
    """Calls the emulator's Track endpoints as the US workspace unless told otherwise."""

    def __init__(self, session: aiohttp.ClientSession, emu: Emulator) -> None:
        self.session = session
        self.emu = emu

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        auth: str | None = US_AUTH,
        host: str = "us",
        redirects: bool = False,
    ) -> tuple[int, Any, Any]:
        headers = {"Authorization": auth} if auth else {}
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        url = self.emu.region_url(host) + path
        async with self.session.request(
            method, url, data=data, headers=headers, allow_redirects=redirects
        ) as response:
            text = await response.read()
            try:
                payload = orjson.loads(text) if text else None
            except orjson.JSONDecodeError:
                payload = text.decode()
            return response.status, payload, response.headers

    async def batch(self, ops: list[Any], **kw: Any) -> tuple[int, Any]:
        status, payload, _ = await self.call("POST", "/api/v2/batch", {"batch": ops}, **kw)
        return status, payload

    async def entity(self, op: Any, **kw: Any) -> tuple[int, Any]:
        status, payload, _ = await self.call("POST", "/api/v2/entity", op, **kw)
        return status, payload


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(workspaces=[US, EU]) as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def track(emu: Emulator, session: aiohttp.ClientSession) -> Track:
    return Track(session, emu)
