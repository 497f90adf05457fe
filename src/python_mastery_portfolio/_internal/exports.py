"""Make the package root's exports name the package root as their module.

The public classes and functions live in private modules (``result/_result.py``,
``caching/_lru.py``, ...). A repr, a traceback, the API docs and a pickle should name the path
users import them from, so the root rewrites ``__module__`` once, as httpx and trio do.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterable, Mapping

__all__ = ["present_as"]


def present_as(module: str, namespace: Mapping[str, object], names: Iterable[str]) -> None:
    """Give each named class or function in ``namespace`` the module name ``module``.

    For each export defined in a submodule of ``module`` (``module.sub...``), ``__module__``
    becomes ``module``; an export whose ``__qualname__`` differs from the name it is exported
    under (an alias, a class built by a factory) takes that name as ``__qualname__``, so that
    pickle finds it at ``module.<name>``. The functions and classes defined in an exported
    class's body (methods, static and class methods, property accessors, nested classes) get
    ``module`` too: doctest looks for an object's examples in the module its ``__module__``
    names, so a class's method examples are collected with the class, from ``module``, and run
    in ``module``'s globals.

    A class's own string annotations (``from __future__ import annotations``) are evaluated
    first, while ``__module__`` still names the module whose globals they refer to:
    :func:`typing.get_type_hints` looks names up in the globals of the module that
    ``__module__`` names, and the root does not import ``ClassVar`` or ``Any``. Annotations
    that do not resolve there either (names imported only under ``TYPE_CHECKING``) stay strings.

    Values that are not classes or functions (``__version__``), objects of other packages and
    functions that a class body merely refers to (a helper assigned as ``__setattr__``) are
    left as they are.

    Args:
        module: The public module's name, e.g. ``"python_mastery_portfolio"``.
        namespace: That module's globals.
        names: The names to present, normally its ``__all__``.

    Example:
        >>> class Widget:
        ...     def size(self) -> int:
        ...         return 1
        >>> Widget.__module__ = Widget.size.__module__ = "pkg._widgets"
        >>> present_as("pkg", {"Widget": Widget, "__version__": "1.0"}, ["Widget", "__version__"])
        >>> Widget.__module__, Widget.size.__module__
        ('pkg', 'pkg')
    """
    prefix = f"{module}."
    seen: set[int] = set()
    for name in names:
        export = namespace[name]
        if not isinstance(export, type | types.FunctionType) or not _defined_under(export, prefix):
            continue
        _present_members(export, module, prefix, seen)
        _resolve_annotations(export)
        export.__module__ = module
        if export.__qualname__ != name:
            export.__qualname__ = name


def _defined_under(obj: type | types.FunctionType, prefix: str) -> bool:
    owner = getattr(obj, "__module__", None)  # None for a function exec'd without __name__
    return isinstance(owner, str) and owner.startswith(prefix)


def _present_members(cls: object, module: str, prefix: str, seen: set[int]) -> None:
    """Give ``module`` to the functions and classes that ``cls``'s body defines, recursively."""
    if not isinstance(cls, type) or id(cls) in seen:
        return
    seen.add(id(cls))
    inside = f"{cls.__qualname__}."
    for value in vars(cls).values():
        member: object = value
        if isinstance(value, staticmethod | classmethod):
            descriptor = typing.cast(
                "staticmethod[..., object] | classmethod[typing.Any, ..., object]", value
            )
            member = descriptor.__func__
        parts: list[object] = (
            [member.fget, member.fset, member.fdel] if isinstance(member, property) else [member]
        )
        for part in parts:
            if (
                isinstance(part, type | types.FunctionType)
                and part.__qualname__.startswith(inside)  # else only referred to here
                and _defined_under(part, prefix)
            ):
                _present_members(part, module, prefix, seen)
                _resolve_annotations(part)
                part.__module__ = module


def _resolve_annotations(obj: type | types.FunctionType) -> None:
    """Replace a class's own string annotations by the objects they name (see present_as)."""
    if not isinstance(obj, type):
        return  # a function keeps its __globals__, where its annotations are looked up
    own = inspect.get_annotations(obj)
    if not own:
        return
    try:
        hints = typing.get_type_hints(obj, include_extras=True)
    except (NameError, AttributeError, TypeError, SyntaxError):
        return  # did not resolve before either: leave the class as it is
    obj.__annotations__ = {name: hints[name] for name in own}
