"""Python helpers for the inspection API: `EmulatorClient` (sync, urllib; for e2e tests and scripts)
and `AsyncEmulatorClient` (aiohttp; for code running in the emulator's own event loop, where a
blocking call would deadlock). Both have the same methods; the async ones are coroutines.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import aiohttp
import orjson

PREFIX = "/_emulator"


def _query(params: dict[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if v is not None}
    return "?" + urllib.parse.urlencode(clean) if clean else ""


class _Calls:
    """What each helper asks: (method, path, params, body). Transport lives in the subclasses."""

    def _people(self, site_id: str | None, lookup: dict[str, Any]) -> tuple[str, str, dict[str, Any], Any]:
        return ("GET", "/people", {"site_id": site_id, **lookup}, None)

    @staticmethod
    def _get(endpoint: str, site_id: str | None = None, /, **params: Any) -> tuple[str, str, dict[str, Any], Any]:
        return ("GET", f"/{endpoint}", {"site_id": site_id, **params}, None)


class EmulatorClient(_Calls):
    """Blocking client. `EmulatorClient("http://127.0.0.1:8089")`. Never reads proxy settings.
    An https:// emulator is verified with `ssl_context` (default: the system's trust store)."""

    def __init__(self, base_url: str, timeout: float = 10.0, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Loopback only: ignore HTTP(S)_PROXY from the environment.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl_context))

    def _call(self, method: str, path: str, params: dict[str, Any], body: Any = None) -> tuple[int, Any]:
        data = orjson.dumps(body) if body is not None else None
        request = urllib.request.Request(
            self.base_url + PREFIX + path + _query(params),
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, orjson.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, orjson.loads(exc.read() or b"null")

    def _ok(self, method: str, path: str, params: dict[str, Any], body: Any = None) -> Any:
        status, payload = self._call(method, path, params, body)
        if status >= 400:
            raise RuntimeError(f"emulator {method} {path}: {status} {payload}")
        return payload

    def people(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return self._ok(*self._get("people", site_id))

    def person(self, site_id: str | None = None, **lookup: Any) -> dict[str, Any] | None:
        """One person by id=, email= (case-insensitive), cio_id= or phone=; None if absent."""
        status, payload = self._call(*self._people(site_id, lookup))
        return payload if status == 200 else None

    def events(self, site_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        return self._ok(*self._get("events", site_id, **filters))

    def objects(self, site_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        return self._ok(*self._get("objects", site_id, **filters))

    def relationships(self, site_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        return self._ok(*self._get("relationships", site_id, **filters))

    def devices(self, site_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        return self._ok(*self._get("devices", site_id, **filters))

    def segments(self, site_id: str | None = None) -> dict[str, list[str]]:
        return self._ok(*self._get("segments", site_id))

    def suppressed(self, site_id: str | None = None) -> list[dict[str, str]]:
        return self._ok(*self._get("suppressed", site_id))

    def counters(self, site_id: str | None = None) -> dict[str, Any]:
        return self._ok(*self._get("counters", site_id))

    def notices(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return self._ok(*self._get("notices", site_id))

    def requests(self, site_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return self._ok(*self._get("requests", site_id, limit=limit))

    def workspaces(self) -> list[dict[str, Any]]:
        return self._ok("GET", "/workspaces", {})

    def health(self) -> dict[str, Any]:
        return self._ok("GET", "/health", {})

    def reset(self, site_id: str | None = None) -> None:
        self._ok("POST", "/reset", {"site_id": site_id}, {})

    def faults(self) -> dict[str, Any]:
        return self._ok("GET", "/faults", {})

    def set_faults(self, config: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
        """Replace the fault settings (`set_faults(error_rate=0.1)` or `set_faults({...})`)."""
        return self._ok("POST", "/faults", {}, {**(config or {}), **settings})

    def clear_faults(self) -> dict[str, Any]:
        return self._ok("POST", "/faults", {}, {})


class AsyncEmulatorClient(_Calls):
    """The same helpers as coroutines, over aiohttp. Close with `await client.close()`."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None

    async def _call(self, method: str, path: str, params: dict[str, Any], body: Any = None) -> tuple[int, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        data = orjson.dumps(body) if body is not None else None
        url = self.base_url + PREFIX + path + _query(params)
        async with self._session.request(method, url, data=data) as response:
            raw = await response.read()
            return response.status, orjson.loads(raw or b"null")

    async def _ok(self, method: str, path: str, params: dict[str, Any], body: Any = None) -> Any:
        status, payload = await self._call(method, path, params, body)
        if status >= 400:
            raise RuntimeError(f"emulator {method} {path}: {status} {payload}")
        return payload

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    async def people(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return await self._ok(*self._get("people", site_id))

    async def person(self, site_id: str | None = None, **lookup: Any) -> dict[str, Any] | None:
        status, payload = await self._call(*self._people(site_id, lookup))
        return payload if status == 200 else None

    async def events(self, site_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        return await self._ok(*self._get("events", site_id, **filters))

    async def objects(self, site_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        return await self._ok(*self._get("objects", site_id, **filters))

    async def relationships(self, site_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        return await self._ok(*self._get("relationships", site_id, **filters))

    async def devices(self, site_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        return await self._ok(*self._get("devices", site_id, **filters))

    async def segments(self, site_id: str | None = None) -> dict[str, list[str]]:
        return await self._ok(*self._get("segments", site_id))

    async def suppressed(self, site_id: str | None = None) -> list[dict[str, str]]:
        return await self._ok(*self._get("suppressed", site_id))

    async def counters(self, site_id: str | None = None) -> dict[str, Any]:
        return await self._ok(*self._get("counters", site_id))

    async def notices(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return await self._ok(*self._get("notices", site_id))

    async def requests(self, site_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return await self._ok(*self._get("requests", site_id, limit=limit))

    async def workspaces(self) -> list[dict[str, Any]]:
        return await self._ok("GET", "/workspaces", {})

    async def health(self) -> dict[str, Any]:
        return await self._ok("GET", "/health", {})

    async def reset(self, site_id: str | None = None) -> None:
        await self._ok("POST", "/reset", {"site_id": site_id}, {})

    async def faults(self) -> dict[str, Any]:
        return await self._ok("GET", "/faults", {})

    async def set_faults(self, config: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
        return await self._ok("POST", "/faults", {}, {**(config or {}), **settings})

    async def clear_faults(self) -> dict[str, Any]:
        return await self._ok("POST", "/faults", {}, {})
