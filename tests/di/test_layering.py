"""Structural checks of the DI subpackage: imports flow one way, no private reach-through."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import python_mastery_portfolio.di as di_package

PACKAGE = "python_mastery_portfolio.di"
ROOT = Path(di_package.__file__).parent

# Each module may import only the modules before it (``if TYPE_CHECKING:`` imports count).
ORDER = [
    "_graph",
    "_protocols",
    "_cells",
    "_build",
    "_registration",
    "_compile",
    "_reports",
    "_scope",
    "_container",
    "_inject",
    "__init__",
]


def _tree(module: str) -> ast.Module:
    return ast.parse((ROOT / f"{module}.py").read_text(encoding="utf-8"))


def _di_imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module == PACKAGE:
                found.update(alias.name for alias in node.names)
            elif node.module.startswith(f"{PACKAGE}."):
                found.add(node.module.removeprefix(f"{PACKAGE}."))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(f"{PACKAGE}."):
                    found.add(alias.name.removeprefix(f"{PACKAGE}."))
    return found


class TestLayering:
    def test_order_lists_every_module(self) -> None:
        """The declared order names each module of the subpackage exactly once."""
        assert sorted(ORDER) == sorted(path.stem for path in ROOT.glob("*.py"))

    @pytest.mark.parametrize("module", ORDER)
    def test_imports_flow_one_way(self, module: str) -> None:
        """A module imports only modules declared before it, so there is no cycle."""
        allowed = set(ORDER[: ORDER.index(module)])
        assert _di_imports(_tree(module)) <= allowed

    @pytest.mark.parametrize("module", ORDER)
    def test_no_private_reach_through(self, module: str) -> None:
        """No underscore attribute of another object is read, and no underscore name imported."""
        offences: list[str] = []
        for node in ast.walk(_tree(module)):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                offences.append(f"line {node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.ImportFrom):
                offences.extend(
                    f"line {node.lineno}: imports {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                )
        assert offences == []
