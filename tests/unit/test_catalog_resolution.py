"""Binding configured streams to operations: sync modes an operation cannot honour are config errors."""

from __future__ import annotations

import pytest

from destination_customer_io.cli import resolve_streams
from destination_customer_io.config import parse_config
from destination_customer_io.errors import ConfigurationError
from tests.support.cli import configured_stream

CONFIG = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}})


@pytest.mark.parametrize("obj, mode", [("object_identify", "update"), ("person_event", "soft_delete"),
                                       ("person_identify", "soft_delete")])
def test_a_mode_the_operation_lacks_is_refused_before_any_record(obj: str, mode: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        resolve_streams(CONFIG, {"streams": [configured_stream("s", obj, mode=mode)]})
    assert f"Stream `s` asks for sync mode `{mode}`, which `{obj}` does not support" in raised.value.message


@pytest.mark.parametrize("obj, mode", [("person_identify", "update"), ("person_device", "soft_delete"),
                                       ("person_event", "append_dedup"), ("person_identify", "append"),
                                       ("person_event", "overwrite")])
def test_supported_and_generic_modes_are_accepted(obj: str, mode: str) -> None:
    streams = resolve_streams(CONFIG, {"streams": [configured_stream("s", obj, mode=mode)]})
    assert streams[(None, "s")].destination_sync_mode == mode
