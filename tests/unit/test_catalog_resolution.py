"""Binding configured streams to operations: sync modes an operation cannot honour are config errors."""

from __future__ import annotations

import pytest

from destination_customer_io.catalog import resolve_streams
from destination_customer_io.config import parse_config
from destination_customer_io.errors import ConfigurationError
from tests.support.cli import configured_stream

CONFIG = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}})


@pytest.mark.parametrize("obj, mode", [("object_identify", "update"), ("person_event", "soft_delete"),
                                       ("person_identify", "soft_delete"), ("person_event", "append_dedup"),
                                       ("person_identify", "overwrite"), ("object_identify", "overwrite")])
def test_a_mode_the_operation_lacks_is_refused_before_any_record(obj: str, mode: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        resolve_streams(CONFIG, {"streams": [configured_stream("s", obj, mode=mode)]})
    assert f"Stream `s` asks for sync mode `{mode}`, which `{obj}` does not support" in raised.value.message


@pytest.mark.parametrize("obj, mode", [("person_identify", "update"), ("person_device", "soft_delete"),
                                       ("person_identify", "append"), ("relationship", "append")])
def test_supported_and_generic_modes_are_accepted(obj: str, mode: str) -> None:
    streams = resolve_streams(CONFIG, {"streams": [configured_stream("s", obj, mode=mode)]})
    assert streams[(None, "s")].destination_sync_mode == mode


@pytest.mark.parametrize("primary_key, expected", [
    ([["person_id"]], "id"), ([["person_cio_id"]], "cio_id"), ([["person_email"]], "email"), (None, "email"),
    ([["segment_id"], ["person_id"]], "id"), ([["device_token"]], "email")])
def test_the_primary_key_picks_the_streams_identifier(primary_key: list | None, expected: str) -> None:
    entry = configured_stream("s", "segment_membership", mode="append_dedup", primary_key=primary_key)
    assert resolve_streams(CONFIG, {"streams": [entry]})[(None, "s")].identifier_type == expected


def test_a_primary_key_of_mapped_source_columns_is_read_through_the_mapping() -> None:
    config = parse_config({"credentials": {"siteId": "s", "apiKey": "k"},
                           "stream_mappings": [{"stream": "users", "object": "person_identify",
                                                "fields": {"person_id": "uid"}}]})
    entry = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["uid"]],
                              properties={"uid": {"type": "string"}})
    stream = resolve_streams(config, {"streams": [entry]})[(None, "users")]
    assert (stream.identifier_type, stream.identifier_origin) == ("id", "the stream's primary key `uid`")


def test_a_primary_key_naming_two_identifiers_is_refused() -> None:
    entry = configured_stream("s", "person_identify", mode="append_dedup", primary_key=[["person_email"], ["person_id"]])
    with pytest.raises(ConfigurationError, match="its primary key names `person_email`, `person_id`"):
        resolve_streams(CONFIG, {"streams": [entry]})


def test_operations_without_a_person_ignore_identifier_keys_and_schemas() -> None:
    entry = configured_stream("s", "object_identify", mode="append_dedup", primary_key=[["object_type_id", "object_id"]],
                              properties={"object_type_id": {"type": "string"}, "object_id": {"type": "string"}})
    assert resolve_streams(CONFIG, {"streams": [entry]})[(None, "s")].identifier_type == "email"


def test_views_accept_a_schema_with_anonymous_id_only() -> None:
    entry = configured_stream("s", "person_page", properties={"anonymous_id": {"type": "string"}, "url": {}})
    resolve_streams(CONFIG, {"streams": [entry]})
    with pytest.raises(ConfigurationError, match="identifies people by `person_email`"):
        resolve_streams(CONFIG, {"streams": [configured_stream("s", "person_page", properties={"url": {}})]})


@pytest.mark.parametrize("mode", ["append_dedup", "overwrite", "append"])
def test_catalogs_without_data_activation_may_carry_warehouse_modes(mode: str) -> None:
    # PyAirbyte sends append_dedup for a stream with a primary key and names no destination object:
    # the mode says how a warehouse would write, not what the operation should do.
    config = parse_config({"credentials": {"siteId": "s", "apiKey": "k"},
                           "stream_mappings": [{"stream": "purchases", "object": "person_event"}]})
    entry = configured_stream("purchases", "person_event", mode=mode)
    del entry["destination_object_name"]
    assert resolve_streams(config, {"streams": [entry]})[(None, "purchases")].destination_sync_mode == mode
    entry["destination_sync_mode"] = "soft_delete"
    with pytest.raises(ConfigurationError, match="asks for sync mode `soft_delete`, which `person_event`"):
        resolve_streams(config, {"streams": [entry]})


@pytest.mark.parametrize("obj", ["segment_membership", "relationship"])
def test_overwrite_is_mirror_mode_for_set_like_operations_only(obj: str) -> None:
    (stream,) = resolve_streams(CONFIG, {"streams": [configured_stream("s", obj, mode="overwrite")]}).values()
    assert stream.mirror and not stream.skips_unchanged
    # a catalog without destination_object_name (PyAirbyte's `replace`) means the same
    entry = configured_stream(obj, obj, mode="overwrite")
    del entry["destination_object_name"]
    (plain,) = resolve_streams(CONFIG, {"streams": [entry]}).values()
    assert plain.mirror
    # elsewhere, a warehouse overwrite still means the operation's default
    entry = configured_stream("person_identify", "person_identify", mode="overwrite")
    del entry["destination_object_name"]
    (other,) = resolve_streams(CONFIG, {"streams": [entry]}).values()
    assert not other.mirror
