"""The caches' reports to the instrumentation hook: hits, misses, coalesced calls, drops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from python_mastery_portfolio._internal.callables import qualified_name
from python_mastery_portfolio.caching import LRUCache, async_cache, cache
from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import run_threads


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """A recording instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


class SlowStore(LRUCache[Any, Any]):
    """A subclass: the decorators take the general path (any store) over it."""


class AsyncStore(LRUCache[Any, Any]):
    """An LRUCache with awaitable operations, so the decorators await it."""

    async def alookup(self, key: Any, default: Any) -> Any:
        await asyncio.sleep(0)
        return self.lookup(key, default)

    async def aset(self, key: Any, value: Any) -> None:
        await asyncio.sleep(0)
        self.set(key, value)

    async def adelete(self, key: Any) -> bool:
        return self.delete(key)

    async def aclear(self) -> None:
        self.clear()


def _requests(recorder: RecordingInstrument, name: str) -> tuple[float, float]:
    return (
        recorder.total("cache.requests", cache=name, result="hit"),
        recorder.total("cache.requests", cache=name, result="miss"),
    )


class TestDecorators:
    def test_hits_and_misses(self, recorder: RecordingInstrument) -> None:
        """The generated wrapper reports each hit and miss under the function's name."""

        @cache(maxsize=10)
        def square(x: int) -> int:
            return x * x

        for x in (1, 2, 1, 1, 3):
            square(x)
        name = qualified_name(square)
        assert _requests(recorder, name) == (2, 3)
        assert {r.attributes["cache"] for r in recorder.select()} == {name}

    def test_evictions_and_expirations(self, recorder: RecordingInstrument) -> None:
        """The store a decorator creates reports its drops under the function's name."""
        clock = ManualClock()

        @cache(maxsize=2, ttl=10, clock=clock)
        def ident(x: int) -> int:
            return x

        @cache(maxsize=1)
        def forever(x: int) -> int:
            return x

        for x in (1, 2, 3):
            ident(x)
        clock.advance(10)
        ident(4)  # the two expired entries are purged to make room... or one is evicted
        forever(1)
        forever(2)
        assert recorder.total("cache.evictions", cache=qualified_name(ident)) == 1
        assert recorder.total("cache.expirations", cache=qualified_name(ident)) == 2
        assert recorder.total("cache.evictions", cache=qualified_name(forever)) == 1

    def test_any_store(self, recorder: RecordingInstrument) -> None:
        """Over another store the general path reports the same figures."""

        @cache(store=SlowStore(maxsize=10))
        def square(x: int) -> int:
            return x * x

        square(2)
        square(2)
        assert _requests(recorder, qualified_name(square)) == (1, 1)

    def test_maxsize_zero(self, recorder: RecordingInstrument) -> None:
        """With maxsize 0 every call is a miss."""

        @cache(maxsize=0)
        def square(x: int) -> int:
            return x * x

        square(2)
        square(2)
        assert _requests(recorder, qualified_name(square)) == (0, 2)

    def test_coalesced_threads(self, recorder: RecordingInstrument) -> None:
        """Threads that join a computation under way are hits and coalesced calls."""
        started = threading.Event()
        release = threading.Event()

        @cache(store=SlowStore(maxsize=10))
        def slow(x: int) -> int:
            started.set()
            assert release.wait(10)
            return x

        def body(index: int) -> int:
            if index:
                assert started.wait(10)
                timer = threading.Timer(0.05, release.set)
                if index == 1:
                    timer.start()
            return slow(1)

        assert run_threads(4, body, together=False) == [1, 1, 1, 1]
        name = qualified_name(slow)
        hits, misses = _requests(recorder, name)
        assert (hits + misses, misses) == (4, 1)
        assert recorder.total("cache.coalesced", cache=name) == hits

    def test_async(self, recorder: RecordingInstrument) -> None:
        """Async callers: a miss, joiners coalesced, then hits."""

        @async_cache(maxsize=10)
        async def double(x: int) -> int:
            await asyncio.sleep(0)
            return 2 * x

        async def main() -> None:
            await asyncio.gather(double(1), double(1), double(1))
            await double(1)

        asyncio.run(main())
        name = qualified_name(double)
        assert _requests(recorder, name) == (3, 1)
        assert recorder.total("cache.coalesced", cache=name) == 2

    def test_async_store(self, recorder: RecordingInstrument) -> None:
        """Over an awaitable store: a miss, joiners coalesced, then a hit."""

        @async_cache(store=AsyncStore(maxsize=10))
        async def double(x: int) -> int:
            await asyncio.sleep(0)
            return 2 * x

        async def main() -> None:
            await asyncio.gather(double(1), double(1))
            await double(1)

        asyncio.run(main())
        name = qualified_name(double)
        assert _requests(recorder, name) == (2, 1)
        assert recorder.total("cache.coalesced", cache=name) == 1


class TestLRUCache:
    def test_name(self) -> None:
        """A store is named by ``name=``, by default its class name; other types are refused."""
        assert LRUCache(name="users").name == "users"
        assert SlowStore().name == "SlowStore"
        with pytest.raises(TypeError, match="name must be a str"):
            LRUCache(name=1)  # type: ignore[arg-type]  # the point of the test

    def test_drops(self, recorder: RecordingInstrument) -> None:
        """Direct use reports evictions and expirations under the store's name."""
        clock = ManualClock()
        store: LRUCache[str, int] = LRUCache(maxsize=1, ttl=5, clock=clock, name="s")
        store.set("a", 1, ttl=1)
        store.set("b", 2, ttl=1)  # evicts a
        clock.advance(2)
        assert store.get("b") is None  # expired
        assert recorder.total("cache.evictions", cache="s") == 1
        assert recorder.total("cache.expirations", cache="s") == 1
        assert recorder.select("count", "cache.requests") == []  # lookups are the caller's


class TestSwitching:
    def test_wrapper_made_before_install(self) -> None:
        """A wrapper reports only while an instrument is installed, whenever it was made."""

        @cache(maxsize=10)
        def square(x: int) -> int:
            return x * x

        square(1)
        recorder = RecordingInstrument()
        with install(recorder):
            square(1)
            square(2)
        square(1)
        square(3)
        assert _requests(recorder, qualified_name(square)) == (1, 1)
        assert square.cache_info()[:2] == (2, 3)  # the store counted every call

    def test_cached_method(self, recorder: RecordingInstrument) -> None:
        """Each instance's cache reports under the method's name."""

        class Squarer:
            @cache(maxsize=10)
            def square(self, x: int) -> int:
                return x * x

        first, second = Squarer(), Squarer()
        for squarer in (first, second, first):
            squarer.square(3)
        name = qualified_name(Squarer.square)
        assert _requests(recorder, name) == (1, 2)
