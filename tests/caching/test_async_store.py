"""Tests of async_cache over an AsyncCacheStore: awaited lookups, single-flight, invalidation."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from python_mastery_portfolio.caching import AsyncCacheStore, LRUCache, async_cache, cache
from python_mastery_portfolio.testing.contracts.cache import (
    AsyncCacheStoreContract,
    CacheStoreContract,
)


class AsyncDictStore(LRUCache[Any, Any]):
    """An LRUCache with awaitable operations that yield to the loop, as a network store does."""

    def __init__(self) -> None:
        super().__init__(maxsize=1000)
        self.awaited: list[str] = []
        self.before_set: Any = None  # awaited inside aset, before storing: a test's hook
        self.after_lookup: Any = None  # awaited inside alookup, after reading: a test's hook

    async def alookup(self, key: Any, default: Any) -> Any:
        self.awaited.append("alookup")
        await asyncio.sleep(0)
        value = self.lookup(key, default)
        if self.after_lookup is not None:
            # The answer is read but not yet returned, as a network store's reply in flight.
            await self.after_lookup()
        return value

    async def aset(self, key: Any, value: Any) -> None:
        self.awaited.append("aset")
        if self.before_set is not None:
            await self.before_set()
        await asyncio.sleep(0)
        self.set(key, value)

    async def adelete(self, key: Any) -> bool:
        await asyncio.sleep(0)
        return self.delete(key)

    async def aclear(self) -> None:
        await asyncio.sleep(0)
        self.clear()


class TestAsyncDictStoreContract(AsyncCacheStoreContract):
    """The in-test async store passes the async contract."""

    def make_store(self) -> AsyncDictStore:
        return AsyncDictStore()


class TestAsyncDictStoreSyncContract(CacheStoreContract):
    """... and the sync one."""

    def make_store(self) -> AsyncDictStore:
        return AsyncDictStore()


class TestAsyncCacheOverAsyncStore:
    def test_lookups_and_stores_are_awaited(self) -> None:
        """async_cache awaits alookup and aset instead of calling lookup/set on the loop."""
        store = AsyncDictStore()
        assert isinstance(store, AsyncCacheStore)

        @async_cache(store=store)
        async def double(x: int) -> int:
            return 2 * x

        assert asyncio.run(double(2)) == 4
        assert asyncio.run(double(2)) == 4
        assert store.awaited == ["alookup", "aset", "alookup"]
        stats = double.cache_stats()
        assert (stats["hits"], stats["misses"]) == (1, 1)

    def test_many_tasks_compute_once(self) -> None:
        """100 tasks asking for one key run the function once; the others join or hit."""
        store = AsyncDictStore()
        calls: list[int] = []

        @async_cache(store=store)
        async def slow(x: int) -> int:
            calls.append(x)
            for _ in range(5):
                await asyncio.sleep(0)
            return x

        async def main() -> list[int]:
            return await asyncio.gather(*(slow(1) for _ in range(100)))

        assert asyncio.run(main()) == [1] * 100
        assert calls == [1]
        stats = slow.cache_stats()
        assert (stats["hits"], stats["misses"]) == (99, 1)

    def test_a_landing_between_lookup_and_registration_is_found(self) -> None:
        """A caller whose lookup missed just before a computation landed looks again: no rerun."""
        store = AsyncDictStore()
        calls: list[int] = []
        go = asyncio.Event()

        @async_cache(store=store)
        async def value(x: int) -> int:
            calls.append(x)
            await go.wait()
            return x

        async def main() -> list[int]:
            first = asyncio.ensure_future(value(5))
            while not calls:  # noqa: ASYNC110 - polls the first computation's start
                await asyncio.sleep(0)

            async def land_the_first() -> None:
                # The second caller's lookup has read "missing"; the first lands meanwhile.
                store.after_lookup = None
                go.set()
                await first

            store.after_lookup = land_the_first
            second = await value(5)
            return [await first, second]

        assert asyncio.run(main()) == [5, 5]
        assert calls == [5]
        assert store.awaited == ["alookup", "alookup", "aset", "alookup"]
        stats = value.cache_stats()
        assert (stats["hits"], stats["misses"]) == (1, 1)

    def test_a_landing_that_stored_nothing_is_computed_again(self) -> None:
        """If what landed meanwhile stored nothing (it raised), the caller computes once itself."""
        store = AsyncDictStore()
        calls: list[int] = []
        go = asyncio.Event()

        @async_cache(store=store)
        async def value(x: int) -> int:
            calls.append(x)
            if len(calls) == 1:
                await go.wait()
                raise ValueError(x)
            return x

        async def main() -> tuple[BaseException | int, int]:
            first = asyncio.ensure_future(value(6))
            while not calls:  # noqa: ASYNC110 - polls the first computation's start
                await asyncio.sleep(0)

            async def land_the_first() -> None:
                store.after_lookup = None
                go.set()
                await asyncio.wait([first])

            store.after_lookup = land_the_first
            second = await value(6)
            return first.exception() or first.result(), second

        error, second = asyncio.run(main())
        assert isinstance(error, ValueError)
        assert second == 6
        assert calls == [6, 6]
        assert store.awaited == ["alookup", "alookup", "alookup", "aset"]
        assert store.lookup(6, None) == 6

    def test_invalidated_while_computing_is_not_stored(self) -> None:
        """cache_invalidate during the computation: the caller gets the value, the store not."""
        store = AsyncDictStore()

        @async_cache(store=store)
        async def value(x: int) -> int:
            await asyncio.sleep(0)
            value.cache_invalidate(x)
            return x

        assert asyncio.run(value(8)) == 8
        assert store.lookup(8, None) is None
        assert store.awaited == ["alookup"]

    def test_invalidated_while_storing_is_not_kept(self) -> None:
        """cache_invalidate during aset deletes the value once it is stored."""
        store = AsyncDictStore()

        @async_cache(store=store)
        async def value(x: int) -> int:
            return x

        async def invalidate() -> None:
            value.cache_invalidate(9)

        store.before_set = invalidate
        assert asyncio.run(value(9)) == 9
        assert store.lookup(9, None) is None

    def test_reentry_raises(self) -> None:
        """A computation asking for its own key raises instead of deadlocking."""
        store = AsyncDictStore()

        @async_cache(store=store)
        async def again(x: int) -> int:
            return await again(x)

        with pytest.raises(RuntimeError, match="inside its own cached computation"):
            asyncio.run(again(1))

    def test_another_loops_computation_is_not_awaited(self) -> None:
        """A key computing in another (running) loop is computed here too, and stored."""
        store = AsyncDictStore()
        calls: list[int] = []
        done = threading.Event()

        @async_cache(store=store)
        async def value(x: int) -> int:
            calls.append(x)
            if len(calls) == 1:
                while not done.is_set():  # noqa: ASYNC110 - set by the other loop, a thread
                    await asyncio.sleep(0)
            else:
                done.set()
            return x

        async def other_loop() -> int:
            return await value(3)

        async def main() -> int:
            first = asyncio.ensure_future(value(3))
            while not calls:  # noqa: ASYNC110 - polls the first computation
                await asyncio.sleep(0)
            result = await asyncio.to_thread(asyncio.run, other_loop())
            return result + await first

        assert asyncio.run(main()) == 6
        assert calls == [3, 3]
        assert store.lookup(3, None) == 3

    def test_a_closed_loops_flight_is_forgotten(self) -> None:
        """A flight left by a loop that closed mid-computation does not block a new loop."""
        store = AsyncDictStore()
        started = []

        @async_cache(store=store)
        async def value(x: int) -> int:
            started.append(x)
            if len(started) == 1:
                await asyncio.Event().wait()  # never finishes in the first loop
            return x

        loop = asyncio.new_event_loop()
        task = loop.create_task(value(4))
        loop.run_until_complete(asyncio.sleep(0.0))
        for _ in range(5):
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        assert asyncio.run(value(4)) == 4
        del task

    def test_a_forgotten_flight_landing_late_keeps_the_new_one(self) -> None:
        """A closed loop's computation finalized late does not unregister the new loop's one."""
        store = AsyncDictStore()
        calls: list[int] = []
        opened = asyncio.Event()  # the new loop's computations wait for it

        @async_cache(store=store)
        async def value(x: int) -> int:
            calls.append(x)
            await (asyncio.Event() if len(calls) == 1 else opened).wait()  # first: never
            return x

        old_loop = asyncio.new_event_loop()
        first = old_loop.create_task(value(4))
        for _ in range(5):
            old_loop.run_until_complete(asyncio.sleep(0))
        stale = asyncio.all_tasks(old_loop)
        old_loop.close()

        async def main() -> list[int]:
            second = asyncio.ensure_future(value(4))
            while len(calls) < 2:  # noqa: ASYNC110 - polls the new loop's computation
                await asyncio.sleep(0)
            for task in stale:  # finalized now, as the garbage collector would do
                task.get_coro().close()
            third = asyncio.ensure_future(value(4))
            while sum(value.cache_stats()[kind] for kind in ("hits", "misses")) < 3:  # noqa: ASYNC110 - until the third joined or started computing
                await asyncio.sleep(0)
            opened.set()
            return [await second, await third]

        assert len(stale) == 2  # the call (first) and its computation
        assert first in stale
        assert asyncio.run(main()) == [4, 4]
        assert calls == [4, 4]  # the third call joined the second's computation
        assert store.lookup(4, None) == 4

    def test_errors_reach_every_waiter_and_are_not_stored(self) -> None:
        """An exception reaches all joined tasks; nothing is stored."""
        store = AsyncDictStore()

        @async_cache(store=store)
        async def boom(x: int) -> int:
            await asyncio.sleep(0)
            raise ValueError(x)

        async def main() -> list[Any]:
            results: list[Any] = await asyncio.gather(
                *(boom(1) for _ in range(5)), return_exceptions=True
            )
            return results

        assert all(isinstance(error, ValueError) for error in asyncio.run(main()))
        assert store.lookup(1, None) is None

    def test_sync_functions_use_the_sync_side(self) -> None:
        """@cache of a def function over the same store uses lookup/set, never awaiting."""
        store = AsyncDictStore()

        @cache(store=store)
        def double(x: int) -> int:
            return 2 * x

        assert double(3) == 6
        assert store.awaited == []
        assert store.lookup(3, None) == 6
