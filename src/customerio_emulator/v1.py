"""Track API v1 endpoints (identify, events, anonymous events, delete, suppress, devices, merge,
manual segments), so the official v1 clients can be benchmarked against the emulator.

Each request is translated to the equivalent v2 operation and goes through the same validation and
state code; errors use v1's shapes (`{"meta":{"errors":[...]}}`, merge: `{"meta":{"error":...}}`).
"""

from __future__ import annotations

from typing import Any, Callable

import msgspec
from aiohttp import web

from . import responses
from .apply import apply_op, segment_members
from .core import EmulatorCore
from .limits import SEGMENT_IDS_PER_CALL
from .validate import check_event_fields, validate_op
from .workspace import Workspace

_decoder = msgspec.json.Decoder()
SEGMENT_ID_TYPES = ("id", "email", "cio_id")


def parse_identifier(raw: str) -> dict[str, str]:
    """`{identifier}` in a v1 path: `cio_<cio_id>`, an email (contains @) or an id."""
    if raw.startswith("cio_"):
        return {"cio_id": raw[4:]}
    if "@" in raw:
        return {"email": raw}
    return {"id": raw}


def _json_object(body: bytes, allow_empty: bool = True) -> dict[str, Any] | None:
    """The body as a JSON object; None when malformed or not an object."""
    if not body.strip():
        return {} if allow_empty else None
    try:
        value = _decoder.decode(body)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _run(core: EmulatorCore, ws: Workspace, op: dict[str, Any], now: float, single_error: bool = False) -> web.Response:
    ws.counters["ops"] += 1
    problem = validate_op(op)
    if problem is not None:
        ws.counters["ops_rejected"] += 1
        reason, field, message = problem
        return responses.v1_error(400, f"{field}: {message}" if field else message, single_error)
    if not core.lean:
        apply_op(ws, op, now)
    return responses.ok()


def _malformed(single: bool = False) -> web.Response:
    return responses.v1_error(400, "malformed JSON body: expected an object", single)


def _make(core: EmulatorCore, build: Callable[[web.Request, dict[str, Any]], dict[str, Any]]):
    """A handler for the v1 calls that map to one person op built by `build(request, body)`."""

    def handler(request: web.Request, ws: Workspace, body: bytes, host: str, now: float) -> web.Response:
        data = _json_object(body)
        if data is None:
            return _malformed()
        return _run(core, ws, build(request, data), now)

    return handler


def _identifiers(request: web.Request) -> dict[str, str]:
    return parse_identifier(request.match_info["identifier"])


def _identify(request: web.Request, data: dict[str, Any]) -> dict[str, Any]:
    attributes = {k: v for k, v in data.items() if k != "_timestamp"}
    op: dict[str, Any] = {"type": "person", "action": "identify", "identifiers": _identifiers(request)}
    op["attributes"] = attributes
    if "_timestamp" in data:
        op["timestamp"] = data["_timestamp"]
    return op


def _event_op(identifiers: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    action = data.get("type") if data.get("type") in ("page", "screen") else "event"
    op: dict[str, Any] = {"type": "person", "action": action, "identifiers": identifiers, "name": data.get("name")}
    for key in ("id", "timestamp"):
        if key in data:
            op[key] = data[key]
    if data.get("data") is not None:
        op["attributes"] = data["data"]
    return op


def _event(request: web.Request, data: dict[str, Any]) -> dict[str, Any]:
    return _event_op(_identifiers(request), data)


def _plain(action: str) -> Callable[[web.Request, dict[str, Any]], dict[str, Any]]:
    return lambda request, data: {"type": "person", "action": action, "identifiers": _identifiers(request)}


def _add_device(request: web.Request, data: dict[str, Any]) -> dict[str, Any]:
    device = data.get("device") if isinstance(data.get("device"), dict) else {}
    v2_device = {k: v for k, v in device.items() if k != "id"}
    v2_device["token"] = device.get("id")  # v1 calls the token `id`, v2 calls it `token`
    return {"type": "person", "action": "add_device", "identifiers": _identifiers(request), "device": v2_device}


def _delete_device(request: web.Request, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "person",
        "action": "delete_device",
        "identifiers": _identifiers(request),
        "device": {"token": request.match_info["device_id"]},
    }


def make_anonymous_event(core: EmulatorCore):
    def handler(request: web.Request, ws: Workspace, body: bytes, host: str, now: float) -> web.Response:
        data = _json_object(body, allow_empty=False)
        if data is None:
            return _malformed()
        anonymous_id = data.get("anonymous_id")
        identifiers = {"anonymous_id": anonymous_id} if anonymous_id not in (None, "") else {}
        op = _event_op(identifiers, data)
        if identifiers:
            return _run(core, ws, op, now)
        # An anonymous event without anonymous_id is valid in v1 (e.g. invite emails): no identifier check.
        ws.counters["ops"] += 1
        problem = check_event_fields(op)
        if problem is not None:
            ws.counters["ops_rejected"] += 1
            return responses.v1_error(400, f"{problem[1]}: {problem[2]}")
        if not core.lean:
            apply_op(ws, op, now)
        return responses.ok()

    return handler


def make_merge(core: EmulatorCore):
    def handler(request: web.Request, ws: Workspace, body: bytes, host: str, now: float) -> web.Response:
        data = _json_object(body, allow_empty=False)
        if data is None:
            return _malformed(single=True)
        op = {"type": "person", "action": "merge", "primary": data.get("primary"), "secondary": data.get("secondary")}
        return _run(core, ws, op, now, single_error=True)

    return handler


def make_segment(core: EmulatorCore, add: bool):
    def handler(request: web.Request, ws: Workspace, body: bytes, host: str, now: float) -> web.Response:
        data = _json_object(body, allow_empty=False)
        if data is None:
            return _malformed()
        id_type = request.query.get("id_type", "id")
        ids = data.get("ids")
        if id_type not in SEGMENT_ID_TYPES:
            return responses.v1_error(400, "id_type must be one of id, email, cio_id")
        if not isinstance(ids, list) or not all(type(i) in (str, int) for i in ids):
            return responses.v1_error(400, "ids must be a list of strings")
        if len(ids) > SEGMENT_IDS_PER_CALL:
            return responses.v1_error(400, f"at most {SEGMENT_IDS_PER_CALL} ids per call")
        ws.counters["ops"] += 1
        if not core.lean:
            segment_members(ws, request.match_info["segment_id"], id_type, ids, add)
        return responses.ok()

    return handler


def routes(core: EmulatorCore) -> list[tuple[str, str, Any, bool]]:
    """(method, path, handler, region_free) for every v1 endpoint."""
    customer = "/api/v1/customers/{identifier}"
    return [
        ("PUT", customer, _make(core, _identify), False),
        ("DELETE", customer, _make(core, _plain("delete")), False),
        ("POST", customer + "/events", _make(core, _event), False),
        ("POST", customer + "/suppress", _make(core, _plain("suppress")), False),
        ("POST", customer + "/unsuppress", _make(core, _plain("unsuppress")), False),
        ("PUT", customer + "/devices", _make(core, _add_device), False),
        ("DELETE", customer + "/devices/{device_id}", _make(core, _delete_device), False),
        ("POST", "/api/v1/events", make_anonymous_event(core), False),
        ("POST", "/api/v1/merge_customers", make_merge(core), False),
        ("POST", "/api/v1/segments/{segment_id}/add_customers", make_segment(core, True), False),
        ("POST", "/api/v1/segments/{segment_id}/remove_customers", make_segment(core, False), False),
    ]
