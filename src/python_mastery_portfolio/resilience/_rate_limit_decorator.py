"""The ``rate_limit`` decorator: a :class:`RateLimiter` in front of a function."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Concatenate, ParamSpec, Protocol, Self, TypeVar, cast, overload

from python_mastery_portfolio._internal.callables import (
    decorate_function,
    is_async_callable,
    qualified_name,
)
from python_mastery_portfolio._internal.checks import require_at_least
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.resilience._rate_limit_store import RateLimitStore
from python_mastery_portfolio.resilience._rate_limiter import RateLimiter
from python_mastery_portfolio.resilience._rate_string import parse_rate

__all__ = ["RateLimitDecorator", "RateLimited", "RateLimitedClassMethod", "rate_limit"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)
T = TypeVar("T")


class RateLimited(Protocol[P, R_co]):
    """A function wrapped by :func:`rate_limit`: call it as before; ``limiter`` is its limiter."""

    __name__: str
    __qualname__: str

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        """The undecorated function."""
        ...

    @property
    def limiter(self) -> RateLimiter:
        """The limiter every call goes through."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Take a token, then call the wrapped function."""
        ...

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None, /) -> Self: ...
    @overload
    def __get__(
        self: RateLimited[Concatenate[S, P2], T], instance: S, owner: type[Any] | None = None, /
    ) -> RateLimited[P2, T]: ...
    def __get__(self, instance: object, owner: type[Any] | None = None, /) -> Any:
        """Bind like a function, so a rate-limited method keeps its signature."""
        ...


class RateLimitedClassMethod(Protocol[S_contra, P, R_co]):
    """A function whose first parameter is a class, wrapped by :func:`rate_limit`.

    This is how type checkers see a rate-limited classmethod, in either decorator order:
    reached through the class or an instance, it is a :class:`RateLimited` with ``cls``
    bound.
    """

    @property
    def limiter(self) -> RateLimiter:
        """The limiter every call goes through."""
        ...

    def __call__(self, cls: type[S_contra], /, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Take a token, then call the wrapped function."""
        ...

    def __get__(self, instance: object, owner: type[Any] | None = None, /) -> RateLimited[P, R_co]:
        """Bind ``cls``."""
        ...


class RateLimitDecorator(Protocol):
    """What ``rate_limit(...)`` returns: a decorator keeping the function's signature."""

    @overload
    def __call__(self, func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]  # a staticmethod is callable: this overload wins
        self, func: staticmethod[P, R], /
    ) -> staticmethod[P, R]: ...
    @overload
    def __call__(
        self, func: Callable[Concatenate[type[S], P], R], /
    ) -> RateLimitedClassMethod[S, P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> RateLimited[P, R]: ...
    def __call__(self, func: Any, /) -> Any:
        """Wrap ``func`` so that each call first takes a token."""
        ...


def rate_limit(
    rate: float | str,
    per: float = MISSING,
    *,
    burst: float | None = None,
    key: Callable[..., Hashable] | None = None,
    timeout: float | None = 0,
    clock: Clock = SYSTEM_CLOCK,
    store: RateLimitStore | None = None,
) -> RateLimitDecorator:
    """Limit calls of the decorated function to ``rate`` per ``per`` seconds.

    Works on ``def`` and ``async def`` functions, methods, classmethods and staticmethods (in
    either order; type checkers see a staticmethod right when it is called through its
    class). Each
    decorated function gets its own :class:`RateLimiter` named after it (the ``limiter``
    attribute of its instrumentation reports), reachable as ``func.limiter``; with
    ``key`` it keeps one bucket per key (for example per user). A coroutine function waits on
    the clock without blocking the event loop.

    Args:
        rate: Calls allowed per ``per`` seconds, or a rate string such as ``"100/hour"`` or
            ``"5 per 2 seconds"`` (the grammar of :meth:`RateLimiter.parse`), which sets
            ``per`` too.
        per: Length of the period in seconds (default 1); not with a rate string.
        burst: Most calls allowed at once (default ``rate``).
        key: Called with the call's arguments (the same parameters as the function) to pick
            the bucket; ``None`` shares one bucket between all calls.
        timeout: Longest wait for a token in seconds before raising; ``0`` (the default)
            never waits and ``None`` waits as long as needed.
        clock: Source of time and of waiting.
        store: Where the buckets live, for example a
            :class:`~python_mastery_portfolio.redis.RedisRateLimitStore` so that one limit
            holds across processes; default a new in-memory store per decorated function. A
            store given here is shared by every function this decorator wraps, with the same
            bucket keys: give each decorated function its own store or namespace.

    Returns:
        A decorator; over the limit, calls raise :class:`RateLimitError` (with
        ``retry_after``) without running the function.

    Raises:
        TypeError: If ``key`` is not callable or another argument has the wrong type.
        ValueError: If an argument is out of range; the message names it.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> @rate_limit(2, per=60, key=lambda user: user, clock=ManualClock())
        ... def greet(user: str) -> str:
        ...     return f"hi {user}"
        >>> greet("ann"), greet("ann"), greet("bob")
        ('hi ann', 'hi ann', 'hi bob')
        >>> greet("ann")
        Traceback (most recent call last):
        ...
        python_mastery_portfolio.RateLimitError: rate limit of 2 per 60s exceeded; ...
        >>> greet.limiter.stats()["rejected"]
        1
        >>> @rate_limit("100/hour", clock=ManualClock())
        ... def ping() -> str:
        ...     return "pong"
        >>> ping.limiter
        RateLimiter(rate=100, per=3600.0, burst=100.0)
    """
    given: object = rate  # checked at run time: a bare @rate_limit passes the function here
    if callable(given) or isinstance(given, classmethod | staticmethod):
        raise TypeError(
            "@rate_limit needs a rate: write @rate_limit(10, per=1.0) or "
            '@rate_limit("10/second"), not a bare @rate_limit'
        )
    if isinstance(rate, str):
        if per is not MISSING:
            raise ValueError("per is part of a rate string: give rate='10/minute' or per, not both")
        rate, per = parse_rate(rate)
    elif per is MISSING:
        per = 1.0
    # Built now so that every argument is validated at decoration time.
    RateLimiter(rate, per, burst=burst, clock=clock, store=store)
    if key is not None and not callable(key):
        raise TypeError(f"key must be a callable or None, got {key!r}")
    if timeout is not None:
        require_at_least("timeout", timeout, 0)

    def wrap(func: Callable[..., Any]) -> Any:
        name = qualified_name(func)
        limiter = RateLimiter(rate, per, burst=burst, clock=clock, name=name, store=store)
        wrapper = _limited(func, limiter, key, timeout)
        cast("Any", wrapper).limiter = limiter
        logger.debug("rate limiting %s to %g per %ss", name, rate, per)
        return wrapper

    def decorate(func: Any, /) -> Any:
        return decorate_function(func, wrap, "rate_limit")

    return cast("RateLimitDecorator", decorate)


def _limited(
    func: Callable[..., Any],
    limiter: RateLimiter,
    key: Callable[..., Hashable] | None,
    timeout: float | None,
) -> Callable[..., Any]:
    """Return the wrapper of ``func`` that takes a token from ``limiter`` before each call."""
    acquire = limiter.acquire
    aacquire = limiter.aacquire
    if is_async_callable(func):
        coroutine_function = cast("Callable[..., Coroutine[Any, Any, Any]]", func)

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            await aacquire(
                key=None if key is None else key(*args, **kwargs),
                timeout=timeout,
            )
            return await coroutine_function(*args, **kwargs)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        acquire(key=None if key is None else key(*args, **kwargs), timeout=timeout)
        return func(*args, **kwargs)

    return wrapper
