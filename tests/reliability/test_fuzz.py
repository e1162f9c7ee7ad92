"""Fuzzing the decoder and the mappers (hypothesis): any input line is handled without an exception
(a record, a rejection, a state or an unreadable line), and every op built is valid JSON within
Customer.io's op limit."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_customer_io.catalog import Stream
from destination_customer_io.config import parse_config
from destination_customer_io.limits import OP_BYTES
from destination_customer_io.operations.base import Op
from destination_customer_io.reasons import Rejection
from destination_customer_io.operations.person_event import PersonEvent
from destination_customer_io.operations.person_identify import PersonIdentify
from destination_customer_io.output import Output
from destination_customer_io.pipeline import Pipeline
from destination_customer_io.rejected.formats import csv_line, dumps

CONFIG = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}, "identifierType": "id"})
STREAMS = {
    (None, "users"): Stream(name="users", namespace=None, operation=PersonIdentify(),
                            destination_sync_mode="append_dedup", config=CONFIG,
                            timestamp_fields=frozenset({"born"})),
    (None, "events"): Stream(name="events", namespace=None, operation=PersonEvent(),
                             destination_sync_mode="append", config=CONFIG,
                             timestamp_fields=frozenset({"at"})),
}
FIELDS = st.sampled_from(["person_id", "person_email", "person_cio_id", "event_name", "event_id",
                          "timestamp", "born", "at", "plan", "x" * 151, ""]) | st.text(max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)
DATA = st.dictionaries(FIELDS, VALUES, max_size=8)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _NoClient:
    stats = None


def _pipeline() -> Pipeline:
    async def build() -> Pipeline:
        return Pipeline(streams=STREAMS, client=_NoClient(), store=None, output=Output(io.BytesIO()))  # type: ignore[arg-type]

    return asyncio.run(build())


@FUZZ
@given(data=DATA, stream=st.sampled_from(sorted(STREAMS)))
def test_mappers_build_a_valid_op_or_a_rejection(data: dict[str, Any], stream: tuple[None, str]) -> None:
    result = STREAMS[stream].operation.build(data, STREAMS[stream])
    assert isinstance(result, (Op, Rejection))
    if isinstance(result, Op):
        assert len(result.body) <= OP_BYTES
        op = msgspec.json.decode(result.body)
        assert op["type"] == "person" and len(op["identifiers"]) == 1
    else:
        assert result.reason and result.message


def _line(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


LINES = (
    st.binary(max_size=200)
    | st.builds(lambda d, s: _line({"type": "RECORD", "record": {"stream": s, "data": d, "emitted_at": 1}}),
                DATA | VALUES, st.sampled_from(["users", "events", "nope"]))
    | st.builds(lambda v: _line({"type": v, "record": v, "state": v}), VALUES)
    | st.builds(lambda d, cut: _line({"type": "RECORD", "record": {"stream": "users", "data": d}})[:cut],
                DATA, st.integers(min_value=0, max_value=300))
)


@FUZZ
@given(lines=st.lists(LINES, max_size=10))
def test_any_line_is_handled_without_an_exception(lines: list[bytes]) -> None:
    pipeline = _pipeline()
    rejections = pipeline._intake.handle_lines(lines)  # the decoder + mapper step of the pipeline
    counts = pipeline.counts
    sent = sum(len(lane.open.bodies) for lane in pipeline.lanes) + counts.merged
    assert counts.records == len(rejections) + sent  # every record is either batched or rejected
    for record, _epoch, rejection, _stream in rejections:
        assert rejection.reason
        dumps(record.data)  # and the rejected store can write it


@FUZZ
@given(values=st.lists(VALUES | st.just("\ud800"), max_size=5))
def test_rejected_file_writers_take_any_value(values: list[Any]) -> None:
    assert json.loads(dumps(values)) is not None or values == []
    csv_line([v if isinstance(v, str) else dumps(v).decode() for v in values]).decode("utf-8")
