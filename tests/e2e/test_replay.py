"""``replay`` end to end: records rejected by a first sync, read back from the rejected-records files and
sent again through the write pipeline with a new config. Each test asserts the exact JSON the emulator
received, that no STATE was printed, the summary, and the files a replay writes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from customerio_emulator.process import EmulatorProcess
from destination_customer_io import values
from tests.support.cli import Run, base_config, configured_stream, record_line, run_connector, state_line

SITE, KEY = "site-replay", "key-replay-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]
LONG = "\u00e9" * 600  # 1,200 bytes: over Customer.io's 1,000-byte attribute value limit
CUT = "\u00e9" * 500  # what `truncate` keeps
# rejected while the config's identifierType is `email` (identifier_missing), delivered once it is `id`
EVENT = {"person_id": "u-1", "event_name": "signed_up", "timestamp": 1_700_000_000_000, "plan": "pro"}


def catalog(*extra: dict[str, Any]) -> dict[str, Any]:
    return {"streams": [
        configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]]),
        configured_stream("signups", "person_event", namespace="app"),
        *extra,
    ]}


def storage(store: Path, **extra: Any) -> dict[str, Any]:
    return {"storage_type": "Local", "destination_path": str(store), "format": {"format_type": "JSONL"},
            "compression": {"compression_type": "GZIP"}, **extra}


def first_sync(emu: EmulatorProcess, tmp: Path, store: Path, **extra: Any) -> Run:
    """A person rejected for size (``oversized_attributes: reject``), one delivered, and an event rejected
    for its identifier."""
    lines = [record_line("users", {"person_email": "a@example.com", "plan": "pro", "bio": LONG}),
             record_line("users", {"person_email": "b@example.com", "plan": "free"}),
             record_line("signups", EVENT, namespace="app"),
             state_line("users", 1)]
    config = base_config(emu.url, SITE, KEY, lanes=1, object_storage_config=storage(store, **extra))
    run = run_connector(tmp, "write", config, catalog(), lines)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.states[0]["destinationStats"] == {"recordCount": 1.0, "rejectedRecordCount": 1.0}
    return run


def replay(emu: EmulatorProcess, tmp: Path, store: Path, rejected: str, *args: str,
           cat: dict[str, Any] | None = None, policy: str = "truncate") -> Run:
    config = base_config(emu.url, SITE, KEY, lanes=1, oversized_attributes=policy, identifierType="id",
                         object_storage_config=storage(store))
    return run_connector(tmp, "replay", config, cat or catalog(), [], args=["--rejected", rejected, *args])


def batch_ops(emu: EmulatorProcess, since: int = 0) -> list[dict[str, Any]]:
    requests = emu.client.requests(site_id=SITE)[since:]
    return [op for r in requests if r["path"] == "/api/v2/batch" for op in r["body"]["batch"]]


def rejected_rows(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """(path relative to ``folder``, row) of every rejected-records file under it."""
    return [(str(path.relative_to(folder)), json.loads(line)) for path in sorted(folder.rglob("*.jsonl.gz"))
            for line in gzip.decompress(path.read_bytes()).splitlines()]


def test_records_rejected_for_size_are_delivered_after_truncate(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first_sync(emu, tmp_path, store)
    originals = {path: path.read_bytes() for path in store.rglob("*") if path.is_file()}
    assert sorted(str(p.relative_to(store)).rsplit("/", 1)[0] for p in originals) == ["7/app/signups", "7/users"]
    before = len(emu.client.requests(site_id=SITE))

    run = replay(emu, tmp_path, store, str(store))

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.of_type("STATE") == [] and b'"STATE"' not in run.stdout
    event, identify = sorted(batch_ops(emu, before), key=lambda op: op["action"])
    assert isinstance(identify.pop("timestamp"), int)
    assert identify == {"type": "person", "action": "identify", "identifiers": {"email": "a@example.com"},
                        "attributes": {"plan": "pro", "bio": CUT}}
    # the id a sync derives from the record as the source sent it: a replay is never a second event
    event_id = values.event_ulid(None, 1_700_000_000_000, "signups", "app", EVENT)
    assert event == {"type": "person", "action": "event", "identifiers": {"id": "u-1"},
                     "name": "signed_up", "id": event_id, "timestamp": 1_700_000_000, "attributes": {"plan": "pro"}}
    assert emu.client.person(site_id=SITE, email="a@example.com")["attributes"]["bio"] == CUT
    summary = [log for log in run.logs if log.startswith("Replay summary")]
    assert len(summary) == 1 and summary[0].startswith(
        "Replay summary: 2 records read from 2 files (rejected before for: attribute_value_too_long: 1, "
        "identifier_missing: 1); "
        "2 delivered, 0 rejected again; "), run.logs
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == originals  # nothing written
    # the source sends the event again (now with truncate): Customer.io still holds one event
    config = base_config(emu.url, SITE, KEY, identifierType="id")
    again = run_connector(tmp_path, "write", config, catalog(), [record_line("signups", EVENT, namespace="app")])
    assert again.returncode == 0
    assert [e["id"] for e in emu.client.events(site_id=SITE)] == [event_id]


def test_a_record_failing_again_lands_in_a_new_rejected_file(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first_sync(emu, tmp_path, store)
    originals = {path: path.read_bytes() for path in store.rglob("*") if path.is_file()}
    before = len(emu.client.requests(site_id=SITE))

    run = replay(emu, tmp_path, store, str(store / "7"), "--stream", "users", policy="reject")

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.states == [] and batch_ops(emu, before) == []
    assert {p: p.read_bytes() for p in originals} == originals  # the files replayed are never rewritten
    replays = list((store / "_customerio_replay").iterdir())
    assert len(replays) == 1
    [(path, row)] = rejected_rows(replays[0])
    assert path.startswith("7/users/") and path.count("/") == 2  # the store's own layout, under the replay folder
    assert row["_airbyte_data"] == {"person_email": "a@example.com", "plan": "pro", "bio": LONG,
                                    "rejected_reason": "attribute_value_too_long", "rejected_field": "bio",
                                    "rejected_message": row["_airbyte_data"]["rejected_message"]}
    assert row["_airbyte_meta"]["sync_id"] == 7 and row["_airbyte_extracted_at"] == 1_700_000_000_000
    summary = next(log for log in run.logs if log.startswith("Replay summary"))
    assert summary.startswith(
        "Replay summary: 1 record read from 1 file (rejected before for: attribute_value_too_long: 1); "
        "0 delivered, 1 rejected again (by reason: attribute_value_too_long: 1), written to new "
        f"rejected-records files under {replays[0]}/; "), summary


def test_records_of_a_stream_not_in_the_catalog_are_counted_and_skipped(emu: EmulatorProcess,
                                                                        tmp_path: Path) -> None:
    store = tmp_path / "store"
    first_sync(emu, tmp_path, store)
    before = len(emu.client.requests(site_id=SITE))
    only_users = {"streams": catalog()["streams"][:1]}

    run = replay(emu, tmp_path, store, str(store), cat=only_users)

    assert run.returncode == 0, run.stdout + run.stderr
    [identify] = batch_ops(emu, before)
    assert identify["identifiers"] == {"email": "a@example.com"}
    assert ("1 record in files whose directories name no stream of the catalog was not replayed (they stay "
            "in their files): 7/app/signups/ (1).") in run.logs, run.logs
    summary = next(log for log in run.logs if log.startswith("Replay summary"))
    assert summary.startswith("Replay summary: 2 records read from 2 files (rejected before for: "
                              "attribute_value_too_long: 1, identifier_missing: 1); 1 skipped (stream not in "
                              "the catalog), 1 delivered, 0 rejected again; "), summary
    assert not (store / "_customerio_replay").exists()


def test_an_unknown_stream_option_or_a_missing_directory_is_a_config_error(emu: EmulatorProcess,
                                                                          tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    run = replay(emu, tmp_path, store, str(store), "--stream", "orders")
    assert run.returncode == 1
    assert run.errors[0]["failure_type"] == "config_error"
    assert run.errors[0]["message"] == ("--stream orders: no such stream in the catalog (its streams: "
                                        "app.signups, users).")
    missing = replay(emu, tmp_path, store, str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no such directory" in missing.errors[0]["message"]
    assert emu.client.requests(site_id=SITE) == []


@pytest.mark.parametrize("file_format", [{"format_type": "CSV"}, {"format_type": "JSONL",
                                                                  "flattening": "Root level flattening"}])
def test_other_formats_are_read_back(emu: EmulatorProcess, tmp_path: Path, file_format: dict[str, Any]) -> None:
    store = tmp_path / "store"
    first_sync(emu, tmp_path, store, format=file_format, compression={"compression_type": "No Compression"})
    before = len(emu.client.requests(site_id=SITE))
    run = replay(emu, tmp_path, store, str(store))
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(op["action"] for op in batch_ops(emu, before)) == ["event", "identify"]
    assert [op["attributes"]["bio"] for op in batch_ops(emu, before) if op["action"] == "identify"] == [CUT]


def test_replay_from_s3_writes_what_fails_again_beside_the_files_it_read(emu: EmulatorProcess,
                                                                         tmp_path: Path) -> None:
    from tests.support.s3 import MotoS3

    s3 = MotoS3(enforce_auth=False).start()  # moto's buckets live as long as the process: one of our own
    try:
        s3.create_bucket("replay-dlq")
        bucket = {"storage_type": "S3", "s3_bucket_name": "replay-dlq", "s3_bucket_region": "us-east-1",
                  "bucket_path": "customerio", "s3_endpoint": s3.endpoint, "access_key_id": "AKIAEXAMPLE",
                  "secret_access_key": "s3-secret-value", "format": {"format_type": "JSONL"},
                  "compression": {"compression_type": "GZIP"}}
        lines = [record_line("users", {"person_email": "a@example.com", "plan": "pro", "bio": LONG}),
                 record_line("signups", EVENT, namespace="app")]
        first = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY, object_storage_config=bucket),
                              catalog(), lines)
        assert first.returncode == 0, first.stdout + first.stderr
        originals = s3.objects("replay-dlq")
        assert sorted(k.rsplit("/", 1)[0] for k in originals) == ["customerio/7/app/signups", "customerio/7/users"]
        before = len(emu.client.requests(site_id=SITE))

        config = base_config(emu.url, SITE, KEY, lanes=1, identifierType="id", object_storage_config=bucket)
        run = run_connector(tmp_path, "replay", config, catalog(), [], args=["--rejected", "s3://replay-dlq/customerio"])

        assert run.returncode == 0, run.stdout + run.stderr
        assert run.states == []
        event_id = values.event_ulid(None, 1_700_000_000_000, "signups", "app", EVENT)
        assert batch_ops(emu, before) == [{"type": "person", "action": "event", "identifiers": {"id": "u-1"},
                                           "name": "signed_up", "id": event_id, "timestamp": 1_700_000_000,
                                           "attributes": {"plan": "pro"}}]
        now = s3.objects("replay-dlq")
        assert {k: v for k, v in now.items() if k in originals} == originals
        [(key, body)] = [(k, v) for k, v in now.items() if k not in originals]
        assert key.startswith("customerio/_customerio_replay/") and "/7/users/" in key
        [row] = [json.loads(line) for line in gzip.decompress(body).splitlines()]
        assert row["_airbyte_data"]["bio"] == LONG
        assert row["_airbyte_data"]["rejected_reason"] == "attribute_value_too_long"
        summary = next(log for log in run.logs if log.startswith("Replay summary"))
        assert ("1 delivered, 1 rejected again (by reason: attribute_value_too_long: 1), written to new "
                f"rejected-records files under s3://replay-dlq/customerio/{key.split('/')[1]}/{key.split('/')[2]}/;"
                ) in summary, summary
        assert b"s3-secret-value" not in run.stdout + run.stderr
    finally:
        s3.delete_bucket("replay-dlq")
        s3.stop()
