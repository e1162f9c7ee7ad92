"""Property tests: for random records (multi-byte Unicode near every byte limit) ``build()`` never emits
an op that breaks a documented limit, and never rejects a record that is within all limits.

The limits are re-implemented here plainly (``json`` + ``str.encode``), independent of validate.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from destination_customer_io.catalog import Stream
from destination_customer_io.config import parse_config
from destination_customer_io.operations import Op, Rejection
from destination_customer_io.operations.person_event import PersonEvent
from destination_customer_io.operations.person_identify import PersonIdentify

NOW = 1_800_000_000
IDENTIFY = PersonIdentify(clock=lambda: NOW)
EVENT = PersonEvent()
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UNITS = ["a", "\u00e9", "\u20ac", "\U0001f600"]  # 1, 2, 3 and 4 UTF-8 bytes
CHARS = st.sampled_from(UNITS + [" ", '"', "\\", "\n", "\x01", "Z"])
ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


# --- the limits, written plainly ------------------------------------------------------------------

def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def json_size(value: Any) -> int:
    return nbytes(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def value_bytes(value: Any) -> int:
    return nbytes(value) if isinstance(value, str) else json_size(value)


def identifier_problems(identifiers: dict[str, Any]) -> list[str]:
    if len(identifiers) != 1:
        return ["not exactly one identifier"]
    ((kind, value),) = identifiers.items()
    if not isinstance(value, str) or not value.strip():
        return ["identifier_missing"]
    out = []
    if nbytes(value) > 150:
        out.append("identifier_too_long")
    if kind == "email" and (value.count("@") != 1 or any(c.isspace() for c in value)
                            or "" in value.split("@")):
        out.append("identifier_invalid")
    return out


def attribute_problems(attributes: dict[str, Any]) -> list[str]:
    out = []
    if any(nbytes(name) > 150 for name in attributes):
        out.append("attribute_name_too_long")
    if any(value_bytes(v) > 1000 for v in attributes.values()):
        out.append("attribute_value_too_long")
    if len([k for k in attributes if k != "_update"]) > 300:
        out.append("too_many_attributes")
    if json_size(attributes) > 100_000:
        out.append("attributes_too_large")
    return out


def op_problems(op: dict[str, Any], size: int) -> list[str]:
    out = identifier_problems(op["identifiers"])
    if op["action"] == "identify":
        out += attribute_problems(op["attributes"])
    else:
        name = op["name"]
        if not isinstance(name, str) or not name.strip():
            out.append("event_name_missing")
        elif nbytes(name) > 100:
            out.append("event_name_too_long")
        if not ULID.fullmatch(op["id"]):
            out.append("bad id")
        if "timestamp" in op and not (isinstance(op["timestamp"], int) and op["timestamp"] >= 0):
            out.append("invalid_timestamp")
        if json_size(op.get("attributes", {})) > 100_000:
            out.append("event_data_too_large")
    if size > 32_768:
        out.append("op_too_large")
    return out


# --- strategies --------------------------------------------------------------------------------------

def near(limit: int) -> st.SearchStrategy[str]:
    """Strings of one repeated character whose byte size lands a few bytes around ``limit``."""
    return st.sampled_from(UNITS).flatmap(
        lambda unit: st.integers(limit // nbytes(unit) - 2, limit // nbytes(unit) + 1).map(lambda n: unit * n)
    )


short_text = st.text(CHARS, max_size=12)
names = st.one_of(st.text(CHARS, min_size=1, max_size=10), near(150)).filter(
    lambda n: n not in {"person_email", "person_id", "person_cio_id", "event_name", "event_id", "timestamp"}
)
scalars = st.one_of(
    short_text, st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(),
)
values = st.one_of(
    scalars, near(1000), near(1000), near(1000), st.lists(short_text, max_size=3),
    st.builds(lambda s: {"k": s}, near(992)),  # {"k":"..."}: around 1,000 bytes of JSON
)
small_attributes = st.dictionaries(names, values, max_size=8)
many_attributes = st.integers(295, 305).map(lambda n: {f"k{i}": i for i in range(n)})
attributes = st.one_of(small_attributes, small_attributes, many_attributes,
                       st.integers(30, 40).map(lambda n: {f"big{i}": "x" * 990 for i in range(n)}))
emails = st.one_of(
    st.just("ann@example.com"),
    near(144).map(lambda local: local.replace(" ", "") + "@b.cde"),
    st.text(CHARS, max_size=6).map(lambda t: t + "@x.io"),
    st.sampled_from(["", " ", "no-at", "a@b@c", None]),
)
ids = st.one_of(st.text(CHARS, min_size=1, max_size=8), st.text(CHARS, min_size=1, max_size=8), near(150),
                st.integers(0, 10**12), st.sampled_from(["", " ", None]))


def stream(operation: Any, policy: str, identifier_type: str) -> Stream:
    cfg = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}, "oversized_attributes": policy,
                        "identifierType": identifier_type})
    mode = "append" if operation is EVENT else "append_dedup"
    return Stream(name="s", namespace=None, operation=operation, destination_sync_mode=mode, config=cfg)


def decoded(op: Op) -> dict[str, Any]:
    return msgspec.json.decode(op.body)


# --- person_identify -------------------------------------------------------------------------------

def expected_identify(record: dict[str, Any], identifier_type: str) -> dict[str, Any] | None:
    """The op a correct mapping sends (reject policy, nulls sent as null, the default), or None when the
    identifier is bad."""
    field = {"email": "person_email", "id": "person_id"}[identifier_type]
    raw = record.get(field)
    if isinstance(raw, int) and identifier_type == "id":
        raw = str(raw)
    if isinstance(raw, str) and identifier_type == "email":
        raw = raw.strip()
    if not isinstance(raw, str):
        return None
    attrs = {k: v for k, v in record.items() if k != field}
    return {"type": "person", "action": "identify", "identifiers": {identifier_type: raw},
            "attributes": attrs, "timestamp": NOW}


@SETTINGS
@given(
    identifier_type=st.sampled_from(["email", "id"]), email=emails, person_id=ids, attrs=attributes,
    policy=st.sampled_from(["reject", "reject", "drop", "truncate"]),
)
def test_identify_ops_respect_every_limit(
    identifier_type: str, email: Any, person_id: Any, attrs: dict[str, Any], policy: str
) -> None:
    field = "person_email" if identifier_type == "email" else "person_id"
    record = {**attrs, field: email if identifier_type == "email" else person_id}
    result = IDENTIFY.build(record, stream(IDENTIFY, policy, identifier_type))
    outcome = ("op with changes" if result.changes else "op") if isinstance(result, Op) else result.reason
    event(f"identify: {outcome}")
    expected = expected_identify(record, identifier_type)
    if expected is None:
        assert isinstance(result, Rejection)
        return
    problems = op_problems(expected, json_size(expected))
    if isinstance(result, Op):
        assert op_problems(decoded(result), len(result.body)) == []
        if not problems:
            assert decoded(result) == expected and result.changes is None
        return
    # rejected: only when the record breaks a limit, and for one of the limits it breaks
    assert problems, (result, record)
    if policy != "reject":
        assert result.reason != "attribute_value_too_long"
        # values may have been dropped/truncated, so the size problems may differ; the rest may not
        problems += ["op_too_large", "attributes_too_large"]
    assert result.reason in problems


# --- person_event -------------------------------------------------------------------------------

timestamps = st.one_of(
    st.none(), st.integers(0, 10**11 - 1), st.integers(10**11, 10**14 - 1),
    st.datetimes().map(lambda d: d.isoformat()),
)


@SETTINGS
@given(email=emails, name=st.one_of(st.just("purchase"), near(100), st.sampled_from(["", " ", None])),
       ts=timestamps, data=attributes, event_id=st.one_of(st.none(), st.text(CHARS, max_size=30)))
def test_event_ops_respect_every_limit(email: Any, name: Any, ts: Any, data: dict[str, Any], event_id: Any) -> None:
    record = {**data, "person_email": email, "event_name": name, "timestamp": ts, "event_id": event_id}
    result = EVENT.build(record, stream(EVENT, "reject", "email"))
    event(f"event: {'op' if isinstance(result, Op) else result.reason}")
    if isinstance(result, Op):
        op = decoded(result)
        assert op_problems(op, len(result.body)) == []
        assert op["attributes" if data else "name"] == (data or name)
        return
    # the independent verdict on the record
    problems = identifier_problems({"email": email.strip() if isinstance(email, str) else email})
    if not isinstance(name, str) or not name.strip():
        problems.append("event_name_missing")
    elif nbytes(name) > 100:
        problems.append("event_name_too_long")
    if isinstance(ts, str) and ts[:4] < "1970":
        problems.append("invalid_timestamp")
    op = {"type": "person", "action": "event", "identifiers": {"email": email}, "name": name,
          "id": "0" * 26, "timestamp": 0, "attributes": data}
    if json_size(data) > 100_000:
        problems.append("event_data_too_large")
    if json_size(op) > 32_768 - 20:  # the exact timestamp digits are unknown here: a small allowance
        problems.append("op_too_large")
    assert result.reason in problems, (result, record)


# --- oversized values, every policy --------------------------------------------------------------

@SETTINGS
@given(
    attrs=st.dictionaries(st.text(CHARS, min_size=1, max_size=6), st.one_of(near(1000), near(992).map(
        lambda s: {"k": s})), min_size=1, max_size=5),
    policy=st.sampled_from(["reject", "drop", "truncate"]),
)
def test_oversized_values_follow_the_policy(attrs: dict[str, Any], policy: str) -> None:
    record = {**attrs, "person_email": "a@b.co"}
    result = IDENTIFY.build(record, stream(IDENTIFY, policy, "email"))
    oversized = [k for k, v in attrs.items() if value_bytes(v) > 1000]
    event(f"{policy}: {len(oversized)} oversized")
    if policy == "reject":
        if oversized:
            assert isinstance(result, Rejection) and result.reason == "attribute_value_too_long"
            assert result.field == oversized[0]
        else:
            assert isinstance(result, Op) and decoded(result)["attributes"] == attrs
        return
    assert isinstance(result, Op)
    sent = decoded(result)["attributes"]
    assert op_problems(decoded(result), len(result.body)) == []
    assert [c["field"] for c in result.changes or []] == oversized
    for name, value in attrs.items():
        if name not in oversized:
            assert sent[name] == value
        elif policy == "truncate" and isinstance(value, str):
            assert value.startswith(sent[name]) and 997 <= nbytes(sent[name]) <= 1000
        else:
            assert name not in sent
