"""The retry queue bounded and durable, end to end through the CLI (strict-contract emulator): a queue of
5,000 refused records is re-sent part by part with the in-flight bytes held near ``max_inflight_bytes``
(the connector reports the peak; without the wait it would be the whole queue, ~3.4 MB); a SIGKILL after a
state keeps that state's refusals queued; a queue written whole by 0.5.0 is read and replaced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from customerio_emulator.process import EmulatorProcess
from destination_customer_io import retry
from tests.support.cli import (base_config, configured_stream, kill_after_first_state, record_line, run_connector,
                               state_line)

SITE, KEY = "site-retry-bounded", "key-retry-bounded-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]
USERS = configured_stream("users", "person_identify", mode="append_dedup", primary_key=[["person_email"]])
PAD = "p" * 600  # each op fills a 1,000-byte batch alone: a 400 refuses exactly one record
MAX_INFLIGHT, BATCH, LANES = 100_000, 20_000, 4


def _config(emu: EmulatorProcess, store: Path, **extra: Any) -> dict[str, Any]:
    storage = {"storage_type": "Local", "destination_path": str(store), "format": {"format_type": "JSONL"}}
    settings = {"region": "us", "lanes": LANES, "batch_max_bytes": 1000, "retry_refused": True, **extra}
    return base_config(emu.url, SITE, KEY, object_storage_config=storage, **settings)


def _user(n: int) -> str:
    return record_line("users", {"person_email": f"u{n}@example.com", "plan": "pro", "pad": PAD})


def _identify(n: int) -> dict[str, Any]:
    return {"type": "person", "action": "identify", "identifiers": {"email": f"u{n}@example.com"},
            "attributes": {"plan": "pro", "pad": PAD}}


def _state(position: int, records: int) -> str:
    state = json.loads(state_line("users", position))
    state["state"]["sourceStats"] = {"recordCount": float(records)}
    return json.dumps(state)


def _checksum_true(run: Any) -> None:
    assert run.returncode == 0, run.stdout + run.stderr
    for state in run.states:
        stats = state["destinationStats"]
        assert stats.get("recordCount", 0) + stats.get("rejectedRecordCount", 0) == state["sourceStats"]["recordCount"]


def _folder(store: Path) -> Path:
    [folder] = {path.parent for path in (store / "_customerio_retry").rglob("*.json*")}
    assert folder.name == "___users" and SITE not in str(folder)
    return folder


def _queue(store: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(_folder(store).glob("queue-*.jsonl"))
            for line in path.read_text().splitlines()]


def _summary(run: Any) -> str:
    return next(line for line in run.logs if line.startswith("Retry queue (retry_refused): "))


def _sent_ops(emu: EmulatorProcess, after_seq: int) -> list[tuple[int, dict[str, Any]]]:
    return [(request["status"], {k: v for k, v in op.items() if k != "timestamp"})
            for request in emu.client.requests(site_id=SITE) if request["seq"] > after_seq
            and request["path"] == "/api/v2/batch" for op in request["body"]["batch"]]


def _last_seq(emu: EmulatorProcess) -> int:
    return max((request["seq"] for request in emu.client.requests(site_id=SITE)), default=0)


def test_a_queue_of_5000_is_resent_part_by_part_within_the_in_flight_bound(emu: EmulatorProcess,
                                                                            tmp_path: Path) -> None:
    store, count = tmp_path / "store", 5_000
    lines = [line for n in range(count) for line in ([_user(n)] + ([_state(n + 1, 500)] if n % 500 == 499 else []))]
    emu.client.set_faults(schedule=[{"count": 1, "action": "pass"}, {"count": count, "status": 400}])
    try:
        first = run_connector(tmp_path, "write", _config(emu, store), {"streams": [USERS]}, lines)
    finally:
        emu.client.clear_faults()
    _checksum_true(first)
    assert [s["destinationStats"] for s in first.states] == [{"recordCount": 0.0, "rejectedRecordCount": 500.0}] * 10
    queued = _queue(store)
    assert sorted(json.loads(e["line"])["record"]["data"]["person_email"] for e in queued) == \
        sorted(f"u{n}@example.com" for n in range(count)) and {e["attempts"] for e in queued} == {1}
    parts = len(list(_folder(store).glob("queue-*.jsonl")))

    since = _last_seq(emu)
    config = _config(emu, store, batch_max_bytes=BATCH, max_inflight_bytes=MAX_INFLIGHT)
    second = run_connector(tmp_path, "write", config, {"streams": [USERS]}, [_state(1, 0)])
    _checksum_true(second)
    assert second.states[0]["destinationStats"] == {"recordCount": 0.0}  # retried records count in no state
    # exactly what reached Customer.io: each queued record once, accepted
    assert sorted(_sent_ops(emu, since), key=lambda sent: sent[1]["identifiers"]["email"]) == \
        sorted(((200, _identify(n)) for n in range(count)), key=lambda sent: sent[1]["identifiers"]["email"])
    said = _summary(second)
    assert said.startswith(f"Retry queue (retry_refused): {count} refused records retried, {count} succeeded, 0 given "
                           f"up after 5 attempts, 0 superseded by a fresh row of their key, 0 queued for the next sync. "
                           f"Read from {parts} part{'' if parts == 1 else 's'}; at most ")
    peak = int(said.rsplit("at most ", 1)[1].split()[0])
    # reading the queue waits while more than max_inflight_bytes wait, as the input does: past it by at most
    # the batch that crossed it and the open batches the timer may seal meanwhile (the queue is ~3.4 MB)
    assert MAX_INFLIGHT < peak <= MAX_INFLIGHT + (LANES + 1) * BATCH
    assert _queue(store) == []


def test_a_sigkill_after_a_state_keeps_that_states_refusals_queued(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    config = _config(emu, store)
    emu.client.set_faults(schedule=[{"count": 1, "action": "pass"}, {"count": 3, "status": 400}])
    try:
        states = kill_after_first_state(tmp_path, config, {"streams": [USERS]}, [_user(0), _user(1), _user(2), _state(1, 3), _user(3)])
    finally:
        emu.client.clear_faults()
    assert [s["destinationStats"] for s in states] == [{"recordCount": 0.0, "rejectedRecordCount": 3.0}]
    assert sorted(json.loads(e["line"])["record"]["data"]["person_email"] for e in _queue(store)) == \
        ["u0@example.com", "u1@example.com", "u2@example.com"]

    since = _last_seq(emu)
    run = run_connector(tmp_path, "write", config, {"streams": [USERS]}, [_state(2, 0)])
    _checksum_true(run)
    assert sorted(_sent_ops(emu, since), key=lambda sent: sent[1]["identifiers"]["email"]) == \
        [(200, _identify(0)), (200, _identify(1)), (200, _identify(2))]
    assert _queue(store) == []


def test_a_queue_written_whole_by_050_is_read_and_replaced(emu: EmulatorProcess, tmp_path: Path) -> None:
    store = tmp_path / "store"
    folder = store / retry.scope_prefix(SITE, "default") / "___users"
    folder.mkdir(parents=True)
    (folder / "queue.jsonl").write_text("".join(json.dumps({"attempts": a, "line": _user(n)}) + "\n"
                                                for n, a in ((0, 1), (1, 4))))
    since = _last_seq(emu)
    emu.client.set_faults(schedule=[{"count": 1, "action": "pass"}, {"count": 1, "status": 400}])
    try:  # lanes 1: u0 first, refused again; u1 taken
        run = run_connector(tmp_path, "write", _config(emu, store, lanes=1), {"streams": [USERS]}, [_state(1, 0)])
    finally:
        emu.client.clear_faults()
    _checksum_true(run)
    assert _sent_ops(emu, since) == [(400, _identify(0)), (200, _identify(1))]
    assert not (folder / "queue.jsonl").exists()
    assert [path.name for path in sorted(folder.glob("queue-*"))] == ["queue-00000001-000000.jsonl"]
    assert [(e["attempts"], json.loads(e["line"])["record"]["data"]["person_email"]) for e in _queue(store)] == \
        [(2, "u0@example.com")]
