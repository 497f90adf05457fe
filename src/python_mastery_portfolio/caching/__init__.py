"""Caching: an LRU cache with TTL and statistics, and memoizing decorators with single-flight.

* :class:`LRUCache` -- a thread-safe mapping-like store: least recently used eviction,
  per-cache and per-entry time to live through an injectable clock, and ``stats()``.
* :func:`cache` -- memoize a ``def`` or ``async def`` function in an :class:`LRUCache`.
* :func:`async_cache` -- the same, refusing anything but coroutine functions.
* :class:`CacheStore` -- the protocol of a store the decorators can use (``store=``), which
  :class:`LRUCache` implements; :class:`CacheStats` -- the statistics every store reports,
  and :class:`CacheInfo` -- the same as ``functools.lru_cache``'s ``cache_info()`` tuple.
* :class:`AsyncCacheStore` -- the awaitable operations of a store that does I/O (Redis):
  :func:`async_cache` awaits them, so a remote lookup never blocks the event loop.

What the decorators guarantee, for threads (``def``) and tasks (``async def``) alike:

* Arguments are bound to the signature with defaults applied: ``f(1)``, ``f(a=1)`` and, when
  ``a`` defaults to 1, ``f()`` share one entry, whatever the keyword order.
* Single-flight: concurrent calls with one key run the function once and share its outcome;
  different keys run in parallel (no lock is held while the function runs). An exception
  reaches every waiter and is not cached. Re-entering a key from inside its own computation
  raises ``RuntimeError`` instead of deadlocking; recursion over other keys works.
* Cancelling a waiting task does not cancel the shared computation while other callers wait
  for it; a cancelled computation is never cached. Async functions work across event loops.
* Statistics count a call that joins a computation already under way as a *hit*: ``misses``
  is the number of computations started, ``hits`` the calls that did not start one.
* Methods cache per instance and do not keep instances alive.

Example:
    >>> from python_mastery_portfolio.testing import ManualClock
    >>> clock = ManualClock()
    >>> @cache(maxsize=256, ttl=3600, clock=clock)
    ... def expensive_computation(x: int, scale: int = 1) -> int:
    ...     return sum(range(x)) * scale
    >>> expensive_computation(10), expensive_computation(x=10), expensive_computation(10, 1)
    (45, 45, 45)
    >>> stats = expensive_computation.cache_stats()
    >>> stats["hits"], stats["misses"]
    (2, 1)
    >>> clock.advance(3600)  # expired: computed again
    >>> expensive_computation(10)
    45
    >>> expensive_computation.cache_stats()["expirations"]
    1
"""

from __future__ import annotations

from python_mastery_portfolio.caching._decorators import async_cache, cache
from python_mastery_portfolio.caching._lru import LRUCache
from python_mastery_portfolio.caching._memoize import CachedFunction
from python_mastery_portfolio.caching._property import CachedProperty
from python_mastery_portfolio.caching._store import (
    AsyncCacheStore,
    CacheInfo,
    CacheStats,
    CacheStore,
)

__all__ = [
    "AsyncCacheStore",
    "CacheInfo",
    "CacheStats",
    "CacheStore",
    "CachedFunction",
    "CachedProperty",
    "LRUCache",
    "async_cache",
    "cache",
]
