"""Tests of the bounded connection pools: more threads and tasks than connections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from python_mastery_portfolio.caching import LRUCache
from python_mastery_portfolio.redis import (
    RedisBreakerStateStore,
    RedisCache,
    RedisLock,
    RedisRateLimiter,
    RedisRateLimitStore,
    TieredCache,
)
from python_mastery_portfolio.redis._connection import BoundedAsyncPool
from tests.conftest import raise_first, run_threads

THREADS = 16


def connected(client: redis_py.Redis) -> int:
    """Return the clients connected to the server now."""
    return int(client.info("clients")["connected_clients"])  # pyright: ignore[reportUnknownMemberType]  # redis-py: untyped


class TestBounds:
    def test_limiter_threads_beyond_the_bound_share_its_connections(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """16 threads, 2 connections: every decision made, never more than 2 connections."""
        redis_client.script_flush()  # each thread's first call loads it: on its own connection
        before = connected(redis_client)
        limiter = RedisRateLimiter(
            THREADS * 20, per=60, url=redis_url, namespace=uuid.uuid4().hex, max_connections=2
        )

        def work(index: int) -> list[bool]:
            return [limiter.try_acquire(key="k") for _ in range(20)]

        try:
            results = raise_first(run_threads(THREADS, work))
            assert all(all(row) for row in results)
            assert not limiter.try_acquire(key="k")  # every token taken exactly once
            assert limiter.stats()["backend_errors"] == 0
            assert connected(redis_client) - before <= 2
        finally:
            limiter.store.close()

    def test_cache_threads_beyond_the_bound_share_its_connections(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """16 threads reading a cache of 2 connections: every read a hit, at most 2 opened."""
        before = connected(redis_client)
        store: RedisCache[str, int] = RedisCache(
            redis_url, namespace=uuid.uuid4().hex, max_connections=2
        )
        store.set("k", 1)
        try:
            results = raise_first(
                run_threads(THREADS, lambda _: [store.lookup("k", None) for _ in range(20)])
            )
            assert results == [[1] * 20] * THREADS
            assert store.stats()["backend_errors"] == 0
            assert connected(redis_client) - before <= 2
        finally:
            store.close()

    def test_tasks_beyond_the_bound_share_the_loops_connections(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """64 tasks on one loop, 2 connections: every read a hit, at most 2 opened."""
        before = connected(redis_client)
        store: RedisCache[str, int] = RedisCache(
            redis_url, namespace=uuid.uuid4().hex, max_connections=2
        )
        store.set("k", 1)

        async def main() -> list[int | None]:
            try:
                found = await asyncio.gather(*(store.alookup("k", None) for _ in range(64)))
                assert connected(redis_client) - before <= 2 + 1  # the sync client's one
                return found
            finally:
                await store.aclose()

        try:
            assert asyncio.run(main()) == [1] * 64
        finally:
            store.close()


def _hold_every_connection(client: redis_py.Redis) -> Callable[[], None]:
    """Take the pool's only connection; return what gives it back."""
    pool = client.connection_pool
    held: Any = pool.get_connection()
    return lambda: pool.release(held)


class TestExhaustedPool:
    @pytest.mark.parametrize(
        ("policy", "decision"), [("allow", True), ("deny", False)], ids=["allow", "deny"]
    )
    def test_limiter_waits_the_timeout_then_follows_its_policy(
        self, redis_url: str, policy: Any, decision: bool
    ) -> None:
        """Every connection in use: the decision waits socket_timeout, then the policy."""
        store = RedisRateLimitStore(
            redis_url,
            namespace=uuid.uuid4().hex,
            on_backend_error=policy,
            socket_timeout=0.05,
            max_connections=1,
        )
        give_back = _hold_every_connection(store.client)
        try:
            assert store.try_take("k", 1, 0, 10) is decision
            assert store.backend_errors == 1
            give_back()
            assert store.try_take("k", 1, 0, 10)  # a connection is free again
            assert store.backend_errors == 1
        finally:
            store.close()

    def test_cache_and_breaker_and_lock_wait_then_follow_their_policies(
        self, redis_url: str
    ) -> None:
        """Every connection in use: the cache misses, the breaker admits, the lock raises."""
        options: dict[str, Any] = {"socket_timeout": 0.05, "max_connections": 1}
        cache: RedisCache[str, int] = RedisCache(redis_url, namespace="c", **options)
        breaker = RedisBreakerStateStore(redis_url, namespace="b", **options)
        lock = RedisLock(redis_url, "l", auto_renew=False, **options)
        releases = [_hold_every_connection(part.client) for part in (cache, breaker, lock)]
        try:
            assert cache.lookup("k", None) is None
            assert cache.stats()["backend_errors"] >= 1
            with pytest.raises(ConnectionError):
                lock.acquire(timeout=0)
        finally:
            for release in releases:
                release()
            for part in (cache, breaker, lock):
                part.close()


class TestBoundedAsyncPool:
    def test_a_task_beyond_the_bound_waits_the_timeout_then_fails(self, redis_url: str) -> None:
        """The asyncio pool: with every connection taken, a task waits, then ConnectionError."""

        async def main() -> None:
            pool = BoundedAsyncPool.from_url(redis_url, max_connections=1, socket_timeout=0.05)
            held = await pool.get_connection()
            with pytest.raises(redis_py.ConnectionError, match="No connection available"):
                await pool.get_connection()
            waiter = asyncio.ensure_future(pool.get_connection())
            await asyncio.sleep(0)  # the waiter waits for the slot...
            await pool.release(held)
            second = await waiter  # ...and takes it when it is given back
            await pool.release(second)
            await pool.disconnect()

        asyncio.run(main())

    def test_a_failed_connect_gives_its_slot_back(self, tmp_path: Path) -> None:
        """No server: each try fails to connect, never for want of a slot."""

        async def main() -> None:
            url = f"unix://{tmp_path / 'none.sock'}"
            pool = BoundedAsyncPool.from_url(url, max_connections=1, socket_timeout=0.05)
            for _ in range(3):
                with pytest.raises(redis_py.ConnectionError, match="connecting"):
                    await pool.get_connection()
            await pool.disconnect()

        asyncio.run(main())


class TestOptions:
    @pytest.mark.parametrize(
        ("value", "error"),
        [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)],
        ids=["zero", "negative", "float", "bool"],
    )
    def test_max_connections_is_checked(self, value: Any, error: type[Exception]) -> None:
        """max_connections must be an int >= 1, on every part."""
        makers: list[Callable[[], object]] = [
            lambda: RedisCache("unix:///nowhere.sock", namespace="n", max_connections=value),
            lambda: RedisRateLimitStore(
                "unix:///nowhere.sock", namespace="n", max_connections=value
            ),
            lambda: RedisRateLimiter(1, url="unix:///nowhere.sock", max_connections=value),
            lambda: RedisBreakerStateStore(
                "unix:///nowhere.sock", namespace="n", max_connections=value
            ),
            lambda: RedisLock("unix:///nowhere.sock", "n", max_connections=value),
        ]
        for make in makers:
            with pytest.raises(error, match="max_connections"):
                make()

    def test_a_tiered_cache_needs_two_connections(self) -> None:
        """The listener holds one connection: a remote of one would starve every other call."""
        remote: RedisCache[Any, Any] = RedisCache(
            "unix:///nowhere.sock", namespace="n", max_connections=1
        )
        with pytest.raises(ValueError, match="max_connections"):
            TieredCache(local=LRUCache[Any, Any](maxsize=2), remote=remote)

    def test_a_client_passed_in_keeps_its_pool(self, redis_client: redis_py.Redis) -> None:
        """A client given to a part is used as it is: its pool is not replaced."""
        store = RedisRateLimitStore(redis_client, namespace="n", max_connections=1)
        assert store.client is redis_client
        assert store.client.connection_pool.max_connections != 1
