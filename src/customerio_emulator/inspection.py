"""The inspection API under `/_emulator/` (JSON, no auth): read the state, the request log and the
counters, reset, and read or change the fault injection. Scoped per workspace with `?site_id=`.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson
from aiohttp import web

from . import responses
from .core import EmulatorCore
from .faults import FaultConfig
from .workspace import LOOKUP_KINDS, Event, Person, Workspace

PREFIX = "/_emulator"


# --- JSON views of the state ---


def person_view(ws: Workspace, person: Person) -> dict[str, Any]:
    return {
        "cio_id": person.cio_id,
        "id": person.id,
        "email": person.email,
        "phone": person.phone,
        "attributes": person.attributes,
        "devices": list(person.devices.values()),
        "segments": [sid for sid, members in ws.segments.items() if person.cio_id in members],
        "invalid_timestamp": person.invalid_timestamp,
    }


def event_view(raw: tuple[Any, ...]) -> dict[str, Any]:
    event = Event._make(raw)
    return {
        "type": event.kind,
        "name": event.name,
        "id": event.id,
        "timestamp": event.timestamp,
        "data": event.data,
        "identifiers": event.identifiers,
        "cio_id": event.cio_id,
        "anonymous_id": event.anonymous_id,
        "invalid_timestamp": event.invalid_timestamp,
        "received_at": event.received_at,
    }


def relationship_view(ws: Workspace, key: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    (person_kind, person_ref), (type_id, object_id) = key
    person = ws.people.get(person_ref) if person_kind == "cio" else None
    return {
        "object_type_id": type_id,
        "object_id": object_id,
        "cio_id": person_ref if person_kind == "cio" else None,
        "id": person.id if person else None,
        "email": person.email if person else None,
        "anonymous_id": person_ref if person_kind == "anon" else None,
        "attributes": attributes,
    }


# --- handlers ---

Handler = Callable[[web.Request, Workspace], Any]


def _scoped(core: EmulatorCore, view: Handler):
    """Resolve `?site_id=` (default: the first workspace) and answer `view`'s result as JSON."""

    async def handler(request: web.Request) -> web.Response:
        try:
            ws = core.workspace(request.query.get("site_id"))
        except KeyError:
            return _not_found("unknown site_id")
        result = view(request, ws)
        if isinstance(result, web.Response):
            return result
        return responses.json_response(result)

    return handler


def _not_found(message: str) -> web.Response:
    return responses.json_response({"error": message}, 404)


def people(request: web.Request, ws: Workspace) -> Any:
    """With `?id=`, `?email=`, `?cio_id=` or `?phone=`: that person (404 if none); else all people."""
    for kind in LOOKUP_KINDS:
        if kind in request.query:
            person = ws.find(kind, request.query[kind])
            return person_view(ws, person) if person else _not_found("person not found")
    return [person_view(ws, p) for p in ws.people.values()]


def events(request: web.Request, ws: Workspace) -> list[dict[str, Any]]:
    """Filters: name, type (event|page|screen|delivery), id, cio_id, anonymous_id, and a person's
    id/email (their events, by the person's cio_id)."""
    q = request.query
    cio_id = q.get("cio_id")
    for kind in ("email", "phone"):
        if kind in q:
            person = ws.find(kind, q[kind])
            cio_id = person.cio_id if person else "\0none"
    if "person_id" in q:
        person = ws.find("id", q["person_id"])
        cio_id = person.cio_id if person else "\0none"
    chosen = [
        e
        for e in map(Event._make, ws.events)
        if ("name" not in q or e.name == q["name"])
        and ("type" not in q or e.kind == q["type"])
        and ("id" not in q or (e.id or "").upper() == q["id"].upper())
        and (cio_id is None or e.cio_id == cio_id)
        and ("anonymous_id" not in q or e.anonymous_id == q["anonymous_id"])
    ]
    return [event_view(e) for e in chosen]  # type: ignore[arg-type]


def objects(request: web.Request, ws: Workspace) -> Any:
    q = request.query
    chosen = [
        {"object_type_id": type_id, "object_id": object_id, "attributes": attrs}
        for (type_id, object_id), attrs in ws.objects.items()
        if ("object_type_id" not in q or type_id == q["object_type_id"])
        and ("object_id" not in q or object_id == q["object_id"])
    ]
    return chosen


def relationships(request: web.Request, ws: Workspace) -> list[dict[str, Any]]:
    q = request.query
    views = [relationship_view(ws, key, attrs) for key, attrs in ws.relationships.items()]
    return [v for v in views if all(str(v.get(k)) == q[k] for k in q if k != "site_id" and k in v)]


def devices(request: web.Request, ws: Workspace) -> list[dict[str, Any]]:
    return [
        {**device, "cio_id": person.cio_id}
        for person in ws.people.values()
        for device in person.devices.values()
        if "token" not in request.query or device["token"] == request.query["token"]
    ]


def segments(request: web.Request, ws: Workspace) -> dict[str, list[str]]:
    return {sid: list(members) for sid, members in ws.segments.items()}


def suppressed(request: web.Request, ws: Workspace) -> list[dict[str, str]]:
    return [{kind: value for kind, value in group} for group in ws.suppression_groups.values()]


def counters(request: web.Request, ws: Workspace) -> dict[str, Any]:
    return ws.counters


def notices(request: web.Request, ws: Workspace) -> list[dict[str, Any]]:
    return list(ws.notices)


def add_routes(app: web.Application, core: EmulatorCore) -> None:
    views: dict[str, Handler] = {
        "people": people,
        "events": events,
        "objects": objects,
        "relationships": relationships,
        "devices": devices,
        "segments": segments,
        "suppressed": suppressed,
        "counters": counters,
        "notices": notices,
    }
    for name, view in views.items():
        app.router.add_get(f"{PREFIX}/{name}", _scoped(core, view))
    app.router.add_get(f"{PREFIX}/requests", _requests(core))
    app.router.add_get(f"{PREFIX}/workspaces", _workspaces(core))
    app.router.add_get(f"{PREFIX}/health", _health(core))
    app.router.add_post(f"{PREFIX}/reset", _reset(core))
    app.router.add_get(f"{PREFIX}/faults", _get_faults(core))
    app.router.add_post(f"{PREFIX}/faults", _set_faults(core))
    app.router.add_post(f"{PREFIX}/faults/reset", _clear_faults(core))


def _requests(core: EmulatorCore):
    async def handler(request: web.Request) -> web.Response:
        """The request log, oldest first; `?site_id=` filters, `?limit=N` keeps the last N."""
        limit = request.query.get("limit")
        entries = core.log.view(request.query.get("site_id"), int(limit) if limit else None)
        return responses.json_response(entries)

    return handler


def _workspaces(core: EmulatorCore):
    async def handler(request: web.Request) -> web.Response:
        return responses.json_response([ws.config.to_json() for ws in core.workspaces.values()])

    return handler


def _health(core: EmulatorCore):
    async def handler(request: web.Request) -> web.Response:
        return responses.json_response(
            {"ok": True, "lean": core.lean, "unauthorized": core.server_counters["unauthorized"]}
        )

    return handler


def _reset(core: EmulatorCore):
    async def handler(request: web.Request) -> web.Response:
        site_id = request.query.get("site_id")
        if site_id is not None and site_id not in core.workspaces:
            return _not_found("unknown site_id")
        core.reset(site_id)
        return responses.ok()

    return handler


def _get_faults(core: EmulatorCore):
    async def handler(request: web.Request) -> web.Response:
        return responses.json_response(core.faults.to_json())

    return handler


def _set_faults(core: EmulatorCore):
    async def handler(request: web.Request) -> web.Response:
        """Replace the fault settings with the posted JSON (`{}` clears every fault)."""
        body = await request.read()
        try:
            data = orjson.loads(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            config = FaultConfig.from_json(data)
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            return responses.json_response({"error": str(exc)}, 400)
        core.faults.set(config)
        return responses.json_response(core.faults.to_json())

    return handler


def _clear_faults(core: EmulatorCore):
    async def handler(request: web.Request) -> web.Response:
        core.faults.set(FaultConfig())
        return responses.json_response(core.faults.to_json())

    return handler
