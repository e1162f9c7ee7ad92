"""A loopback TCP proxy in front of an S3 server that stops one upload half-way, for crash tests.

    cutter = UploadCutter(s3.endpoint)            # the connector's s3_endpoint is cutter.endpoint
    cutter.arm(b"/_customerio_ledger/", nth=2, mode="midway", on_cut=lambda key: kill_the_connector())
    ...
    cutter.cuts                                    # [Cut(key, mode, length)] of the cuts made
    cutter.close()

Until armed, and after its one cut, it passes bytes both ways untouched. Armed, it counts the PUT requests
whose target contains ``match``; at the ``nth`` it cuts, by ``mode``:

    midway  the request's headers and the first half of its body reach the server, then nothing more: the
            server never completes the object (an upload the client died in the middle of)
    landed  the whole request reaches the server, which stores the object; its answer is held back, so
            the client never learns the upload succeeded (a client that died just before the answer)

and calls ``on_cut(key)`` (from the proxy's thread) once the cut is in place: the test kills the client
there, while it waits for its upload. Requests are told apart by HTTP/1.1 framing (``Content-Length``;
``Expect: 100-continue`` answers pass through); a chunked request body is passed whole and never cut.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Callable

_CONTINUE = b"HTTP/1.1 100"


@dataclass(frozen=True)
class Cut:
    key: str  # the request's target (path and query), as sent
    mode: str
    length: int  # the body's Content-Length


class UploadCutter:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.cuts: list[Cut] = []
        self._lock = threading.Lock()
        self._armed: tuple[bytes, int, str, Callable[[str], None]] | None = None
        self._seen = 0
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, match: bytes, nth: int, mode: str, on_cut: Callable[[str], None]) -> None:
        """Cut the ``nth`` PUT from now whose target contains ``match``."""
        assert mode in ("midway", "landed") and nth >= 1
        with self._lock:
            self._armed, self._seen = (match, nth, mode, on_cut), 0

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def close(self) -> None:
        self._closed = True
        self.disarm()
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets += [client, upstream]
            _Link(self, client, upstream).start()

    def _decide(self, head: bytes) -> tuple[str, Callable[[str], None]] | None:
        """Whether the request ``head`` (line and headers) is the one to cut: its mode and callback."""
        method, _, rest = head.partition(b" ")
        target = rest.partition(b" ")[0]
        with self._lock:
            if self._armed is None or method != b"PUT" or self._armed[0] not in target:
                return None
            self._seen += 1
            match, nth, mode, on_cut = self._armed
            if self._seen < nth:
                return None
            self._armed = None  # one cut per arming
            return mode, on_cut

    def _record(self, cut: Cut, on_cut: Callable[[str], None]) -> None:
        with self._lock:
            self.cuts.append(cut)
        on_cut(cut.key)


class _Link:
    """One client connection and its upstream one: requests framed client -> server, answers passed back."""

    def __init__(self, owner: UploadCutter, client: socket.socket, upstream: socket.socket) -> None:
        self.owner, self.client, self.upstream = owner, client, upstream
        self.stopped = False  # midway: nothing more goes up
        self.held: tuple[Cut, Callable[[str], None]] | None = None  # landed: the answer to hold back
        self.answer_due = threading.Event()  # the held request went up whole: its answer is next

    def start(self) -> None:
        threading.Thread(target=self._up, daemon=True).start()
        threading.Thread(target=self._down, daemon=True).start()

    def _up(self) -> None:
        buffer, body_left, body_limit, cut = b"", 0, 0, None
        try:
            while data := self.client.recv(65536):
                if self.stopped:
                    continue  # the client's bytes after the cut go nowhere
                buffer += data
                out = bytearray()
                while buffer and not self.stopped:
                    if body_left:
                        take = min(body_left, len(buffer), body_limit) if cut and cut[0].mode == "midway" \
                            else min(body_left, len(buffer))
                        out += buffer[:take]
                        buffer, body_left = buffer[take:], body_left - take
                        if cut and cut[0].mode == "midway":
                            body_limit -= take
                            if body_limit == 0:
                                self.stopped = True
                        elif cut and body_left == 0:
                            self.answer_due.set()
                        continue
                    end = buffer.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head, buffer = buffer[:end + 4], buffer[end + 4:]
                    out += head
                    body_left = _content_length(head)
                    decided = self.owner._decide(head) if body_left else None
                    cut = None
                    if decided is not None:
                        mode, on_cut = decided
                        key = head.split(b" ", 2)[1].decode(errors="replace")
                        cut = (Cut(key, mode, body_left), on_cut)
                        body_limit = body_left // 2
                        if mode == "landed":
                            self.held = cut
                self.upstream.sendall(out)
                if self.stopped and cut is not None and cut[0].mode == "midway":  # a landed cut: _down's
                    self.owner._record(*cut)
                    cut = None
        except OSError:
            pass
        finally:  # the client is gone (killed): so is its connection to the server, as a dead client's is
            _close(self.upstream)

    def _down(self) -> None:
        try:
            while data := self.upstream.recv(65536):
                if self.held is not None and self.answer_due.is_set():
                    interim, data = _split_interim(data)
                    if interim and not self.stopped:
                        self.client.sendall(interim)
                    if not data:
                        continue
                    held, self.held = self.held, None
                    self.owner._record(*held)  # the server stored it and answered: the answer goes nowhere
                    self.stopped = True
                    continue
                if self.stopped:
                    continue
                self.client.sendall(data)
        except OSError:
            pass
        finally:
            _close(self.client)


def _split_interim(data: bytes) -> tuple[bytes, bytes]:
    """``data`` split into its leading ``100 Continue`` answers and the rest.

    A client that waited its second for ``100 Continue`` sends the body anyway (botocore does); a slow server
    then sends its ``100`` and its final answer back to back, often in one read: only the final one is held.
    """
    interim = b""
    while data.startswith(_CONTINUE) and (end := data.find(b"\r\n\r\n")) >= 0:
        interim, data = interim + data[:end + 4], data[end + 4:]
    return interim, data


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
