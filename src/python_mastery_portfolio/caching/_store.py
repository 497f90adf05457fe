"""The store protocol behind the caching decorators, and the statistics every store reports.

:class:`CacheStore` is what :func:`~python_mastery_portfolio.caching.cache` needs of a store:
look a key up, store a value, delete, clear, count lookups and report statistics. It says
nothing of locks, recency or iteration order, so a remote, serialising store (Redis) can
implement it as well as :class:`~python_mastery_portfolio.caching.LRUCache` does.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, TypedDict, TypeVar, runtime_checkable

__all__ = ["AsyncCacheStore", "CacheInfo", "CacheStats", "CacheStore"]

K_contra = TypeVar("K_contra", contravariant=True)
V = TypeVar("V")
T = TypeVar("T")


class CacheStats(TypedDict):
    """The statistics of a cache store, as ``stats()`` and ``cache_stats()`` return them.

    Attributes:
        hits: Lookups that found a live value (for the decorators: calls that did not run
            the function, joining a computation under way included).
        misses: Lookups that found nothing (for the decorators: computations started).
        hit_rate: ``hits / (hits + misses)``, ``0.0`` before any lookup.
        evictions: Live entries dropped to make room.
        expirations: Expired entries dropped.
        size: Live entries held now.
        maxsize: The most entries held at once; ``None`` if unbounded.

    Example:
        >>> from python_mastery_portfolio.caching import LRUCache
        >>> stats: CacheStats = LRUCache(maxsize=4).stats()
        >>> sorted(stats)
        ['evictions', 'expirations', 'hit_rate', 'hits', 'maxsize', 'misses', 'size']
    """

    hits: int
    misses: int
    hit_rate: float
    evictions: int
    expirations: int
    size: int
    maxsize: int | None


class CacheInfo(NamedTuple):
    """The ``functools.lru_cache`` view of a cache's statistics, as ``cache_info()`` returns it.

    Shaped as ``functools.lru_cache``'s own ``cache_info()``, field for field, so that code
    written for it reads ours unchanged. ``hits`` and ``misses`` count as
    :class:`CacheStats` does.

    Attributes:
        hits: Calls that did not run the function.
        misses: Calls that ran it (computations started).
        maxsize: The most results kept, ``None`` if unbounded.
        currsize: Results held now.

    Example:
        >>> from python_mastery_portfolio.caching import cache
        >>> @cache(maxsize=None)
        ... def square(x: int) -> int:
        ...     return x * x
        >>> square(2), square(2), square(3)
        (4, 4, 9)
        >>> square.cache_info()
        CacheInfo(hits=1, misses=2, maxsize=None, currsize=2)
    """

    hits: int
    misses: int
    maxsize: int | None
    currsize: int

    @classmethod
    def from_stats(cls, stats: CacheStats) -> CacheInfo:
        """Build the named tuple from a store's :class:`CacheStats`.

        Example:
            >>> from python_mastery_portfolio.caching import LRUCache
            >>> CacheInfo.from_stats(LRUCache(maxsize=8).stats())
            CacheInfo(hits=0, misses=0, maxsize=8, currsize=0)
        """
        return cls(stats["hits"], stats["misses"], stats["maxsize"], stats["size"])


@runtime_checkable
class CacheStore(Protocol[K_contra, V]):  # pyright: ignore[reportInvalidTypeVarUse]  # V is returned and taken: invariant
    """A key-value store that :func:`cache` and :func:`async_cache` can memoize into.

    Every method must be safe to call from many threads at once: the decorators call them
    from every thread that calls the cached function, without a lock of their own around
    lookups. Values may be anything the store can hold, ``None`` included; whether a key is
    present is told by :meth:`lookup`'s ``default``, never by the value. Expiry and eviction
    are the store's own policy. Lookups are counted by :meth:`record`, apart from
    :meth:`lookup`, so that the decorators can count a call that joins a computation already
    under way as a hit. Run :class:`~python_mastery_portfolio.testing.contracts.cache.
    CacheStoreContract` against an implementation to check it.

    Example:
        >>> from python_mastery_portfolio.caching import LRUCache, cache
        >>> store: CacheStore[int, int] = LRUCache(maxsize=64)
        >>> isinstance(store, CacheStore)
        True
        >>> @cache(store=store)
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> double(21), store.lookup(21, None), double.cache_stats()["misses"]
        (42, 42, 1)
    """

    def lookup(self, key: K_contra, default: T, /) -> V | T:
        """Return the live value stored under ``key``, or ``default``; count nothing.

        A store with a recency policy counts this as a use of the entry.
        """
        ...

    def set(self, key: K_contra, value: V, /) -> None:
        """Store ``value`` under ``key``, with the store's own expiry policy."""
        ...

    def delete(self, key: K_contra, /) -> bool:
        """Remove ``key``; return whether a live entry was removed."""
        ...

    def clear(self) -> None:
        """Remove every entry; the statistics are kept."""
        ...

    def record(self, *, hits: int = 0, misses: int = 0) -> None:
        """Add ``hits`` and ``misses`` to the lookup counters that :meth:`stats` reports."""
        ...

    def stats(self) -> CacheStats:
        """Return the statistics (see :class:`CacheStats`)."""
        ...


@runtime_checkable
class AsyncCacheStore(Protocol[K_contra, V]):  # pyright: ignore[reportInvalidTypeVarUse]  # as CacheStore
    """The awaitable side of a :class:`CacheStore` whose operations do I/O (Redis).

    :func:`async_cache` over a store that implements this as well as :class:`CacheStore`
    awaits these methods, so a lookup over the network never blocks the event loop. A store
    without them is called synchronously, on the loop: it must be fast, as
    :class:`~python_mastery_portfolio.caching.LRUCache` is. ``record`` and ``stats`` stay
    synchronous (a store counts locally and publishes its counts in its own time), and so do
    ``cache_invalidate`` and ``cache_clear``, which call :meth:`CacheStore.delete` and
    :meth:`CacheStore.clear`. Run :class:`~python_mastery_portfolio.testing.contracts.cache.
    AsyncCacheStoreContract` against an implementation to check it.

    Example:
        >>> import asyncio
        >>> from typing import Any
        >>> from python_mastery_portfolio.caching import LRUCache, async_cache
        >>> class AsyncDict(LRUCache[Any, Any]):
        ...     async def alookup(self, key: Any, default: Any) -> Any:
        ...         return self.lookup(key, default)
        ...     async def aset(self, key: Any, value: Any) -> None:
        ...         self.set(key, value)
        ...     async def adelete(self, key: Any) -> bool:
        ...         return self.delete(key)
        ...     async def aclear(self) -> None:
        ...         self.clear()
        >>> store = AsyncDict(maxsize=16)
        >>> isinstance(store, AsyncCacheStore)
        True
        >>> @async_cache(store=store)
        ... async def double(x: int) -> int:
        ...     return 2 * x
        >>> asyncio.run(double(4)), store.lookup(4, None)
        (8, 8)
    """

    async def alookup(self, key: K_contra, default: T, /) -> V | T:
        """Return the live value stored under ``key``, or ``default``; count nothing."""
        ...

    async def aset(self, key: K_contra, value: V, /) -> None:
        """Store ``value`` under ``key``, with the store's own expiry policy."""
        ...

    async def adelete(self, key: K_contra, /) -> bool:
        """Remove ``key``; return whether a live entry was removed."""
        ...

    async def aclear(self) -> None:
        """Remove every entry; the statistics are kept."""
        ...
