"""`stream_mappings` end to end: catalogs as PyAirbyte and scripts send them (no destination_object_name,
source column names) through the real CLI against the emulator process.

Rules under test: a stream without destination_object_name uses its mapping, else a stream named exactly
like an operation; otherwise a config_error naming the stream. A mapping renames source columns to
operation fields or sets constants, also on the platform (before validation). Rejections name the source
column. Mappings that cannot apply (unknown stream, unknown operation, bad field spec, conflicting
destination_object_name, duplicates) are config_errors naming the culprit, before anything is sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import base_config, record_line, run_connector

SITE, KEY = "site-mappings", "key-mappings"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]  # the emulator fixture's (conftest.py)

USERS_MAPPING = {"stream": "users", "object": "person_identify", "fields": {"person_email": "email"}}
ORDERS_MAPPING = {
    "stream": "orders", "object": "person_event",
    "fields": {"person_email": "customer_email", "event_name": {"const": "purchase"},
               "event_id": "order_id", "timestamp": "ordered_at"},
}


def source_stream(name: str, properties: dict[str, Any] | None = None, *, namespace: str | None = None,
                  object_name: str | None = None, mode: str = "append") -> dict[str, Any]:
    """A configured stream as PyAirbyte builds it: the source's schema, no destination_object_name."""
    stream: dict[str, Any] = {"name": name, "json_schema": {"type": "object", "properties": properties or {}},
                              "supported_sync_modes": ["full_refresh"]}
    if namespace is not None:
        stream["namespace"] = namespace
    entry: dict[str, Any] = {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": mode}
    if object_name is not None:
        entry["destination_object_name"] = object_name
    return entry


def config(emu: EmulatorProcess, mappings: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return base_config(emu.url, SITE, KEY, stream_mappings=mappings, **extra)


def local_store(path: Path) -> dict[str, Any]:
    return {"storage_type": "Local", "destination_path": str(path),
            "format": {"format_type": "JSONL", "flattening": "No flattening"}}


def rejected_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line)["_airbyte_data"] for file in sorted(path.rglob("*.jsonl"))
            for line in file.read_text().splitlines()]


def assert_config_error(emu: EmulatorProcess, tmp_path: Path, cfg: dict[str, Any], catalog: dict[str, Any],
                        *needles: str) -> None:
    run = run_connector(tmp_path, "write", cfg, catalog, [record_line("users", {"email": "a@example.com"})])
    assert run.returncode == 1, run.stdout + run.stderr
    (error,) = run.errors
    assert error["failure_type"] == "config_error"
    for needle in needles:
        assert needle in error["message"], error["message"]
    assert emu.client.counters(site_id=SITE)["ops"] == 0  # refused before anything was sent


# --- what a mapping does ----------------------------------------------------------------------------

def test_pyairbyte_style_catalog_maps_source_columns_to_people_and_events(emu: EmulatorProcess,
                                                                          tmp_path: Path) -> None:
    catalog = {"streams": [
        source_stream("users", {"email": {"type": "string"}, "plan": {"type": "string"}}),
        source_stream("orders", {"customer_email": {"type": "string"}, "order_id": {"type": "integer"},
                                 "ordered_at": {"type": "string", "format": "date-time"},
                                 "total": {"type": "number"}}),
    ]}
    lines = [record_line("users", {"email": "Ann@Example.com", "plan": "pro"}),
             record_line("orders", {"customer_email": "ann@example.com", "order_id": 77,
                                    "ordered_at": "2024-05-01T12:00:00Z", "total": 9.5})]
    run = run_connector(tmp_path, "write", config(emu, [USERS_MAPPING, ORDERS_MAPPING]), catalog, lines)
    assert run.returncode == 0, run.stdout + run.stderr

    person = emu.client.person(email="ann@example.com", site_id=SITE)
    assert person is not None and person["attributes"] == {"plan": "pro"}  # `email` renamed, not copied
    (event,) = emu.client.events(site_id=SITE)
    assert (event["name"], event["timestamp"], event["data"]) == ("purchase", 1714564800, {"total": 9.5})
    assert event["cio_id"] == person["cio_id"]


def test_replaying_a_mapped_event_stream_creates_no_duplicates(emu: EmulatorProcess, tmp_path: Path) -> None:
    # event_id <- order_id: the id Customer.io deduplicates on comes from the mapped column.
    catalog = {"streams": [source_stream("orders")]}
    lines = [record_line("orders", {"customer_email": "b@example.com", "order_id": i}) for i in range(5)]
    for _ in range(2):
        run = run_connector(tmp_path, "write", config(emu, [ORDERS_MAPPING]), catalog, lines)
        assert run.returncode == 0, run.stdout + run.stderr
    assert len(emu.client.events(site_id=SITE)) == 5
    assert emu.client.counters(site_id=SITE)["duplicates"] == 5


def test_a_stream_named_like_an_operation_needs_no_mapping(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("person_identify")]}
    lines = [record_line("person_identify", {"person_email": "c@example.com", "plan": "free"})]
    run = run_connector(tmp_path, "write", config(emu, []), catalog, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    assert emu.client.person(email="c@example.com", site_id=SITE)["attributes"] == {"plan": "free"}


def test_constants_and_renames_also_apply_on_the_platform(emu: EmulatorProcess, tmp_path: Path) -> None:
    # destination_object_name is set (the platform's catalog); the mapping's fields still apply first.
    catalog = {"streams": [source_stream("users", object_name="person_identify", mode="append_dedup")]}
    mapping = {"stream": "users", "object": "person_identify",
               "fields": {"person_email": "mail", "source": {"const": "warehouse"}}}
    lines = [record_line("users", {"mail": "d@example.com", "plan": "pro"})]
    run = run_connector(tmp_path, "write", config(emu, [mapping]), catalog, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    person = emu.client.person(email="d@example.com", site_id=SITE)
    assert person["attributes"] == {"plan": "pro", "source": "warehouse"}


def test_a_renamed_timestamp_column_stays_a_timestamp(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users", {"email": {"type": "string"},
                                                   "signup": {"type": "string", "format": "date-time"}})]}
    mapping = {"stream": "users", "object": "person_identify",
               "fields": {"person_email": "email", "created_at": "signup"}}
    lines = [record_line("users", {"email": "e@example.com", "signup": "2024-05-01T12:00:00Z"})]
    run = run_connector(tmp_path, "write", config(emu, [mapping]), catalog, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    assert emu.client.person(email="e@example.com", site_id=SITE)["attributes"] == {"created_at": 1714564800}


def test_namespaced_mappings_pick_their_namespace(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users", namespace="crm"), source_stream("users", namespace="shop")]}
    mappings = [{"stream": "users", "namespace": "crm", "object": "person_identify",
                 "fields": {"person_email": "email", "origin": {"const": "crm"}}},
                {"stream": "users", "object": "person_identify",  # any other namespace
                 "fields": {"person_email": "email", "origin": {"const": "other"}}}]
    lines = [record_line("users", {"email": "f@example.com"}, namespace="crm"),
             record_line("users", {"email": "g@example.com"}, namespace="shop")]
    run = run_connector(tmp_path, "write", config(emu, mappings), catalog, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    assert emu.client.person(email="f@example.com", site_id=SITE)["attributes"] == {"origin": "crm"}
    assert emu.client.person(email="g@example.com", site_id=SITE)["attributes"] == {"origin": "other"}


# --- rejections name the column the user knows ---------------------------------------------------------

def test_rejected_field_names_the_source_column(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users"), source_stream("orders")]}
    orders = {"stream": "orders", "object": "person_event",
              "fields": {"person_email": "customer_email", "event_name": "kind", "timestamp": "ordered_at"}}
    lines = [record_line("users", {"email": "not-an-email"}),
             record_line("users", {"plan": "pro"}),
             record_line("orders", {"customer_email": "h@example.com", "kind": None}),
             record_line("orders", {"customer_email": "h@example.com", "kind": "x", "ordered_at": "yesterday"})]
    store = tmp_path / "rejected"
    cfg = config(emu, [USERS_MAPPING, orders], object_storage_config=local_store(store))
    run = run_connector(tmp_path, "write", cfg, catalog, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = rejected_rows(store)
    assert sorted((r["rejected_reason"], r["rejected_field"]) for r in rows) == [
        ("event_name_missing", "kind"), ("identifier_invalid", "email"),
        ("identifier_missing", "email"), ("invalid_timestamp", "ordered_at")]
    assert all("person_email" not in r["rejected_message"] for r in rows)
    # The stored row is the record as the source sent it (source column names), not the mapped one.
    assert {"email": "not-an-email"}.items() <= next(r for r in rows if r["rejected_field"] == "email").items()


# --- mappings that cannot apply are config errors, before anything is sent ------------------------------

def test_a_stream_without_object_or_mapping_is_a_config_error(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users")]}
    assert_config_error(emu, tmp_path, config(emu, []), catalog, "`users`", "stream_mappings")


def test_a_mapping_for_a_stream_not_in_the_catalog_is_a_config_error(emu: EmulatorProcess,
                                                                      tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users")]}
    typo = {"stream": "userz", "object": "person_identify", "fields": {}}
    assert_config_error(emu, tmp_path, config(emu, [USERS_MAPPING, typo]), catalog, "`userz`", "not in the")


def test_a_mapping_in_another_namespace_is_a_config_error(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users", namespace="crm")]}
    mapping = dict(USERS_MAPPING, namespace="shop")
    assert_config_error(emu, tmp_path, config(emu, [mapping]), catalog, "`shop.users`")


def test_a_mapping_to_an_unknown_operation_is_a_config_error(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users")]}
    mapping = dict(USERS_MAPPING, object="person_identfy")
    assert_config_error(emu, tmp_path, config(emu, [mapping]), catalog, "`person_identfy`", "`users`",
                        "person_identify")


def test_a_mapping_contradicting_destination_object_name_is_a_config_error(emu: EmulatorProcess,
                                                                           tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users", object_name="person_event")]}
    assert_config_error(emu, tmp_path, config(emu, [USERS_MAPPING]), catalog, "`users`", "person_event",
                        "person_identify")


def test_two_mappings_for_one_stream_are_a_config_error(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [source_stream("users")]}
    assert_config_error(emu, tmp_path, config(emu, [USERS_MAPPING, USERS_MAPPING]), catalog, "`users`", "twice")


@pytest.mark.parametrize("spec", [{"value": "purchase"}, {"const": "purchase", "extra": 1}, 5, None])
def test_a_field_that_is_neither_a_column_nor_a_constant_is_a_config_error(
        emu: EmulatorProcess, tmp_path: Path, spec: Any) -> None:
    catalog = {"streams": [source_stream("users")]}
    mapping = {"stream": "users", "object": "person_identify", "fields": {"person_email": spec}}
    assert_config_error(emu, tmp_path, config(emu, [mapping]), catalog, "stream_mappings")
