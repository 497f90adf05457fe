"""Tests of the package's structure: no import cycle, no private reach-through across modules.

The import-linter contracts in ``pyproject.toml`` (run by ``make lint``) hold the layers; these
tests hold what a layers contract cannot see: cycles among the modules of one layer (counting
imports under ``if TYPE_CHECKING:``, which run for the type checker) and reads of another
module's underscore names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "python_mastery_portfolio"
SOURCE = Path(__file__).resolve().parent.parent / "src" / PACKAGE

# The underscore names of the standard library that the package uses on purpose, and why.
STDLIB_PRIVATE = {
    "_asdict",  # NamedTuple's public API carries an underscore
    "_replace",
    "_fields",
    "_getframe",  # sys._getframe: the documented way to find the caller's scope
}


def module_name(path: Path) -> str:
    """Return the dotted name of the module in ``path``."""
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    """Parse every module of the package once."""
    return {
        module_name(path): ast.parse(path.read_text(), str(path))
        for path in sorted(SOURCE.rglob("*.py"))
    }


MODULES = modules()


def resolve(current: str, node: ast.ImportFrom) -> str:
    """Return the absolute module an ``ImportFrom`` names (relative imports included)."""
    if not node.level:
        return node.module or ""
    is_package = (SOURCE.parent / current.replace(".", "/") / "__init__.py").exists()
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, tree: ast.Module) -> Iterator[tuple[str, ast.stmt]]:
    """Yield every module of ours that ``name`` imports, wherever the import stands."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, node)
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield (submodule if submodule in MODULES else target), node


def graph() -> dict[str, set[str]]:
    """Return, for each module, the modules of ours it imports (a package means its __init__)."""
    return {
        name: {target for target, _ in imports_of(name, tree) if target != name}
        for name, tree in MODULES.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def is_private(name: str) -> bool:
    """Return whether ``name`` is an underscore name (dunders are public protocol)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def defined_names(tree: ast.Module) -> set[str]:
    """Return every underscore name a module defines: functions, classes, attributes, slots."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries, setattr names
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {name for name in names if is_private(name)}


def private_reads(name: str, tree: ast.Module) -> Iterator[str]:
    """Yield each read of an underscore name that the module does not define itself."""
    own = defined_names(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and is_private(node.attr)
            and node.attr not in own | STDLIB_PRIVATE
        ):
            yield f"{name}:{node.lineno} reads .{node.attr}"
    for target, node in imports_of(name, tree):
        assert isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names:
            imported = alias.name.rsplit(".", 1)[-1]
            if is_private(imported) and not target.endswith("." + imported):
                yield f"{name}:{node.lineno} imports private name {imported} from {target}"


class TestImportGraph:
    def test_graph_sees_the_package(self) -> None:
        """The scan finds the subpackages and their imports (a broken scan cannot pass)."""
        edges = graph()
        assert f"{PACKAGE}.caching._lru" in edges
        assert f"{PACKAGE}.clock" in edges[f"{PACKAGE}.caching._lru"]

    def test_no_import_cycle(self) -> None:
        """No two modules import each other, directly or through others, even for typing."""
        assert cycles(graph()) == []

    def test_cycle_detection_works(self) -> None:
        """The detector reports a cycle, including one closed only by a typing import."""
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
        assert cycles(edges) == [["a", "b", "c"]]
        assert cycles({"a": {"b"}, "b": set()}) == []


class TestPrivacy:
    def test_no_private_reach_through(self) -> None:
        """No module reads another module's underscore attributes or imports its private names."""
        found = [read for name, tree in MODULES.items() for read in private_reads(name, tree)]
        assert found == []

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("def f(x):\n    return x._secret\n", ["m:2 reads ._secret"]),
            ("class A:\n    def __init__(self):\n        self._own = 1\n", []),
            ("def f(x):\n    return x.__dict__\n", []),
            (
                f"from {PACKAGE}.clock import _hidden\n",
                [f"m:1 imports private name _hidden from {PACKAGE}.clock"],
            ),
        ],
        ids=["foreign-attribute", "own-attribute", "dunder", "private-import"],
    )
    def test_detector(self, source: str, expected: list[str]) -> None:
        """The detector flags foreign underscore reads and private imports, and nothing else."""
        assert list(private_reads("m", ast.parse(source))) == expected
