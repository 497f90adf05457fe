"""Faults of every Redis part: a server stopped and restarted mid-loop, a server that hangs.

The policies (module docstrings): the cache fails open, the rate limiter follows
``on_backend_error``, the breaker store fails open, the lock fails closed. Each loop below
runs calls through a stop and a restart and checks that no exception reaches the caller
except where the policy says so.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from python_mastery_portfolio.caching import LRUCache, cache
from python_mastery_portfolio.exceptions import RateLimitError
from python_mastery_portfolio.redis import (
    RedisBreakerStateStore,
    RedisCache,
    RedisLock,
    RedisRateLimiter,
    RedisRateLimitStore,
    RedisUnavailableError,
    TieredCache,
)
from python_mastery_portfolio.resilience import CircuitBreaker
from tests.redis.conftest import RedisServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test alone, which the test stops and restarts."""
    made = RedisServer(tmp_path)
    made.start()
    yield made
    made.stop()


@pytest.fixture
def silent(tmp_path: Path) -> Iterator[str]:
    """The URL of a socket that accepts connections and never answers: a hung server."""
    path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen()
        yield f"unix://{path}"


def phases(server: RedisServer) -> Iterator[str]:
    """Yield "up", then "down" with the server stopped, then "up" again after a restart."""
    yield "up"
    server.stop()
    yield "down"
    server.start()
    yield "back"


class TestStopAndRestart:
    def test_lock_fails_closed_then_works(self, server: RedisServer) -> None:
        """acquire raises RedisUnavailableError only while Redis is down, never grants."""
        lock = RedisLock(server.url, "jobs", ttl=5, auto_renew=False)
        outcomes: dict[str, list[str]] = {}
        try:
            for phase in phases(server):
                for _ in range(3):
                    try:
                        with lock:
                            outcomes.setdefault(phase, []).append("held")
                    except RedisUnavailableError:
                        outcomes.setdefault(phase, []).append("unavailable")
        finally:
            lock.close()
        assert outcomes == {
            "up": ["held"] * 3,
            "down": ["unavailable"] * 3,
            "back": ["held"] * 3,
        }

    def test_deny_limiter_refuses_while_down(self, server: RedisServer) -> None:
        """on_backend_error="deny": RateLimitError while down (its policy), limits after."""
        limiter = RedisRateLimiter(
            2, per=3600, url=server.url, namespace="d", on_backend_error="deny"
        )
        outcomes: dict[str, list[bool]] = {}
        try:
            for phase in phases(server):
                for _ in range(3):
                    try:
                        limiter.acquire(key="k", timeout=0)
                        outcomes.setdefault(phase, []).append(True)
                    except RateLimitError:
                        outcomes.setdefault(phase, []).append(False)
        finally:
            limiter.store.close()
        assert outcomes == {
            "up": [True, True, False],
            "down": [False] * 3,
            "back": [True, True, False],  # a restarted server lost the buckets
        }

    def test_every_part_at_once(self, server: RedisServer) -> None:
        """A cache, a tiered cache, a limiter and a breaker on one server: nothing raises."""
        remote: RedisCache[Any, Any] = RedisCache(server.url, namespace="c", socket_timeout=1)
        tiered: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=8),
            remote=RedisCache(server.url, namespace="t", socket_timeout=1),
        )
        limiter = RedisRateLimiter(1000, url=server.url, namespace="l", socket_timeout=1)
        breaker = CircuitBreaker(
            store=RedisBreakerStateStore(server.url, namespace="b", socket_timeout=1)
        )

        @cache(store=remote)
        def shared(x: int) -> int:
            return x + 1

        @cache(store=tiered)
        def local(x: int) -> int:
            return x + 2

        try:
            for _phase in phases(server):
                for x in range(5):
                    assert limiter.try_acquire(key="k")
                    assert breaker.call(shared, x) == x + 1
                    assert breaker.call(local, x) == x + 2
        finally:
            remote.close()
            tiered.close()
            limiter.store.close()
        assert limiter.stats()["backend_errors"] > 0


class TestHungServer:
    def test_every_part_times_out(self, silent: str) -> None:
        """A server that never answers costs socket_timeout per call, then the policy."""
        limiter = RedisRateLimiter(1, url=silent, namespace="l", socket_timeout=0.05)
        assert limiter.try_acquire()
        store = RedisBreakerStateStore(silent, namespace="b", socket_timeout=0.05)
        assert CircuitBreaker(store=store).call(abs, -3) == 3
        assert store.backend_errors >= 1
        tiered: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=8),
            remote=RedisCache(silent, namespace="t", socket_timeout=0.05),
        )
        assert tiered.lookup("k", "miss") == "miss"
        tiered.close()
        lock = RedisLock(silent, "jobs", socket_timeout=0.05)
        with pytest.raises(RedisUnavailableError):
            lock.acquire()
        lock.close()
        limiter.store.close()
        store.close()


class TestScriptCacheFlushed:
    def test_every_script_is_loaded_again(self, redis_url: str) -> None:
        """After SCRIPT FLUSH (as after a restart) every script is loaded again: no error."""
        flusher = redis_py.Redis.from_url(redis_url)
        store = RedisRateLimitStore(redis_url, namespace="l")
        breaker_store = RedisBreakerStateStore(redis_url, namespace="b")
        breaker = CircuitBreaker(store=breaker_store, failure_threshold=1)
        tiered: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=8), remote=RedisCache(redis_url, namespace="t")
        )
        lock = RedisLock(redis_url, "jobs", ttl=5, auto_renew=False)
        second = 10**9

        def every_script(round_: int) -> list[object]:
            decision = store.take("k", second, 0, second, interval=second, max_wait=None)
            with lock:
                extended = lock.extend()
            tiered.set("k", round_)
            return [
                store.try_take(round_, 1, 0, second),
                decision.allowed,
                store.release("k", second, decision.end),
                store.backlog("k", 0) >= 0,
                breaker.call(abs, -round_),
                extended,
                tiered.lookup("k", None),
            ]

        try:
            for round_ in range(3):
                assert every_script(round_) == [True, True, True, True, round_, True, round_]
                flusher.script_flush()
            assert store.backend_errors == breaker_store.backend_errors == 0
            assert tiered.stats()["backend_errors"] == 0
        finally:
            flusher.close()
            store.close()
            breaker_store.close()
            tiered.close()
            lock.close()


class TestEveryKeyExpires:
    def test_no_key_is_kept_forever(self, redis_url: str) -> None:
        """Counters, breaker state, buckets, entries and locks all expire (fences excepted)."""
        client = redis_py.Redis.from_url(redis_url)
        remote: RedisCache[Any, Any] = RedisCache(redis_url, namespace="c", ttl=60)
        tiered: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=8), remote=RedisCache(redis_url, namespace="t")
        )
        limiter = RedisRateLimiter(10, url=redis_url, namespace="l")
        breaker_store = RedisBreakerStateStore(redis_url, namespace="b")
        breaker = CircuitBreaker(store=breaker_store)
        lock = RedisLock(redis_url, "jobs", ttl=5, auto_renew=False)
        try:
            remote.set("k", 1)
            assert remote.get("k") == 1
            assert tiered.lookup("k", None) is None  # takes the flight lock
            assert limiter.try_acquire(key="k")
            assert breaker.call(abs, -1) == 1
            lock.acquire()
            for part in (remote, tiered, limiter):
                part.stats()
            names = sorted(name.decode() for name in client.scan_iter())
            kept = [name for name in names if client.pttl(name) < 0]
            assert kept == ["pmp:fence:jobs"], names  # a fence must outlive every holder
            breaker.force_open()  # an operator's hold lasts until reset: no expiry then
            assert client.pttl("pmp:breaker:b") == -1
            breaker.reset()
            assert client.pttl("pmp:breaker:b") > 0
        finally:
            lock.release()
            for closing in (client, remote, tiered, limiter.store, breaker_store, lock):
                closing.close()
