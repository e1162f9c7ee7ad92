"""`Emulator`: the in-process server, started and stopped in milliseconds inside a running event loop.

    async with Emulator(workspaces=[{"site_id": "s", "api_key": "k", "region": "eu"}]) as emu:
        emu.url          # http://127.0.0.1:PORT  (the US host; emu.eu_url is the EU host)
        await emu.client.person(email="a@example.com")
        emu.workspace()  # direct access to the state, no HTTP
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, Iterable

from aiohttp import web

from .client import AsyncEmulatorClient
from .core import EmulatorCore
from .faults import FaultConfig
from .server import HOSTS, build_app
from .workspace import Workspace


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server-side TLS context from a PEM certificate (chain) and its private key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class Emulator:
    """The Customer.io Track API emulator, in the current event loop.

    workspaces: WorkspaceConfig objects, dicts (`site_id`, `api_key`, `region`) or tuples; default one
    workspace `demo-site` / `demo-key` / us. faults: a FaultConfig or its JSON dict. ssl_context: serve
    HTTPS (``server_context(cert, key)``); the region answer then names https:// hosts. strict_contract:
    refuse what Customer.io's published Track API document refuses (``contract.py``; needs jsonschema).
    """

    def __init__(
        self,
        workspaces: Iterable[Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lean: bool = False,
        faults: FaultConfig | dict[str, Any] | None = None,
        request_log_size: int = 1_000,
        shutdown_timeout: float = 2.0,
        ssl_context: ssl.SSLContext | None = None,
        strict_contract: bool = False,
    ) -> None:
        if isinstance(faults, dict):
            faults = FaultConfig.from_json(faults)
        self.core = EmulatorCore(workspaces, lean=lean, faults=faults, request_log_size=request_log_size,
                                 strict_contract=strict_contract)
        self.host = host
        self.port = port
        self.shutdown_timeout = shutdown_timeout
        self.ssl_context = ssl_context  # serve HTTPS with it (a server-side context with a certificate)
        self._runner: web.AppRunner | None = None
        self._client: AsyncEmulatorClient | None = None

    @property
    def url(self) -> str:
        """The US host's base URL (also the inspection API's)."""
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        shown = f"[{shown}]" if ":" in shown else shown
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{shown}:{self.port}"

    @property
    def eu_url(self) -> str:
        return self.url + HOSTS["eu"]

    def region_url(self, region: str) -> str:
        return self.url + HOSTS[region]

    @property
    def client(self) -> AsyncEmulatorClient:
        if self._client is None:
            self._client = AsyncEmulatorClient(self.url)
        return self._client

    def workspace(self, site_id: str | None = None) -> Workspace:
        return self.core.workspace(site_id)

    async def start(self) -> "Emulator":
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(
            build_app(self.core), access_log=None, shutdown_timeout=self.shutdown_timeout
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock, ssl_context=self.ssl_context).start()
        return self

    async def stop(self) -> None:
        # Release hanging requests first (they drop their connection), then stop serving.
        self.core.shutdown_event.set()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "Emulator":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
