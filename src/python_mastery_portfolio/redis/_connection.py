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
import threading
import weakref
from typing import Any, Final, Literal

import redis as redis_py
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from python_mastery_portfolio.clock import Clock
from python_mastery_portfolio.exceptions import PortfolioError
from python_mastery_portfolio.instrumentation import HOOKS, error_type

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

Policy = Literal["fail_open", "fail_closed", "raise"]
"""What a part did about a failed call (the ``store.policy`` of a ``store.error`` event)."""

__all__ = [
    "BACKEND_ERRORS",
    "DEFAULT_MAX_CONNECTIONS",
    "IDLE_TTL_MS",
    "BoundedAsyncPool",
    "Connection",
    "FaultLog",
    "Policy",
    "RedisUnavailableError",
    "WarningGate",
]

BACKEND_ERRORS: Final = (RedisError, OSError)
"""What a failed or timed-out Redis call raises (socket errors and ``TimeoutError`` included)."""

IDLE_TTL_MS: Final = 7 * 24 * 3600 * 1000
"""How long a namespace's counters (and a breaker's state) outlive their last update, in ms.

Every key we write expires, so namespaces made on the fly (one per tenant, per upstream
host) do not pile up in Redis: counters untouched for a week go, and start again at zero.
"""


DEFAULT_MAX_CONNECTIONS: Final = 32
"""Connections a part opens at most from a URL (per event loop for its asyncio client)."""


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


def check_max_connections(value: object) -> int:
    """Return ``value`` as a number of connections (an int >= 1); else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_connections must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"max_connections must be >= 1, got {value!r}")
    return value


def check_timeout(name: str, value: object) -> float:
    """Return ``value`` as a positive, finite number of seconds; else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


class BoundedAsyncPool(aredis.ConnectionPool):
    """An asyncio pool whose callers wait (up to ``socket_timeout``) for a free connection.

    redis-py's ``BlockingConnectionPool`` does the same through a condition and a timeout
    scope on every call, which costs about as much as a third of a local round trip; a
    semaphore costs nothing until the pool is exhausted, when a call waits for a slot at
    most the connections' ``socket_timeout`` and then raises ``ConnectionError``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]  # redis-py: untyped
        self._slots = asyncio.Semaphore(self.max_connections)
        self._wait: float = kwargs["socket_timeout"]
        self._slotted: set[Any] = set()

    async def get_connection(self, *args: Any, **options: Any) -> Any:
        """Take a slot (waiting at most ``socket_timeout``), then a connection."""
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), self._wait)
            except TimeoutError as error:
                raise redis_py.ConnectionError("No connection available.") from error
        else:
            await self._slots.acquire()  # free: returns without suspending
        try:
            connection = await super().get_connection(*args, **options)  # type: ignore[no-untyped-call]  # redis-py: untyped
        except BaseException:
            # A connection that failed to connect was given back already, slot kept.
            self._slots.release()
            raise
        self._slotted.add(connection)
        return connection  # pyright: ignore[reportUnknownVariableType]  # redis-py: untyped

    async def release(self, connection: Any) -> None:
        """Give ``connection`` back, and its slot."""
        try:
            await super().release(connection)
        finally:
            if connection in self._slotted:
                self._slotted.discard(connection)
                self._slots.release()


class Connection:
    """A sync client and, per event loop, an asyncio client, with a timeout on every call.

    From a URL, each client's pool is bounded (``max_connections``) and blocking: a call
    that finds every connection in use waits for one at most ``socket_timeout`` seconds,
    then fails like any call to an unreachable Redis (the part's policy applies). A client
    passed in keeps its own pool.
    """

    __slots__ = ("_async_clients", "max_connections", "owned", "sync", "timeout", "url")

    def __init__(
        self,
        client_or_url: object,
        *,
        socket_timeout: float,
        owner: str,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.timeout = check_timeout("socket_timeout", socket_timeout)
        self.max_connections = check_max_connections(max_connections)
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        if isinstance(client_or_url, str):
            self.url: str | None = client_or_url
            # No retries: a dead server must cost one timeout, not a backoff loop.
            pool = redis_py.BlockingConnectionPool.from_url(  # pyright: ignore[reportUnknownMemberType]  # redis-py leaves **kwargs unannotated
                client_or_url,
                max_connections=self.max_connections,
                timeout=self.timeout,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self.sync: redis_py.Redis = redis_py.Redis.from_pool(pool)
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
            pool = BoundedAsyncPool.from_url(  # pyright: ignore[reportUnknownMemberType]  # redis-py leaves **kwargs unannotated
                self.url,
                max_connections=self.max_connections,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=AsyncRetry(NoBackoff(), 0),
            )
            client = self._async_clients[loop] = aredis.Redis.from_pool(pool)
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


class FaultLog:
    """How a part reports its Redis faults: to the hook, at WARNING (rate-limited), recovery.

    Each fault is reported to the instrumentation hook (``store.errors`` counted by store and
    operation, a ``store.error`` event with the error's type and the policy applied) and
    logged at WARNING through a :class:`WarningGate` (the first at once, then one per 5
    seconds with the number suppressed). The first successful call after faults logs one
    INFO line, "Redis reachable again", with the number of failed calls in between: callers
    check :attr:`down` (a plain attribute, cheap on a hot path) and then call
    :meth:`recovered`.
    """

    __slots__ = ("_errors", "_failed", "_gate", "_lock", "_name", "_store", "down")

    def __init__(self, store: str, name: object, clock: Clock) -> None:
        self._store = store
        self._name = name
        self._gate = WarningGate(clock)
        self._lock = threading.Lock()  # faults are rare: the counts are exact under threads
        self._errors = 0
        self._failed = 0
        self.down = False

    @property
    def errors(self) -> int:
        """Faults reported since the part was made: its ``backend_errors``."""
        return self._errors

    def fault(
        self,
        operation: str,
        error: BaseException,
        policy: Policy,
        outcome: str,
        *,
        doing: str | None = None,
    ) -> None:
        """Report a failed ``operation`` (logged as ``doing``) and what followed (``outcome``)."""
        self.down = True
        with self._lock:
            self._errors += 1
            self._failed += 1
        if HOOKS.active:
            HOOKS.count("store.errors", 1, {"store": self._store, "operation": operation})
            HOOKS.event(
                "store.error",
                {
                    "store": self._store,
                    "operation": operation,
                    "error.type": error_type(error),
                    "store.policy": policy,
                },
            )
        self._gate.warn(
            logger,
            "%s %r: %s failed (%s: %s); %s",
            self._store,
            self._name,
            doing or operation,
            type(error).__name__,
            error,
            outcome,
        )

    def recovered(self) -> None:
        """Log that Redis answers again, once per outage (call it when :attr:`down`).

        Threads racing out of an outage may each log it: no lock on this path.
        """
        self.down = False
        with self._lock:
            failed, self._failed = self._failed, 0
        logger.info(
            "%s %r: Redis reachable again (%d failed calls before)", self._store, self._name, failed
        )
