"""The memoizing decorators ``cache`` and ``async_cache``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable
from typing import Any, ParamSpec, TypeVar, cast, overload

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.caching._memoize import CachedFunction, decorate, validate_decorator
from python_mastery_portfolio.caching._store import CacheStore
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock

__all__ = ["async_cache", "cache"]

P = ParamSpec("P")
R = TypeVar("R")


@overload
def cache(maxsize: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def cache(
    maxsize: int | None = 128,
    ttl: float | None = None,
    *,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    store: CacheStore[Any, Any] | None = None,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...
def cache(
    maxsize: Any = MISSING,
    ttl: Any = MISSING,
    *,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    clock: Any = MISSING,
    store: CacheStore[Any, Any] | None = None,
) -> Any:
    """Memoize a function (``def`` or ``async def``) in a cache store, single-flight.

    Usable bare (``@cache``) or called (``@cache(maxsize=256, ttl=3600)``). The wrapper keeps
    the function's signature and adds ``cache_stats()``, ``cache_info()`` (the
    ``functools.lru_cache`` named tuple), ``cache_clear()``,
    ``cache_invalidate(*args, **kwargs)`` and ``cache_contains(*args, **kwargs)`` (see
    :class:`CachedFunction`).

    Args:
        maxsize: The most results kept; the least recently used go first. ``None`` keeps
            every result (until its ``ttl``); ``0`` keeps none, as ``lru_cache(maxsize=0)``:
            every call runs the function (no single-flight, no key built) and counts a
            miss.
        ttl: Seconds a result stays valid, or ``None`` to keep it until evicted.
        typed: Cache arguments of different types apart (``1``, ``1.0`` and ``True``).
        key: Build the key from the call's arguments yourself (they are passed as bound to
            the signature, defaults applied; without the instance for methods).
        clock: The time source for ``ttl``.
        store: Keep the results in this :class:`CacheStore` instead of a new
            :class:`LRUCache` configured by ``maxsize``, ``ttl`` and ``clock`` (which it
            excludes). Single-flight stays in-process; ``cache_stats()`` reports the store's
            statistics and ``cache_clear()`` clears the whole store. One store serves every
            call, so it is refused for a method defined in a class body (which caches per
            instance). A store shared by several functions needs keys that tell them apart.

    Raises:
        TypeError: At decoration time, for a wrong option or a generator function, or
            ``store`` with a method; at call time, for an unhashable argument (named in the
            message; nothing is cached).
        ValueError: If ``maxsize < 0``, ``ttl <= 0``, ``typed`` is combined with ``key``, or
            ``store`` with ``maxsize``, ``ttl`` or ``clock``.

    Example:
        >>> calls = []
        >>> @cache
        ... def square(x: int) -> int:
        ...     calls.append(x)
        ...     return x * x
        >>> square(3), square(3), calls
        (9, 9, [3])
        >>> square.cache_invalidate(3), square(3), calls
        (True, 9, [3, 3])
        >>> square.cache_contains(3), square.cache_contains(x=4)
        (True, False)
        >>> square.cache_info()
        CacheInfo(hits=1, misses=2, maxsize=128, currsize=1)
        >>> square([1])
        Traceback (most recent call last):
        TypeError: ...square: argument 'x' is unhashable (list) and cannot be part of a cache key

        With a store of your own (any :class:`CacheStore`):

        >>> from python_mastery_portfolio.caching import LRUCache
        >>> shared: LRUCache[int, int] = LRUCache(maxsize=1000)
        >>> @cache(store=shared)
        ... def cube(x: int) -> int:
        ...     return x**3
        >>> cube(2), shared.get(2)
        (8, 8)
        >>> cache(maxsize=10, store=shared)
        Traceback (most recent call last):
        ValueError: maxsize configures the default LRUCache and cannot be combined with store=: ...

        Unbounded, or not caching at all (as ``functools.lru_cache`` allows):

        >>> @cache(maxsize=None)
        ... def everything(x: int) -> int:
        ...     return x
        >>> [everything(x) for x in range(1000)] == list(range(1000))
        True
        >>> everything.cache_info().currsize
        1000
        >>> @cache(maxsize=0)
        ... def nothing(x: int) -> int:
        ...     return x
        >>> nothing(1), nothing(1), nothing.cache_info()
        (1, 1, CacheInfo(hits=0, misses=2, maxsize=0, currsize=0))
    """
    if callable(maxsize) or isinstance(maxsize, staticmethod | classmethod):
        return cache()(cast("Any", maxsize))  # @cache without parentheses; checked by cache()
    maxsize, ttl, clock = validate_decorator(maxsize, ttl, clock, typed=typed, key=key, store=store)

    def decorator(func: Callable[P, R]) -> CachedFunction[P, R]:
        wrapped: CachedFunction[P, R] = decorate(
            func,
            "cache",
            maxsize=maxsize,
            ttl=ttl,
            clock=clock,
            typed=typed,
            key=key,
            store=store,
        )
        return wrapped

    return decorator


@overload
def async_cache(
    maxsize: Callable[P, Coroutine[Any, Any, R]], /
) -> CachedFunction[P, Coroutine[Any, Any, R]]: ...
@overload
def async_cache(
    maxsize: int | None = 128,
    ttl: float | None = None,
    *,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    store: CacheStore[Any, Any] | None = None,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], CachedFunction[P, Coroutine[Any, Any, R]]]: ...
def async_cache(
    maxsize: Any = MISSING,
    ttl: Any = MISSING,
    *,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    clock: Any = MISSING,
    store: CacheStore[Any, Any] | None = None,
) -> Any:
    """Memoize a coroutine function like :func:`cache`, refusing any other callable.

    Concurrent awaits of one key share one computation, run as its own task: cancelling a
    waiter leaves it running for the others (the last waiter's cancellation cancels it).
    With a ``store=`` that is also an :class:`AsyncCacheStore` (``RedisCache`` is), lookups
    and stores are awaited and never block the event loop; any other store's methods are
    called on the loop, so they must be fast, as :class:`LRUCache`'s are.
    ``cache_invalidate``, ``cache_contains``, ``cache_clear`` and ``cache_info`` stay
    synchronous in both cases. ``maxsize=None`` and ``maxsize=0`` are as for :func:`cache`
    (``async_lru.alru_cache`` allows both too).

    Raises:
        TypeError: At decoration time, if the function is not a coroutine function.

    Example:
        >>> import asyncio
        >>> @async_cache(maxsize=128)
        ... async def fetch_user(user_id: int) -> dict[str, int]:
        ...     await asyncio.sleep(0)
        ...     return {"id": user_id}
        >>> async def main() -> list[dict[str, int]]:
        ...     return await asyncio.gather(*(fetch_user(7) for _ in range(3)))
        >>> asyncio.run(main())
        [{'id': 7}, {'id': 7}, {'id': 7}]
        >>> fetch_user.cache_stats()["misses"]
        1
    """
    if callable(maxsize) or isinstance(maxsize, staticmethod | classmethod):
        return async_cache()(cast("Any", maxsize))  # @async_cache without parentheses
    maxsize, ttl, clock = validate_decorator(maxsize, ttl, clock, typed=typed, key=key, store=store)

    def decorator(
        func: Callable[P, Coroutine[Any, Any, R]],
    ) -> CachedFunction[P, Coroutine[Any, Any, R]]:
        wrapped: CachedFunction[P, Coroutine[Any, Any, R]] = decorate(
            func,
            "async_cache",
            maxsize=maxsize,
            ttl=ttl,
            clock=clock,
            typed=typed,
            key=key,
            store=store,
        )
        return wrapped

    return decorator
