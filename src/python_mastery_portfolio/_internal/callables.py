"""Decorator plumbing: callable inspection, exception matching and the fatal exceptions."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, TypeAlias, cast

__all__ = [
    "FATAL_EXCEPTIONS",
    "ExceptionSpec",
    "decorate_function",
    "exception_matcher",
    "is_async_callable",
    "qualified_name",
    "reject_generator",
]

FATAL_EXCEPTIONS: tuple[type[BaseException], ...] = (
    asyncio.CancelledError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)
"""Exceptions that are never retried, counted as failures, cached or swallowed."""

ExceptionSpec: TypeAlias = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
)
"""An exception type, a tuple of them, or a predicate over the raised exception."""


def exception_matcher(spec: ExceptionSpec, *, param: str) -> Callable[[BaseException], bool]:
    """Compile ``spec`` into a predicate, validating it now rather than on the first failure.

    The fatal exceptions (:data:`FATAL_EXCEPTIONS`) never match, whatever ``spec`` says.

    Args:
        spec: An exception type, a tuple of exception types, or a predicate.
        param: The name of the argument, used in error messages.

    Raises:
        TypeError: If ``spec`` is none of the accepted forms.
    """
    types: tuple[type[BaseException], ...]
    raw: object = spec  # checked at run time: callers may pass anything
    if isinstance(raw, type):
        if not issubclass(raw, BaseException):
            raise TypeError(f"{param} must be an exception type, got {spec!r}")
        types = (raw,)
    elif isinstance(raw, tuple):
        items = cast("tuple[object, ...]", raw)
        if not items or not all(
            isinstance(item, type) and issubclass(item, BaseException) for item in items
        ):
            raise TypeError(
                f"{param} must be an exception type, a non-empty tuple of them or a "
                f"predicate, got {spec!r}"
            )
        types = cast("tuple[type[BaseException], ...]", raw)
    elif callable(raw):
        predicate = cast("Callable[[BaseException], object]", spec)

        def matches_predicate(error: BaseException) -> bool:
            return not isinstance(error, FATAL_EXCEPTIONS) and bool(predicate(error))

        return matches_predicate
    else:
        raise TypeError(
            f"{param} must be an exception type, a tuple of them or a predicate, got {spec!r}"
        )

    def matches_types(error: BaseException) -> bool:
        return isinstance(error, types) and not isinstance(error, FATAL_EXCEPTIONS)

    return matches_types


def is_async_callable(func: Any) -> bool:
    """Return whether calling ``func`` returns a coroutine (partials and callables included)."""
    while hasattr(func, "func") and not inspect.isroutine(func):  # functools.partial
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    if inspect.isroutine(func) or isinstance(func, type):
        return False
    # An instance whose class defines ``async def __call__``.
    cls: type[object] = type(cast(object, func))
    return inspect.iscoroutinefunction(getattr(cls, "__call__", None))  # noqa: B004 - we ask whether __call__ is async, not whether func is callable


def reject_generator(func: Callable[..., Any], decorator: str) -> None:
    """Raise ``TypeError`` when ``func`` is a generator or async generator function."""
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(
            f"@{decorator} cannot decorate generator function {qualified_name(func)}: "
            "each next() would be a separate call"
        )


def qualified_name(func: object) -> str:
    """Return ``module.qualname`` of ``func`` (of its class for a callable instance) for logs."""
    qualname = getattr(func, "__qualname__", None)
    owner = func
    if qualname is None:
        # A callable instance: name its class, which reads better in logs than a repr.
        owner = type(func)
        qualname = owner.__qualname__
    module = getattr(owner, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def decorate_function(
    func: Any,
    wrap: Callable[[Any], Any],
    decorator: str,
    *,
    generators: bool = False,
) -> Any:
    """Apply ``wrap`` to ``func``, reaching inside a ``classmethod`` or ``staticmethod``.

    This is the one place where the decorators check what they were given: a
    classmethod/staticmethod object is unwrapped, its function decorated and the descriptor
    rebuilt (so ``@decorator`` may stand above ``@classmethod``); anything not callable is a
    ``TypeError``; generator functions are refused unless ``generators`` is true.

    Args:
        func: What the decorator was applied to.
        wrap: Builds the wrapper of a plain callable.
        decorator: The decorator's name, for error messages.
        generators: Whether generator functions may be decorated.

    Raises:
        TypeError: If ``func`` is not callable, or is a refused generator function.
    """
    if isinstance(func, classmethod | staticmethod):
        descriptor = cast("classmethod[Any, ..., Any] | staticmethod[..., Any]", func)
        inner = decorate_function(descriptor.__func__, wrap, decorator, generators=generators)
        return type(descriptor)(inner)
    if not callable(func):
        raise TypeError(f"@{decorator} needs a callable, got {func!r}")
    if not generators:
        reject_generator(func, decorator)
    return wrap(func)
