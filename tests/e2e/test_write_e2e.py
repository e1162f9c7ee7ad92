"""The real CLI against the emulator in another process: people and events end to end.

Each test asserts what Customer.io (the emulator) holds afterwards and the exact JSON that reached it,
not just what the connector said.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest

from customerio_emulator.process import EmulatorProcess
from destination_customer_io import values
from tests.support.cli import base_config, configured_stream, record_line, run_connector, state_line

SITE, KEY = "site-e2e", "key-e2e-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"},  # the emulator fixture's (conftest.py)
              {"site_id": "site-eu", "api_key": "key-eu", "region": "eu"}]


def catalog() -> dict[str, Any]:
    return {"streams": [
        configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]],
                          properties={"person_email": {"type": "string"},
                                      "signed_up_at": {"type": "string", "format": "date-time"}}),
        configured_stream("purchases", "person_event"),
    ]}


def sample_lines() -> list[str]:
    lines = [record_line("users", {"person_email": f"User{i}@Example.com", "plan": "pro" if i % 2 else "free",
                                   "signed_up_at": "2024-05-01T12:00:00+02:00", "seats": i})
             for i in range(20)]
    lines.append(record_line("users", {"plan": "pro"}))  # no identifier
    lines.append(record_line("users", {"person_email": "not-an-email", "plan": "pro"}))
    lines.append(state_line("users", 1))
    lines += [record_line("purchases", {"person_email": f"user{i}@example.com", "event_name": "purchase",
                                        "timestamp": 1_700_000_000 + i, "amount": i * 1.5})
              for i in range(30)]
    lines.append(record_line("purchases", {"person_email": "user1@example.com", "timestamp": 1_700_000_000}))
    lines.append(record_line("purchases", {"person_email": "user1@example.com", "event_name": "x",
                                           "timestamp": "yesterday"}))
    lines.append(state_line("purchases", 2))
    return lines


def test_people_and_events_sync_with_rejections_and_honest_states(emu: EmulatorProcess, tmp_path: Path) -> None:
    rejected_dir = tmp_path / "rejected"
    config = base_config(emu.url, SITE, KEY, object_storage_config={
        "storage_type": "Local", "destination_path": str(rejected_dir),
        "format": {"format_type": "JSONL", "flattening": "No flattening"}})
    run = run_connector(tmp_path, "write", config, catalog(), sample_lines())
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.states == [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}, "stream_state": {"position": 1}},
         "destinationStats": {"recordCount": 20.0, "rejectedRecordCount": 2.0}},
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "purchases"}, "stream_state": {"position": 2}},
         "destinationStats": {"recordCount": 30.0, "rejectedRecordCount": 2.0}},
    ]
    # What Customer.io holds: 20 identified people plus 10 created by their first event; attributes
    # typed, the date column as unix seconds.
    people = {p["email"].lower(): p for p in emu.client.people(site_id=SITE)}
    assert len(people) == 30
    assert people["user25@example.com"]["attributes"] == {}
    assert people["user3@example.com"]["attributes"] == {"plan": "pro", "signed_up_at": 1714557600, "seats": 3}
    events = emu.client.events(site_id=SITE)
    assert len(events) == 30 and len({e["id"] for e in events}) == 30
    event = next(e for e in events if e["data"] == {"amount": 4.5})
    assert (event["name"], event["timestamp"], event["identifiers"]) == \
        ("purchase", 1_700_000_003, {"email": "user3@example.com"})
    assert emu.client.counters(site_id=SITE)["invalid_timestamps"] == 0
    # Every refused record is on disk with its reason.
    rows = [json.loads(line) for path in sorted(rejected_dir.rglob("*.jsonl")) for line in path.read_text().splitlines()]
    reasons = sorted((r["_airbyte_data"]["rejected_reason"], r["_airbyte_data"]["rejected_field"]) for r in rows)
    assert reasons == [("event_name_missing", "event_name"), ("identifier_invalid", "person_email"),
                       ("identifier_missing", "person_email"), ("invalid_timestamp", "timestamp")]
    assert all(r["_airbyte_meta"]["sync_id"] == 7 for r in rows)


def test_exact_json_reaching_the_server(emu: EmulatorProcess, tmp_path: Path) -> None:
    lines = [record_line("users", {"person_email": "a@example.com", "plan": "pro", "tags": ["x", "y"]}),
             record_line("purchases", {"person_email": "a@example.com", "event_name": "purchase",
                                       "event_id": "01HF7YAT00VNZ66NQG0M2VCKAN", "timestamp": 1_700_000_000_000,
                                       "cart": {"total": 3}}),
             state_line("all", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY, lanes=1), catalog(), lines)
    assert run.returncode == 0
    batches = [r for r in emu.client.requests(site_id=SITE) if r["path"] == "/api/v2/batch"]
    ops = [op for r in batches for op in r["body"]["batch"]]
    identify, event = ops
    assert isinstance(identify.pop("timestamp"), int)
    assert identify == {"type": "person", "action": "identify", "identifiers": {"email": "a@example.com"},
                        "attributes": {"plan": "pro", "tags": ["x", "y"]}}
    assert event == {"type": "person", "action": "event", "identifiers": {"email": "a@example.com"},
                     "name": "purchase", "id": "01HF7YAT00VNZ66NQG0M2VCKAN", "timestamp": 1_700_000_000,
                     "attributes": {"cart": {"total": 3}}}


def test_replaying_a_sync_creates_no_duplicate_events(emu: EmulatorProcess, tmp_path: Path) -> None:
    config = base_config(emu.url, SITE, KEY)
    first = run_connector(tmp_path, "write", config, catalog(), sample_lines())
    events_after_first = sorted(e["id"] for e in emu.client.events(site_id=SITE))
    second = run_connector(tmp_path, "write", config, catalog(), sample_lines())
    assert first.returncode == second.returncode == 0
    assert sorted(e["id"] for e in emu.client.events(site_id=SITE)) == events_after_first
    assert emu.client.counters(site_id=SITE)["duplicates"] == 30


def test_a_batch_applied_then_dropped_is_retried_without_duplicates(emu: EmulatorProcess, tmp_path: Path) -> None:
    # request 1 is the region look-up; request 2, the batch, is applied and then its connection dropped
    emu.client.set_faults({"schedule": [{"count": 1, "action": "pass"}, {"count": 1, "action": "drop_after"}]})
    lines = [record_line("purchases", {"person_email": f"p{i}@example.com", "event_name": "signup"})
             for i in range(50)] + [state_line("purchases", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY, lanes=1), catalog(), lines)
    assert run.returncode == 0
    assert len(run.states) == 1
    events = emu.client.events(site_id=SITE)
    assert len(events) == 50 and len({e["id"] for e in events}) == 50
    counters = emu.client.counters(site_id=SITE)
    assert counters["duplicates"] == 50  # the retry re-sent every op; each was recognised and ignored
    assert any("), 1 retry, 0 throttled;" in log for log in run.logs)


def test_429_storm_with_and_without_retry_after_then_success(emu: EmulatorProcess, tmp_path: Path) -> None:
    emu.client.set_faults({"schedule": [{"count": 1, "action": "pass"}, {"count": 2, "status": 429, "retry_after": 1},
                                        {"count": 3, "status": 429}, {"count": 2, "status": 503}]})
    lines = [record_line("purchases", {"person_email": f"p{i}@example.com", "event_name": "e"}) for i in range(10)]
    lines.append(state_line("purchases", 1))
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY, lanes=1), catalog(), lines)
    assert run.returncode == 0
    assert len(emu.client.events(site_id=SITE)) == 10
    assert run.states[0]["destinationStats"] == {"recordCount": 10.0}
    assert any("7 retries" in log and "5 throttled" in log for log in run.logs)


def test_an_outage_longer_than_the_retry_budget_fails_without_a_state(emu: EmulatorProcess, tmp_path: Path) -> None:
    emu.client.set_faults({"error_rate": 1.0, "error_statuses": [503]})
    lines = [record_line("purchases", {"person_email": "p@example.com", "event_name": "e"}), state_line("p", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY, retry_max_seconds=1), catalog(), lines)
    assert run.returncode == 1
    assert run.states == []
    (error,) = run.errors
    assert error["failure_type"] == "transient_error"
    assert "HTTP 503" in error["message"]


def test_wrong_api_key_is_a_config_error_and_leaks_nothing(emu: EmulatorProcess, tmp_path: Path) -> None:
    secret = "wrong-key-0123456789"
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, secret), catalog(), sample_lines())
    assert run.returncode == 1
    assert run.states == []
    (error,) = run.errors
    assert error["failure_type"] == "config_error"
    assert "Site ID or Track API key is wrong" in error["message"]
    assert secret.encode() not in run.stdout + run.stderr


def test_check_succeeds_and_names_the_region(emu: EmulatorProcess, tmp_path: Path) -> None:
    ok = run_connector(tmp_path, "check", base_config(emu.url, SITE, KEY))
    assert ok.messages == [{"type": "CONNECTION_STATUS", "connectionStatus": {
        "status": "SUCCEEDED", "message": f"Connected to Customer.io (region us, {emu.url[7:]})."}}]
    bad = run_connector(tmp_path, "check", base_config(emu.url, SITE, "nope"))
    assert bad.returncode == 0
    assert bad.messages[0]["connectionStatus"]["status"] == "FAILED"
    assert "Site ID or Track API key is wrong" in bad.messages[0]["connectionStatus"]["message"]


def test_check_reports_an_unreachable_host(tmp_path: Path) -> None:
    run = run_connector(tmp_path, "check", base_config("http://127.0.0.1:9", SITE, KEY, request_timeout_seconds=2,
                                                       retry_max_seconds=1))
    status = run.messages[0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert status["message"].startswith("Could not reach the Track API at 127.0.0.1:9")


def test_event_ids_sent_are_scheme_v1_ids_of_the_records_as_read(emu: EmulatorProcess, tmp_path: Path) -> None:
    # The ids on the wire are event id scheme v1 (docs/mapping.md) of each record as the source sent
    # it, whichever process sends them: a replay by another install sends the same ids.
    records = [{"person_email": f"p{i}@example.com", "event_name": "purchase", "timestamp": 1_700_000_000 + i,
                "items": [{"sku": i}]} for i in range(25)]
    lines = [record_line("purchases", r) for r in records] + [state_line("purchases", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY), catalog(), lines)
    assert run.returncode == 0
    assert any("derived event ids follow event id scheme v1" in log for log in run.logs), run.logs
    expected = {values.record_ulid(r["timestamp"] * 1000, "purchases", None, r) for r in records}
    assert "01HF7YAT00WQZFP7GQ1HTPFJYG" in expected  # pinned: tests/unit/test_ids.py re-derives the rule
    assert {e["id"] for e in emu.client.events(site_id=SITE)} == expected


def test_eu_workspace_with_region_auto_writes_to_the_eu_host(emu: EmulatorProcess, tmp_path: Path) -> None:
    lines = [record_line("users", {"person_email": "eu@example.com", "plan": "eu"}), state_line("users", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url, "site-eu", "key-eu"), catalog(), lines)
    assert run.returncode == 0, run.stdout
    assert len(run.states) == 1
    assert emu.client.person(site_id="site-eu", email="eu@example.com")["attributes"] == {"plan": "eu"}
    hosts = {r["host"] for r in emu.client.requests(site_id="site-eu") if r["path"].endswith("/api/v2/batch")}
    assert hosts == {"eu"}
    assert any("region eu" in log for log in run.logs)


def test_eu_workspace_with_region_us_follows_the_redirect(emu: EmulatorProcess, tmp_path: Path) -> None:
    lines = [record_line("users", {"person_email": "eu2@example.com", "plan": "x"}), state_line("users", 1)]
    config = base_config(emu.url, "site-eu", "key-eu", region="us")
    run = run_connector(tmp_path, "write", config, catalog(), lines)
    assert run.returncode == 0, run.stdout
    assert emu.client.person(site_id="site-eu", email="eu2@example.com") is not None
    statuses = [(r["host"], r["status"]) for r in emu.client.requests(site_id="site-eu")
                if r["path"].endswith("/api/v2/batch")]
    assert statuses == [("us", 307), ("eu", 200)]


def test_concurrent_lanes_never_apply_a_persons_updates_out_of_order(emu: EmulatorProcess, tmp_path: Path) -> None:
    emu.client.set_faults({"latency_ms": 2, "latency_jitter_ms": 20, "seed": 7})
    rng = random.Random(3)
    lines, newest = [], {}
    for step in range(1_500):
        person = f"p{rng.randrange(40)}@example.com"
        attributes = {"step": step, "color": rng.choice(["red", "green", "blue"]), "pad": "x" * rng.randrange(200)}
        newest[person] = attributes
        lines.append(record_line("users", {"person_email": person, **attributes}))
        if step % 100 == 99:
            lines.append(state_line("users", step))
    config = base_config(emu.url, SITE, KEY, lanes=8, batch_max_bytes=3_000)
    run = run_connector(tmp_path, "write", config, catalog(), lines)
    assert run.returncode == 0
    assert len(run.states) == 15
    for person, attributes in newest.items():
        assert emu.client.person(site_id=SITE, email=person)["attributes"] == attributes, person


def test_s3_rejected_store_end_to_end(emu: EmulatorProcess, tmp_path: Path) -> None:
    from tests.support.s3 import MotoS3

    s3 = MotoS3(enforce_auth=False).start()
    try:
        s3.create_bucket("dlq")
        config = base_config(emu.url, SITE, KEY, object_storage_config={
            "storage_type": "S3", "s3_bucket_name": "dlq", "s3_bucket_region": "us-east-1",
            "bucket_path": "customerio", "s3_endpoint": s3.endpoint,
            "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3-secret-value",
            "format": {"format_type": "JSONL", "flattening": "Root level flattening"},
            "compression": {"compression_type": "GZIP"}})
        run = run_connector(tmp_path, "write", config, catalog(), sample_lines())
        assert run.returncode == 0, run.stdout
        client = s3.client()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="dlq")["Contents"]]
        assert all(k.startswith("customerio/7/") and k.endswith(".jsonl.gz") for k in keys)
        rows = []
        for key in keys:
            body = client.get_object(Bucket="dlq", Key=key)["Body"].read()
            rows += [json.loads(line) for line in gzip.decompress(body).splitlines()]
        assert sorted(r["rejected_reason"] for r in rows) == ["event_name_missing", "identifier_invalid",
                                                              "identifier_missing", "invalid_timestamp"]
        invalid = next(r for r in rows if r["rejected_reason"] == "identifier_invalid")
        assert invalid["person_email"] == "not-an-email" and invalid["plan"] == "pro"
        assert b"s3-secret-value" not in run.stdout + run.stderr
    finally:
        s3.stop()


@pytest.mark.parametrize("policy, expected_bio, summary", [
    ("truncate", "\u00e9" * 500, "oversized attribute values dropped: 0, truncated: 1"),
    ("drop", None, "oversized attribute values dropped: 1, truncated: 0"),
])
def test_oversized_attribute_policies_are_applied_and_counted(emu: EmulatorProcess, tmp_path: Path, policy: str,
                                                              expected_bio: str | None, summary: str) -> None:
    lines = [record_line("users", {"person_email": "long@example.com", "plan": "pro", "bio": "\u00e9" * 600}),
             state_line("users", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY, oversized_attributes=policy),
                        catalog(), lines)
    assert run.returncode == 0
    assert run.states[0]["destinationStats"] == {"recordCount": 1.0}
    attributes = emu.client.person(site_id=SITE, email="long@example.com")["attributes"]
    assert attributes.get("bio") == expected_bio and attributes["plan"] == "pro"
    assert any(log.startswith("Stream users -> person_identify") and summary in log for log in run.logs), run.logs
