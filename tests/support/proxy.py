"""A real HTTP proxy on loopback for tests: CONNECT tunnels and plain-http forwarding, in its own thread.

    with ForwardProxy(routes={"track.customer.io:443": ("127.0.0.1", port)}) as proxy:
        env = {"HTTPS_PROXY": proxy.url}
        ...
        proxy.log  # [Visit(method="CONNECT", target="track.customer.io:443", status=200, authorized=False)]

Every connection stays on loopback: a target is reached only when it is 127.0.0.1 / localhost or is
listed in ``routes`` (a fake public name mapped to a loopback port); anything else gets 502 and no DNS
lookup ever happens. ``credentials`` makes the proxy demand Basic Proxy-Authorization (407 without it);
``refuse`` answers every request with that status; ``tls`` serves the proxy itself over HTTPS.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_LOOPBACK = ("127.0.0.1", "localhost")
_HOP_BY_HOP = (b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive")


@dataclass(frozen=True)
class Visit:
    method: str  # CONNECT, or the forwarded request's method
    target: str  # host:port asked for
    status: int  # what the proxy answered (200: tunnel opened or request forwarded)
    authorized: bool  # a valid Proxy-Authorization came with it


class ForwardProxy:
    def __init__(self, *, routes: dict[str, tuple[str, int]] | None = None,
                 credentials: tuple[str, str] | None = None, refuse: int | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.routes = dict(routes or {})
        self.refuse = refuse
        self.log: list[Visit] = []
        self._expected = (None if credentials is None else
                          "Basic " + base64.b64encode(":".join(credentials).encode()).decode())
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"{'https' if self._tls else 'http'}://{user}:{password}@127.0.0.1:{self.port}"

    def tunnels(self) -> list[str]:
        return [v.target for v in self.log if v.method == "CONNECT" and v.status == 200]

    def start(self) -> ForwardProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- one client connection ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            await self._handle(head, reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _handle(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line, *header_lines = head.split(b"\r\n")
        method, target, _version = request_line.decode("latin-1").split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(b":") for line in header_lines if line)}
        authorized = self._expected is not None and \
            headers.get(b"proxy-authorization", b"").decode("latin-1") == self._expected
        where = target if method == "CONNECT" else urlsplit(target).netloc
        status = self._verdict(where, authorized)
        self.log.append(Visit(method, where, status, authorized))
        if status != 200:
            challenge = b'Proxy-Authenticate: Basic realm="test"\r\n' if status == 407 else b""
            writer.write(b"HTTP/1.1 %d Refused\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n"
                         % (status, challenge))
            await writer.drain()
            return
        host, port = self._address(where)
        up_reader, up_writer = await asyncio.open_connection(host, port)
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            up_writer.write(_origin_form(method, target, header_lines))
        await _pipe_both(reader, writer, up_reader, up_writer)

    def _verdict(self, where: str, authorized: bool) -> int:
        if self.refuse is not None:
            return self.refuse
        if self._expected is not None and not authorized:
            return 407
        try:
            self._address(where)
        except LookupError:
            return 502
        return 200

    def _address(self, where: str) -> tuple[str, int]:
        if where in self.routes:
            return self.routes[where]
        host, _, port = where.rpartition(":")
        if host.strip("[]") in _LOOPBACK and port.isdigit():
            return "127.0.0.1", int(port)
        raise LookupError(where)


def _origin_form(method: str, target: str, header_lines: list[bytes]) -> bytes:
    """The forwarded request's head: path only, no proxy headers, one request per connection."""
    parts = urlsplit(target)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [line for line in header_lines
            if line and line.partition(b":")[0].strip().lower() not in _HOP_BY_HOP]
    return b"\r\n".join([f"{method} {path} HTTP/1.1".encode(), *kept, b"Connection: close", b"", b""])


async def _pipe_both(reader: Any, writer: Any, up_reader: Any, up_writer: Any) -> None:
    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            sink.close()

    try:
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    finally:
        up_writer.close()
