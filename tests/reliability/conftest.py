"""Fixtures for the reliability suite: one emulator process per module (reset before each test),
the ``--soak`` switch (or ``SOAK=1``) for the long runs, and the figures each test reports.

Run: ``.venv/bin/python -m pytest tests/reliability -q`` (CI, well under 3 minutes on 2 cores);
``SOAK=1 .venv/bin/python -m pytest tests/reliability -q`` (or ``--soak``) for many more crashes and
records. Each test prints one ``FIGURES`` line (faults injected, records checked, duplicates found);
``-s`` shows them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from customerio_emulator import start_emulator_process  # noqa: E402
from customerio_emulator.process import EmulatorProcess  # noqa: E402

from .harness import API_KEY, SITE_ID  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption("--soak", action="store_true", default=False,
                         help="reliability suite: long soak runs (also SOAK=1)")
    except ValueError:  # already registered by another conftest
        pass


def soak_enabled(config: pytest.Config) -> bool:
    flag = config.getoption("--soak", default=False)
    return bool(flag) or os.environ.get("SOAK", "") not in ("", "0")


@pytest.fixture(scope="session")
def soak(request: pytest.FixtureRequest) -> bool:
    return soak_enabled(request.config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if soak_enabled(config):
        return
    skip = pytest.mark.skip(reason="soak run: pass --soak or set SOAK=1")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


_FIGURES: list[dict[str, object]] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest):
    """``figures(faults=.., records=.., duplicates=.., **more)``: one line for the run's report."""

    def record(**values: object) -> None:
        _FIGURES.append({"test": request.node.name, **values})

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FIGURES:
        return
    totals = {key: sum(int(f.get(key, 0)) for f in _FIGURES)  # type: ignore[call-overload]
              for key in ("faults", "records", "duplicates")}
    terminalreporter.write_sep("-", "reliability figures")
    for entry in _FIGURES:
        terminalreporter.write_line("  ".join(f"{k}={v}" for k, v in entry.items()))
    terminalreporter.write_line(
        f"TOTAL faults injected={totals['faults']} records checked={totals['records']} "
        f"duplicates found={totals['duplicates']}")


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[EmulatorProcess]:
    workspaces = [{"site_id": SITE_ID, "api_key": API_KEY, "region": "us"}]
    with start_emulator_process(workspaces=workspaces, extra_args=["--request-log-size", "100"]) as proc:
        yield proc


@pytest.fixture
def emu(emulator_process: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """The module's emulator, emptied and without faults."""
    emulator_process.client.reset()
    emulator_process.client.clear_faults()
    yield emulator_process
    emulator_process.client.clear_faults()


@pytest.fixture
def rejected_dir(tmp_path: Path) -> Path:
    return tmp_path / "rejected"
