"""``check_type``: one value against one annotation, with the same checkers and messages."""

from __future__ import annotations

import inspect
import typing
from types import FrameType
from typing import Any, TypeVar, overload

from python_mastery_portfolio.validation._checks import explain, failure_error
from python_mastery_portfolio.validation._compiler import Compiler

__all__ = ["check_type"]

_T = TypeVar("_T")
_V = TypeVar("_V")


@overload
def check_type(value: object, hint: type[_T], *, name: str = "value") -> _T: ...


@overload
def check_type(value: _V, hint: object, *, name: str = "value") -> _V: ...


def check_type(value: Any, hint: object, *, name: str = "value") -> Any:
    """Check ``value`` against the annotation ``hint`` and return it unchanged.

    The hint means what it means to :func:`validate_types`: containers are checked in full,
    a string (or a string inside the hint) is resolved in the scope of the caller. Each call
    compiles the hint afresh; to check many values against one hint, a decorated function
    is faster.

    Args:
        value: The value to check.
        hint: Any annotation :func:`validate_types` supports.
        name: How the message and the error's ``path`` name the value.

    Returns:
        ``value`` itself (typed as ``hint`` when it is a class), so the call can be inlined.

    Raises:
        ValidationError: When ``value`` does not match: ``field`` is ``name``, ``value`` the
            innermost offending item and ``context["path"]`` where it is (``value[2]``).
        TypeError: When ``hint`` cannot be checked at run time.
        NameError: When a string in ``hint`` names nothing in the caller's scope.

    Example:
        >>> from python_mastery_portfolio.exceptions import ValidationError
        >>> check_type([1, 2], list[int])
        [1, 2]
        >>> try:
        ...     check_type({"a": [1, "2"]}, dict[str, list[int]], name="scores")
        ... except ValidationError as error:
        ...     print(error, "|", error.context["path"])
        scores at scores['a'][1] expected int, got str: '2' | scores['a'][1]
    """
    # Strings in the hint are read where the caller wrote them, as an annotation would be.
    frame = typing.cast("FrameType", typing.cast("FrameType", inspect.currentframe()).f_back)
    try:
        compiler = Compiler(frame.f_globals, frame.f_locals)
    finally:
        del frame  # a local naming a frame would keep it alive until the GC runs
    node = compiler.compile(hint)
    if not node.check(value):
        raise failure_error(name, name, explain(node, value, name))
    return value
