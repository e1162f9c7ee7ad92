"""person_device: one record -> one ``person/add_device`` op, or ``person/delete_device`` on removal.

    {"type":"person","action":"add_device","identifiers":{"email":..},
     "device":{"token":..,"platform":"ios"|"android","last_used":<unix seconds>,"attributes":{..}}}
    {"type":"person","action":"delete_device","identifiers":{"email":..},"device":{"token":..}}

``append_dedup`` adds or updates the device (Customer.io keys devices by token); ``soft_delete``, or a
row with ``_ab_cdc_deleted_at`` set, removes it. ``platform`` is lower-cased and must be ios or
android. Device attributes are every other column, with the person-attribute rules (``null_values``,
timestamp columns, the 1,000-byte / 300-attribute limits). Ops are ``ordered`` and keyed by the
person, so a person identified earlier in the input exists before their device is added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import reasons, values
from ..reasons import Rejection
from . import common
from .base import DiscoverEntry, Op, Operation

if TYPE_CHECKING:
    from ..catalog import Stream

PLATFORMS = frozenset({"ios", "android"})
_OP_FIELDS = common.PERSON_FIELDS | {"device_token", "platform", "last_used", common.CDC_DELETED}


def _schema(removal: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {field: {"type": "string"} for field in sorted(common.PERSON_FIELDS)}
    properties["device_token"] = {"type": "string"}
    if not removal:
        properties["platform"] = {"type": "string", "enum": ["ios", "android"]}
        properties["last_used"] = {"type": "integer"}
    return {"type": "object", "required": ["device_token"] if removal else ["device_token", "platform"],
            "additionalProperties": True, "properties": properties}


class PersonDevice(Operation):
    """Add or update a person's device (``append_dedup``), or remove it (``soft_delete``)."""

    object_name = "person_device"
    sync_modes = ("append_dedup", "soft_delete")
    person = "required"

    def discover(self) -> list[DiscoverEntry]:
        return [DiscoverEntry(self.object_name, mode, _schema(mode == "soft_delete"), [["device_token"]])
                for mode in self.sync_modes]

    def build(self, data: dict[str, Any], stream: "Stream") -> Op | Rejection:
        if stream.field_map:
            data = common.apply_field_map(data, stream.field_map)
        person = common.person_identifier(data, stream)
        if isinstance(person, Rejection):
            return person
        token = common.field_identifier(data, "device_token", stream, limit=False)
        if isinstance(token, Rejection):
            return token
        if common.is_removal(data, stream):
            payload = {"type": "person", "action": "delete_device", "identifiers": person[0],
                       "device": {"token": token}}
            changes = None
        else:
            device = _device(data, token, stream)
            if isinstance(device, Rejection):
                return device
            payload = {"type": "person", "action": "add_device", "identifiers": person[0], "device": device[0]}
            changes = device[1]
        body = common.encode_within_limits(payload, payload["device"].get("attributes"))
        if isinstance(body, Rejection):
            return body
        return Op(body, person[1], ordered=True, operation=self, changes=changes)

    def merge(self, earlier: Op, later: Op) -> Op | None:
        return common.fold_identical(earlier, later)


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
    rejection, changes = common.fit_attributes(attributes, stream)
    if rejection is not None:
        return rejection
    if attributes:
        device["attributes"] = attributes
    return device, changes
