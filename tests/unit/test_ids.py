"""The C accelerator of the event id (_ids.c) against its definition, the pure-Python path of values.py.

Every id the connector sends must be the same whichever path computed it: a sync that switches path
between two runs (a reinstall without a compiler, DESTINATION_CUSTOMER_IO_PURE_PYTHON) would otherwise
create each replayed event twice.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_customer_io import values

try:
    from destination_customer_io import _ids
except ImportError:  # no C compiler when the package was installed
    _ids = None

needs_accelerator = pytest.mark.skipif(_ids is None, reason="the C accelerator is not built (no C compiler)")

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
MS = st.integers(-(2**70), 2**70) | st.sampled_from([0, 1, (1 << 48) - 1, 1 << 48, 1_700_000_000_000])


def python_hash_ulid(ms: int, head: bytes, body: bytes, tail: bytes) -> str:
    return values.hash_ulid(ms, hashlib.blake2b(head + body + tail, digest_size=16).digest())


def test_the_accelerator_is_built_wherever_a_c_compiler_is() -> None:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) on this machine: the pure-Python ids are used")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        pytest.skip("no Python headers (Python.h) on this machine: the pure-Python ids are used")
    assert _ids is not None, "setup.py builds destination_customer_io._ids when a C compiler is present"
    assert values.ACCELERATED or os.environ.get("DESTINATION_CUSTOMER_IO_PURE_PYTHON")


@needs_accelerator
@settings(max_examples=400, deadline=None)
@given(ms=MS, head=st.binary(max_size=40), body=st.binary(max_size=700), tail=st.binary(max_size=3))
def test_hash_ulid_matches_hashlib_and_values(ms: int, head: bytes, body: bytes, tail: bytes) -> None:
    assert _ids.hash_ulid(ms, head, body, tail) == python_hash_ulid(ms, head, body, tail)


@needs_accelerator
@pytest.mark.parametrize("size", [0, 1, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 100_000])
def test_hash_ulid_at_blake2b_block_edges(size: int) -> None:
    body = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    for head in (b"", b"x", b'["events",null,'):
        assert _ids.hash_ulid(1_700_000_000_000, head, body, b"]") == python_hash_ulid(
            1_700_000_000_000, head, body, b"]")


@needs_accelerator
def test_hash_ulid_takes_any_bytes_like_and_refuses_the_rest() -> None:
    expected = python_hash_ulid(5, b"a", b"bc", b"d")
    assert _ids.hash_ulid(5, bytearray(b"a"), memoryview(b"bc"), b"d") == expected
    assert _ids.hash_ulid(True, b"", b"", b"") == python_hash_ulid(1, b"", b"", b"")
    with pytest.raises(TypeError):
        _ids.hash_ulid(5, "a", b"bc", b"d")  # text is not bytes
    with pytest.raises(TypeError):
        _ids.hash_ulid(5.0, b"a", b"bc", b"d")  # the Python path's `ms >> 20` refuses floats too
    with pytest.raises(TypeError):
        _ids.hash_ulid(5, b"a", b"bc")


@needs_accelerator
@settings(max_examples=300, deadline=None)
@given(ms=MS, stream=st.text(max_size=20), namespace=st.none() | st.text(max_size=10),
       data=st.dictionaries(st.text(max_size=12), JSON, max_size=25))
def test_record_ids_are_the_same_on_both_paths(ms: int, stream: str, namespace: str | None, data: dict) -> None:
    seed, canonical = values.id_seed(stream, namespace), values._CANONICAL.encode(data)
    python = values.python_hash_ulid(ms, seed, canonical, b"]")
    assert _ids.hash_ulid(ms, seed, canonical, b"]") == python
    assert values.seeded_record_ulid(ms, seed, data) == python


@needs_accelerator
@given(event_id=st.text(st.characters(blacklist_categories=["Cs"]), max_size=40) | st.integers()
       | st.floats(allow_nan=False))
def test_user_event_ids_are_the_same_on_both_paths(event_id: object) -> None:
    text = event_id if isinstance(event_id, str) else values._CANONICAL.encode(event_id).decode()
    assert values.user_id_ulid(event_id) == python_hash_ulid(0, b"event_id\x00", text.encode("utf-8"), b"")


def test_pure_python_switch_gives_the_same_ids() -> None:
    """DESTINATION_CUSTOMER_IO_PURE_PYTHON=1 selects the Python path in a fresh process; the ids match."""
    code = ("from destination_customer_io import values as v; "
            "print(v.ACCELERATED, v.record_ulid(1_700_000_000_000, 'events', None, {'a': [1, 2.5, 'é']}), "
            "v.event_ulid('order-1', 0, 's', None, {}))")
    env = {k: val for k, val in os.environ.items() if k != "DESTINATION_CUSTOMER_IO_PURE_PYTHON"}
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    pure = subprocess.run([sys.executable, "-c", code], env={**env, "DESTINATION_CUSTOMER_IO_PURE_PYTHON": "1"},
                          capture_output=True, text=True, check=True)
    assert pure.stdout.split()[0] == "False"
    assert default.stdout.split()[0] == str(_ids is not None)
    assert pure.stdout.split()[1:] == default.stdout.split()[1:]
