"""Redis backends for the toolkit's stores, and a Redis lock (extra ``[redis]``).

* :class:`RedisCache` -- a :class:`~python_mastery_portfolio.caching.CacheStore` and
  :class:`~python_mastery_portfolio.caching.AsyncCacheStore` in Redis, shared by every
  process using the same namespace: ``@cache(store=RedisCache(url, namespace="users"))``.
  It fails open: with Redis down, calls compute, a WARNING is logged and counted.
* :class:`TieredCache` -- a local :class:`~python_mastery_portfolio.caching.LRUCache` in
  front of a :class:`RedisCache`: local hits, and every write or invalidation in any process
  evicts the key from every process's local tier (pub/sub); one computation per key in the
  cluster (a short flight lock, a bounded wait).
* :class:`RedisLock` -- a lock across processes and machines, sync and async, with
  fencing tokens and auto-renewal; it fails closed.
* :class:`RedisRateLimiter` -- a :class:`~python_mastery_portfolio.resilience.RateLimiter`
  whose buckets live in Redis (:class:`RedisRateLimitStore`): one limit for every process,
  decided by one Lua script on the server's clock; ``on_backend_error`` says what happens
  with Redis down.
* :class:`RedisBreakerStateStore` -- a ``CircuitBreaker(store=...)`` shared by every
  process: one state, one failure window, half-open probes counted cluster-wide.
* :class:`JSONSerializer` (the default) and :class:`PickleSerializer` (signed with HMAC) --
  how cached values are stored; :class:`Serializer` is their protocol.
* :class:`RedisCacheStats`, :class:`TieredCacheStats`, :class:`RedisRateLimiterStats`,
  :class:`RedisBreakerStats`,
  :class:`RedisUnavailableError`.

This package needs redis-py (``pip install "python-mastery-portfolio[redis]"``); importing
:mod:`python_mastery_portfolio` itself never imports it. It logs under its own name,
``python_mastery_portfolio.redis``.

Example:
    >>> from python_mastery_portfolio.redis import RedisCache, JSONSerializer
    >>> RedisCache("unix:///run/redis.sock", namespace="users", ttl=60)
    RedisCache(namespace='users', ttl=60.0)
"""

from __future__ import annotations

try:
    import redis as redis_py
except ImportError as error:  # pragma: no cover - exercised by a test that hides redis-py
    raise ImportError(
        "python_mastery_portfolio.redis needs redis-py: install the extra with "
        "pip install 'python-mastery-portfolio[redis]'",
        name=error.name,
    ) from error

from python_mastery_portfolio.redis._breaker import RedisBreakerStateStore, RedisBreakerStats
from python_mastery_portfolio.redis._cache import RedisCache, RedisCacheStats
from python_mastery_portfolio.redis._connection import RedisUnavailableError
from python_mastery_portfolio.redis._limiter import RedisRateLimiter, RedisRateLimiterStats
from python_mastery_portfolio.redis._lock import RedisLock
from python_mastery_portfolio.redis._rate_limit import RedisRateLimitStore
from python_mastery_portfolio.redis._serializers import (
    JSONSerializer,
    PickleSerializer,
    Serializer,
)
from python_mastery_portfolio.redis._tiered import TieredCache, TieredCacheStats

__all__ = [
    "JSONSerializer",
    "PickleSerializer",
    "RedisBreakerStateStore",
    "RedisBreakerStats",
    "RedisCache",
    "RedisCacheStats",
    "RedisLock",
    "RedisRateLimitStore",
    "RedisRateLimiter",
    "RedisRateLimiterStats",
    "RedisUnavailableError",
    "Serializer",
    "TieredCache",
    "TieredCacheStats",
]

del redis_py
