"""The one annotation resolver: where a callable's string annotations are evaluated, and how.

Dependency injection (reading a factory's parameters) and ``validate_types`` (compiling
checkers) both turn annotations written as strings -- ``from __future__ import annotations``
or forward references -- into objects, in the scope of the code that wrote them.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Mapping
from typing import Any, cast

__all__ = ["evaluate", "globals_of"]


def globals_of(target: object) -> dict[str, Any]:
    """Return the module globals that ``target``'s string annotations are evaluated in.

    ``target`` may be a function (decorated ones are unwrapped), a :func:`functools.partial`,
    a class (the globals of its ``__init__`` or ``__new__``, else of its module) or a callable
    instance (the globals of its class's ``__call__``).

    Example:
        >>> globals_of(functools.partial(globals_of))["__name__"]
        'python_mastery_portfolio._internal.annotations'
    """
    while True:
        target = inspect.unwrap(target)  # type: ignore[arg-type]  # any object may be unwrapped
        if not isinstance(target, functools.partial):
            break
        target = target.func
    if isinstance(target, type):
        for attribute in ("__init__", "__new__"):
            namespace = getattr(inspect.unwrap(getattr(target, attribute)), "__globals__", None)
            if isinstance(namespace, dict):
                return cast("dict[str, Any]", namespace)  # a function's __globals__
        module = sys.modules.get(target.__module__)
        return dict(vars(module)) if module is not None else {}
    function = target if inspect.isroutine(target) else type(target).__call__
    namespace = getattr(inspect.unwrap(function), "__globals__", None)
    return cast("dict[str, Any]", namespace) if isinstance(namespace, dict) else {}


def evaluate(source: str, globalns: dict[str, Any], localns: Mapping[str, Any]) -> object:
    """Evaluate the string annotation ``source`` as :func:`typing.get_type_hints` would.

    ``*tuple[int, str]`` and ``*Ts`` (unpacked forms) are evaluated as their unpacked value,
    as :class:`typing.ForwardRef` does. Errors propagate as raised (``NameError`` for a name
    the scope lacks).

    Example:
        >>> evaluate("list[Widget]", {}, {"Widget": int})
        list[int]
    """
    if source.startswith("*"):
        source = f"({source},)[0]"
    # The string is an annotation the code's author wrote, evaluated in that code's own scope,
    # the way typing.get_type_hints does.
    return eval(source, globalns, dict(localns))  # noqa: S307 - see above
