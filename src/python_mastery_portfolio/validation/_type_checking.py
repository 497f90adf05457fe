"""The names a module binds only inside ``if TYPE_CHECKING:`` blocks, read from its source.

An annotation may name a class that its module imports only for type checkers, to avoid an
import cycle or the cost of the import. At run time the name does not exist, so
:func:`~python_mastery_portfolio.validation.validate_types` cannot check it; it asks this
module whether the missing name is one of those, to skip the check with a warning rather
than fail every call with ``NameError``. The source is parsed once per module, and only
after a name failed to resolve, so a program that never meets one never pays for it.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys

__all__ = ["type_checking_names"]


def type_checking_names(module_name: str | None) -> frozenset[str]:
    """Return the names that module ``module_name`` binds inside ``if TYPE_CHECKING:``.

    An unknown module, or one whose source cannot be read or parsed, binds none.

    Example:
        >>> "Iterator" in type_checking_names("python_mastery_portfolio.validation._checks")
        False
    """
    module = sys.modules.get(module_name or "")
    if module is None:
        return frozenset()
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # built in, frozen, or its file is gone
        return frozenset()
    return _parsed(source)


@functools.lru_cache(maxsize=64)
def _parsed(source: str) -> frozenset[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # the file changed on disk since the module was imported
        return frozenset()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                for inner in ast.walk(statement):
                    names.update(_bound(inner))
    return frozenset(names)


def _is_type_checking(test: ast.expr) -> bool:
    """Tell ``TYPE_CHECKING`` and ``typing.TYPE_CHECKING`` (any module prefix) apart."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _bound(node: ast.AST) -> list[str]:
    """Return the names one statement binds in its scope."""
    if isinstance(node, ast.Import):
        return [alias.asname or alias.name.partition(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [alias.asname or alias.name for alias in node.names]
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return [node.name]
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return [node.id]  # assignment targets, type aliases written as X = ...
    return []
