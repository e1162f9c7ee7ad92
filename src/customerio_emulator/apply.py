"""What each (already validated) Track operation does to a workspace's state.

Follows Customer.io's documented semantics; where the docs are silent the choice is marked [guess] and
documented in docs/emulator.md. Silent failures (the API still answers 200) are recorded as notices.
"""

from __future__ import annotations

from typing import Any, Callable

from . import timestamps
from .workspace import Event, ObjectKey, Person, PersonKey, Workspace, ident_key

IDENTIFIER_ATTRIBUTES = ("id", "email")  # attributes that change a person's identifiers
CIO_ID = Event._fields.index("cio_id")


def only_identifier(identifiers: dict[str, Any]) -> tuple[str, Any]:
    """The single non-null identifier of a validated op."""
    for kind, value in identifiers.items():
        if value is not None:
            return kind, value
    raise ValueError("no identifier")  # validation guarantees one; reaching here is a bug


def _timestamp(ws: Workspace, value: Any, now: float) -> tuple[float, bool]:
    ts, invalid = timestamps.normalize(value, now)
    if invalid:
        ws.count("invalid_timestamps")
    return ts, invalid


def _resolve_or_create(ws: Workspace, kind: str, value: Any, create: bool = True) -> Person | None:
    """Find a person; create them when absent [guess: as for identify], except by cio_id."""
    if ws.is_suppressed(kind, value):
        ws.notice("suppressed_ignored", "identifier is suppressed; op ignored", identifiers={kind: value})
        return None
    person = ws.find(kind, value)
    if person is None and create and kind != "cio_id":
        person = ws.create_person()
        ws.set_identifier(person, kind, value)
    elif person is None:
        ws.notice("person_not_found", "no person with this identifier", identifiers={kind: value})
    return person


# --- person/identify ---


def person_identify(ws: Workspace, op: dict[str, Any], now: float) -> None:
    kind, value = only_identifier(op["identifiers"])
    attributes = op.get("attributes") or {}
    ts, invalid = _timestamp(ws, op.get("timestamp"), now)
    if ws.is_suppressed(kind, value):
        ws.notice("suppressed_ignored", "identifier is suppressed; op ignored", identifiers={kind: value})
        return
    matched = _matching_people(ws, kind, value, attributes)
    if len(matched) > 1:
        ws.notice(
            "attribute_update_failures",
            "identifiers belong to different people; change not applied",
            identifiers={kind: value},
            cio_ids=[p.cio_id for p in matched],
        )
        return
    person = matched[0] if matched else None
    if person is None:
        if attributes.get("_update") is True:
            ws.notice("update_only_skipped", "_update: no such person, nothing created", identifiers={kind: value})
            return
        if kind == "cio_id":
            ws.notice("person_not_found", "no person with this cio_id", identifiers={kind: value})
            return
        person = ws.create_person()
        ws.set_identifier(person, kind, value)
    _merge_person_attributes(ws, person, attributes, ts, now)
    if invalid:
        person.invalid_timestamp = True
    for rel in op.get("cio_relationships") or ():
        _relate(ws, ("cio", person.cio_id), rel)


def _matching_people(ws: Workspace, kind: str, value: Any, attributes: dict[str, Any]) -> list[Person]:
    found: list[Person] = []
    candidates = [(kind, value)] + [
        (name, attributes[name]) for name in IDENTIFIER_ATTRIBUTES if attributes.get(name) not in (None, "")
    ]
    for cand_kind, cand_value in candidates:
        person = ws.find(cand_kind, cand_value)
        if person is not None and person not in found:
            found.append(person)
    return found


def _merge_person_attributes(
    ws: Workspace, person: Person, attributes: dict[str, Any], ts: float, now: float
) -> None:
    """Merge attributes; per attribute, an op older than the last write never overwrites it.

    [guess] null and "" are stored as given (they do not remove the attribute); for the `email`
    identifier attribute they remove the email.
    """
    stored_ts = person.attribute_timestamps
    for name, value in attributes.items():
        if name == "_update":
            continue
        if ts < stored_ts.get(name, float("-inf")):
            continue
        stored_ts[name] = ts
        if name in IDENTIFIER_ATTRIBUTES:
            if value in (None, "") and name == "email":
                ws.set_identifier(person, "email", None)
            elif value not in (None, ""):
                ws.set_identifier(person, name, value)
            continue
        if name == "created_at":
            value, invalid = _timestamp(ws, value, now)
            value = int(value)
            if invalid:
                person.invalid_timestamp = True
        person.attributes[name] = value


# --- events ---


def _is_duplicate(ws: Workspace, event_id: Any) -> bool:
    if event_id is None:
        return False
    key = event_id.upper()  # ULIDs are case-insensitive: one id whatever its case
    if key in ws.event_ids:
        ws.count("duplicates")
        return True
    ws.event_ids.add(key)
    return False


def person_event(ws: Workspace, op: dict[str, Any], now: float, kind: str = "event") -> None:
    """Store an event (deduplicated by id). The hot path of the benchmarks: kept flat on purpose."""
    identifiers = op["identifiers"]
    # v1 anonymous events may come without any identifier: stored with anonymous_id null.
    ident_kind, value = only_identifier(identifiers) if identifiers else ("anonymous_id", None)
    if ident_kind != "anonymous_id" and ws.suppressed and ws.is_suppressed(ident_kind, value):
        ws.notice("suppressed_ignored", "identifier is suppressed; event ignored", identifiers=identifiers)
        return
    event_id = op.get("id")
    if event_id is not None and _is_duplicate(ws, event_id):
        return
    raw_ts = op.get("timestamp")
    if type(raw_ts) is int and 0 <= raw_ts < timestamps.MAX_SECONDS:
        ts, invalid = raw_ts, False
    else:
        ts, invalid = _timestamp(ws, raw_ts, now)
    cio_id = None
    anonymous_id = None
    if ident_kind == "anonymous_id":
        anonymous_id = None if value is None else str(value)
    else:
        person = ws.index.get((ident_kind, value)) if ident_kind != "email" and type(value) is str else None
        if person is None:
            # [guess] an event for an unknown person creates the person from the identifier.
            person = _resolve_or_create(ws, ident_kind, value)
            if person is None:
                return
        cio_id = person.cio_id
        if invalid:
            person.invalid_timestamp = True
    ws.events.append(
        (kind, op["name"], event_id, int(ts), op.get("attributes"), identifiers, cio_id, anonymous_id, invalid, now)
    )


def delivery_event(ws: Workspace, op: dict[str, Any], now: float) -> None:
    ts, invalid = _timestamp(ws, op.get("timestamp"), now)
    ws.events.append(
        ("delivery", op["name"], None, int(ts), op.get("attributes"), op["identifiers"], None, None, invalid, now)
    )


# --- delete, suppress, unsuppress, merge ---


def person_delete(ws: Workspace, op: dict[str, Any], now: float) -> None:
    kind, value = only_identifier(op["identifiers"])
    person = ws.find(kind, value)
    if person is None:
        ws.notice("person_not_found", "delete: no such person", identifiers={kind: value})
        return
    ws.remove_person(person)


def person_suppress(ws: Workspace, op: dict[str, Any], now: float) -> None:
    kind, value = only_identifier(op["identifiers"])
    person = ws.find(kind, value)
    keys = [ident_key(kind, value)]
    if person is not None:
        keys = person.ident_keys()
        ws.remove_person(person)
    ws.suppress(keys)


def person_unsuppress(ws: Workspace, op: dict[str, Any], now: float) -> None:
    kind, value = only_identifier(op["identifiers"])
    if not ws.unsuppress(ident_key(kind, value)):
        ws.notice("person_not_found", "unsuppress: identifier was not suppressed", identifiers={kind: value})


def person_merge(ws: Workspace, op: dict[str, Any], now: float) -> None:
    """Move the secondary's data to the primary (which must exist), then delete the secondary.

    [guess] On conflicts the primary's attributes win; the secondary's id/email fill the primary's only
    where it has none.
    """
    primary = ws.find(*only_identifier(op["primary"]))
    secondary = ws.find(*only_identifier(op["secondary"]))
    if primary is None or secondary is None or primary is secondary:
        ws.notice(
            "merge_failures",
            "merge: primary or secondary not found (or the same person)",
            primary=op["primary"],
            secondary=op["secondary"],
        )
        return
    relationships = {k[1]: v for k, v in ws.relationships.items() if k[0] == ("cio", secondary.cio_id)}
    segments = [members for members in ws.segments.values() if secondary.cio_id in members]
    ws.remove_person(secondary)  # frees its identifiers before the primary may take them
    for name, value in secondary.attributes.items():
        if name not in primary.attributes:
            primary.attributes[name] = value
            primary.attribute_timestamps[name] = secondary.attribute_timestamps.get(name, now)
    for kind in ("id", "email", "phone"):
        if getattr(primary, kind) is None and getattr(secondary, kind) is not None:
            ws.set_identifier(primary, kind, getattr(secondary, kind))
    for token, device in secondary.devices.items():
        primary.devices[token] = device
        ws.device_owner[token] = primary.cio_id
    events = ws.events
    for index, raw in enumerate(events):
        if raw[CIO_ID] == secondary.cio_id:
            events[index] = tuple(Event._make(raw)._replace(cio_id=primary.cio_id))
    for obj, attrs in relationships.items():
        ws.relationships.setdefault((("cio", primary.cio_id), obj), attrs)
    for members in segments:
        members[primary.cio_id] = None


# --- relationships and objects ---


def _object_key(identifiers: dict[str, Any]) -> ObjectKey:
    return (identifiers["object_type_id"], str(identifiers["object_id"]))


def _merge_object_attributes(target: dict[str, Any], attributes: dict[str, Any] | None) -> None:
    """Objects and relationships: null or "" removes an attribute [doc]."""
    for name, value in (attributes or {}).items():
        if value is None or value == "":
            target.pop(name, None)
        else:
            target[name] = value


def _relate(ws: Workspace, person_key: PersonKey, rel: dict[str, Any], obj: ObjectKey | None = None) -> None:
    obj = obj or _object_key(rel["identifiers"])
    ws.objects.setdefault(obj, {})  # [guess] relating to an unknown object creates it, empty
    attrs = ws.relationships.setdefault((person_key, obj), {})
    _merge_object_attributes(attrs, rel.get("relationship_attributes"))


def _unrelate(ws: Workspace, person_key: PersonKey, obj: ObjectKey) -> None:
    ws.relationships.pop((person_key, obj), None)


def person_relationships(ws: Workspace, op: dict[str, Any], now: float, add: bool) -> None:
    kind, value = only_identifier(op["identifiers"])
    person = _resolve_or_create(ws, kind, value, create=add)
    if person is None:
        return
    for rel in op["cio_relationships"]:
        if add:
            _relate(ws, ("cio", person.cio_id), rel)
        else:
            _unrelate(ws, ("cio", person.cio_id), _object_key(rel["identifiers"]))


def _person_key_for(ws: Workspace, identifiers: dict[str, Any], create: bool) -> PersonKey | None:
    kind, value = only_identifier(identifiers)
    if kind == "anonymous_id":
        return ("anon", str(value))
    person = _resolve_or_create(ws, kind, value, create=create)
    return ("cio", person.cio_id) if person is not None else None


def object_identify(ws: Workspace, op: dict[str, Any], now: float) -> None:
    obj = _object_key(op["identifiers"])
    _merge_object_attributes(ws.objects.setdefault(obj, {}), op.get("attributes"))
    _timestamp(ws, op.get("timestamp"), now)
    for rel in op.get("cio_relationships") or ():
        person_key = _person_key_for(ws, rel["identifiers"], create=True)
        if person_key is not None:
            _relate(ws, person_key, rel, obj)


def object_delete(ws: Workspace, op: dict[str, Any], now: float) -> None:
    obj = _object_key(op["identifiers"])
    if ws.objects.pop(obj, None) is None:
        ws.notice("person_not_found", "object delete: no such object", identifiers=op["identifiers"])
    for rel_key in [k for k in ws.relationships if k[1] == obj]:
        del ws.relationships[rel_key]


def object_relationships(ws: Workspace, op: dict[str, Any], now: float, add: bool) -> None:
    obj = _object_key(op["identifiers"])
    if add:
        ws.objects.setdefault(obj, {})
    for rel in op["cio_relationships"]:
        person_key = _person_key_for(ws, rel["identifiers"], create=add)
        if person_key is None:
            continue
        if add:
            _relate(ws, person_key, rel, obj)
        else:
            _unrelate(ws, person_key, obj)


# --- devices ---


def add_device(ws: Workspace, op: dict[str, Any], now: float) -> None:
    kind, value = only_identifier(op["identifiers"])
    person = _resolve_or_create(ws, kind, value)
    if person is None:
        return
    device = op["device"]
    token = device["token"]
    owner_id = ws.device_owner.get(token)
    if owner_id is not None and owner_id != person.cio_id and owner_id in ws.people:
        # A token belongs to one device, so to one person: adding it here moves it.
        ws.people[owner_id].devices.pop(token, None)
    stored = person.devices.get(token, {"token": token})
    stored["platform"] = device["platform"]
    if "last_used" in device:
        last_used, invalid = _timestamp(ws, device["last_used"], now)
        stored["last_used"] = int(last_used)
        person.invalid_timestamp |= invalid
    if device.get("attributes"):
        stored_attrs = stored.setdefault("attributes", {})
        stored_attrs.update(device["attributes"])
    person.devices[token] = stored
    ws.device_owner[token] = person.cio_id


def delete_device(ws: Workspace, op: dict[str, Any], now: float) -> None:
    kind, value = only_identifier(op["identifiers"])
    person = ws.find(kind, value)
    token = op["device"]["token"]
    if person is None or person.devices.pop(token, None) is None:
        ws.notice("person_not_found", "delete_device: no such person or device", identifiers={kind: value})
        return
    ws.device_owner.pop(token, None)


# --- manual segments (v1 only) ---


def segment_members(ws: Workspace, segment_id: str, id_type: str, ids: list[Any], add: bool) -> None:
    """[guess] ids that match no person are ignored (recorded as person_not_found)."""
    members = ws.segments.setdefault(segment_id, {})
    for value in ids:
        person = ws.find(id_type, value)
        if person is None:
            ws.notice("person_not_found", "segment: no such person", identifiers={id_type: value})
        elif add:
            members[person.cio_id] = None
        else:
            members.pop(person.cio_id, None)


Applier = Callable[[Workspace, dict[str, Any], float], None]

PERSON_APPLIERS: dict[str, Applier] = {
    "identify": person_identify,
    "event": person_event,
    "page": lambda ws, op, now: person_event(ws, op, now, "page"),
    "screen": lambda ws, op, now: person_event(ws, op, now, "screen"),
    "delete": person_delete,
    "suppress": person_suppress,
    "unsuppress": person_unsuppress,
    "merge": person_merge,
    "add_relationships": lambda ws, op, now: person_relationships(ws, op, now, True),
    "delete_relationships": lambda ws, op, now: person_relationships(ws, op, now, False),
    "add_device": add_device,
    "delete_device": delete_device,
}
OBJECT_APPLIERS: dict[str, Applier] = {
    "identify": object_identify,
    "identify_anonymous": object_identify,
    "delete": object_delete,
    "add_relationships": lambda ws, op, now: object_relationships(ws, op, now, True),
    "delete_relationships": lambda ws, op, now: object_relationships(ws, op, now, False),
}


def apply_op(ws: Workspace, op: dict[str, Any], now: float) -> None:
    """Apply one validated v2 op."""
    op_type = op["type"]
    if op_type == "person":
        PERSON_APPLIERS[op["action"]](ws, op, now)
    elif op_type == "object":
        OBJECT_APPLIERS[op["action"]](ws, op, now)
    else:
        delivery_event(ws, op, now)
