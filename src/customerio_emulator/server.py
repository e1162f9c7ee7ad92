"""The aiohttp application: Track API routes on two regional "hosts" (US = root, EU = `/eu` prefix),
the shared request pipeline (auth, region routing, faults, logging) and the v2 endpoints.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import msgspec
from aiohttp import web

from . import inspection, responses, timestamps, v1
from .apply import apply_op
from .core import EmulatorCore
from .faults import PASS, Decision
from .limits import BATCH_BYTES, OP_BYTES
from .validate import validate_op
from .workspace import Workspace

HOSTS = {"us": "", "eu": "/eu"}  # region -> path prefix of its emulated host
CORE_KEY = web.AppKey("core", EmulatorCore)

# A track handler gets the workspace, the raw body, the host label and the arrival time.
TrackHandler = Callable[[web.Request, Workspace, bytes, str, float], web.Response]


class _BatchBody(msgspec.Struct):
    batch: list[msgspec.Raw]


_batch_decoder = msgspec.json.Decoder(_BatchBody)
_op_decoder = msgspec.json.Decoder()


def host_base(request: web.Request, region: str) -> str:
    return f"{request.scheme}://{request.host}{HOSTS[region]}"


# --- the shared pipeline ---


def track_route(core: EmulatorCore, handler: TrackHandler, host: str, region_free: bool = False):
    """Wrap a Track handler: auth, region routing, faults, counting and the request log.

    `region_free` endpoints (/auth, the region endpoint) answer on either host for any workspace.
    """

    async def route(request: web.Request) -> web.StreamResponse:
        received = time.time()  # arrival, before the body and any injected latency
        body = await request.read()
        workspace = core.authenticate(request.headers.get("Authorization"))
        if workspace is None:
            core.server_counters["unauthorized"] += 1
            return _finish(core, request, None, host, body, responses.unauthorized(), received)
        workspace.counters["requests"] += 1
        workspace.counters["bytes_received"] += len(body)
        region = workspace.config.region
        if region != host and not region_free:
            if region == "eu":
                # EU accounts on the US host are redirected; 307 keeps the method and the body.
                workspace.counters["redirects"] += 1
                location = host_base(request, "eu") + request.raw_path
                response = web.Response(status=307, headers={"Location": location})
            else:
                # US accounts on the EU host fail [doc]: as bad credentials there.
                response = responses.unauthorized()
            return _finish(core, request, workspace, host, body, response, received)
        if core.contract is not None:
            refused = _contract_refusal(core, request, host, body)
            if refused is not None:
                return _finish(core, request, workspace, host, body, refused, received)
        decision = await _fault(core, workspace) if core.faults.active else PASS
        if decision.action == "status":
            response = responses.injected(decision.status, decision.retry_after)
            return _finish(core, request, workspace, host, body, response, received, decision)
        if decision.action in ("drop_before", "hang"):
            if decision.action == "hang":
                await core.shutdown_event.wait()
            return _drop(core, request, workspace, host, body, received, decision)
        response = handler(request, workspace, body, host, time.time())
        if decision.action == "drop_after":
            return _drop(core, request, workspace, host, body, received, decision)
        return _finish(core, request, workspace, host, body, response, received)

    return route


def _contract_refusal(core: EmulatorCore, request: web.Request, host: str, body: bytes) -> web.Response | None:
    """Strict-contract mode: a 400 in the endpoint's error shape when the document refuses the request
    (a v2 batch's entries are checked one by one in ``_run_ops``)."""
    assert core.contract is not None
    path = request.path[len(HOSTS[host]):]
    refusal = core.contract.request_refusal(request.method, path, request.query, request.headers, body)
    if refusal is None:
        return None
    message = f"not in Customer.io's published contract: {refusal.message}"
    if path.startswith("/api/v1/"):
        return responses.v1_error(400, f"{refusal.field}: {message}")
    return responses.error(400, "contract", refusal.field, message)


async def _fault(core: EmulatorCore, workspace: Workspace) -> Decision:
    delay = core.faults.latency()
    if delay > 0:
        await asyncio.sleep(delay)
    return core.faults.decide(workspace.config.site_id)


def _finish(
    core: EmulatorCore,
    request: web.Request,
    workspace: Workspace | None,
    host: str,
    body: bytes,
    response: web.Response,
    received: float,
    decision: Decision = PASS,
) -> web.Response:
    if workspace is not None:
        workspace.count_status(response.status)
    if not core.lean:
        _log(core, request, workspace, host, body, response.status, received, decision)
    return response


def _drop(
    core: EmulatorCore, request: web.Request, workspace: Workspace, host: str, body: bytes, received: float,
    decision: Decision,
) -> web.Response:
    """Close the connection without an answer: the client sees a disconnect."""
    if not core.lean:
        _log(core, request, workspace, host, body, None, received, decision)
    if request.transport is not None:
        request.transport.close()
    # aiohttp drops writes to a closed transport silently; this response never reaches the client.
    return web.Response(status=500)


def _log(
    core: EmulatorCore,
    request: web.Request,
    workspace: Workspace | None,
    host: str,
    body: bytes,
    status: int | None,
    received: float,
    decision: Decision,
) -> None:
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "host": host,
        "status": status,
        "site_id": workspace.config.site_id if workspace else None,
        "time": time.time(),
        "received": received,
    }
    if decision.action != "pass":
        entry["fault"] = decision.action if decision.action != "status" else decision.source
    core.log.add(entry, body)


# --- v2 and account endpoints ---


def auth_handler(request: web.Request, ws: Workspace, body: bytes, host: str, now: float) -> web.Response:
    return responses.ok()


def region_handler(request: web.Request, ws: Workspace, body: bytes, host: str, now: float) -> web.Response:
    config = ws.config
    return responses.json_response(
        {"url": host_base(request, config.region), "region": config.region, "environment_id": config.environment_id}
    )


def make_batch_handler(core: EmulatorCore) -> TrackHandler:
    def batch_handler(request: web.Request, ws: Workspace, body: bytes, host: str, now: float) -> web.Response:
        if len(body) > BATCH_BYTES:
            return responses.error(400, "body_too_large", "batch", f"request body larger than {BATCH_BYTES} bytes")
        try:
            ops = _batch_decoder.decode(body).batch
        except msgspec.ValidationError as exc:
            return responses.error(400, "invalid_batch", "batch", f"body must be {{\"batch\": [...]}}: {exc}")
        except msgspec.DecodeError as exc:
            return responses.error(400, "malformed_json", "", f"malformed JSON: {exc}")
        errors = _run_ops(core, ws, ops, now)
        if errors:
            return responses.json_response({"errors": errors}, 207)
        return responses.ok()

    return batch_handler


def _run_ops(core: EmulatorCore, ws: Workspace, ops: list[msgspec.Raw], now: float) -> list[dict[str, Any]]:
    """Validate every op; apply the valid ones (unless lean); return the 207 errors."""
    errors: list[dict[str, Any]] = []
    decode = _op_decoder.decode
    lean = core.lean
    contract = core.contract
    for index, raw in enumerate(ops):
        op = decode(raw)
        problem = _entry_problem(contract, op) if contract is not None else None
        if problem is None:
            problem = validate_op(op, len(raw))
        if problem is not None:
            reason, field, message = problem
            errors.append({"batch_index": index, "reason": reason, "field": field, "message": message})
        elif lean:
            _count_lean_timestamp(ws, op, now)
        else:
            apply_op(ws, op, now)
    ws.counters["ops"] += len(ops)
    ws.counters["ops_rejected"] += len(errors)
    if not lean:
        core.applied(len(ops))
    return errors


def _entry_problem(contract: Any, op: Any) -> tuple[str, str, str] | None:
    refusal = contract.entry_refusal(op)
    if refusal is None:
        return None
    return "contract", refusal.field, f"not in Customer.io's published contract: {refusal.message}"


def _count_lean_timestamp(ws: Workspace, op: dict[str, Any], now: float) -> None:
    # Lean mode keeps no state but still counts invalid timestamps (a cheap dict look-up).
    if "timestamp" in op and timestamps.normalize(op["timestamp"], now)[1]:
        ws.counters["invalid_timestamps"] += 1


def make_entity_handler(core: EmulatorCore) -> TrackHandler:
    def entity_handler(request: web.Request, ws: Workspace, body: bytes, host: str, now: float) -> web.Response:
        if len(body) > OP_BYTES:
            return responses.error(400, "op_too_large", "", f"operation larger than {OP_BYTES} bytes")
        try:
            op = _op_decoder.decode(body)
        except msgspec.DecodeError as exc:
            return responses.error(400, "malformed_json", "", f"malformed JSON: {exc}")
        ws.counters["ops"] += 1
        problem = validate_op(op, len(body))
        if problem is not None:
            ws.counters["ops_rejected"] += 1
            return responses.error(400, *problem)
        if core.lean:
            _count_lean_timestamp(ws, op, now)
        else:
            apply_op(ws, op, now)
        return responses.ok()

    return entity_handler


def build_app(core: EmulatorCore) -> web.Application:
    """The whole emulator as an aiohttp application."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[CORE_KEY] = core
    track: list[tuple[str, str, TrackHandler, bool]] = [
        ("GET", "/auth", auth_handler, True),
        ("GET", "/api/v1/accounts/region", region_handler, True),
        ("POST", "/api/v2/batch", make_batch_handler(core), False),
        ("POST", "/api/v2/entity", make_entity_handler(core), False),
        *v1.routes(core),
    ]
    for host, prefix in HOSTS.items():
        for method, path, handler, region_free in track:
            app.router.add_route(method, prefix + path, track_route(core, handler, host, region_free))
    inspection.add_routes(app, core)
    return app

