"""validate.py: byte counting, the limit checks and the oversized-value policies, at exact boundaries."""

from __future__ import annotations

import pytest

from destination_customer_io import limits, reasons, validate
from destination_customer_io.reasons import Rejection

EURO = "\u20ac"  # 3 bytes
EMOJI = "\U0001f600"  # 4 bytes


def same(name: str) -> str:
    return name


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a" * 100, 100, None),
        ("a" * 101, 100, 101),
        (EURO * 33 + "a", 100, None),  # 100 bytes in 34 characters
        (EURO * 34, 100, 102),
        (EMOJI * 25, 100, None),
        (EMOJI * 25 + "a", 100, 101),
        ("\u00e9" * 50, 100, None),  # 2-byte characters
        ("\u00e9" * 51, 100, 102),
        ("", 100, None),
    ],
)
def test_oversize(text: str, limit: int, expected: int | None) -> None:
    assert validate.oversize(text, limit) == expected


def test_utf8_size_counts_lone_surrogates() -> None:
    assert validate.utf8_size("\ud800") == 3


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abc", 2, "ab"),
        (EURO * 3, 8, EURO * 2),  # 9 bytes -> the third character would end at byte 9
        (EURO * 3, 9, EURO * 3),
        (EMOJI + "a", 3, ""),
        ("a" + EMOJI, 4, "a"),
        ("\u00e9\u00e9", 3, "\u00e9"),
    ],
)
def test_truncate_utf8_cuts_at_character_boundary(text: str, limit: int, expected: str) -> None:
    out = validate.truncate_utf8(text, limit)
    assert out == expected and len(out.encode()) <= limit


def test_identifier_and_event_name_sizes() -> None:
    assert validate.check_identifier_size(EMOJI * 37 + "ab", "person_id") is None  # 150 bytes
    assert validate.check_identifier_size(EMOJI * 37 + "abc", "person_id") == Rejection(
        reasons.IDENTIFIER_TOO_LONG, "person_id",
        "identifier `person_id` is 151 bytes; Customer.io allows at most 150 bytes",
    )
    assert validate.check_event_name_size(EMOJI * 25, "event_name") is None
    assert validate.check_event_name_size(EMOJI * 25 + "x", "ev") == Rejection(
        reasons.EVENT_NAME_TOO_LONG, "ev", "the event name is 101 bytes; Customer.io allows at most 100 bytes",
    )


def test_attribute_count_ignores_control_keys() -> None:
    attrs = {f"a{i}": i for i in range(limits.ATTRIBUTES_PER_CALL)}
    assert validate.check_attribute_count(attrs) is None
    assert validate.check_attribute_count({**attrs, "_update": True}) is None
    rejection = validate.check_attribute_count({**attrs, "one_more": 1})
    assert rejection == Rejection(
        reasons.TOO_MANY_ATTRIBUTES, None, "the record sets 301 attributes; Customer.io allows at most 300 per call",
    )


def test_attribute_names() -> None:
    assert validate.check_attribute_names({}, same) is None
    assert validate.check_attribute_names({"short": 1, EMOJI * 37 + "ab": 2}, same) is None
    rejection = validate.check_attribute_names({"short": 1, "n" * 151: 2}, lambda n: "column_" + n[:3])
    assert rejection == Rejection(
        reasons.ATTRIBUTE_NAME_TOO_LONG, "column_nnn",
        "the attribute name is 151 bytes; Customer.io allows at most 150 bytes",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x" * 1000, None),
        ("x" * 1001, 1001),
        (EMOJI * 250, None),
        (EMOJI * 250 + "x", 1001),
        (["x" * 996], None),  # ["..."] = 1,000 bytes
        (["x" * 997], 1001),
        ({"k": EURO * 330 + "ab"}, None),  # {"k":"..."} = 8 + 992 = 1,000 bytes
        ({"k": EURO * 330 + "abc"}, 1001),
        (10**300, None),
        (1.5, None),
        (True, None),
        (None, None),
    ],
)
def test_value_size(value: object, expected: int | None) -> None:
    assert validate.value_size(value) == expected


def test_fit_reject_policy_reports_first_oversized_value() -> None:
    attrs = {"ok": "x", "bio": "y" * 1001, "doc": ["z" * 2000]}
    rejection, changes = validate.fit_attribute_values(attrs, "reject", lambda n: "src_" + n)
    assert changes is None
    assert rejection == Rejection(
        reasons.ATTRIBUTE_VALUE_TOO_LONG, "src_bio",
        "attribute `bio` is 1,001 bytes; Customer.io allows at most 1,000 bytes",
    )
    assert attrs["bio"] == "y" * 1001  # untouched under reject


def test_fit_drop_and_truncate_policies() -> None:
    attrs = {"ok": "x", "bio": EURO * 400, "doc": ["z" * 2000], "n": 5}
    rejection, changes = validate.fit_attribute_values(attrs, "drop", same)
    assert rejection is None and attrs == {"ok": "x", "n": 5}
    assert [c["change"] for c in changes] == ["NULLED", "NULLED"]

    attrs = {"ok": "x", "bio": EURO * 400, "doc": ["z" * 2000]}
    rejection, changes = validate.fit_attribute_values(attrs, "truncate", same)
    assert rejection is None and attrs == {"ok": "x", "bio": EURO * 333}
    assert changes == [
        {"field": "bio", "change": "TRUNCATED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"},
        {"field": "doc", "change": "NULLED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"},
    ]


def test_fit_without_oversized_values_changes_nothing() -> None:
    attrs = {"a": "x" * 1000}
    assert validate.fit_attribute_values(attrs, "truncate", same) == (None, None)


def test_check_op_size() -> None:
    kwargs = dict(section_reason=reasons.EVENT_DATA_TOO_LARGE, section_subject="the event data",
                  section_limit=limits.EVENT_DATA_BYTES)
    assert validate.check_op_size(b"x" * 32_768, {"a": 1}, **kwargs) is None
    assert validate.check_op_size(b"x" * 32_769, {"a": 1}, **kwargs) == Rejection(
        reasons.OP_TOO_LARGE, None, "the encoded operation is 32,769 bytes; Customer.io allows at most 32,768 bytes",
    )
    big = {"a": "x" * 100_000}  # {"a":"..."} = 100,008 bytes
    assert validate.check_op_size(b"x" * 100_100, big, **kwargs) == Rejection(
        reasons.EVENT_DATA_TOO_LARGE, None, "the event data is 100,008 bytes; Customer.io allows at most 100,000 bytes",
    )
