"""The value types Customer.io's published Track API document fixes where the connector would otherwise
pass a source's types through: a device's attributes and a page view's typed properties are strings.

The document (a copy ships with the emulator: ``customerio_emulator/published``) types
``device_object_common.attributes`` as strings (``push_enabled``: ``"true"`` / ``"false"``) and
``person_page``'s ``referrer``, ``path``, ``search``, ``title``, ``url`` as strings and ``keywords`` as
an array of strings. Here a null is left out, another scalar becomes its text, and an object or array
is rejected (``attribute_value_not_string``): docs/customer-io.md, "Customer.io's published contract".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import reasons
from ..reasons import Rejection
from . import common

if TYPE_CHECKING:
    from ..stream import Stream


def stringified(raw: str | bool | int | float) -> str:
    """A scalar as a string attribute holds it: booleans ``"true"`` / ``"false"``, numbers their JSON
    text (``3`` -> ``"3"``, ``2.5`` -> ``"2.5"``), strings as they are."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return common.ENCODER.encode(raw).decode("utf-8")


def not_a_string(column: str, raw: Any, what: str) -> Rejection:
    """``raw`` (an object or an array) where Customer.io's contract takes a string."""
    kind = "an object" if isinstance(raw, dict) else "an array"
    return Rejection(reasons.ATTRIBUTE_VALUE_NOT_STRING, column,
                     f"{what} `{column}` holds {kind}; Customer.io's published contract takes a string there")


def device_attributes(attributes: dict[str, Any], stream: "Stream") -> dict[str, str] | Rejection:
    """A device's attributes as the strings Customer.io's contract takes; nulls left out."""
    strings: dict[str, str] = {}
    for name, raw in attributes.items():
        if raw is None:
            continue
        if isinstance(raw, (dict, list)):
            return not_a_string(common.source_field(stream, name), raw, "device attribute")
        strings[name] = stringified(raw)
    return strings


def page_properties(activity: dict[str, Any], names: frozenset[str], stream: "Stream") -> Rejection | None:
    """A page view's typed properties as Customer.io's contract has them, in place: ``referrer`` /
    ``path`` / ``search`` / ``title`` / ``url`` strings (other scalars as their text), ``keywords`` an
    array of strings; null leaves the property out; an object or array is rejected."""
    for name in names.intersection(activity):
        raw = activity[name]
        if raw is None:
            del activity[name]
        elif name == "keywords":
            if not isinstance(raw, list) or any(isinstance(item, (dict, list)) for item in raw):
                column = common.source_field(stream, name)
                return Rejection(reasons.ATTRIBUTE_VALUE_NOT_STRING, column,
                                 f"page property `{column}` is not an array of strings; Customer.io's published "
                                 "contract takes an array of strings there")
            activity[name] = [stringified(item) for item in raw if item is not None]
        elif isinstance(raw, (dict, list)):
            return not_a_string(common.source_field(stream, name), raw, "page property")
        else:
            activity[name] = stringified(raw)
    return None
