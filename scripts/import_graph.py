"""The connector's import graph, as ARCHITECTURE.md states it: module -> the package modules it imports
at run time (imports under ``if TYPE_CHECKING:`` are left out), each module's layer, and any loop.

    .venv/bin/python scripts/import_graph.py [--check]

A module's layer is one more than the highest layer it imports, so an edge always points to a lower
layer unless there is a loop. ``--check`` exits 1 when there is a loop (tests/unit/test_packaging.py
runs it).
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


def _imports(tree: ast.AST, here: str, is_package: bool) -> set[str]:
    """Package modules imported at run time (function-level imports included: they run too)."""
    found: set[str] = set()
    base = here.split(".") if is_package else here.split(".")[:-1]
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
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
        stack.extend(ast.iter_child_nodes(node))
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in paths.items():
        raw = _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py")
        edges[name] = {m for m in raw if m in paths and m != name}
    return edges


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    edges = graph()
    level, loops = layers(edges)
    for name in sorted(edges, key=lambda n: (level[n], n)):
        print(f"{level[name]:>2} {name.removeprefix('destination_customer_io.') or '(package)'}: "
              + ", ".join(sorted(m.removeprefix("destination_customer_io.") for m in edges[name])))
    print("loops:", loops or "none")
    return 1 if args.check and loops else 0


if __name__ == "__main__":
    sys.exit(main())
