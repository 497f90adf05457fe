"""maxsize=None and maxsize=0, cache_info() and cache_contains() (issue 16, feature 1).

In the style of CPython's ``test_functools`` (``test_lru_no_args``, ``test_lru_with_maxsize_none``,
``test_lru_with_maxsize_negative``/``zero``, ``test_cache_info``), async-lru's ``maxsize``
tests and ``cachetools.func``'s ``cache_info`` tests, translated to our decorators.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any, NamedTuple

import pytest

from python_mastery_portfolio.caching import CacheInfo, LRUCache, async_cache, cache
from python_mastery_portfolio.testing import ManualClock
from tests.caching.test_store import DictStore
from tests.conftest import TIMEOUT, raise_first, run_threads


class TestCacheInfo:
    def test_fields_match_functools(self) -> None:
        """The named tuple has functools' fields, in functools' order."""
        theirs = functools.lru_cache(lambda: None).cache_info()
        ours = CacheInfo(hits=0, misses=0, maxsize=128, currsize=0)
        assert list(CacheInfo.__annotations__) == ["hits", "misses", "maxsize", "currsize"]
        assert (ours.hits, ours.misses, ours.maxsize, ours.currsize) == tuple(theirs)
        assert (theirs.hits, theirs.misses, theirs.maxsize, theirs.currsize) == tuple(ours)
        assert issubclass(CacheInfo, tuple)

    @pytest.mark.parametrize("maxsize", [None, 0, 1, 2, 10, 128], ids=lambda m: f"maxsize-{m}")
    def test_same_counts_as_lru_cache(self, maxsize: int | None) -> None:
        """For one sequence of calls, cache_info() equals lru_cache's, value for value."""
        ours = cache(maxsize=maxsize)(lambda x: x * 2)
        theirs = functools.lru_cache(maxsize=maxsize)(lambda x: x * 2)
        calls = [1, 2, 1, 3, 1, 4, 2, 2, 5, 1, 6, 7, 1]
        assert [ours(x) for x in calls] == [theirs(x) for x in calls]
        assert tuple(ours.cache_info()) == tuple(theirs.cache_info())

    def test_recursive_fibonacci(self) -> None:
        """test_functools' fib: with maxsize=None each n runs once."""
        calls: list[int] = []

        @cache(maxsize=None)
        def fib2(n: int) -> int:
            calls.append(n)
            return n if n < 2 else fib2(n - 1) + fib2(n - 2)

        assert [fib2(n) for n in range(16)] == [
            0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610,
        ]  # fmt: skip
        assert sorted(calls) == list(range(16))
        assert fib2.cache_info() == CacheInfo(hits=28, misses=16, maxsize=None, currsize=16)
        fib2.cache_clear()
        assert fib2.cache_info() == CacheInfo(hits=28, misses=16, maxsize=None, currsize=0)

    def test_after_expiry(self) -> None:
        """currsize leaves out expired results."""
        clock = ManualClock()
        square = cache(ttl=10, clock=clock)(lambda x: x * x)
        square(2)
        clock.advance(10)
        assert square.cache_info().currsize == 0

    def test_over_a_store(self) -> None:
        """Over a store of one's own, cache_info() reads the store's stats."""
        store = DictStore()
        double = cache(store=store)(lambda x: 2 * x)
        double(1)
        double(1)
        assert double.cache_info() == CacheInfo(1, 1, 2**31, 1)

    async def test_async(self) -> None:
        """async_cache has it too (async-lru's cache_info())."""

        @async_cache(maxsize=3)
        async def double(x: int) -> int:
            return 2 * x

        await asyncio.gather(double(1), double(1), double(2))
        assert double.cache_info() == CacheInfo(hits=1, misses=2, maxsize=3, currsize=2)


class TestMaxsizeNone:
    def test_never_evicts(self) -> None:
        """maxsize=None keeps every result: no eviction however many keys."""
        runs: list[int] = []

        @cache(maxsize=None)
        def ident(x: int) -> int:
            runs.append(x)
            return x

        for _ in range(2):
            assert [ident(x) for x in range(5000)] == list(range(5000))
        stats = ident.cache_stats()
        assert (len(runs), stats["evictions"], stats["size"], stats["maxsize"]) == (
            5000,
            0,
            5000,
            None,
        )

    def test_with_ttl(self) -> None:
        """Unbounded results still expire."""
        clock = ManualClock()
        ident = cache(maxsize=None, ttl=5, clock=clock)(lambda x: x)
        ident(1)
        clock.advance(5)
        ident(1)
        assert ident.cache_info() == CacheInfo(hits=0, misses=2, maxsize=None, currsize=1)

    def test_lru_cache_store(self) -> None:
        """LRUCache(maxsize=None) reports maxsize None and repr shows it."""
        store: LRUCache[int, int] = LRUCache(maxsize=None)
        assert (store.maxsize, repr(store)) == (None, "LRUCache(maxsize=None, ttl=None, size=0)")

    async def test_async(self) -> None:
        """async_cache(maxsize=None) keeps every result."""

        @async_cache(maxsize=None)
        async def ident(x: int) -> int:
            return x

        assert [await ident(x) for x in range(300)] == list(range(300))
        assert ident.cache_info().currsize == 300


class Thing:
    def __init__(self) -> None:
        self.runs = 0

    @cache(maxsize=0)
    def compute(self, x: int) -> int:
        self.runs += 1
        return x


class TestMaxsizeZero:
    def test_every_call_runs(self) -> None:
        """maxsize=0 caches nothing and counts every call as a miss (lru_cache(maxsize=0))."""
        runs: list[int] = []

        @cache(maxsize=0)
        def ident(x: int) -> int:
            runs.append(x)
            return x

        assert [ident(1), ident(1), ident(x=1)] == [1, 1, 1]
        assert runs == [1, 1, 1]
        assert ident.cache_info() == CacheInfo(hits=0, misses=3, maxsize=0, currsize=0)
        assert (ident.cache_contains(1), ident.cache_invalidate(1)) == (False, False)

    def test_unhashable_arguments_pass(self) -> None:
        """No key is built, so unhashable arguments are fine, as with lru_cache(maxsize=0)."""
        total: Any = cache(maxsize=0)(sum)
        assert total([1, 2, 3]) == 6

    def test_exceptions_propagate(self) -> None:
        """An exception reaches the caller and is still counted as a miss."""

        @cache(maxsize=0)
        def fail() -> None:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            fail()
        assert fail.cache_info().misses == 1

    def test_keeps_metadata(self) -> None:
        """The wrapper still looks like the function."""

        @cache(maxsize=0)
        def named(x: int, y: int = 2) -> int:
            """Doc."""
            return x + y

        assert (named.__name__, named.__doc__, named.__wrapped__(1)) == ("named", "Doc.", 3)

    def test_threads_each_run(self) -> None:
        """No single-flight either: concurrent calls each run the function."""
        barrier = threading.Barrier(8)
        runs: list[int] = []

        @cache(maxsize=0)
        def slow(x: int) -> int:
            barrier.wait(TIMEOUT)
            runs.append(x)
            return x

        assert raise_first(run_threads(8, lambda _: slow(1))) == [1] * 8
        assert (len(runs), slow.cache_info().misses) == (8, 8)

    def test_method(self) -> None:
        """A method with maxsize=0 runs every time, on every instance."""
        thing = Thing()
        assert [thing.compute(1), thing.compute(1), Thing.compute(thing, 1)] == [1, 1, 1]
        assert thing.runs == 3
        assert Thing.compute.cache_info() == CacheInfo(hits=0, misses=3, maxsize=0, currsize=0)

    async def test_async(self) -> None:
        """async_cache(maxsize=0) awaits the function every time (async-lru's maxsize=0)."""
        runs: list[int] = []

        @async_cache(maxsize=0)
        async def ident(x: int) -> int:
            runs.append(x)
            await asyncio.sleep(0)
            return x

        assert list(await asyncio.gather(ident(1), ident(1))) == [1, 1]
        assert runs == [1, 1]
        assert ident.cache_info() == CacheInfo(hits=0, misses=2, maxsize=0, currsize=0)


class Point(NamedTuple):
    x: int

    @cache
    def double(self, factor: int = 2) -> int:
        return self.x * factor


class Holder:
    @cache
    def double(this, x: int) -> int:  # named so that it can be passed by keyword
        return 2 * x


class TestCacheContains:
    def test_counts_and_refreshes_nothing(self) -> None:
        """cache_contains neither counts a lookup nor makes the entry most recently used."""
        ident = cache(maxsize=2)(lambda x: x)
        ident(1)
        ident(2)
        before = ident.cache_info()
        assert (ident.cache_contains(1), ident.cache_contains(3)) == (True, False)
        assert ident.cache_info() == before
        ident(3)  # evicts 1, the least recently used: contains() did not refresh it
        assert (ident.cache_contains(1), ident.cache_contains(2)) == (False, True)

    def test_binds_like_a_call(self) -> None:
        """Arguments bind as for a call: positional, keyword and default share a key."""

        @cache
        def add(x: int, y: int = 1) -> int:
            return x + y

        add(1)
        assert add.cache_contains(1)
        assert add.cache_contains(x=1, y=1)
        assert add.cache_contains(1, 1)
        assert not add.cache_contains(1, 2)

    def test_expired(self) -> None:
        """An expired result is not contained."""
        clock = ManualClock()
        ident = cache(ttl=1, clock=clock)(lambda x: x)
        ident(1)
        clock.advance(1)
        assert not ident.cache_contains(1)

    def test_unhashable(self) -> None:
        """An unhashable argument is the call's TypeError."""
        ident = cache(lambda x: x)
        with pytest.raises(TypeError, match="unhashable"):
            ident.cache_contains([1])

    def test_store_without_in(self) -> None:
        """Over a store without __contains__, a lookup answers (and counts nothing)."""
        store = DictStore()
        ident = cache(store=store)(lambda x: x)
        ident(1)
        assert (ident.cache_contains(1), ident.cache_contains(2)) == (True, False)
        assert (store.hits, store.misses) == (0, 1)

    def test_methods(self) -> None:
        """Per instance through the instance; through the class with the instance first."""
        holder, other = Holder(), Holder()
        holder.double(3)
        assert holder.double.cache_contains(3)
        assert not other.double.cache_contains(3)
        assert Holder.double.cache_contains(holder, 3)
        assert not Holder.double.cache_contains(other, 3)
        # Passed by keyword, the instance is only looked for in the class's shared cache.
        assert not Holder.double.cache_contains(this=holder, x=3)
        Holder.double(other, 4)  # the class's shared cache
        assert Holder.double.cache_contains(other, 4)
        assert Holder.double.cache_info().currsize >= 2

    def test_value_cached_methods(self) -> None:
        """Instances without weak references answer from the shared cache."""
        point = Point(5)
        point.double()
        assert point.double.cache_contains()
        assert point.double.cache_contains(factor=2)
        assert not point.double.cache_contains(3)
        assert point.double.cache_info().currsize == 1

    async def test_async(self) -> None:
        """async_cache answers synchronously."""

        @async_cache
        async def ident(x: int) -> int:
            return x

        await ident(1)
        assert (ident.cache_contains(1), ident.cache_contains(2)) == (True, False)
