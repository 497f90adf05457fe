"""The Redis rows of ``make bench``: ours and the peers against one local Redis server.

The server is started on first use by :mod:`benchmarks.redis_server` (a Unix socket in a
temporary directory) and stopped at exit. Without ``redis-server`` on PATH there are no
Redis rows: :func:`redis_scenarios` logs why and returns an empty list.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from typing import Any

from benchmarks import redis_server
from benchmarks.harness import OURS, Contender, Prepared, Scenario

logger = logging.getLogger(__name__)

_LIMIT = 1000  # per second: a moving window keeps at most this many entries


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _name() -> str:
    return f"bench-{uuid.uuid4().hex}"


# ------------------------------------------------------------------------- rate limits


def _limiter_ours() -> Prepared:
    from python_mastery_portfolio.redis import RedisRateLimiter

    url = f"redis://{redis_server.address()}"
    limiter = RedisRateLimiter(_LIMIT, url=url, namespace=_name())
    key = "client"

    def op() -> bool:
        return limiter.try_acquire(key=key)

    def verify() -> None:
        _check(limiter.try_acquire(key=_name()), "a fresh key was refused")
        _check(limiter.stats()["backend_errors"] == 0, "Redis calls failed")

    return Prepared(op, verify)


def _limiter_limits() -> Prepared:
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    storage = RedisStorage(f"redis://{redis_server.address()}", key_prefix=_name())
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(_LIMIT)

    def op() -> bool:
        # limits is untyped where it is not installed (the dev tools lack the bench group).
        return bool(limiter.hit(item, "client"))

    def verify() -> None:
        _check(limiter.hit(item, _name()), "a fresh key was refused")

    return Prepared(op, verify)


# ------------------------------------------------------------------------------ caches


def _cache_get_ours() -> Prepared:
    from python_mastery_portfolio.redis import RedisCache

    store: RedisCache[str, int] = RedisCache(f"redis://{redis_server.address()}", namespace=_name())
    store.set("k", 1)
    last: list[object] = [None]

    async def op() -> None:
        last[0] = await store.alookup("k", None)

    def verify() -> None:
        _check(last[0] == 1, "a hit missed")

    async def close() -> None:
        await store.aclose()
        store.close()

    return Prepared(op, verify, is_async=True, close=close)


def _cache_get_cashews() -> Prepared:
    from cashews import Cache

    cashews: Any = Cache()
    cashews.setup(f"redis://{redis_server.address()}")
    key = f"{_name()}:k"
    # cashews' client belongs to the harness's loop: the first op (the warm-up) stores.
    last: list[object] = [None]

    async def op() -> None:
        if last[0] is None:
            await cashews.set(key, 1)
        last[0] = await cashews.get(key)

    def verify() -> None:
        _check(last[0] == 1, "a hit missed")

    async def close() -> None:
        # cashews 7.6 closes its redis-py client with the deprecated close(): not ours to fix.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            await cashews.close()

    return Prepared(op, verify, is_async=True, close=close)


def _tiered_hit_ours() -> Prepared:
    from python_mastery_portfolio.caching import LRUCache
    from python_mastery_portfolio.redis import RedisCache, TieredCache

    store: TieredCache[str, int] = TieredCache(
        local=LRUCache[Any, int](maxsize=256),
        remote=RedisCache(f"redis://{redis_server.address()}", namespace=_name()),
    )
    store.set("k", 1)

    def op() -> object:
        return store.lookup("k", None)

    def verify() -> None:
        _check(store.local.lookup("k", None) == 1, "not in the local tier")
        _check(store.lookup("k", None) == 1, "a hit missed")

    return Prepared(op, verify)


def _lru_hit() -> Prepared:
    from python_mastery_portfolio.caching import LRUCache

    store: LRUCache[str, int] = LRUCache(maxsize=256)
    store.set("k", 1)

    def op() -> object:
        return store.lookup("k", None)

    return Prepared(op, lambda: _check(store.lookup("k", None) == 1, "a hit missed"))


def redis_scenarios() -> list[Scenario]:
    """Return the Redis scenarios, or none (logging why) without ``redis-server``."""
    reason = redis_server.available()
    if reason is not None:
        logger.warning("skipping the Redis benchmarks: %s", reason)
        return []
    return [
        Scenario(
            "redis_rate_limit",
            "Redis rate limit: RedisRateLimiter.try_acquire vs limits' moving window",
            [
                Contender(OURS, _limiter_ours),
                Contender("limits (moving window)", _limiter_limits, "limits", 0.7),
            ],
            note="One local Redis over TCP; one decision per call.",
        ),
        Scenario(
            "redis_cache_get",
            "Redis cache get hit (asyncio): RedisCache.alookup vs cashews",
            [
                Contender(OURS, _cache_get_ours),
                Contender("cashews", _cache_get_cashews, "cashews", 1.0),
            ],
            note="One local Redis over TCP; both read one small value.",
        ),
        Scenario(
            "redis_tiered_hit",
            "Tiered cache local hit vs LRUCache hit (lookup)",
            [
                Contender(OURS, _tiered_hit_ours),
                Contender("LRUCache (ours, in memory)", _lru_hit, None, 1.3),
            ],
            note="The local tier answers: no Redis round trip.",
        ),
    ]
