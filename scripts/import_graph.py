"""The connector's import graph, as ARCHITECTURE.md states it: module -> the package modules it imports,
at run time or for types only (under ``if TYPE_CHECKING:``, marked ``(type)``: a type names a module as
surely as a call does), each module's layer, any loop and the upward edges.

    .venv/bin/python scripts/import_graph.py [--check] [--run-time]

A module's layer is one more than the highest layer it imports, so an edge always points to a lower
layer unless there is a loop; the edges that point to the same or a higher layer are the upward ones
(each closes a loop). ``--run-time`` leaves type-level imports out. ``--check`` exits 1 when there is
a loop (tests/unit/test_architecture.py holds the graph to 0 loops).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "destination_customer_io"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, here: str, is_package: bool) -> tuple[set[str], set[str]]:
    """Package modules imported (function-level imports included: they run too), and those imported
    under ``if TYPE_CHECKING:``."""
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            typed |= _targets(node.body, here, is_package)
    return _targets([tree], here, is_package, skip_type_checking=True), typed


def _targets(nodes: list[ast.AST], here: str, is_package: bool, *, skip_type_checking: bool = False) -> set[str]:
    found: set[str] = set()
    base = here.split(".") if is_package else here.split(".")[:-1]
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if skip_type_checking and isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            anchor = base[: len(base) - node.level + 1]
            target = ".".join([*anchor, *(node.module.split(".") if node.module else [])])
            if node.module:
                found.add(target)
            for alias in node.names:  # `from . import x` / `from .pkg import module`
                candidate = f"{target}.{alias.name}"
                found.add(candidate)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("destination_customer_io"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("destination_customer_io"))
        stack.extend(ast.iter_child_nodes(node))
    return found


def graph(type_level: bool = True) -> dict[str, set[str]]:
    """module -> the package modules it imports; ``type_level``: those under ``if TYPE_CHECKING:`` too."""
    return {name: run | typed if type_level else run for name, (run, typed) in _scan().items()}


def type_only() -> set[tuple[str, str]]:
    """The edges made only under ``if TYPE_CHECKING:``."""
    return {(name, target) for name, (run, typed) in _scan().items() for target in typed - run}


def _scan() -> dict[str, tuple[set[str], set[str]]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    found = {}
    for name, path in paths.items():
        run, typed = _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py")
        found[name] = ({m for m in run if m in paths and m != name}, {m for m in typed if m in paths and m != name})
    return found


def upward(edges: dict[str, set[str]], level: dict[str, int]) -> list[tuple[str, str]]:
    """The edges that do not point to a lower layer: each closes a loop."""
    return sorted((source, target) for source, targets in edges.items() for target in targets
                  if level[target] >= level[source])


def layers(edges: dict[str, set[str]]) -> tuple[dict[str, int], list[list[str]]]:
    """Layer of each module, and the loops (strongly connected components of more than one module)."""
    index, low, on_stack, stack, loops, counter = {}, {}, set(), [], [], [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in edges:  # recursion depth is at most the number of modules (~60): the default limit holds
        if v not in index:
            connect(v)
    level: dict[str, int] = {}

    def depth(v: str, seen: frozenset[str] = frozenset()) -> int:
        if v in level:
            return level[v]
        below = [depth(w, seen | {v}) for w in edges[v] if w not in seen]
        level[v] = 1 + max(below, default=-1)
        return level[v]

    for v in edges:
        depth(v)
    return level, loops


def _short(name: str) -> str:
    return name.removeprefix("destination_customer_io.") or "(package)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--run-time", action="store_true", help="leave type-level imports out")
    args = parser.parse_args()
    edges = graph(type_level=not args.run_time)
    typed = type_only()
    level, loops = layers(edges)
    for name in sorted(edges, key=lambda n: (level[n], n)):
        print(f"{level[name]:>2} {_short(name)}: " + ", ".join(
            _short(m) + (" (type)" if (name, m) in typed else "") for m in sorted(edges[name])))
    print("loops:", [[_short(m) for m in loop] for loop in loops] or "none")
    print("upward edges:", [f"{_short(s)} -> {_short(t)}" + (" (type)" if (s, t) in typed else "")
                            for s, t in upward(edges, level)] or "none")
    return 1 if args.check and loops else 0


if __name__ == "__main__":
    sys.exit(main())
