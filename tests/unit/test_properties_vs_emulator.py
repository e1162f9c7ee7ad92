"""Property tests against the emulator's own validator (the server side of the contract):

- every op the connector builds is one the emulator accepts (never a 207 for a documented limit);
- every record the connector rejects for a documented limit is one whose plain, unchecked op the
  emulator would refuse too (the connector never rejects what Customer.io would have taken).

Records are random, with multi-byte Unicode at the exact byte limits.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from customerio_emulator.validate import validate_op
from destination_customer_io import reasons
from destination_customer_io.catalog import Stream
from destination_customer_io.config import parse_config
from destination_customer_io.operations.base import Op
from destination_customer_io.reasons import Rejection
from destination_customer_io.operations.person_event import PersonEvent
from destination_customer_io.operations.person_identify import PersonIdentify

IDENTIFY, EVENT = PersonIdentify(clock=lambda: 1_800_000_000), PersonEvent()
CONFIG = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}})
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Reasons that stand for a limit Customer.io documents and enforces (its 207 answer).
LIMIT_REASONS = {
    reasons.IDENTIFIER_TOO_LONG, reasons.ATTRIBUTE_NAME_TOO_LONG, reasons.ATTRIBUTE_VALUE_TOO_LONG,
    reasons.TOO_MANY_ATTRIBUTES, reasons.ATTRIBUTES_TOO_LARGE, reasons.EVENT_NAME_TOO_LONG,
    reasons.EVENT_DATA_TOO_LARGE, reasons.OP_TOO_LARGE,
}
UNITS = ["a", "\u00e9", "\u20ac", "\U0001f600"]  # 1 to 4 UTF-8 bytes


def near(limit: int) -> st.SearchStrategy[str]:
    """Strings within a character of ``limit`` bytes, in each width of character."""
    return st.sampled_from(UNITS).flatmap(
        lambda unit: st.integers(max(1, limit // len(unit.encode()) - 1), limit // len(unit.encode()) + 1)
        .map(lambda n: unit * n))


names = st.one_of(st.text(st.sampled_from(UNITS), min_size=1, max_size=6), near(150))
values = st.one_of(st.integers(), st.booleans(), st.text(max_size=5), near(1000),
                   st.builds(lambda s: {"k": s}, near(992)), st.lists(st.integers(), max_size=3))
attributes = st.one_of(
    st.dictionaries(names, values, max_size=6),
    st.integers(298, 302).map(lambda n: {f"a{i}": i for i in range(n)}),
    st.integers(31, 34).map(lambda n: {f"big{i}": "x" * 999 for i in range(n)}),
)
emails = st.one_of(st.just("ann@example.com"), near(140).map(lambda s: s + "@example.com"))


def stream(operation: Any) -> Stream:
    return Stream(name="s", namespace=None, operation=operation, destination_sync_mode="append_dedup", config=CONFIG)


def check(result: Op | Rejection, plain_op: dict[str, Any]) -> None:
    event(result.reason if isinstance(result, Rejection) else "sent")
    if isinstance(result, Op):
        op = msgspec.json.decode(result.body)
        assert validate_op(op, len(result.body)) is None, op.get("identifiers")
        return
    if result.reason in LIMIT_REASONS:
        body = msgspec.json.encode(plain_op)
        assert validate_op(plain_op, len(body)) is not None, result


@SETTINGS
@given(email=emails, attrs=attributes)
def test_identify_agrees_with_the_emulator(email: str, attrs: dict[str, Any]) -> None:
    record = {"person_email": email, **attrs}
    plain = {"type": "person", "action": "identify", "identifiers": {"email": email}, "attributes": attrs,
             "timestamp": 1_800_000_000}
    check(IDENTIFY.build(record, stream(IDENTIFY)), plain)


@SETTINGS
@given(email=emails, name=st.one_of(st.just("purchase"), near(100)), data=attributes)
def test_event_agrees_with_the_emulator(email: str, name: str, data: dict[str, Any]) -> None:
    record = {"person_email": email, "event_name": name, "timestamp": 1_700_000_000, **data}
    plain = {"type": "person", "action": "event", "identifiers": {"email": email}, "name": name,
             "timestamp": 1_700_000_000, "attributes": data}
    result = EVENT.build(record, stream(EVENT))
    if isinstance(result, Rejection) and result.reason == reasons.ATTRIBUTE_VALUE_TOO_LONG:
        raise AssertionError("event data has no per-value limit")
    check(result, plain)
