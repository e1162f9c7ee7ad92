"""Helpers for tests that talk to the emulator: auth headers, ids, op builders and a pytest fixture
factory. Import from tests: `from customerio_emulator.testing import basic_auth, person_event`.
"""

from __future__ import annotations

import base64
from typing import Any, AsyncIterator

from ulid import ULID

from .config import DEFAULT_API_KEY, DEFAULT_SITE_ID


def basic_auth(site_id: str = DEFAULT_SITE_ID, api_key: str = DEFAULT_API_KEY, urlsafe: bool = False) -> str:
    """An `Authorization` header value; `urlsafe=True` uses the URL-safe alphabet, unpadded, as Go does."""
    raw = f"{site_id}:{api_key}".encode()
    if urlsafe:
        return "Basic " + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return "Basic " + base64.b64encode(raw).decode()


def new_ulid() -> str:
    return str(ULID())


def identify(identifiers: dict[str, Any], attributes: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "person", "action": "identify", "identifiers": identifiers}
    if attributes is not None:
        op["attributes"] = attributes
    op.update(extra)
    return op


def person_event(identifiers: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "person", "action": "event", "identifiers": identifiers, "name": name, **extra}


def person_op(action: str, identifiers: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "person", "action": action}
    if identifiers is not None:
        op["identifiers"] = identifiers
    op.update(extra)
    return op


async def emulator_fixture(**kwargs: Any) -> AsyncIterator[Any]:
    """An in-process emulator for an async pytest fixture (kwargs go to `Emulator`):

        @pytest.fixture
        async def emu():
            async for emulator in emulator_fixture(lean=False):
                yield emulator
    """
    from .emulator import Emulator

    async with Emulator(**kwargs) as emu:
        yield emu
