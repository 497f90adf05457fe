"""The retry decorators, :func:`retry` and :func:`async_retry`: thin shells over the engine."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec, Protocol, TypeVar, Unpack, overload

from python_mastery_portfolio._internal.callables import (
    ExceptionSpec,
    decorate_function,
    is_async_callable,
    qualified_name,
)
from python_mastery_portfolio.retrying._calls import wrap_callable
from python_mastery_portfolio.retrying._engine import Policy
from python_mastery_portfolio.retrying._options import (
    RetryKwargs,
    Seconds,
    expose_signature,
    options_from,
)

__all__ = ["AsyncRetryDecorator", "RetryDecorator", "async_retry", "retry"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class RetryDecorator(Protocol):
    """What ``retry(...)`` returns: a decorator that keeps the decorated callable's type."""

    @overload
    def __call__(self, func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...
    def __call__(self, func: Any, /) -> Any:
        """Wrap ``func`` (a function, method, classmethod or staticmethod) in the policy."""
        ...


class AsyncRetryDecorator(Protocol):
    """What ``async_retry(...)`` returns: a decorator for coroutine functions only."""

    @overload
    def __call__(
        self, func: classmethod[T, P, Coroutine[Any, Any, R]], /
    ) -> classmethod[T, P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(
        self, func: staticmethod[P, Coroutine[Any, Any, R]], /
    ) -> staticmethod[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __call__(self, func: Any, /) -> Any:
        """Wrap the coroutine function ``func`` in the policy."""
        ...


def _decorate(
    decorator: str, args: tuple[Any, ...], kwargs: Mapping[str, object], *, only_async: bool
) -> Any:
    """Build the policy of ``decorator(*args, **kwargs)``; apply it at once in the bare form."""
    # The bare form (``@retry``) receives the function in the first option's place.
    bare = bool(args) and (callable(args[0]) or isinstance(args[0], classmethod | staticmethod))
    policy = Policy(options_from(decorator, args[1:] if bare else args, kwargs, skip=int(bare)))

    def wrap(func: Callable[..., Any]) -> Any:
        if only_async and not is_async_callable(func):
            raise TypeError(
                f"@{decorator} needs a coroutine function, got {qualified_name(func)}; use @retry"
            )
        return wrap_callable(func, policy)

    def decorate(func: Any, /) -> Any:
        return decorate_function(func, wrap, decorator)

    return decorate(args[0]) if bare else decorate


@overload
def retry(func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
@overload
def retry(func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
@overload
def retry(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def retry(
    max_attempts: int | None = ...,
    delay: Seconds = ...,
    backoff: float = ...,
    exceptions: ExceptionSpec = ...,
    /,
    **options: Unpack[RetryKwargs],  # pyright: ignore[reportGeneralTypeIssues]  # the clashing names are positional-only
) -> RetryDecorator: ...
def retry(*args: Any, **options: Unpack[RetryKwargs]) -> Any:
    """Retry a function (``def`` or ``async def``) with exponential backoff.

    Usable bare (``@retry``, all defaults) or configured (``@retry(max_attempts=5)``), on
    functions, methods, classmethods and staticmethods, in either order with ``@classmethod``
    and ``@staticmethod``. See the module docstring for the exact rules.

    Args:
        *args: The bare form's function, or the first options by position (``max_attempts``,
            ``delay``, ``backoff``, ``exceptions``).
        **options: The options of :class:`~python_mastery_portfolio.retrying.RetryOptions`:
            ``max_attempts`` (attempts in all, >= 1), ``delay`` (first wait, s), ``backoff``
            (growth factor, >= 1), ``exceptions`` (a type, tuple or predicate),
            ``max_delay`` (cap on a wait), ``jitter`` (random extra), ``deadline`` (total
            budget, s), ``retry_on_result`` (predicate rejecting a result), ``on_retry``
            (called with a :class:`RetryState` before each wait), ``clock`` and ``logger``.

    Returns:
        The wrapped function (bare form) or a decorator.

    Raises:
        ValueError: If a number is out of range (named in the message).
        TypeError: If an argument has the wrong type, or the decorated function is a generator
            or async generator function.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> outcomes = [ConnectionError("reset"), TimeoutError("slow"), "ok"]
        >>> @retry(max_attempts=3, delay=1.0, backoff=2.0, exceptions=OSError, clock=clock)
        ... def fetch() -> str:
        ...     outcome = outcomes.pop(0)
        ...     if isinstance(outcome, Exception):
        ...         raise outcome
        ...     return outcome
        >>> fetch()
        'ok'
        >>> clock.sleeps
        [1.0, 2.0]
    """
    return _decorate("retry", args, options, only_async=False)


@overload
def async_retry(
    func: classmethod[T, P, Coroutine[Any, Any, R]], /
) -> classmethod[T, P, Coroutine[Any, Any, R]]: ...
@overload
def async_retry(
    func: staticmethod[P, Coroutine[Any, Any, R]], /
) -> staticmethod[P, Coroutine[Any, Any, R]]: ...
@overload
def async_retry(
    func: Callable[P, Coroutine[Any, Any, R]], /
) -> Callable[P, Coroutine[Any, Any, R]]: ...
@overload
def async_retry(
    max_attempts: int | None = ...,
    delay: Seconds = ...,
    backoff: float = ...,
    exceptions: ExceptionSpec = ...,
    /,
    **options: Unpack[RetryKwargs],  # pyright: ignore[reportGeneralTypeIssues]  # the clashing names are positional-only
) -> AsyncRetryDecorator: ...
def async_retry(*args: Any, **options: Unpack[RetryKwargs]) -> Any:
    """Retry a coroutine function with exponential backoff, waiting without blocking the loop.

    The same as :func:`retry`, but it refuses anything that is not a coroutine function, so a
    mistake shows at decoration time. Arguments are those of :func:`retry`.

    Returns:
        The wrapped coroutine function (bare form) or a decorator.

    Raises:
        ValueError: If a number is out of range (named in the message).
        TypeError: If an argument has the wrong type or the function is not a coroutine
            function.

    Example:
        >>> import asyncio
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> calls = []
        >>> @async_retry(max_attempts=5, delay=0.5, clock=clock)
        ... async def fetch() -> int:
        ...     calls.append(1)
        ...     if len(calls) < 3:
        ...         raise ConnectionError("reset")
        ...     return len(calls)
        >>> asyncio.run(fetch()), clock.sleeps
        (3, [0.5, 1.0])
    """
    return _decorate("async_retry", args, options, only_async=True)


# help(), IDEs and docs show the options, not ``*args, **options``.
expose_signature(retry)
expose_signature(async_retry)
