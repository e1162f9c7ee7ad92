"""ARCHITECTURE.md stays true: the import graph has no loop, every module is on the code map with the
imports it makes, and modules and functions stay the size a newcomer can read (issue 16's bounds)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "destination_customer_io"


def _import_graph():  # scripts/ is not a package: load the script as a module
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module
    spec.loader.exec_module(module)
    return module


def test_the_import_graph_has_no_loop_and_every_edge_points_down() -> None:
    """Type-level imports (``if TYPE_CHECKING:``) count: they tie modules as surely as calls do."""
    graph = _import_graph()
    edges = graph.graph()
    level, loops = graph.layers(edges)
    assert loops == []
    assert list(graph.upward(edges, level)) == []
    assert len(edges) > 40  # the scan found the package's modules


def test_the_scan_counts_type_level_imports() -> None:
    source = ast.parse("from typing import TYPE_CHECKING\nfrom .a import x\nif TYPE_CHECKING:\n"
                       "    from .b import Y\nelse:\n    from .c import z\n")
    run, typed = _import_graph()._imports(source, "destination_customer_io.m", False)
    assert "destination_customer_io.b" in typed - run
    assert {"destination_customer_io.a", "destination_customer_io.c"} <= run


def _code_map() -> dict[str, set[str]]:
    """ARCHITECTURE.md's code map: `module.py` or `package/` -> the imports its row lists."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = text.split("## Code map", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            listed = cells[2]
            rows[cells[0].strip("`")] = set() if listed == "-" else {name.strip() for name in listed.split(",")}
    return rows


def _unit(module: str) -> str:
    """The code map's row of a module: `name.py`, or `package/` for a module of a subpackage."""
    parts = module.split(".")[1:]
    return f"{parts[0]}/" if (PACKAGE / parts[0]).is_dir() else f"{parts[0]}.py"


def _imports_by_row() -> dict[str, set[str]]:
    """What each row's modules import, outside their own package, as `name` or `package.module`."""
    found: dict[str, set[str]] = {}
    for source, targets in _import_graph().graph().items():
        if source == "destination_customer_io":
            continue
        row = found.setdefault(_unit(source), set())
        row.update(target.removeprefix("destination_customer_io.") for target in targets
                   if _unit(target) != _unit(source))
    return found


def _covers(listed: str, imported: str) -> bool:
    return imported == listed or imported.startswith(f"{listed}.")


def test_every_module_is_on_the_code_map() -> None:
    rows = _code_map()
    for path in PACKAGE.glob("*.py"):
        if path.name != "__init__.py":
            assert path.name in rows or path.name == "__main__.py", path.name
    for path in PACKAGE.iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            assert f"{path.name}/" in rows, path.name


def test_the_emulator_is_on_the_map_and_imports_nothing_of_the_connector() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    emulator = ROOT / "src" / "customerio_emulator"
    for path in emulator.glob("*.py"):
        if path.name not in ("__init__.py", "__main__.py"):
            assert f"`{path.name}`" in text, path.name
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(name.startswith("destination_customer_io") for name in names), path.name


def test_the_code_map_lists_each_modules_imports_exactly() -> None:
    rows = _code_map()
    for row, imported in _imports_by_row().items():
        if row == "__main__.py":
            continue
        listed = rows[row]
        unlisted = {name for name in imported if not any(_covers(entry, name) for entry in listed)}
        unused = {entry for entry in listed if not any(_covers(entry, name) for name in imported)}
        assert (unlisted, unused) == (set(), set()), f"{row}: imports not on its row {sorted(unlisted)}, " \
            f"listed but not imported {sorted(unused)}"


def test_the_pipeline_holds_wiring_only() -> None:
    assert (PACKAGE / "pipeline.py").read_text(encoding="utf-8").count("\n") <= 200


def test_modules_and_functions_stay_readable() -> None:
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert source.count("\n") <= 350, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # at most 50 lines, def to end
                assert node.end_lineno - node.lineno + 1 <= 50, (path, node.name)


def test_each_row_of_the_code_map_imports_only_rows_listed_before_it() -> None:
    rows = list(_code_map())
    for row, imported in _imports_by_row().items():
        if row == "__main__.py":
            continue
        later = [name for name in imported
                 if rows.index(_unit(f"destination_customer_io.{name}")) > rows.index(row)]
        assert later == [], f"{row} imports {later}, listed after it (the table goes from the bottom layer up)"


def test_the_sync_counts_are_written_only_by_their_own_methods() -> None:
    """summary.Counts has one owner: outside summary.py no module assigns to (or adds to) one of its
    fields; intake, delivery, batching, checkpoints and segments call its methods."""
    from destination_customer_io.summary import Counts

    fields = set(Counts.__dataclass_fields__)
    writes = []
    for path in sorted((ROOT / "src" / "destination_customer_io").rglob("*.py")):
        if path.name == "summary.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AugAssign) else []
            for target in targets:
                if isinstance(target, ast.Subscript):
                    target = target.value
                if isinstance(target, ast.Attribute) and target.attr in fields and \
                        isinstance(target.value, ast.Attribute) and target.value.attr == "counts" or \
                        isinstance(target, ast.Attribute) and target.attr in fields and \
                        isinstance(target.value, ast.Name) and target.value.id == "counts":
                    writes.append(f"{path.name}:{node.lineno}")
    assert writes == []
