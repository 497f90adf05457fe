"""Static proofs of the caching types: checked by mypy and pyright, run by pytest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, assert_type

import pytest

from python_mastery_portfolio.caching import (
    CachedFunction,
    CacheInfo,
    CacheStats,
    CacheStore,
    LRUCache,
    async_cache,
    cache,
)


@cache(maxsize=256, ttl=3600)
def expensive(x: int, scale: float = 1.0) -> float:
    return x * scale


@cache
def bare(name: str) -> str:
    return name.upper()


@async_cache(maxsize=128)
async def fetch_user(user_id: int) -> dict[str, int]:
    return {"id": user_id}


@cache()
async def fetch_name(user_id: int) -> str:
    return str(user_id)


class Repository:
    @cache(maxsize=8)
    def lookup(self, user_id: int, *, verbose: bool = False) -> str:
        return f"{user_id}:{verbose}"

    @async_cache
    async def fetch(self, user_id: int) -> bytes:
        return bytes(user_id)


def test_lru_cache_types() -> None:
    """LRUCache[K, V] narrows get() to V | None, or V | default."""
    store: LRUCache[str, int] = LRUCache(maxsize=128, ttl=3600)
    store.set("user:123", 42)
    store.set("user:124", 43, ttl=5)
    assert_type(store.get("user:123"), int | None)
    assert_type(store.get("user:123", 0), int)
    assert_type(store.get("user:123", "none"), int | str)
    assert_type(store.delete("user:123"), bool)
    assert_type(store.stats(), CacheStats)
    assert_type(len(store), int)


SHARED: LRUCache[int, str] = LRUCache(maxsize=64)


@cache(store=SHARED)
def label(x: int) -> str:
    return str(x)


@async_cache(store=SHARED)
async def alabel(x: int) -> str:
    return str(x)


def test_store_types() -> None:
    """LRUCache is a CacheStore; store= keeps the signature; stats are CacheStats."""
    store: CacheStore[int, str] = SHARED
    assert_type(store.lookup(1, None), str | None)
    assert_type(store.stats(), CacheStats)
    assert_type(label(1), str)
    assert_type(label.cache_stats(), CacheStats)
    assert_type(asyncio.run(alabel(2)), str)
    assert_type(SHARED.stats()["hit_rate"], float)
    assert_type(SHARED.stats()["hits"], int)


def test_cache_keeps_the_signature() -> None:
    """A cached function keeps its parameters and return type (ParamSpec)."""
    assert_type(expensive(1), float)
    assert_type(expensive(x=1, scale=2.0), float)
    assert_type(bare("a"), str)
    same: Callable[[int, float], float] = expensive
    assert same(2, 1.0) == 2.0
    named: CachedFunction[[int, float], float] = expensive
    assert named.cache_invalidate(2, 1.0) is True


def test_control_methods() -> None:
    """cache_stats, cache_clear and cache_invalidate are typed; invalidate takes the args."""
    assert_type(expensive.cache_stats(), CacheStats)
    assert_type(expensive.cache_clear(), None)
    assert_type(expensive.cache_invalidate(1, scale=2.0), bool)
    assert_type(expensive.__wrapped__(3), float)
    assert_type(expensive.__name__, str)
    assert expensive.__name__ == "expensive"


def test_async_control_methods() -> None:
    """An async cached function has the same control methods, taking the call's arguments."""
    assert_type(fetch_user.cache_stats(), CacheStats)
    assert_type(fetch_user.cache_info(), CacheInfo)
    assert_type(fetch_user.cache_clear(), None)
    assert_type(fetch_user.cache_invalidate(1), bool)
    assert_type(fetch_user.cache_contains(1), bool)
    assert_type(fetch_name.cache_invalidate(user_id=1), bool)
    wrapped: Callable[[int], Coroutine[Any, Any, dict[str, int]]] = fetch_user.__wrapped__
    assert asyncio.run(wrapped(2)) == {"id": 2}


def test_async_types() -> None:
    """async_cache and cache on async def keep a coroutine's return type."""

    async def main() -> None:
        assert_type(await fetch_user(1), dict[str, int])
        assert_type(await fetch_name(1), str)

    same: Callable[[int], Coroutine[Any, Any, dict[str, int]]] = fetch_user
    assert same is fetch_user
    asyncio.run(main())


def test_async_cache_rejects_sync_functions() -> None:
    """async_cache only accepts coroutine functions."""

    def sync(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="coroutine functions"):
        async_cache()(sync)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_methods_bind_the_instance() -> None:
    """On an instance, a cached method drops self and keeps the rest of the signature."""
    repo = Repository()
    assert_type(repo.lookup(1), str)
    assert_type(repo.lookup(1, verbose=True), str)
    assert_type(repo.lookup.cache_invalidate(1), bool)
    assert_type(repo.lookup.cache_stats(), CacheStats)
    assert_type(Repository.lookup(repo, 1), str)
    assert_type(Repository.lookup.cache_stats(), CacheStats)

    async def main() -> None:
        assert_type(await repo.fetch(2), bytes)

    asyncio.run(main())


async def rejected_calls(store: LRUCache[str, int], repo: Repository) -> None:
    """Calls mypy must reject; never run (each ignore fails strict mode if unused)."""
    store.set("user:125", "text")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    store.set(125, 1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    expensive("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    bare(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    expensive.cache_invalidate("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await fetch_user("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    repo.lookup("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    repo.lookup(1, True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    cache(store=object())  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    _ints: CacheStore[int, int] = LRUCache[str, int]()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    SHARED.stats()["hitrate"]  # type: ignore[typeddict-item]  # pyright: ignore[reportGeneralTypeIssues]
    label("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    fetch_user.cache_contains("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    expensive.cache_clear(1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


@cache(maxsize=None)
def unbounded(x: int) -> int:
    return x


@cache(maxsize=0)
def uncached(x: int) -> int:
    return x


def test_cache_info_and_contains_types() -> None:
    """cache_info() is the CacheInfo named tuple; cache_contains takes the call's arguments."""
    assert_type(unbounded(1), int)
    assert_type(unbounded.cache_info(), CacheInfo)
    assert_type(unbounded.cache_info().maxsize, int | None)
    assert_type(uncached.cache_contains(1), bool)
    assert_type(Repository().lookup.cache_contains(3, verbose=True), bool)
    assert_type(LRUCache[str, int](maxsize=None).maxsize, int | None)
    assert unbounded.cache_info() == CacheInfo(hits=0, misses=1, maxsize=None, currsize=1)
    assert uncached.cache_contains(1) is False
