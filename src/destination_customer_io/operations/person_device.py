"""person_device: one record -> one ``person/add_device`` op, or ``person/delete_device`` on removal.

    {"type":"person","action":"add_device","identifiers":{"email":..},
     "device":{"token":..,"platform":"ios"|"android","last_used":<unix seconds>,"attributes":{..}}}
    {"type":"person","action":"delete_device","identifiers":{"email":..},"device":{"token":..}}

``append_dedup`` adds or updates the device (Customer.io keys devices by token); ``soft_delete``, or a
row with ``_ab_cdc_deleted_at`` set, removes it. ``platform`` is lower-cased and must be ios or
android. Device attributes are every other column, with the person-attribute rules (``null_values``,
timestamp columns, the 1,000-byte / 300-attribute limits), sent as strings as Customer.io's published
contract has them (``device_object_common.attributes``): booleans ``"true"`` / ``"false"`` (so
``push_enabled`` is ``"true"`` or ``"false"``), numbers their JSON text, a null left out (``""`` under
``null_values: empty_string``); an object or array is rejected (``attribute_value_not_string``). Ops
are ``ordered`` and keyed by the person, so a person identified earlier in the input exists before
their device is added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import reasons, values
from ..reasons import Rejection
from . import common, typed
from .base import Op, Operation, Who

if TYPE_CHECKING:
    from ..stream import Stream

PLATFORMS = frozenset({"ios", "android"})
_OP_FIELDS = common.PERSON_FIELDS | {"device_token", "platform", "last_used", common.CDC_DELETED}


class PersonDevice(Operation):
    """Add or update a person's device (``append_dedup``), or remove it (``soft_delete``)."""

    object_name = "person_device"
    sync_modes = ("append_dedup", "soft_delete")
    matching_keys = (("device_token",),)
    person = "required"
    idempotent = True

    def schema(self, mode: str) -> dict[str, Any]:
        removal = mode == "soft_delete"
        properties: dict[str, Any] = {field: {"type": "string"} for field in sorted(common.PERSON_FIELDS)}
        properties["device_token"] = {"type": "string"}
        if not removal:
            properties["platform"] = {"type": "string", "enum": ["ios", "android"]}
            properties["last_used"] = {"type": "integer"}
        return {"type": "object", "required": ["device_token"] if removal else ["device_token", "platform"],
                "additionalProperties": True, "properties": properties}

    def op(self, data: dict[str, Any], who: Who, stream: "Stream", record: dict[str, Any]) -> Op | Rejection:
        token = common.field_identifier(data, "device_token", stream, limit=False)
        if isinstance(token, Rejection):
            return token
        if common.is_removal(data, stream):
            device: dict[str, Any] = {"token": token}
            action, changes = "delete_device", None
        else:
            built = _device(data, token, stream)
            if isinstance(built, Rejection):
                return built
            (device, changes), action = built, "add_device"
        payload = {"type": "person", "action": action, "identifiers": who[0], "device": device}
        return self.encoded(payload, who[1], device.get("attributes"), changes)


def _device(
    data: dict[str, Any], token: str, stream: "Stream"
) -> tuple[dict[str, Any], list[dict[str, str]] | None] | Rejection:
    """The ``device`` object of ``add_device`` and the meta changes its attributes needed."""
    raw = data.get("platform")
    column = common.source_field(stream, "platform")
    platform = raw.strip().lower() if isinstance(raw, str) else None
    if platform not in PLATFORMS:
        what = "is missing" if raw is None or platform == "" else (
            "is not ios or android" if platform is not None else f"holds a {type(raw).__name__}")
        return Rejection(reasons.DEVICE_PLATFORM_INVALID, column,
                         f"`{column}` {what}; Customer.io accepts ios or android")
    device: dict[str, Any] = {"token": token, "platform": platform}
    last_used = data.get("last_used")
    if last_used is not None and not (isinstance(last_used, str) and not last_used.strip()):
        seconds = values.unix_seconds(last_used)
        if seconds is None:
            return common.invalid_timestamp(common.source_field(stream, "last_used"), last_used,
                                            allow_negative=False)
        device["last_used"] = seconds
    attributes = common.attribute_columns(data, _OP_FIELDS, stream)
    if isinstance(attributes, Rejection):
        return attributes
    strings = typed.device_attributes(attributes, stream)
    if isinstance(strings, Rejection):
        return strings
    rejection, changes = common.fit_attributes(strings, stream)
    if rejection is not None:
        return rejection
    if strings:
        device["attributes"] = strings
    return device, changes

