"""Tests of the Redis stores' async side: the async contract suites, the loop kept free."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from python_mastery_portfolio.redis import RedisBreakerStateStore, RedisRateLimitStore
from python_mastery_portfolio.redis._rate_limit import FLUSH_COUNT
from python_mastery_portfolio.resilience import (
    AsyncBreakerStateStore,
    AsyncRateLimitStore,
    CircuitBreaker,
    CircuitState,
    RateLimiter,
)
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.breaker import AsyncBreakerStateStoreContract
from python_mastery_portfolio.testing.contracts.rate_limit import AsyncRateLimitStoreContract


def fresh() -> str:
    """Return a namespace no other test uses."""
    return f"async-{uuid.uuid4().hex}"


class TestRedisRateLimitStoreAsyncContract(AsyncRateLimitStoreContract):
    """The limiter store's async side passes the async contract (on the caller's clock)."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_store(self) -> RedisRateLimitStore:
        return RedisRateLimitStore(self.url, namespace=fresh(), time_source="caller")

    async def aclose_store(self, store: Any) -> None:
        await store.aclose()


class TestRedisBreakerStateStoreAsyncContract(AsyncBreakerStateStoreContract):
    """The breaker store's async side passes the async contract (on the caller's clock)."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_store(self) -> RedisBreakerStateStore:
        return RedisBreakerStateStore(
            self.url, namespace=fresh(), time_source="caller", refresh_interval=60
        )

    async def aclose_store(self, store: Any) -> None:
        await store.aclose()


def pause(client: redis_py.Redis) -> None:
    """Make the server hold every client's commands for 0.3 s."""
    client.client_pause(300, all=True)


async def ticks_while(awaitable: Any) -> tuple[Any, int]:
    """Await ``awaitable`` while another task counts its turns on the loop; return both."""
    turns = 0
    done = False

    async def ticker() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    counting = asyncio.ensure_future(ticker())
    try:
        result = await awaitable
    finally:
        done = True
        await counting
    return result, turns


class TestLoopStaysFree:
    def test_aacquire_lets_other_tasks_run_while_redis_answers(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """A paused server: aacquire waits on the network, other tasks keep running."""
        store = RedisRateLimitStore(redis_url, namespace=fresh(), socket_timeout=5)
        limiter = RateLimiter(10, store=store)

        async def main() -> int:
            try:
                await limiter.aacquire(key="k")  # the asyncio client is connected
                pause(redis_client)
                _, turns = await ticks_while(limiter.aacquire(key="k"))
                return turns
            finally:
                await store.aclose()

        try:
            assert asyncio.run(main()) > 100  # a blocking call would leave it ~0
            assert store.backend_errors == 0
        finally:
            redis_client.client_unpause()
            store.close()

    def test_atry_acquire_and_acall_let_other_tasks_run(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """atry_acquire and a breaker's acall over Redis do not block the loop either."""
        store = RedisRateLimitStore(redis_url, namespace=fresh(), socket_timeout=5)
        limiter = RateLimiter(10, store=store)
        breaker_store = RedisBreakerStateStore(redis_url, namespace=fresh(), socket_timeout=5)
        breaker = CircuitBreaker(store=breaker_store)

        async def answer() -> int:
            return 42

        async def main() -> tuple[int, int]:
            try:
                await limiter.atry_acquire(key="k")
                await breaker.acall(answer)
                pause(redis_client)
                granted, limiter_turns = await ticks_while(limiter.atry_acquire(key="k"))
                assert granted
                result, breaker_turns = await ticks_while(breaker.acall(answer))
                assert result == 42
                return limiter_turns, breaker_turns
            finally:
                await store.aclose()
                await breaker_store.aclose()

        try:
            limiter_turns, breaker_turns = asyncio.run(main())
            assert limiter_turns > 100
            assert breaker_turns >= 0  # the pause may be over: the limiter's wait took it
        finally:
            redis_client.client_unpause()
            store.close()
            breaker_store.close()


class TestAsyncFaults:
    @pytest.mark.parametrize(
        ("policy", "allowed"), [("allow", True), ("deny", False)], ids=["allow", "deny"]
    )
    def test_limiter_follows_its_policy(self, tmp_path: Path, policy: Any, allowed: bool) -> None:
        """No server: atry_take and atake decide by on_backend_error; arelease loses the refund."""
        store = RedisRateLimitStore(
            f"unix://{tmp_path / 'none.sock'}",
            namespace="n",
            on_backend_error=policy,
            socket_timeout=0.05,
        )

        async def main() -> None:
            try:
                assert await store.atry_take("k", 1, 0, 10) is allowed
                decision = await store.atake("k", 1, 0, 10, interval=1, max_wait=None)
                assert decision.allowed is allowed
                assert not await store.arelease("k", 1, 5)
                assert not await store.arelease("k", 0, 5)  # no refund: no call
            finally:
                await store.aclose()

        asyncio.run(main())
        assert store.backend_errors == 3  # decisions made by the policy are not counted

    def test_counts_that_cannot_be_published_are_kept(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """aclose publishes the counts; with Redis too slow they stay for the next time."""
        store = RedisRateLimitStore(redis_url, namespace=fresh(), socket_timeout=0.2)

        async def decide_then_close() -> None:
            try:
                assert await store.atry_take("k", 1, 0, 10**12)
                pause(redis_client)
            finally:
                await store.aclose()

        try:
            asyncio.run(decide_then_close())
            assert store.backend_errors == 1
            redis_client.client_unpause()
            assert store.stats(0)["granted"] == 1  # kept, and published now
        finally:
            redis_client.client_unpause()
            store.close()

    def test_breaker_fails_open(self, tmp_path: Path) -> None:
        """No server: aview keeps the last view, aenter admits, outcomes are not counted."""
        clock = ManualClock()
        store = RedisBreakerStateStore(
            f"unix://{tmp_path / 'none.sock'}", namespace="n", socket_timeout=0.05, clock=clock
        )
        policy = CircuitBreaker(store=store).policy

        async def main() -> None:
            try:
                clock.advance(1)  # the view is old: aview tries to read it again
                assert await store.aview() == (0, CircuitState.CLOSED)
                admission = await store.aenter(policy)
                assert admission.admitted
                assert not await store.arecord_success(admission.ticket, policy)
                assert not await store.arecord_failure(admission.ticket, policy)
                await store.arecord_ignored(admission.ticket)
            finally:
                await store.aclose()

        before = store.backend_errors  # the breaker read the state when it was made
        asyncio.run(main())
        assert store.backend_errors == before + 5


class TestBatches:
    def test_takes_publish_their_counts_in_batches(self, redis_url: str) -> None:
        """take and atake publish the counts every 256 decisions, as try_take does."""
        store = RedisRateLimitStore(redis_url, namespace=fresh(), time_source="caller")
        hour = 3600 * 10**9

        async def atakes() -> None:
            try:
                for _ in range(FLUSH_COUNT):
                    await store.atake("a", 1, 0, hour, interval=1, max_wait=None)
            finally:
                await store.aclose()

        try:
            for _ in range(FLUSH_COUNT):
                store.take("s", 1, 0, hour, interval=1, max_wait=None)
            asyncio.run(atakes())
            assert store.stats(0)["granted"] == 2 * FLUSH_COUNT
        finally:
            store.close()


class TestWithAClient:
    """Given a ready sync client (no URL, no asyncio client) the async side runs in a thread."""

    def test_limiter_store(self, redis_client: redis_py.Redis) -> None:
        """Each awaited decision is the sync one, made in a worker thread."""
        store = RedisRateLimitStore(redis_client, namespace=fresh(), time_source="caller")
        assert isinstance(store, AsyncRateLimitStore)

        async def main() -> None:
            second = 10**9  # buckets expire when full again: keep them a few seconds
            assert await store.atry_take("k", second, 0, 2 * second)
            decision = await store.atake(
                "k", 2 * second, 0, 2 * second, interval=second, max_wait=10 * second
            )
            assert (decision.allowed, decision.retry_after) == (True, second)
            assert not await store.arelease("k", 0, decision.end)
            await store.aclose()

        asyncio.run(main())

    def test_breaker_store(self, redis_client: redis_py.Redis) -> None:
        """Each awaited step is the sync one, made in a worker thread."""
        clock = ManualClock()
        store = RedisBreakerStateStore(
            redis_client, namespace=fresh(), time_source="caller", clock=clock
        )
        assert isinstance(store, AsyncBreakerStateStore)
        policy = CircuitBreaker(store=store, failure_threshold=1, clock=clock).policy

        async def main() -> None:
            clock.advance(1)  # the view is old: aview reads it again (in a thread)
            assert await store.aview() == (0, CircuitState.CLOSED)
            admission = await store.aenter(policy)
            assert admission.admitted
            await store.arecord_ignored(admission.ticket)
            assert not await store.arecord_success(admission.ticket, policy)
            assert await store.arecord_failure(admission.ticket, policy)  # opened it
            assert (await store.aview())[1] is CircuitState.OPEN
            await store.aclose()

        asyncio.run(main())
