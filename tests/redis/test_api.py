"""Tests of the parts' constructors and stats being alike: the same names for the same things."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis as redis_py

from python_mastery_portfolio.redis import (
    RedisBreakerStateStore,
    RedisRateLimiter,
    RedisRateLimitStore,
)
from python_mastery_portfolio.resilience import CircuitBreaker


class TestRateLimiterConnection:
    def test_client_or_url_is_url(self, redis_url: str) -> None:
        """client_or_url= (every other part's name) builds the same store as url=."""
        namespace = uuid.uuid4().hex
        by_url = RedisRateLimiter(1, per=60, url=redis_url, namespace=namespace)
        by_alias = RedisRateLimiter(1, per=60, client_or_url=redis_url, namespace=namespace)
        try:
            assert by_alias.try_acquire()
            assert not by_url.try_acquire()  # one bucket: the same store
        finally:
            by_url.store.close()
            by_alias.store.close()

    def test_client_or_url_takes_a_client(self, redis_client: redis_py.Redis) -> None:
        """A ready client goes through client_or_url= too, and keeps its pool."""
        limiter = RedisRateLimiter(1, client_or_url=redis_client, namespace=uuid.uuid4().hex)
        assert limiter.store.client is redis_client
        assert limiter.try_acquire()

    def test_url_and_client_or_url_together_are_refused(self, redis_url: str) -> None:
        """Both names at once: a ValueError naming them."""
        with pytest.raises(ValueError, match="client_or_url"):
            RedisRateLimiter(1, url=redis_url, client_or_url=redis_url)

    def test_no_connection_names_client_or_url(self) -> None:
        """Without any connection the error names the options."""
        with pytest.raises(TypeError, match="client_or_url"):
            RedisRateLimiter(1)


class TestBreakerStats:
    def test_stats_report_backend_errors(self, redis_url: str, tmp_path: Path) -> None:
        """The breaker store's stats() has backend_errors, as the cache's and limiter's."""
        store = RedisBreakerStateStore(redis_url, namespace=uuid.uuid4().hex)
        breaker = CircuitBreaker(store=store)
        dead = RedisBreakerStateStore(
            f"unix://{tmp_path / 'none.sock'}", namespace="d", socket_timeout=0.05
        )
        dead_breaker = CircuitBreaker(store=dead)
        try:
            assert breaker.call(abs, -1) == 1
            assert breaker.stats()["backend_errors"] == 0  # type: ignore[typeddict-item]  # the store's RedisBreakerStats
            assert store.stats(breaker.policy)["backend_errors"] == 0
            assert dead_breaker.call(abs, -2) == 2  # fails open
            assert dead.stats(dead_breaker.policy)["backend_errors"] >= 1
        finally:
            store.close()
            dead.close()


class TestLimiterStoreConnection:
    def test_first_argument_stays_positional(self, redis_url: str) -> None:
        """The store takes its connection first and positionally, as every part."""
        store = RedisRateLimitStore(redis_url, namespace="n")
        assert store.namespace == "n"
        store.close()
