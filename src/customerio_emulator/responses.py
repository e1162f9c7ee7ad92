"""Response builders with the exact bodies and content type the Track API uses."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

JSON_TYPE = "application/json; charset=utf-8"
EMPTY = b"{}"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = EMPTY if payload == {} else orjson.dumps(payload)
    all_headers = {"Content-Type": JSON_TYPE}
    if headers:
        all_headers.update(headers)
    return web.Response(body=body, status=status, headers=all_headers)


def ok() -> web.Response:
    return web.Response(body=EMPTY, status=200, headers={"Content-Type": JSON_TYPE})


def error(status: int, reason: str, field: str, message: str) -> web.Response:
    """A v2 whole-request error: `{"errors":[{"reason","field","message"}]}` (no batch_index)."""
    return json_response({"errors": [{"reason": reason, "field": field, "message": message}]}, status)


def v1_error(status: int, message: str, single: bool = False) -> web.Response:
    """v1 errors: `{"meta":{"errors":[...]}}`, or `{"meta":{"error":...}}` for merge."""
    meta = {"error": message} if single else {"errors": [message]}
    return json_response({"meta": meta}, status)


def unauthorized() -> web.Response:
    # The 401 body is undocumented [guess]: the v2 error shape, so clients parse one shape.
    return error(401, "unauthorized", "authorization", "invalid or missing credentials (HTTP Basic: site id, API key)")


_GATEWAY_PAGES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
    520: "520 Web server is returning an unknown error",  # Cloudflare's, before an origin
}


def injected(status: int, retry_after: float | None) -> web.Response:
    """An injected failure. 502/503/504/520 look like a load balancer's or CDN's HTML page (clients
    must not parse them); 429 and other codes (e.g. 423, 507) carry the v2 error shape."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
    if status in _GATEWAY_PAGES:
        title = _GATEWAY_PAGES[status]
        page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>\n"
        headers["Content-Type"] = "text/html"
        return web.Response(body=page.encode(), status=status, headers=headers)
    reason = "rate_limited" if status == 429 else "server_error"
    message = "too many requests" if status == 429 else "injected failure"
    return json_response({"errors": [{"reason": reason, "message": message}]}, status, headers)
