"""Turn raised exceptions into results: :func:`attempt` for one call, :func:`as_result` to decorate.

Private: :mod:`python_mastery_portfolio.typing_utils` re-exports both.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeAlias, TypeVar, cast, overload

from python_mastery_portfolio._internal.callables import (
    ExceptionSpec,
    exception_matcher,
    is_async_callable,
    qualified_name,
    reject_generator,
)
from python_mastery_portfolio.result._result import Failure, Success

__all__ = ["as_result", "attempt"]

T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
R = TypeVar("R")
P = ParamSpec("P")
X = TypeVar("X", bound=BaseException)
X2 = TypeVar("X2", bound=BaseException)
X3 = TypeVar("X3", bound=BaseException)
X_co = TypeVar("X_co", bound=BaseException, covariant=True)

_Outcome: TypeAlias = Success[T_co, E_co] | Failure[T_co, E_co]
_DEFAULT_EXCEPTIONS: tuple[type[Exception]] = (Exception,)
_match_default = exception_matcher(_DEFAULT_EXCEPTIONS, param="exceptions")


@overload
def attempt(  # pyright: ignore[reportOverlappingOverload]  # tried first: overload 2's **kwargs never sees exceptions=
    fn: Callable[..., R],
    /,
    *args: Any,
    exceptions: type[X] | tuple[type[X], ...],
    **kwargs: Any,
) -> _Outcome[R, X]: ...


@overload
def attempt(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> _Outcome[R, Exception]: ...


def attempt(
    fn: Callable[..., Any],
    /,
    *args: Any,
    exceptions: type[BaseException] | tuple[type[BaseException], ...] = _DEFAULT_EXCEPTIONS,
    **kwargs: Any,
) -> _Outcome[Any, BaseException]:
    """Call ``fn(*args, **kwargs)``; return its value as ``Success`` or its error as ``Failure``.

    Only exceptions of the given types become failures; anything else propagates, and so do
    ``asyncio.CancelledError``, ``KeyboardInterrupt`` and ``SystemExit`` whatever ``exceptions``
    says. The arguments are not checked against ``fn``'s signature by mypy (a keyword-only
    option cannot follow ``ParamSpec`` arguments); use :func:`as_result` for that.

    Args:
        fn: The function to call; it must not be a coroutine function.
        *args: Positional arguments for ``fn``.
        exceptions: An exception type or a tuple of them to capture.
        **kwargs: Keyword arguments for ``fn``.

    Returns:
        ``Success(value)`` or ``Failure(error)``.

    Raises:
        TypeError: If ``exceptions`` is not an exception type or tuple of them, or ``fn``
            returned a coroutine (use ``await`` with :func:`as_result` instead).

    Example:
        >>> attempt(int, "42")
        Success(42)
        >>> attempt(int, "forty-two", exceptions=ValueError)
        Failure(ValueError("invalid literal for int() with base 10: 'forty-two'"))
    """
    if exceptions is _DEFAULT_EXCEPTIONS:
        matches = _match_default
    else:
        matches = _compile_exceptions(exceptions)
    try:
        value = fn(*args, **kwargs)
    except BaseException as error:
        if matches(error):
            return Failure(error)
        raise
    if inspect.iscoroutine(value):
        value.close()  # never awaited: close it so no RuntimeWarning fires later
        raise TypeError(
            f"attempt() called coroutine function {qualified_name(fn)}; "
            "decorate it with @as_result() and await it instead"
        )
    return Success(value)


def _compile_exceptions(spec: object) -> Callable[[BaseException], bool]:
    """Validate an exception type or tuple of them (predicates are not accepted here)."""
    if callable(spec) and not isinstance(spec, type):
        raise TypeError(f"exceptions must be an exception type or a tuple of them, got {spec!r}")
    return exception_matcher(cast("ExceptionSpec", spec), param="exceptions")


class _ResultDecorator(Protocol[X_co]):
    """The decorator :func:`as_result` returns: it keeps the signature, wraps the return."""

    @overload
    def __call__(  # type: ignore[overload-overlap]  # a coroutine function is matched first on purpose
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, Coroutine[Any, Any, _Outcome[R, X_co]]]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, _Outcome[R, X_co]]: ...


@overload
def as_result() -> _ResultDecorator[Exception]: ...


@overload
def as_result(exception: type[X], /) -> _ResultDecorator[X]: ...


@overload
def as_result(exception: type[X], other: type[X2], /) -> _ResultDecorator[X | X2]: ...


@overload
def as_result(
    exception: type[X], other: type[X2], third: type[X3], /
) -> _ResultDecorator[X | X2 | X3]: ...


@overload
def as_result(*exceptions: type[X]) -> _ResultDecorator[X]: ...


def as_result(*exceptions: type[BaseException]) -> _ResultDecorator[BaseException]:
    """Make a function return a ``Result`` instead of raising the given exceptions.

    Works on ``def`` and ``async def`` functions (the wrapper of a coroutine function is a
    coroutine function). With no arguments, any ``Exception`` is captured; fatal exceptions
    (``asyncio.CancelledError``, ``KeyboardInterrupt``, ``SystemExit``) always propagate.

    Args:
        *exceptions: The exception types to capture as a ``Failure``.

    Returns:
        A decorator; the decorated function returns ``Success(value)`` or ``Failure(error)``.

    Raises:
        TypeError: At decoration time, if an argument is not an exception type (for example
            ``@as_result`` written without parentheses) or the function is a generator.

    Example:
        >>> @as_result(ZeroDivisionError)
        ... def inverse(x: float) -> float:
        ...     return 1 / x
        >>> inverse(4)
        Success(0.25)
        >>> inverse(0)
        Failure(ZeroDivisionError('division by zero'))
    """
    only: object = exceptions[0] if len(exceptions) == 1 else None  # run-time check of any input
    if callable(only) and not isinstance(only, type):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError("as_result() takes exception types; write @as_result() with parentheses")
    matches = exception_matcher(exceptions or _DEFAULT_EXCEPTIONS, param="exceptions")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        reject_generator(func, "as_result")
        if is_async_callable(func):

            @wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> _Outcome[Any, BaseException]:
                try:
                    value = await func(*args, **kwargs)
                except BaseException as error:
                    if matches(error):
                        return Failure(error)
                    raise
                return Success(value)

            return async_wrapper

        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> _Outcome[Any, BaseException]:
            try:
                value = func(*args, **kwargs)
            except BaseException as error:
                if matches(error):
                    return Failure(error)
                raise
            return Success(value)

        return wrapper

    return decorate
