"""Tests of the CacheStore protocol: a foreign store runs the contract and backs the decorators."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from python_mastery_portfolio.caching import (
    CacheStats,
    CacheStore,
    LRUCache,
    async_cache,
    cache,
)
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.cache import CacheStoreContract
from tests.conftest import TIMEOUT, raise_first, run_threads, wait_until

THREADS = 100


class DictStore:
    """A minimal CacheStore: an unbounded dict behind a lock, counting what it is told."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.lock = threading.Lock()
        self.hits = self.misses = 0
        self.sets = 0

    def lookup(self, key: Any, default: Any, /) -> Any:
        with self.lock:
            return self.data.get(key, default)

    def set(self, key: Any, value: Any, /) -> None:
        with self.lock:
            self.data[key] = value
            self.sets += 1

    def delete(self, key: Any, /) -> bool:
        with self.lock:
            return self.data.pop(key, self) is not self

    def clear(self) -> None:
        with self.lock:
            self.data.clear()

    def record(self, *, hits: int = 0, misses: int = 0) -> None:
        with self.lock:
            self.hits += hits
            self.misses += misses

    def stats(self) -> CacheStats:
        with self.lock:
            lookups = self.hits + self.misses
            return {
                "hits": self.hits,
                "misses": self.misses,
                "hit_rate": self.hits / lookups if lookups else 0.0,
                "evictions": 0,
                "expirations": 0,
                "size": len(self.data),
                "maxsize": 2**31,
            }


class TestDictStoreContract(CacheStoreContract):
    def make_store(self) -> DictStore:
        return DictStore()


class TestLRUCacheStoreContract(CacheStoreContract):
    def make_store(self) -> LRUCache[Any, Any]:
        return LRUCache(1000, clock=ManualClock())


class CountingLRUCache(LRUCache[Any, Any]):
    """A subclass: the decorators must go through its methods, not the fast path."""

    __slots__ = ("lookups",)

    def __init__(self) -> None:
        super().__init__(16)
        self.lookups = 0

    def lookup(self, key: Any, default: Any, /) -> Any:
        self.lookups += 1
        return super().lookup(key, default)


class TestStoreOption:
    def test_foreign_store_memoizes(self) -> None:
        """Results go into the given store; stats, invalidate and clear act on it."""
        store = DictStore()
        calls: list[tuple[int, int]] = []

        @cache(store=store)
        def add(a: int, b: int = 1) -> int:
            calls.append((a, b))
            return a + b

        assert (add(1), add(a=1), add(1, 1), add(2, b=3)) == (2, 2, 2, 5)
        assert calls == [(1, 1), (2, 3)]
        assert store.data == {(1, 1): 2, (2, 3): 5}
        assert add.cache_stats() == store.stats()
        assert (add.cache_stats()["hits"], add.cache_stats()["misses"]) == (2, 2)
        assert add.cache_invalidate(1) is True
        assert add.cache_invalidate(1) is False
        add.cache_clear()
        assert store.data == {}

    def test_none_is_cached(self) -> None:
        """A None result is a value: the function runs once."""
        store = DictStore()
        calls: list[int] = []

        @cache(store=store)
        def nothing(x: int) -> None:
            calls.append(x)

        assert (nothing(1), nothing(1), calls) == (None, None, [1])

    def test_typed_and_custom_keys(self) -> None:
        """typed= and key= build the keys the store sees."""
        typed_store, keyed_store = DictStore(), DictStore()

        @cache(typed=True, store=typed_store)
        def ident(x: object) -> object:
            return x

        @cache(key=lambda user_id, **_: f"user:{user_id}", store=keyed_store)
        def user(user_id: int, *, verbose: bool = False) -> str:
            return f"{user_id}:{verbose}"

        assert (ident(1), ident(1.0)) == (1, 1.0)
        assert set(typed_store.data) == {(1, int), (1.0, float)}
        assert user(7) == user(7, verbose=True) == "7:False"
        assert keyed_store.data == {"user:7": "7:False"}

    def test_unhashable_argument(self) -> None:
        """An unhashable argument is named, and the store is not asked."""
        store = DictStore()

        @cache(store=store)
        def size(items: list[int]) -> int:
            return len(items)

        with pytest.raises(TypeError, match="argument 'items' is unhashable"):
            size([1, 2])
        assert store.stats()["misses"] == 0

    def test_exception_is_not_cached(self) -> None:
        """A failing call stores nothing; the next call runs again."""
        store = DictStore()
        calls: list[int] = []

        @cache(store=store)
        def flaky(x: int) -> int:
            calls.append(x)
            if len(calls) == 1:
                raise OSError("first")
            return x

        with pytest.raises(OSError, match="first"):
            flaky(1)
        assert (flaky(1), flaky(1), store.data) == (1, 1, {1: 1})

    def test_reentry_raises(self) -> None:
        """A computation asking for its own key raises instead of deadlocking."""

        @cache(store=DictStore())
        def loop(x: int) -> int:
            return loop(x)

        with pytest.raises(RuntimeError, match="from inside its own cached computation"):
            loop(1)

    def test_lrucache_store_takes_the_fast_path(self) -> None:
        """Our own LRUCache given as the store is used directly, with its own ttl."""
        clock = ManualClock()
        store: LRUCache[int, int] = LRUCache(4, ttl=10, clock=clock)

        @cache(store=store)
        def square(x: int) -> int:
            return x * x

        assert (square(3), square(3), store.get(3)) == (9, 9, 9)
        clock.advance(10)
        assert 3 not in store
        assert square(3) == 9
        stats = square.cache_stats()
        assert (stats["hits"], stats["misses"], stats["expirations"]) == (2, 2, 1)

    def test_lrucache_subclass_goes_through_its_methods(self) -> None:
        """A subclass of LRUCache is a foreign store: its overrides are called."""
        store = CountingLRUCache()

        @cache(store=store)
        def square(x: int) -> int:
            return x * x

        assert (square(2), square(2)) == (4, 4)
        assert store.lookups == 3  # miss, the look under the lock, hit

    def test_value_landed_under_the_lock(self) -> None:
        """A value stored between the lock-free look and the lock is a hit, not recomputed."""
        calls: list[int] = []

        class LateStore(DictStore):
            def lookup(self, key: Any, default: Any, /) -> Any:
                found = super().lookup(key, default)
                if found is default and not self.sets:
                    self.set(key, "landed")  # another process stored it meanwhile
                    return default
                return found

        store = LateStore()

        @cache(store=store)
        def compute(x: int) -> object:
            calls.append(x)
            return x

        assert (compute(1), calls, store.hits, store.misses) == ("landed", [], 1, 0)

    @pytest.mark.parametrize(
        "option", [{"maxsize": 10}, {"ttl": 5}, {"clock": ManualClock()}], ids=repr
    )
    @pytest.mark.parametrize("decorator", [cache, async_cache], ids=["cache", "async_cache"])
    def test_store_excludes_the_lrucache_options(
        self, decorator: Any, option: dict[str, Any]
    ) -> None:
        """maxsize, ttl and clock configure the default store: not with store=."""
        [name] = option
        with pytest.raises(ValueError, match=f"^{name} configures the default LRUCache"):
            decorator(store=DictStore(), **option)

    def test_store_must_be_a_store(self) -> None:
        """Anything but a CacheStore is a TypeError naming store."""
        with pytest.raises(TypeError, match=r"^store must implement CacheStore"):
            cache(store={})  # type: ignore[call-overload]

    def test_store_refused_for_methods(self) -> None:
        """A method caches per instance: one store for all of them is refused."""
        with pytest.raises(TypeError, match="store= is one store for every call"):

            class Service:
                @cache(store=DictStore())
                def find(self, x: int) -> int:
                    return x

    def test_protocol_is_runtime_checkable(self) -> None:
        """DictStore and LRUCache are CacheStores; a plain dict is not."""
        assert isinstance(DictStore(), CacheStore)
        assert isinstance(LRUCache(), CacheStore)
        assert not isinstance({}, CacheStore)


class TestForeignStoreSingleFlight:
    def test_threads_share_one_computation(self) -> None:
        """100 threads asking for one key run the function once; joiners count as hits."""
        store = DictStore()
        calls: list[int] = []

        @cache(store=store)
        def slow(x: int) -> int:
            calls.append(x)
            wait_until(lambda: store.stats()["hits"] == THREADS - 1)
            return x * 2

        assert raise_first(run_threads(THREADS, lambda index: slow(21))) == [42] * THREADS
        stats = slow.cache_stats()
        assert (calls, stats["hits"], stats["misses"], store.sets) == ([21], THREADS - 1, 1, 1)

    def test_threads_share_an_exception(self) -> None:
        """Every waiter gets the computation's exception; nothing is stored."""
        store = DictStore()
        calls: list[int] = []

        @cache(store=store)
        def failing(x: int) -> int:
            calls.append(x)
            wait_until(lambda: store.stats()["hits"] == 19)
            raise OSError("down")

        results = run_threads(20, lambda index: failing(1))
        assert all(isinstance(result, OSError) for result in results)
        assert (calls, store.data) == ([1], {})

    def test_different_keys_run_in_parallel(self) -> None:
        """No lock is held while the function runs: 8 keys compute at once."""
        barrier = threading.Barrier(8)

        @cache(store=DictStore())
        def meet(x: int) -> int:
            barrier.wait(TIMEOUT)
            return x

        assert raise_first(run_threads(8, meet)) == list(range(8))

    def test_invalidate_during_computation_does_not_store(self) -> None:
        """A result invalidated while computing is returned but not stored."""
        store = DictStore()
        started, release = threading.Event(), threading.Event()

        @cache(store=store)
        def slow(x: int) -> int:
            started.set()
            assert release.wait(TIMEOUT)
            return x

        caller = threading.Thread(target=slow, args=(5,))
        caller.start()
        assert started.wait(TIMEOUT)
        assert slow.cache_invalidate(5) is False
        release.set()
        caller.join(TIMEOUT)
        assert store.data == {}

    async def test_tasks_share_one_computation(self) -> None:
        """100 tasks awaiting one key run the coroutine once; joiners count as hits."""
        store = DictStore()
        calls: list[int] = []

        @async_cache(store=store)
        async def fetch(x: int) -> dict[str, int]:
            calls.append(x)
            await asyncio.sleep(0)
            return {"id": x}

        results = await asyncio.wait_for(
            asyncio.gather(*(fetch(7) for _ in range(THREADS))), TIMEOUT
        )
        assert results == [{"id": 7}] * THREADS
        assert (await fetch(7), calls) == ({"id": 7}, [7])
        stats = fetch.cache_stats()
        assert (stats["hits"], stats["misses"], store.sets) == (THREADS, 1, 1)

    async def test_cancelled_waiter_leaves_the_computation(self) -> None:
        """Cancelling one waiting task does not cancel the shared computation."""
        store = DictStore()
        release = asyncio.Event()

        @async_cache(store=store)
        async def fetch(x: int) -> int:
            await release.wait()
            return x

        first = asyncio.ensure_future(fetch(3))
        second = asyncio.ensure_future(fetch(3))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        release.set()
        assert await asyncio.wait_for(second, TIMEOUT) == 3
        assert first.cancelled()
        assert store.data == {3: 3}
