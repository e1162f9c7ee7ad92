"""The emulator process every end-to-end module shares the shape of: one per module, its workspaces the
module's ``WORKSPACES`` (default: the emulator's demo workspace), reset before each test. It runs in
strict-contract mode: every request the e2e suite sends is checked against Customer.io's published
Track API document, and one it refuses is refused (400, or 207 for a batch entry), so a test fails."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from customerio_emulator.process import EmulatorProcess, start_emulator_process


@pytest.fixture(scope="module")
def emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorProcess]:
    workspaces: list[dict[str, Any]] | None = getattr(request.module, "WORKSPACES", None)
    with start_emulator_process(workspaces, strict_contract=True) as emu:
        yield emu


@pytest.fixture()
def emu(emulator: EmulatorProcess) -> EmulatorProcess:
    emulator.client.reset()  # every workspace, the request log and the faults
    return emulator
