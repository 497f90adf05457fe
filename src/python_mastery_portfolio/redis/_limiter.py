"""``RedisRateLimiter``: a :class:`~python_mastery_portfolio.resilience.RateLimiter` in Redis.

A subclass, not a factory: it *is* a ``RateLimiter`` (every API that takes one -- the web
``RateLimit`` dependency included -- takes it unchanged), inherits the queue of waiters,
validation and ``parse``, and only builds its :class:`RedisRateLimitStore` and adds the
store's ``backend_errors`` to :meth:`RedisRateLimiter.stats`.
"""

from __future__ import annotations

from typing import Any, cast

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.redis._connection import DEFAULT_MAX_CONNECTIONS
from python_mastery_portfolio.redis._rate_limit import (
    OnBackendError,
    RedisRateLimitStore,
)
from python_mastery_portfolio.resilience import RateLimiter, RateLimiterStats

__all__ = ["RedisRateLimiter", "RedisRateLimiterStats"]


class RedisRateLimiterStats(RateLimiterStats):
    """:class:`~python_mastery_portfolio.resilience.RateLimiterStats` plus the fault counter.

    Attributes:
        backend_errors: This process's Redis calls that failed or timed out (each decided by
            ``on_backend_error``).
    """

    backend_errors: int


class RedisRateLimiter(RateLimiter):
    """A :class:`~python_mastery_portfolio.resilience.RateLimiter` whose buckets live in Redis.

    The same API and semantics (GCRA per key, ``try_acquire``, ``acquire(timeout=)``,
    ``aacquire``, ``available``, ``reset``, ``parse``), one limit for every process sharing
    the namespace: it *is* a ``RateLimiter`` (a subclass that only builds the
    :class:`RedisRateLimitStore`), so everything that takes a limiter -- the web
    ``RateLimit`` dependency included -- takes this one unchanged. The queue of waiters stays
    per process; :meth:`stats` adds ``backend_errors``.

    Args:
        rate: As for ``RateLimiter``.
        per: As for ``RateLimiter``.
        url: A Redis URL or ``redis.Redis`` client, for a new store; or give ``store``.
        client_or_url: The same as ``url``, under the name every other Redis part gives its
            first argument (give one of the two).
        namespace: The new store's prefix (default ``"ratelimit"``).
        burst: As for ``RateLimiter``.
        clock: As for ``RateLimiter`` (the wait's clock; decisions use the server's).
        on_backend_error: The new store's policy when Redis fails (``"allow"``/``"deny"``).
        socket_timeout: The new store's bound on every Redis call, in seconds.
        max_connections: The new store's bound on its connections (see
            :class:`RedisRateLimitStore`).
        max_keys: Refused: Redis bounds memory by expiry (for ``parse``'s signature).
        store: A ready :class:`RedisRateLimitStore` instead of ``url``.
        name: As for ``RateLimiter``: the name its instrumentation reports carry.

    Raises:
        TypeError: Without ``url`` (or ``client_or_url``) or ``store``, or with a store of
            another kind.
        ValueError: With both, with ``url`` and ``client_or_url``, or with ``max_keys``; or
            as ``RateLimiter`` raises.

    Example:
        >>> limiter = RedisRateLimiter(10, per=60, url="unix:///run/redis.sock", namespace="api")
        >>> limiter, limiter.store.namespace
        (RedisRateLimiter(rate=10, per=60, burst=10.0), 'api')
    """

    __slots__ = ()

    def __init__(
        self,
        rate: float,
        per: float = 1.0,
        *,
        url: Any = None,
        client_or_url: Any = None,
        namespace: str = "ratelimit",
        burst: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        on_backend_error: OnBackendError = "allow",
        socket_timeout: float = 0.5,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_keys: int = MISSING,
        store: RedisRateLimitStore | None = None,
        name: str | None = None,
    ) -> None:
        if client_or_url is not None:
            if url is not None:
                raise ValueError(
                    "give RedisRateLimiter url= or client_or_url= (the same), not both"
                )
            url = client_or_url
        if store is None:
            if url is None:
                raise TypeError(
                    "RedisRateLimiter needs url= (a Redis URL or client; also named "
                    "client_or_url=) or store="
                )
            store = RedisRateLimitStore(
                url,
                namespace=namespace,
                on_backend_error=on_backend_error,
                socket_timeout=socket_timeout,
                max_connections=max_connections,
            )
        elif url is not None:
            raise ValueError("give RedisRateLimiter either url= or store=, not both")
        elif not isinstance(store, RedisRateLimitStore):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"store must be a RedisRateLimitStore, got {store!r}")
        super().__init__(
            rate, per, burst=burst, clock=clock, max_keys=max_keys, store=store, name=name
        )

    def __repr__(self) -> str:
        return "Redis" + super().__repr__()

    @property
    def store(self) -> RedisRateLimitStore:
        """The Redis store the buckets live in."""
        return cast(RedisRateLimitStore, super().store)

    def stats(self) -> RedisRateLimiterStats:
        """Return ``RateLimiter.stats()`` (cluster-wide store counts) and ``backend_errors``.

        Example:
            >>> limiter = RedisRateLimiter(1, url="unix:///nowhere.sock", socket_timeout=0.05)
            >>> limiter.try_acquire()  # no server: on_backend_error="allow"
            True
            >>> limiter.stats()["backend_errors"]
            2
        """
        base = super().stats()
        return {**base, "backend_errors": self.store.backend_errors}
