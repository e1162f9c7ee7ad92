"""Every request the connector sends keeps Customer.io's published Track API contract.

The connector (the installed console script) writes one stream per (operation, sync mode) pair that
discover lists (20), people identified by email, id and cio_id, the values that used to break the
contract (device booleans, numbers and nulls, a page's null referrer, a source event id that is not a
ULID), and mirror removals (a second generation of two ``overwrite`` streams). The emulator runs in
strict-contract mode, so it checks every request as it arrives (headers included); afterwards each
captured request (method, path, query, body, and each v2 batch entry) is checked again here against the
published document, and one deliberately bad body is shown refused, so the check can fail.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from customerio_emulator.contract import load
from customerio_emulator.process import EmulatorProcess
from tests.support.cli import base_config, configured_stream, record_line, run_connector, state_line

SITE, KEY = "site-contract", "key-contract-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"}]  # the emulator fixture's (conftest.py)
HEADERS = {"Authorization": "Basic (the connector's)", "Content-Type": "application/json"}
T = 1_700_000_000
ORDER = {"person_email": "ann@example.com", "event_name": "paid", "event_id": "order-77", "timestamp": T}

# One stream and its records per (operation, sync mode) of discover; the person streams' matching keys
# identify by email, id and cio_id.
PAIRS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("person_identify", "append_dedup"): [{"person_email": "ann@example.com", "plan": "pro", "age": 41},
                                          {"person_email": "bob@example.com", "person_id": "u2"}],
    ("person_identify", "update"): [{"person_email": "ann@example.com", "seen": True}],
    ("person_event", "append"): [{"person_email": "ann@example.com", "event_name": "paid", "timestamp": T,
                                  "amount": 9.5, "note": None}],
    ("person_anonymous_event", "append"): [{"anonymous_id": "v1", "event_name": "viewed", "k": 1}],
    ("person_page", "append"): [{"person_email": "ann@example.com", "url": "https://x.io/a", "referrer": None,
                                 "title": "A", "search": 3},
                                {"anonymous_id": "v1", "url": "https://x.io/b", "path": "/b"}],
    ("person_screen", "append"): [{"person_email": "ann@example.com", "screen_name": "Home", "x": None},
                                  {"anonymous_id": "v1", "screen_name": "Cart"}],
    ("person_delete", "append"): [{"person_email": "gone@example.com"}],
    ("person_suppress", "append"): [{"person_email": "spam@example.com"}],
    ("person_unsuppress", "append"): [{"person_email": "spam@example.com"}],
    ("person_device", "append_dedup"): [{"person_email": "ann@example.com", "device_token": "tok-1",
                                         "platform": "ios", "last_used": T, "push_enabled": True,
                                         "screen_scale": 3, "carrier": None, "app_version": "1.2"}],
    ("person_device", "soft_delete"): [{"person_email": "ann@example.com", "device_token": "tok-0"}],
    ("person_merge", "append"): [{"primary_email": "ann@example.com", "secondary_id": "u2"}],
    ("object_identify", "append_dedup"): [{"object_type_id": 1, "object_id": "acme", "name": "Acme", "seats": 5}],
    ("object_delete", "append"): [{"object_type_id": 1, "object_id": "old"}],
    ("relationship", "append_dedup"): [{"person_email": "ann@example.com", "object_type_id": 1,
                                        "object_id": "acme", "role": "admin"}],
    ("relationship", "soft_delete"): [{"person_email": "ann@example.com", "object_type_id": 1,
                                       "object_id": "old"}],
    ("relationship", "overwrite"): [{"person_email": e, "object_type_id": 1, "object_id": "acme"}
                                    for e in ("ann@example.com", "cat@example.com")],
    ("segment_membership", "append_dedup"): [{"segment_id": 7, "person_email": "ann@example.com"}],
    ("segment_membership", "soft_delete"): [{"segment_id": 7, "person_email": "cat@example.com"}],
    ("segment_membership", "overwrite"): [{"segment_id": 8, "person_email": e}
                                          for e in ("ann@example.com", "cat@example.com")],
}
IDENTIFIED = {"by_id": ("person_id", {"person_id": "u3", "plan": "free"}),
              "by_cio_id": ("person_cio_id", {"person_cio_id": "c42", "plan": "free"})}


def stream_name(pair: tuple[str, str]) -> str:
    return f"{pair[0]}__{pair[1]}"


def status_line(name: str) -> str:
    return json.dumps({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0, "stream_status": {
        "stream_descriptor": {"name": name}, "status": "COMPLETE"}}})


def sync(emu: EmulatorProcess, tmp: Path, generation: int, streams: list[dict[str, Any]], lines: list[str],
         **config: Any) -> None:
    storage = {"storage_type": "Local", "destination_path": str(tmp / "store"), "format": {"format_type": "JSONL"}}
    for stream in streams:
        stream["generation_id"] = stream["minimum_generation_id"] = generation
    conf = base_config(emu.url, SITE, KEY, object_storage_config=storage, lanes=1, **config)
    run = run_connector(tmp, "write", conf, {"streams": streams}, lines)
    assert run.returncode == 0, run.stdout + run.stderr
    rejected = [s["destinationStats"].get("rejectedRecordCount", 0) for s in run.states]
    assert run.states and not any(rejected), run.stdout  # nothing refused, by the contract or otherwise


def first_sync(emu: EmulatorProcess, tmp: Path) -> None:
    streams, lines = [], []
    for pair, records in PAIRS.items():
        name = stream_name(pair)
        key = [["person_email"]] if pair[0] == "person_identify" else None
        streams.append(configured_stream(name, pair[0], mode=pair[1], primary_key=key))
        lines += [record_line(name, data) for data in records]
    for name, (key, data) in IDENTIFIED.items():
        streams.append(configured_stream(name, "person_identify", mode="append_dedup", primary_key=[[key]]))
        lines.append(record_line(name, data))
    lines += [state_line(s["stream"]["name"], 1) for s in streams]
    lines += [status_line(s["stream"]["name"]) for s in streams]
    sync(emu, tmp, 1, streams, lines)


def removals_and_source_ids(emu: EmulatorProcess, tmp: Path) -> None:
    """Generation 2 of the mirrors keeps ann only (cat is removed); event_ids: source with "order-77"."""
    streams, lines = [], []
    for pair in (("relationship", "overwrite"), ("segment_membership", "overwrite")):
        name = stream_name(pair)
        streams.append(configured_stream(name, pair[0], mode=pair[1]))
        lines += [record_line(name, PAIRS[pair][0]), state_line(name, 2), status_line(name)]
    sync(emu, tmp, 2, streams, lines)
    events = configured_stream("orders", "person_event")
    sync(emu, tmp, 1, [events], [record_line("orders", ORDER), state_line("orders", 1)], event_ids="source")


def refusals(request: dict[str, Any]) -> list[str]:
    """What the published document refuses in one captured request (and in each v2 batch entry)."""
    contract = load()
    body = b"" if request["body"] is None else json.dumps(request["body"]).encode()
    query = dict(parse_qsl(request["query"]))
    found = [contract.request_refusal(request["method"], request["path"], query, HEADERS, body)]
    if request["path"] == "/api/v2/batch":
        found += [contract.entry_refusal(entry) for entry in request["body"]["batch"]]
    return [f"{request['method']} {request['path']}: {r.field}: {r.message}" for r in found if r is not None]


def test_every_request_keeps_the_published_contract(emu: EmulatorProcess, tmp_path: Path) -> None:
    first_sync(emu, tmp_path)
    removals_and_source_ids(emu, tmp_path)
    requests = emu.client.requests(site_id=SITE)
    assert requests and all(r["status"] == 200 for r in requests), [r for r in requests if r["status"] != 200]
    assert [problem for r in requests for problem in refusals(r)] == []
    # what was covered: every v2 entry kind the pairs produce, both v1 segment calls, removals included
    entries = [e for r in requests if r["path"] == "/api/v2/batch" for e in r["body"]["batch"]]
    kinds = {(e["type"], e["action"]) for e in entries}
    assert kinds == {("person", a) for a in ("identify", "event", "page", "screen", "delete", "suppress",
                                             "unsuppress", "add_device", "delete_device", "merge",
                                             "add_relationships", "delete_relationships")} | {
        ("object", "identify"), ("object", "delete")}
    identifiers = {next(iter(e["identifiers"])) for e in entries if "identifiers" in e and e["type"] == "person"}
    assert identifiers == {"email", "id", "cio_id", "anonymous_id"}
    assert {r["path"].rsplit("/", 1)[-1] for r in requests if r["path"].startswith("/api/v1/segments")} == {
        "add_customers", "remove_customers"}
    removed = [e for e in entries if e["action"] == "delete_relationships"]
    assert {e["identifiers"]["email"] for e in removed} == {"ann@example.com", "cat@example.com"}  # soft + mirror
    device = next(e for e in entries if e["action"] == "add_device")
    assert device["device"]["attributes"] == {"push_enabled": "true", "screen_scale": "3", "app_version": "1.2"}
    order = next(e for e in entries if e.get("name") == "paid" and e.get("id", "").startswith("0000000000"))
    assert order["id"] == "0000000000KB7TAKB9QZ1PZFME"  # "order-77" as event id scheme v1 derives it


def test_a_body_the_document_refuses_is_refused(emu: EmulatorProcess, tmp_path: Path) -> None:
    """The check can fail: a device whose attribute is a boolean, as 0.3.0 sent it, is refused by the
    contract here and by the strict emulator (a 207 naming the entry, so the record is rejected)."""
    contract = load()
    bad = {"type": "person", "action": "add_device", "identifiers": {"email": "ann@example.com"},
           "device": {"token": "t", "platform": "ios", "attributes": {"push_enabled": True}}}
    refusal = contract.entry_refusal(bad)
    assert refusal is not None and refusal.field == "device.attributes.push_enabled"
    assert contract.entry_refusal({**bad, "identifiers": {"nobody": "x"}}) is not None  # not an allowed deviation
    page = {"type": "person", "action": "page", "identifiers": {"email": "a@b.co"}, "name": "u",
            "attributes": {"referrer": None}}
    assert contract.entry_refusal(page) is not None
    auth = "Basic " + base64.b64encode(f"{SITE}:{KEY}".encode()).decode()
    request = urllib.request.Request(f"{emu.url}/api/v2/batch", data=json.dumps({"batch": [bad]}).encode(),
                                     headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as answer:
        assert answer.status == 207
        (error,) = json.loads(answer.read())["errors"]
    assert (error["batch_index"], error["reason"], error["field"]) == (0, "contract", "device.attributes.push_enabled")
