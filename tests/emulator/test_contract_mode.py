"""Strict-contract mode (``contract.py``): the published document is the verbatim copy its README
describes, and the checks refuse what it refuses: paths, parameters, headers, bodies and batch entries;
the one allowed deviation is allowed by name and nothing else is."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from customerio_emulator import Emulator
from customerio_emulator.contract import ALLOWED_DEVIATIONS, DOCUMENT, load

HEADERS = {"Authorization": "Basic c2l0ZTprZXk=", "Content-Type": "application/json"}
EVENT = {"type": "person", "action": "event", "identifiers": {"email": "a@b.co"}, "name": "paid",
         "id": "01HF2XQ5M7T9C3N8V4B6K0W2ZR", "attributes": {"amount": 9.5, "note": None}}


def test_the_document_is_the_verbatim_copy_its_readme_names() -> None:
    raw = DOCUMENT.read_bytes()
    text = raw.decode("utf-8")
    assert (len(text), len(raw)) == (491_776, 491_946)
    assert hashlib.sha256(raw).hexdigest() == "69e9a74c06f63e7a16ffc663bb025ff7459b5bf42fcb5c3be1ff861868bf2a60"
    assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) == text
    assert "69e9a74c06f63e7a16ffc663bb025ff7459b5bf42fcb5c3be1ff861868bf2a60" in (
        DOCUMENT.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("method", "path", "query", "headers", "body", "field"), [
    ("GET", "/auth", {}, HEADERS, b"", "path"),
    ("DELETE", "/api/v2/batch", {}, HEADERS, b"", "path"),
    ("POST", "/api/v1/segments/x/add_customers", {}, HEADERS, b'{"ids":["a"]}', "segment_id"),
    ("POST", "/api/v1/segments/7/add_customers", {"id_type": "phone"}, HEADERS, b'{"ids":["a"]}', "id_type"),
    ("POST", "/api/v1/segments/7/remove_customers", {}, HEADERS, b'{"ids":[]}', "ids"),
    ("POST", "/api/v2/batch", {}, {"Authorization": "Bearer t", "Content-Type": "application/json"},
     b'{"batch":[]}', "Authorization"),
    ("POST", "/api/v2/batch", {}, {"Authorization": "Basic x", "Content-Type": "text/plain"}, b'{"batch":[]}',
     "Content-Type"),
    ("POST", "/api/v2/batch", {}, HEADERS, b'{"batch":{}}', "batch"),
    ("GET", "/api/v1/accounts/region", {}, HEADERS, b"{}", "body"),
])
def test_requests_the_document_refuses(method: str, path: str, query: dict[str, str], headers: dict[str, str],
                                       body: bytes, field: str) -> None:
    refusal = load().request_refusal(method, path, query, headers, body)
    assert refusal is not None and refusal.field == field, refusal


@pytest.mark.parametrize(("method", "path", "query", "body"), [
    ("GET", "/api/v1/accounts/region", {}, b""),
    ("POST", "/api/v2/batch", {}, b'{"batch":[]}'),
    ("POST", "/api/v1/segments/7/add_customers", {"id_type": "email"}, b'{"ids":["a@b.co"]}'),
    ("POST", "/api/v1/segments/7/remove_customers", {"id_type": "cio_id"}, b'{"ids":["c1"]}'),
])
def test_requests_the_document_accepts(method: str, path: str, query: dict[str, str], body: bytes) -> None:
    assert load().request_refusal(method, path, query, HEADERS, body) is None


@pytest.mark.parametrize(("change", "field"), [
    ({"id": "order-77"}, "id"),
    ({"identifiers": {"nobody": "x"}}, "identifiers"),
    ({"name": 7}, "name"),
    ({"action": "page", "attributes": {"referrer": None}}, "attributes.referrer"),
    ({"action": "add_device", "device": {"token": "t", "platform": "ios", "attributes": {"push_enabled": True}}},
     "device.attributes.push_enabled"),
])
def test_entries_the_document_refuses_name_the_field(change: dict[str, Any], field: str) -> None:
    refusal = load().entry_refusal({**EVENT, **change})
    assert refusal is not None and refusal.field == field, refusal


def test_only_the_named_deviation_is_allowed() -> None:
    assert [d.name for d in ALLOWED_DEVIATIONS] == ["v2-anonymous-identifiers"]
    anonymous = {**EVENT, "identifiers": {"anonymous_id": "v1"}}
    assert load().entry_refusal(EVENT) is None and load().entry_refusal(anonymous) is None
    # the deviation covers the identifiers only: what else is wrong is still refused, and named
    refusal = load().entry_refusal({**anonymous, "id": "order-77"})
    assert refusal is not None and refusal.field == "id"
    # only identifiers that are exactly {"anonymous_id": <string>}
    assert load().entry_refusal({**EVENT, "identifiers": {"anonymous_id": "v1", "nobody": "x"}}) is not None
    assert load().entry_refusal({**EVENT, "identifiers": {"anonymous_id": 7}}) is not None


async def test_the_strict_emulator_answers_in_the_endpoints_error_shapes() -> None:
    import aiohttp

    async with Emulator(strict_contract=True) as emu, aiohttp.ClientSession() as session:
        auth = {"Authorization": "Basic " + base64.b64encode(b"demo-site:demo-key").decode()}
        batch = {"batch": [EVENT, {**EVENT, "id": "order-77"}]}
        async with session.post(f"{emu.url}/api/v2/batch", json=batch, headers=auth) as answer:
            assert answer.status == 207
            assert await answer.json() == {"errors": [{
                "batch_index": 1, "reason": "contract", "field": "id",
                "message": "not in Customer.io's published contract: 'order-77' is not a 'ULID'"}]}
        assert len(emu.workspace().events) == 1  # the valid entry is applied
        async with session.post(f"{emu.url}/api/v1/segments/x/add_customers", json={"ids": ["a"]},
                                headers=auth) as answer:
            assert answer.status == 400
            assert await answer.json() == {"meta": {"errors": [
                "segment_id: not in Customer.io's published contract: the path parameter segment_id: 'x' is not "
                "of type 'integer'"]}}
