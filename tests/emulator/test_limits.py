"""The emulator's limits and the connector's are two tables, each from Customer.io's documentation: they
must agree name by name, so a wrong value on either side fails here instead of passing unnoticed (one
shared table could never disagree with itself). The emulator imports nothing of the connector.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from customerio_emulator import limits as emulator_limits
from destination_customer_io import limits as connector_limits

EMULATOR_SRC = Path(emulator_limits.__file__).resolve().parent


def test_both_tables_name_the_same_limits() -> None:
    assert sorted(emulator_limits.LIMITS) == sorted(connector_limits.LIMITS)


@pytest.mark.parametrize("name", sorted(connector_limits.LIMITS))
def test_emulator_and_connector_agree_on(name: str) -> None:
    assert emulator_limits.LIMITS[name] == connector_limits.LIMITS[name], (
        f"{name}: the emulator enforces {emulator_limits.LIMITS[name]}, the connector checks "
        f"{connector_limits.LIMITS[name]}; one of them no longer says what Customer.io documents")


def test_each_table_holds_its_module_constants() -> None:
    for module in (emulator_limits, connector_limits):
        for name, value in module.LIMITS.items():
            assert getattr(module, name.upper()) == value, (module.__name__, name)


def test_the_emulator_imports_nothing_of_the_connector() -> None:
    found = []
    for path in sorted(EMULATOR_SRC.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "destination_customer_io"]
    assert found == []
    code = ("import sys, customerio_emulator, customerio_emulator.cli, customerio_emulator.server; "
            "print(any(m.split('.')[0] == 'destination_customer_io' for m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
