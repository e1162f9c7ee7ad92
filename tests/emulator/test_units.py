"""Unit tests of the pure parts: Basic auth decoding, timestamp normalisation, validation helpers,
fault config parsing."""

from __future__ import annotations

import base64

import pytest

from customerio_emulator.auth import decode_basic
from customerio_emulator.config import WorkspaceConfig, coerce_workspaces
from customerio_emulator.faults import FaultConfig, FaultInjector, TokenBucket
from customerio_emulator.timestamps import normalize
from customerio_emulator.v1 import parse_identifier
from customerio_emulator.validate import check_attributes, check_event_fields, validate_op, value_bytes


def test_decode_basic_both_alphabets_and_padding():
    raw = b"site>>>:key???"
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    assert std != url
    for token in (std, url, std.rstrip("="), url.rstrip("=")):
        assert decode_basic("Basic " + token) == ("site>>>", "key???")
    assert decode_basic("basic " + std) == ("site>>>", "key???")
    assert decode_basic("Basic " + base64.b64encode(b"a:b:c").decode()) == ("a", "b:c")
    for bad in (None, "", "Basic", "Bearer x", "Basic ***", "Basic " + base64.b64encode(b"nocolon").decode()):
        assert decode_basic(bad) is None


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, (100.5, False)),
        (1_700_000_000, (1_700_000_000, False)),
        (0, (0, False)),
        (9_999_999_999, (9_999_999_999, False)),
        (10_000_000_000, (100.5, True)),
        (1_700_000_000_000, (100.5, True)),
        (-1, (100.5, True)),
        ("1700000000", (100.5, True)),
        (1.7e9, (100.5, True)),
        (True, (100.5, True)),
    ],
)
def test_timestamp_normalize(value, expected):
    assert normalize(value, 100.5) == expected


def test_value_bytes():
    assert value_bytes("é") == 2
    assert value_bytes(None) == 4 and value_bytes(True) == 4 and value_bytes(False) == 5
    assert value_bytes(12.5) == 4
    assert value_bytes({"a": [1, 2]}) == len('{"a":[1,2]}')


def test_total_attribute_bytes_count_names_and_values():
    attrs = {f"a{i:03d}": "x" * 996 for i in range(100)}
    assert check_attributes(attrs) is None
    attrs["a000"] += "x"
    assert check_attributes(attrs) == ("attributes_too_large", "attributes", "attributes larger than 100000 bytes")


def test_event_data_limit_direct():
    op = {"name": "e", "attributes": {"d": "x" * (100_000 - 8)}}
    assert check_event_fields(op) is None
    op["attributes"]["d"] += "x"
    assert check_event_fields(op) == ("event_data_too_large", "attributes", "event data larger than 100000 bytes")


def test_op_size_checked_first():
    assert validate_op({"type": "bad"}, 32_769) == ("op_too_large", "", "operation larger than 32768 bytes")
    assert validate_op({"type": "person", "action": "delete", "identifiers": {"id": "x"}}, 32_768) is None


def test_v1_identifier_parsing():
    assert parse_identifier("cio_abc") == {"cio_id": "abc"}
    assert parse_identifier("a@b.c") == {"email": "a@b.c"}
    assert parse_identifier("42") == {"id": "42"}


def test_workspace_config_validation():
    with pytest.raises(ValueError):
        WorkspaceConfig("s", "k", "asia")
    with pytest.raises(ValueError):
        coerce_workspaces([{"site_id": "a", "api_key": "k"}, {"site_id": "a", "api_key": "k2"}])
    ws = coerce_workspaces([("a", "k"), {"site_id": "b", "api_key": "k", "region": "eu", "environment_id": 9}])
    assert [(w.site_id, w.region, w.environment_id) for w in ws] == [("a", "us", 1), ("b", "eu", 9)]


def test_fault_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match="unknown fault settings: bogus"):
        FaultConfig.from_json({"bogus": 1})
    with pytest.raises(ValueError):
        FaultConfig.from_json({"error_statuses": [200]})
    with pytest.raises(ValueError):
        FaultConfig.from_json({"rate_limit_rps": 0})
    with pytest.raises(ValueError):
        FaultConfig.from_json({"schedule": [{"action": "explode"}]})


def test_injector_schedule_runs_before_random():
    injector = FaultInjector(FaultConfig(error_rate=1.0, error_statuses=[500], schedule=[{"count": 1, "action": "pass"}]))
    assert injector.decide("s").action == "pass"
    assert injector.decide("s").status == 500
    assert injector.counters == {"500": 1}


def test_token_bucket():
    bucket = TokenBucket(rate=1000.0, burst=2)
    assert bucket.take() and bucket.take()
    bucket.updated -= 0.0015  # 1.5 ms later: one token back
    assert bucket.take()
    assert not bucket.take()
