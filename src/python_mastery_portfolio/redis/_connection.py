"""The Redis clients behind a store or lock: one sync client, one asyncio client per loop.

redis-py's asyncio connections belong to the event loop that opened them, so a store used
from several loops (``asyncio.run`` called more than once) gets one asyncio client per loop,
made on first use from the URL. A store given a ready sync client has no URL to make one
from: its async methods then run the sync client's calls in a worker thread, which keeps the
event loop free at the cost of a thread hop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from typing import Any, Final

import redis as redis_py
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from python_mastery_portfolio.clock import Clock
from python_mastery_portfolio.exceptions import PortfolioError

__all__ = ["BACKEND_ERRORS", "IDLE_TTL_MS", "Connection", "RedisUnavailableError", "WarningGate"]

BACKEND_ERRORS: Final = (RedisError, OSError)
"""What a failed or timed-out Redis call raises (socket errors and ``TimeoutError`` included)."""

IDLE_TTL_MS: Final = 7 * 24 * 3600 * 1000
"""How long a namespace's counters (and a breaker's state) outlive their last update, in ms.

Every key we write expires, so namespaces made on the fly (one per tenant, per upstream
host) do not pile up in Redis: counters untouched for a week go, and start again at zero.
"""


class RedisUnavailableError(PortfolioError, ConnectionError):
    """Redis could not be reached or answered too late, where the policy is to fail closed.

    Raised by :class:`~python_mastery_portfolio.redis.RedisLock` (a lock that cannot be
    checked is never granted) and by ``RedisCache.clear()``; also a :class:`ConnectionError`.

    Example:
        >>> error = RedisUnavailableError("no Redis", operation="acquire", target="jobs")
        >>> error.operation, error.http_status, isinstance(error, ConnectionError)
        ('acquire', 503, True)
    """

    default_code = "redis_unavailable"
    http_status = 503
    fields = ("operation", "target")
    operation: str | None
    target: str | None


def check_timeout(name: str, value: object) -> float:
    """Return ``value`` as a positive, finite number of seconds; else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


class Connection:
    """A sync client and, per event loop, an asyncio client, with a timeout on every call."""

    __slots__ = ("_async_clients", "owned", "sync", "timeout", "url")

    def __init__(self, client_or_url: object, *, socket_timeout: float, owner: str) -> None:
        self.timeout = check_timeout("socket_timeout", socket_timeout)
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        if isinstance(client_or_url, str):
            self.url: str | None = client_or_url
            # No retries: a dead server must cost one timeout, not a backoff loop.
            self.sync: redis_py.Redis = redis_py.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]  # redis-py leaves **kwargs unannotated
                client_or_url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self.owned = True
        elif isinstance(client_or_url, redis_py.Redis):
            self.url = None
            self.sync = client_or_url
            self.owned = False
        else:
            raise TypeError(
                f"{owner} needs a Redis URL or a redis.Redis client, got {client_or_url!r}"
            )

    def aclient(self) -> aredis.Redis | None:
        """Return the running loop's asyncio client, or ``None`` when there is no URL."""
        if self.url is None:
            return None
        loop = asyncio.get_running_loop()
        client: aredis.Redis | None = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = aredis.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]  # redis-py leaves **kwargs unannotated
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=AsyncRetry(NoBackoff(), 0),
            )
        return client

    def close(self) -> None:
        """Close the sync client if this connection made it; forget the asyncio clients."""
        if self.owned:
            self.sync.close()
        self._async_clients.clear()

    async def aclose(self) -> None:
        """Close the running loop's asyncio client (before the loop ends: no ResourceWarning)."""
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


class WarningGate:
    """Rate-limits a WARNING: the first at once, then one per ``interval`` with a count."""

    __slots__ = ("_clock", "_interval", "_last", "_suppressed")

    def __init__(self, clock: Clock, interval: float = 5.0) -> None:
        self._clock = clock
        self._interval = interval
        self._last = -math.inf
        self._suppressed = 0

    def warn(self, logger: logging.Logger, message: str, *args: object) -> None:
        """Log ``message % args`` at WARNING unless one went out less than ``interval`` ago."""
        now = self._clock.now()
        if now - self._last < self._interval:
            self._suppressed += 1
            return
        suppressed, self._suppressed, self._last = self._suppressed, 0, now
        logger.warning(message, *args)
        if suppressed:
            logger.warning("(%d similar warnings suppressed before this one)", suppressed)
