"""``TieredCache``: a local tier in front of a :class:`RedisCache`, kept coherent by pub/sub.

A lookup tries the local tier (an :class:`~python_mastery_portfolio.caching.LRUCache`, in
this process: no round trip), then Redis, and copies a Redis hit into the local tier. Every
write, delete or clear goes to Redis and is *published* on the channel ``pmp:cache:ns:#invalidate``;
each process's ``TieredCache`` listens on it (a daemon thread with its own connection) and
evicts the key from its local tier. So a ``cache_invalidate`` or a new value in any process
is seen by every process's next lookup, as soon as the message has arrived (a round trip).

Races: a Redis read that started before an invalidation arrived, or before a write or delete
of this process, is not copied into the local tier (each message and each local write moves
a generation counter, checked before the copy); a write keeps its value locally only if no
other change came in while it went to Redis (else the key is dropped locally: a later
write, here or elsewhere, may have overtaken it). While the listener is not subscribed (at
the start, and whenever its connection fails, or stays silent past a PING: twice
``socket_timeout`` without a message, then as long without an answer) messages may be
missed, so the local tier is bypassed and, once subscribed again, emptied: never stale, at
worst slow. The local tier's own ``ttl`` bounds how long any entry is served anyway.

Single-flight across processes: a miss in Redis takes a short lock, ``pmp:cache:ns:#flight:<key>``
(``SET NX GET PX lock_ttl``: Redis 7 or later). Its holder's process computes (the
decorators' own single-flight covers its threads and tasks) and its :meth:`TieredCache.set`
frees the lock. Another
process waits for the value, polling every few milliseconds for at most ``lock_wait``
seconds, then computes itself: the bound holds even if the holder died (a computation
that raises leaves the lock to expire after ``lock_ttl``).

Faults: every call has the remote cache's ``socket_timeout``. The cache fails open: with
Redis down a lookup is a miss (the caller computes) and writes reach only the local tier
while the listener is subscribed, else nothing; each logged at WARNING and counted in
``backend_errors``. ``clear`` raises :class:`RedisUnavailableError`, as ``RedisCache.clear``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar, cast

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.caching import CacheStore
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.redis._cache import RedisCache, RedisCacheStats
from python_mastery_portfolio.redis._connection import (
    BACKEND_ERRORS,
    FaultLog,
    check_timeout,
)
from python_mastery_portfolio.redis._fork import after_fork_in_child
from python_mastery_portfolio.redis._keys import cache_prefix
from python_mastery_portfolio.redis._scripts import Script
from python_mastery_portfolio.redis._serializers import encode_key

__all__ = ["TieredCache", "TieredCacheStats"]


K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_CLEAR: Final = "*"  # a message that empties every local tier (no key's JSON reads so)
_POLL: Final = 0.005  # seconds between two looks for a value another process computes
_LISTEN_POLL: Final = 0.05  # seconds the listener waits for a message before it checks close()
_RECONNECT: Final = 0.1  # seconds between two attempts of the listener to subscribe

# KEYS: the flight lock. ARGV: channel, message, this cache's token. Publishes the message
# and frees the lock if this cache holds it.
_PUBLISH = Script(
    """
redis.call('PUBLISH', ARGV[1], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('DEL', KEYS[1]) end
return 0
"""
)


class TieredCacheStats(RedisCacheStats):
    """:class:`RedisCacheStats` of the remote tier (cluster-wide) plus the local tier's figures.

    Attributes:
        local_size: Entries in this process's local tier.
        invalidations: Messages received from other processes (each evicting a key or all).
    """

    local_size: int
    invalidations: int


Handler = Callable[[dict[str, Any] | None, BaseException | None], None]


def _listen(
    handle: weakref.WeakMethod[Handler], client: Any, channel: str, stop: Any, quiet: float
) -> None:
    """Keep a subscription to ``channel``, handing messages and faults to ``handle``'s cache.

    The thread holds its cache only through a weak reference, so a cache dropped without
    :meth:`TieredCache.close` is collected, and its thread ends within ``_LISTEN_POLL``.

    A connection can die without a word (a dropped route, a hung proxy or server): after
    ``quiet`` seconds without a message the listener sends a PING, and if ``quiet`` more
    pass without an answer it treats the connection as lost (the tier stops being trusted
    until it subscribes again) instead of waiting for messages that may never come.
    """
    while not stop.is_set():
        pubsub = client.pubsub()
        error: BaseException | None = None
        try:
            pubsub.subscribe(channel)
            heard, pinged = time.monotonic(), False
            while not stop.is_set():
                message = pubsub.get_message(timeout=_LISTEN_POLL)
                now = time.monotonic()
                if message is not None:
                    heard, pinged = now, False
                elif now - heard >= quiet:
                    if pinged:
                        raise TimeoutError(f"no answer to a PING within {quiet:g}s")
                    pubsub.ping()
                    heard, pinged = now, True
                if not _hand(handle, message, None):
                    return  # the cache is gone
        except BACKEND_ERRORS as failure:
            error = failure
        finally:
            pubsub.close()
        if error is not None and _hand(handle, None, error):
            stop.wait(_RECONNECT)


def _hand(handle: weakref.WeakMethod[Handler], message: Any, error: BaseException | None) -> bool:
    """Give a message or a fault to the cache, if it still lives; return whether it does."""
    handler = handle()
    if handler is None:
        return False
    if message is not None or error is not None:
        handler(message, error)
    return True


def _skip_local(key: object, default: object, /) -> object:
    """The local tier's lookup while unsynced: always a miss (the tier may be stale)."""
    return default


def _key_of(tree: Any) -> Any:
    """Return the key whose JSON was parsed into ``tree``, or ``MISSING`` if it names a type."""
    if isinstance(tree, list):
        items = tuple(_key_of(item) for item in tree)  # pyright: ignore[reportUnknownVariableType]  # parsed JSON
        return MISSING if MISSING in items else items
    if isinstance(tree, dict):
        return MISSING  # a type: not rebuilt, the caller empties the tier instead
    return tree


class TieredCache(Generic[K, V]):
    """A local cache in front of a shared :class:`RedisCache`, coherent across processes.

    Usable as the store of ``@cache`` and ``@async_cache``; a hit in the local tier costs
    about what an :class:`~python_mastery_portfolio.caching.LRUCache` hit costs. See the
    module docstring for invalidation, the races it handles, single-flight across processes
    and the fault policy.

    Args:
        local: The local tier, a :class:`~python_mastery_portfolio.caching.CacheStore` kept
            in this process (an ``LRUCache(maxsize=..., ttl=...)``), empty when given.
        remote: The shared tier.
        lock_ttl: Seconds a computing process holds a key's flight lock at most.
        lock_wait: Seconds another process waits for that value before computing itself.
        clock: The time source of the bounded wait (and of its polling sleeps).

    Raises:
        TypeError: If ``local`` is not a cache store or ``remote`` not a :class:`RedisCache`.
        ValueError: If ``lock_ttl`` or ``lock_wait`` is not positive and finite, or the
            remote's pool allows fewer than 2 connections (the listener holds one).

    Example::

        from python_mastery_portfolio import LRUCache, cache
        from python_mastery_portfolio.redis import RedisCache, TieredCache

        users = TieredCache(
            local=LRUCache(maxsize=10_000, ttl=60),
            remote=RedisCache("redis://localhost:6379/0", namespace="users", ttl=300),
        )

        @cache(store=users)
        def load_user(user_id: int) -> dict[str, object]:
            return db.fetch_user(user_id)

        load_user.cache_invalidate(7)  # evicted from every process's local tier

    Options are checked before any connection is made:

    >>> from python_mastery_portfolio.caching import LRUCache
    >>> TieredCache(local=LRUCache(maxsize=8), remote="redis://x")
    Traceback (most recent call last):
    TypeError: remote must be a RedisCache, got 'redis://x'
    """

    def __init__(
        self,
        *,
        local: CacheStore[Any, V],
        remote: RedisCache[K, V],
        lock_ttl: float = 5.0,
        lock_wait: float = 2.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not isinstance(remote, RedisCache):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"remote must be a RedisCache, got {remote!r}")
        if not isinstance(local, CacheStore):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"local must be a cache store, got {local!r}")
        if remote.client.connection_pool.max_connections < 2:  # pyright: ignore[reportUnknownMemberType]  # redis-py: untyped
            raise ValueError(
                "remote must allow 2 connections or more (max_connections): "
                "the invalidation listener holds one"
            )
        self._lock_px = max(1, round(check_timeout("lock_ttl", lock_ttl) * 1000))
        self._lock_wait = check_timeout("lock_wait", lock_wait)
        self._local = local
        self._local_lookup: Callable[[Any, Any], Any] = _skip_local
        self._remote = remote
        self._client = remote.client
        self._clock = clock
        prefix = cache_prefix(remote.namespace)
        self._channel = prefix + "#invalidate"
        self._flight_prefix = prefix + "#flight:"
        self._token = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._generation = 0
        self._synced = False
        self._invalidations = 0
        self._backend_errors = 0
        self._faults = FaultLog("TieredCache", remote.namespace, clock)
        local.clear()
        self._closed = False
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None  # started on first use
        after_fork_in_child(self, type(self)._after_fork)

    def _listening(self) -> None:
        """Start the listener if it is not running (on first use, and in a forked child)."""
        with self._lock:  # the cost of a lock, on a path that goes to Redis anyway
            if self._listener is not None or self._closed:
                return
            self._ready.clear()
            self._listener = threading.Thread(
                target=_listen,
                args=(
                    weakref.WeakMethod(self._heard),
                    self._client,
                    self._channel,
                    self._stop,
                    2 * self._remote.socket_timeout,
                ),
                name=f"TieredCache({self._remote.namespace})",
                daemon=True,
            )
            self._listener.start()
        # Bounded: with Redis down the cache stays unsynced (the local tier bypassed).
        self._ready.wait(2 * self._remote.socket_timeout)

    def _after_fork(self) -> None:  # pragma: no cover - runs in forked children (test_fork)
        """In a forked child: no listener runs here, so the local tier may go stale."""
        self._lock = threading.Lock()  # a parent's thread may have held it at the fork
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._listener = None  # the next use starts one
        self._synced = False
        self._local_lookup = _skip_local
        self._generation += 1

    @property
    def local(self) -> CacheStore[Any, V]:
        """The local tier."""
        return self._local

    @property
    def remote(self) -> RedisCache[K, V]:
        """The shared tier."""
        return self._remote

    @property
    def synced(self) -> bool:
        """Whether the listener is subscribed, so that the local tier is used (starts it)."""
        self._listening()
        return self._synced

    def __repr__(self) -> str:
        return f"TieredCache(local={self._local!r}, remote={self._remote!r})"

    # -- invalidation ----------------------------------------------------------------------

    def _heard(self, message: dict[str, Any] | None, error: BaseException | None) -> None:
        """Take a message or a fault of the listener."""
        if message is not None:
            self._on_message(message)
        else:
            self._unsync()
            self._fault("listen", cast(BaseException, error), "listening for invalidations")

    def _unsync(self) -> None:
        with self._lock:
            self._synced = False
            self._local_lookup = _skip_local
            self._generation += 1

    def _on_message(self, message: dict[str, Any]) -> None:
        if message["type"] == "subscribe":
            # Messages may have been missed before: start from an empty local tier.
            with self._lock:
                self._generation += 1
                self._local.clear()
                self._synced = True
                self._local_lookup = self._local.lookup
            self._ready.set()
            if self._faults.down:
                self._faults.recovered()
            return
        if message["type"] != "message":
            return  # the answer to the listener's PING
        origin, _, text = cast(bytes, message["data"]).decode().partition("\n")
        if origin == self._token:
            return  # our own change: the local tier has it already
        with self._lock:
            self._generation += 1
            self._invalidations += 1
            key = MISSING if text == _CLEAR else _key_of(json.loads(text))
            if key is MISSING:
                self._local.clear()
            else:
                self._local.delete(key)

    def _publish(self, text: str, flight: str) -> None:
        try:
            _PUBLISH(self._client, 1, flight, self._channel, f"{self._token}\n{text}", self._token)
        except BACKEND_ERRORS as error:
            self._fault("publish", error, "publishing an invalidation")

    def _fault(self, operation: str, error: BaseException, doing: str) -> None:
        with self._lock:
            self._backend_errors += 1
        self._faults.fault(operation, error, "fail_open", "failing open", doing=doing)

    # -- the sync store --------------------------------------------------------------------

    def lookup(self, key: K, default: T, /) -> V | T:
        """Return the value under ``key``: local tier, else Redis (then copied), else ``default``.

        On a miss in Redis this process takes the key's flight lock, or waits (at most
        ``lock_wait``) for the process holding it to store the value.

        Raises:
            TypeError: If the key is not made of JSON scalars, tuples and types.
        """
        # While unsynced this is _skip_local: no flag to test on the hot path (nor a check that
        # the listener runs: only an unsynced or missing key goes on to _remote_lookup).
        value = self._local_lookup(key, MISSING)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]  # the local tier holds V; no cast() call on the hot path
        return self._remote_lookup(key, default)

    def _remote_lookup(self, key: K, default: T) -> V | T:
        self._listening()
        flight = self._flight_prefix + encode_key(key)
        deadline = None
        while True:
            generation = self._generation
            value = self._remote.lookup(key, MISSING)
            if value is not MISSING:
                self._keep(key, cast(V, value), generation)
                return cast(V, value)
            try:
                # SET NX GET (Redis >= 7): one round trip takes the lock or names its holder.
                holder = self._client.set(flight, self._token, nx=True, px=self._lock_px, get=True)
            except BACKEND_ERRORS as error:
                self._fault("flight_lock", error, "taking the flight lock")
                return default
            if holder is None:
                return default  # ours to compute; set() frees the lock
            if cast(bytes, holder).decode() == self._token:
                return default  # this process computes it already
            now = self._clock.now()
            if deadline is None:
                deadline = now + self._lock_wait
            elif now >= deadline:
                return default  # waited enough: compute here
            self._clock.sleep(_POLL)

    def _keep(self, key: K, value: V, generation: int) -> None:
        """Copy a value read from Redis into the local tier, unless invalidated since."""
        with self._lock:
            if self._synced and generation == self._generation:
                self._local.set(key, value)

    def set(self, key: K, value: V, /) -> None:
        """Store ``value`` in both tiers and evict ``key`` from every other process's local tier.

        Raises:
            TypeError: If the key or the value cannot be encoded.
        """
        text = encode_key(key)
        self._listening()
        generation = self._generation
        self._remote.set(key, value)
        self._settle(key, value, generation)
        self._publish(text, self._flight_prefix + text)

    def _settle(self, key: K, value: Any, generation: int) -> None:
        """After a write to Redis: keep ``value`` locally if nothing moved since; move on.

        Another write (here or in another process) that overtook this one may have put its
        value in Redis after ours, so ours is kept only when no change came in between
        (``generation``); else the key is dropped from the local tier. Moving the generation
        stops reads that began before this write from copying what they read.
        """
        with self._lock:
            if value is not MISSING and self._synced and generation == self._generation:
                self._local.set(key, value)
            else:
                self._local.delete(key)
            self._generation += 1

    def delete(self, key: K, /) -> bool:
        """Remove ``key`` from both tiers and every process's local tier; return if Redis had it."""
        text = encode_key(key)
        with self._lock:
            self._local.delete(key)
        removed = self._remote.delete(key)
        self._settle(key, MISSING, -1)  # also stops a read begun before from copying it
        self._publish(text, self._flight_prefix + text)
        return removed

    def clear(self) -> None:
        """Empty both tiers and every process's local tier (the counters stay).

        Raises:
            RedisUnavailableError: If Redis fails: entries may remain.
        """
        with self._lock:
            self._local.clear()
        try:
            self._remote.clear()
        finally:
            with self._lock:  # reads begun before the clear must not copy what they read
                self._local.clear()
                self._generation += 1
        self._publish(_CLEAR, self._flight_prefix)

    def record(self, *, hits: int = 0, misses: int = 0) -> None:
        """Count lookups in the remote tier's cluster-wide counters."""
        self._remote.record(hits=hits, misses=misses)

    def stats(self) -> TieredCacheStats:
        """Return the remote tier's statistics plus the local tier's (see the class)."""
        remote = self._remote.stats()
        with self._lock:
            invalidations, backend_errors = self._invalidations, self._backend_errors
        return {
            **remote,
            "backend_errors": remote["backend_errors"] + backend_errors,
            "local_size": self._local.stats()["size"],
            "invalidations": invalidations,
        }

    def close(self) -> None:
        """Stop listening and close the remote tier's connections; idempotent.

        From then on nothing invalidates the local tier, so it is no longer used: lookups
        go to Redis.
        """
        with self._lock:
            self._closed = True
            listener, self._listener = self._listener, None
        self._stop.set()
        if listener is not None:
            listener.join(5.0)
        self._unsync()
        self._remote.close()

    # -- the async store: Redis work runs in a worker thread, local hits on the loop -------

    async def alookup(self, key: K, default: T, /) -> V | T:
        """Await the value under ``key``, like :meth:`lookup` (a local hit stays on the loop)."""
        value = self._local_lookup(key, MISSING)
        if value is not MISSING:
            return cast(V, value)
        return await asyncio.to_thread(self._remote_lookup, key, default)

    async def aset(self, key: K, value: V, /) -> None:
        """Store ``value``, like :meth:`set`."""
        await asyncio.to_thread(self.set, key, value)

    async def adelete(self, key: K, /) -> bool:
        """Remove ``key``, like :meth:`delete`."""
        return await asyncio.to_thread(self.delete, key)

    async def aclear(self) -> None:
        """Empty every tier, like :meth:`clear`."""
        await asyncio.to_thread(self.clear)
