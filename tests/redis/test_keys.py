"""Tests of the key layout: each kind of part has its own key space, whatever the namespaces."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_py

from python_mastery_portfolio.caching import LRUCache
from python_mastery_portfolio.exceptions import LockHeldError
from python_mastery_portfolio.redis import (
    RedisBreakerStateStore,
    RedisCache,
    RedisLock,
    RedisRateLimiter,
    TieredCache,
)
from python_mastery_portfolio.resilience import CircuitBreaker


class TestKeySpaces:
    def test_a_cache_clear_leaves_a_limiter_of_the_same_namespace(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """cache.clear() with a limiter of the same namespace: the limiter keeps its state."""
        cache: RedisCache[Any, Any] = RedisCache(redis_url, namespace="users")
        limiter = RedisRateLimiter(2, per=60, url=redis_url, namespace="users")
        try:
            assert limiter.try_acquire(key="k")
            assert limiter.try_acquire(key="k")
            assert not limiter.try_acquire(key="k")
            cache.set("k", 1)
            cache.record(hits=3)
            cache.stats()
            limiter.stats()  # both publish counters now
            cache.clear()
            assert not limiter.try_acquire(key="k")  # the bucket survived the clear
            stats = limiter.stats()
            assert (stats["allowed"], stats["rejected"]) == (2, 2)
            assert cache.stats()["hits"] == 3  # and the counters did not mix
            limiter.reset(key="k")
            assert cache.lookup("k", None) is None  # the clear itself worked
        finally:
            cache.close()
            limiter.store.close()

    def test_every_part_of_one_namespace_keeps_to_its_own_kind(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """Every part named "x": each key starts with its kind's prefix, and none is shared."""
        remote: RedisCache[Any, Any] = RedisCache(redis_url, namespace="x")
        tiered: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=8), remote=RedisCache(redis_url, namespace="x")
        )
        limiter = RedisRateLimiter(10, url=redis_url, namespace="x")
        breaker_store = RedisBreakerStateStore(redis_url, namespace="x")
        breaker = CircuitBreaker(store=breaker_store)
        lock = RedisLock(redis_url, "x", ttl=5, auto_renew=False, namespace="x")
        plain_lock = RedisLock(redis_url, "x", ttl=5, auto_renew=False)
        try:
            remote.set("k", 1)
            assert remote.get("k") == 1  # a hit: counted
            assert tiered.lookup("j", None) is None  # takes the flight lock
            assert limiter.try_acquire(key="k")
            assert breaker.call(abs, -1) == 1
            lock.acquire()
            plain_lock.acquire()  # another lock: "x" is not "x:x"
            for part in (remote, limiter):
                part.stats()
            names = sorted(name.decode() for name in redis_client.scan_iter())
            assert names == sorted(
                [
                    "pmp:breaker:x",
                    'pmp:cache:x:"k"',
                    'pmp:cache:x:#flight:"j"',
                    "pmp:cache:x:#stats",
                    "pmp:fence:x",
                    "pmp:fence:x:x",
                    "pmp:lock:x",
                    "pmp:lock:x:x",
                    "pmp:ratelimit:x:#stats",
                    'pmp:ratelimit:x:"k"',
                ]
            )
            remote.clear()
            assert not limiter.try_acquire(10, key="k")  # the bucket is there: 9 left
            limiter.store.clear()
            breaker.reset()
            remote.set("k", 1)
            limiter.store.clear()
            assert remote.lookup("k", None) == 1
        finally:
            lock.release()
            plain_lock.release()
            for closing in (remote, tiered, limiter.store, breaker_store, lock, plain_lock):
                closing.close()


class TestLockNamespace:
    def test_a_namespace_prefixes_the_name(self, redis_url: str) -> None:
        """The lock "b" in namespace "a" is the lock "a:b": they contend."""
        inner = RedisLock(redis_url, "b", namespace="a", auto_renew=False, timeout=0)
        plain = RedisLock(redis_url, "a:b", auto_renew=False, timeout=0)
        assert (inner.namespace, plain.namespace) == ("a", None)
        try:
            inner.acquire()
            with pytest.raises(LockHeldError):
                plain.acquire()
        finally:
            inner.release()
            inner.close()
            plain.close()

    @pytest.mark.parametrize(
        ("namespace", "error"), [("", ValueError), (1, TypeError)], ids=["empty", "int"]
    )
    def test_a_namespace_is_checked(self, namespace: Any, error: type[Exception]) -> None:
        """A namespace is a non-empty string or None."""
        with pytest.raises(error, match="namespace"):
            RedisLock("unix:///nowhere.sock", "n", namespace=namespace)
