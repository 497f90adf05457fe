"""docs/guides/logging.md documents exactly the logger names the code uses.

The names are read from the source, without importing it: every ``logging.getLogger(...)``
call whose argument is ``__name__``, ``__package__`` or a string literal names a logger. A
call with any other argument must be one of the known dynamic ones below, so a new kind of
logger cannot slip past the page either.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "python_mastery_portfolio"
PAGE = ROOT / "docs" / "guides" / "logging.md"

# The getLogger calls whose name is computed, and what the page says about them instead.
DYNAMIC = {
    "python_mastery_portfolio/patterns/_class_logging.py": "the decorated class's module logger",
    "python_mastery_portfolio/logs.py": "the root logger, which setup_logging configures",
    "python_mastery_portfolio/service/admin.py": "log.set_level: any logger, by name",
}

TABLE_ROW = re.compile(r"^\|\s*`(python_mastery_portfolio(?:\.\w+)*)`\s*\|", re.MULTILINE)
SECTION = re.compile(r"^###\s+`(python_mastery_portfolio(?:\.\w+)*)`\s*$", re.MULTILINE)


def _module_names(path: Path) -> tuple[str, str]:
    """Return the ``__name__`` and ``__package__`` of the module at ``path``."""
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        name = ".".join(parts[:-1])
        return name, name
    return ".".join(parts), ".".join(parts[:-1])


def _is_get_logger(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr == "getLogger"
    return isinstance(func, ast.Name) and func.id == "getLogger"


def scan() -> tuple[dict[str, list[str]], dict[str, int]]:
    """Return {logger name: [where]} for the static calls, {file: count} for dynamic ones."""
    named: dict[str, list[str]] = {}
    dynamic: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(SRC))
        module, package = _module_names(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), where)):
            if not (isinstance(node, ast.Call) and _is_get_logger(node)):
                continue
            argument = node.args[0] if node.args else None
            if isinstance(argument, ast.Name) and argument.id == "__name__":
                name = module
            elif isinstance(argument, ast.Name) and argument.id == "__package__":
                name = package
            elif isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                name = argument.value
            else:
                dynamic[where] = dynamic.get(where, 0) + 1
                continue
            named.setdefault(name, []).append(f"{where}:{node.lineno}")
    return named, dynamic


def documented(pattern: re.Pattern[str]) -> list[str]:
    """Return the logger names the page lists in its table (or its section headings)."""
    return pattern.findall(PAGE.read_text(encoding="utf-8"))


class TestScanner:
    def test_finds_the_known_loggers(self) -> None:
        """The scan sees each way the code names a logger (it is not vacuously empty)."""
        named, _ = scan()
        assert "python_mastery_portfolio" in named  # __name__ of the package's __init__
        assert "python_mastery_portfolio.retrying" in named  # __package__ of a submodule
        assert "python_mastery_portfolio.timing" in named  # __name__ of a top-level module
        assert "python_mastery_portfolio.typing_utils" in named  # a string literal

    @pytest.mark.parametrize(
        ("relative", "expected"),
        [
            ("python_mastery_portfolio/__init__.py", ("python_mastery_portfolio",) * 2),
            (
                "python_mastery_portfolio/timing.py",
                ("python_mastery_portfolio.timing", "python_mastery_portfolio"),
            ),
            (
                "python_mastery_portfolio/retrying/_engine.py",
                ("python_mastery_portfolio.retrying._engine", "python_mastery_portfolio.retrying"),
            ),
        ],
        ids=["package", "module", "submodule"],
    )
    def test_module_names(self, relative: str, expected: tuple[str, str]) -> None:
        """__name__ and __package__ are derived from the path as Python does."""
        assert _module_names(SRC / relative) == expected


class TestLoggingPage:
    def test_every_logger_is_documented(self) -> None:
        """Each logger name in the code has a row in the page's table."""
        named, _ = scan()
        rows = set(documented(TABLE_ROW))
        missing = {name: where for name, where in named.items() if name not in rows}
        assert not missing, f"add these loggers to {PAGE.name}: {missing}"

    def test_every_documented_logger_exists(self) -> None:
        """The table names no logger that the code does not use, and none twice."""
        rows = documented(TABLE_ROW)
        assert len(rows) == len(set(rows))
        named, _ = scan()
        assert not set(rows) - named.keys(), "the page names loggers the code does not use"

    def test_every_logger_has_a_section(self) -> None:
        """Each logger in the table has its ``### `name` `` section saying what it logs."""
        assert documented(SECTION) == documented(TABLE_ROW)

    def test_dynamic_loggers_are_the_known_ones(self) -> None:
        """A getLogger call with a computed name is one of the few the page covers in prose."""
        _, dynamic = scan()
        assert dynamic.keys() == DYNAMIC.keys()
        text = PAGE.read_text(encoding="utf-8")
        for marker in ("cls.__module__", "`setup_logging", "`log.set_level`"):
            assert marker in text
