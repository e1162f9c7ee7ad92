"""`ledger --stream S` names a stream directory as `name` (any namespace) or `namespace.name`, in the
S3-safe spelling `ledger/files.py` gave the directory; `show` labels a directory the same way."""

from __future__ import annotations

import pytest

from destination_customer_io.ledger.files import stream_dir
from destination_customer_io.ledger.files import label_of, matches, operation_of

PLAIN = stream_dir(None, "vips", "segment_membership")
PUBLIC = stream_dir("public", "vips", "segment_membership")
DOTTED = stream_dir(None, "a.b", "relationship")
UNSAFE = stream_dir("sales ops", "vips!", "segment_membership")


@pytest.mark.parametrize("directory, wanted, expected", [
    (PLAIN, "vips", True), (PLAIN, "public.vips", False), (PLAIN, "vip", False),
    (PUBLIC, "vips", True), (PUBLIC, "public.vips", True), (PUBLIC, "other.vips", False),
    (DOTTED, "a.b", True), (DOTTED, "b", False),
    (UNSAFE, "sales ops.vips!", True), (UNSAFE, "vips!", True), (UNSAFE, "vips", False),
    (stream_dir(None, "x__vips", "segment_membership"), "vips", False),  # a name ending like another
])
def test_a_stream_is_named_by_name_or_namespace_dot_name(directory: str, wanted: str, expected: bool) -> None:
    assert matches(directory, wanted) is expected


def test_directories_read_back_as_label_and_operation() -> None:
    assert [(label_of(d), operation_of(d)) for d in (PLAIN, PUBLIC, DOTTED, UNSAFE)] == [
        ("vips", "segment_membership"), ("public.vips", "segment_membership"), ("a.b", "relationship"),
        ("sales_ops.vips!", "segment_membership")]
