"""The retrying package keeps the layout rules: small modules, no private reach, no cycle."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PREFIX = "python_mastery_portfolio.retrying"
# importlib, because the package attribute ``retrying`` is the function, not this subpackage.
PACKAGE = Path(importlib.import_module(PREFIX).__file__ or "").parent
MODULES = sorted(PACKAGE.glob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
class TestModuleRules:
    def test_small(self, path: Path) -> None:
        """Each module holds one concept: well under 400 lines."""
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400

    def test_imports_no_private_names(self, path: Path) -> None:
        """No module imports an underscore name from another module."""
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"

    def test_reads_only_own_private_attributes(self, path: Path) -> None:
        """Underscore attributes are read only through self or cls."""
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                owner = node.value
                assert isinstance(owner, ast.Name), ast.unparse(node)
                assert owner.id in {"self", "cls"}, f"{path.name}: {ast.unparse(node)}"


def test_no_import_cycle() -> None:
    """The package's modules import each other one way (TYPE_CHECKING imports included)."""
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        name = f"{PREFIX}.{path.stem}" if path.stem != "__init__" else PREFIX
        graph[name] = {
            node.module
            for node in ast.walk(_tree(path))
            if isinstance(node, ast.ImportFrom)
            and node.module is not None
            and node.module.startswith(PREFIX + ".")
        }
    done: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        assert name not in stack, f"import cycle: {' -> '.join((*stack, name))}"
        if name in done:
            return
        for imported in graph.get(name, set()):
            visit(imported, (*stack, name))
        done.add(name)

    for name in graph:
        visit(name, ())
    assert len(done) == len(MODULES)
