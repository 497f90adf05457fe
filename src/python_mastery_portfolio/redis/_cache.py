"""``RedisCache``: a :class:`CacheStore` (and :class:`AsyncCacheStore`) shared through Redis.

Layout in Redis, for a namespace ``ns``: each entry is the string key ``pmp:cache:ns:``
followed by the key's canonical JSON (see :func:`encode_key`), holding the serialized value,
with a ``PX`` expiry when the cache has a ttl; the lookup counters are the hash
``pmp:cache:ns:#stats``, which expires a week after its last update (:data:`IDLE_TTL_MS`).
Nothing but JSON follows the prefix in an entry's name, so ``clear`` and ``size`` tell this
namespace's entries from a nested namespace's (``ns:sub``) and from the counters; and no
other kind of part (a rate limiter, a breaker, a lock) has a key under ``pmp:cache:``.

Counting is cluster-wide: :meth:`RedisCache.record` adds to local counters, and the process
adds them to the hash (``HINCRBY``) in batches -- every 256 counts or every second, on the
next lookup, and at every :meth:`RedisCache.stats`. ``stats()`` therefore reports every
process's counts, this process's exactly and the others' as of their last batch.

Faults: every call has ``socket_timeout``. When Redis is down or slow the cache *fails
open*: a lookup is a miss, a set or delete is skipped, each logged at WARNING (at most one
such line every 5 seconds per cache, with the number suppressed) and counted in
``backend_errors``; counts that could not be published are kept and published later.
``clear`` is the exception: it raises :class:`RedisUnavailableError`, because a clear that
silently did nothing would leave stale entries served once Redis is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any, Final, Generic, TypeVar, cast, overload

import redis as redis_py

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.caching import CacheStats
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.redis._connection import (
    BACKEND_ERRORS,
    DEFAULT_MAX_CONNECTIONS,
    IDLE_TTL_MS,
    Connection,
    FaultLog,
    RedisUnavailableError,
    WarningGate,
    check_timeout,
)
from python_mastery_portfolio.redis._fork import ForkSafeLock
from python_mastery_portfolio.redis._keys import cache_prefix
from python_mastery_portfolio.redis._serializers import JSONSerializer, Serializer, encode_key

__all__ = ["RedisCache", "RedisCacheStats"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

FLUSH_COUNT: Final = 256
"""Local counts that make the next lookup publish them."""
FLUSH_INTERVAL: Final = 1.0
"""Seconds after which the next lookup publishes the local counts, however few."""
_SCAN_COUNT: Final = 1000


class RedisCacheStats(CacheStats):
    """:class:`CacheStats` of a :class:`RedisCache`, plus its fault counters.

    ``hits`` and ``misses`` are cluster-wide; ``size`` counts the namespace's entries in
    Redis; ``evictions`` and ``expirations`` are ``0`` (Redis evicts and expires on its own,
    unseen) and ``maxsize`` is ``None`` (no bound but Redis's ``maxmemory``). The two fault
    counters are this process's.

    Attributes:
        backend_errors: Redis calls that failed or timed out (the cache failed open).
        rejected: Stored values refused by the serializer (a bad signature, a foreign or
            corrupt value), each treated as a miss.
    """

    backend_errors: int
    rejected: int


def _glob_escape(text: str) -> str:
    for special in "\\*?[]":
        text = text.replace(special, "\\" + special)
    return text


class RedisCache(Generic[K, V]):
    """A cache store in Redis, shared by every process that uses the same namespace.

    Usable wherever a :class:`~python_mastery_portfolio.caching.CacheStore` is:
    ``@cache(store=RedisCache(...))``, and ``@async_cache(store=...)``, which awaits its
    asyncio methods. Single-flight stays per process. See the module docstring for the
    layout, the counters and the fault policy (fail open; ``clear`` raises).

    It has :class:`~python_mastery_portfolio.caching.LRUCache`'s mapping API where a shared
    remote store keeps its meaning: ``cache[key]``, ``cache[key] = value``, ``del
    cache[key]``, ``key in cache``, ``get`` (counted), ``pop`` (atomic ``GETDEL``),
    ``setdefault`` (atomic ``SET NX GET``) and ``len`` (a ``SCAN``, O(entries)). It has no
    iteration (``iter``, ``keys``, ``items``, ``values``, ``popitem``, ``snapshot``,
    ``expire``): keys are stored as their JSON text, from which a key naming a type cannot be
    rebuilt, and an iteration over a namespace other processes write to is no snapshot of
    anything; nor ``maxsize`` (Redis's ``maxmemory`` policy bounds it).

    Args:
        client_or_url: A Redis URL (``redis://host:6379/0``, ``unix:///path/redis.sock``),
            or a ``redis.Redis`` client (its own timeouts apply; the async methods then run
            its calls in a worker thread, since only a URL can open asyncio connections).
        namespace: The prefix of every key: caches with the same namespace share entries.
        ttl: Seconds an entry lives (Redis expires it), or ``None`` to keep it.
        serializer: How values are stored: :class:`JSONSerializer` by default, or a
            :class:`PickleSerializer` (signed) when values are not JSON types.
        socket_timeout: Seconds any Redis call may take, connecting included.
        max_connections: Connections opened at most from a URL (per event loop for the
            asyncio side); a call finding all in use waits up to ``socket_timeout``, then
            fails like any Redis fault. Ignored with a client (its own pool applies).
        clock: The time source for publishing counts and rate-limiting warnings.

    Raises:
        TypeError: For a client that is neither a URL nor a ``redis.Redis``, or a wrong type
            of option.
        ValueError: For an empty namespace, or a ``ttl`` or ``socket_timeout`` that is not
            positive and finite.

    Example::

        from python_mastery_portfolio import cache
        from python_mastery_portfolio.redis import RedisCache

        users = RedisCache("redis://localhost:6379/0", namespace="users", ttl=60)

        @cache(store=users)
        def load_user(user_id: int) -> dict[str, object]:
            return db.fetch_user(user_id)

        load_user(7)  # computed, stored in Redis: a hit in every process from now on
        load_user.cache_invalidate(7)  # gone for every process

    Keys and options are checked without a server:

    >>> RedisCache("unix:///nowhere.sock", namespace="users").lookup({1}, None)
    Traceback (most recent call last):
    TypeError: a Redis cache key must be built of ... got set: {1}
    >>> RedisCache("unix:///nowhere.sock", namespace="")
    Traceback (most recent call last):
    ValueError: namespace must be a non-empty string, got ''
    """

    def __init__(
        self,
        client_or_url: Any,
        *,
        namespace: str,
        ttl: float | None = None,
        serializer: Serializer | None = None,
        socket_timeout: float = 0.5,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not isinstance(namespace, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"namespace must be a string, got {namespace!r}")
        if not namespace:
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}")
        self._ttl = None if ttl is None else check_timeout("ttl", ttl)
        self._px = None if self._ttl is None else max(1, math.ceil(self._ttl * 1000))
        if serializer is None:
            serializer = JSONSerializer()
        elif not isinstance(serializer, Serializer):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"serializer must have dumps() and loads(), got {serializer!r}")
        self._serializer = serializer
        self._conn = Connection(
            client_or_url,
            socket_timeout=socket_timeout,
            owner="RedisCache",
            max_connections=max_connections,
        )
        self._namespace = namespace
        self._prefix = cache_prefix(namespace)
        self._prefix_bytes = self._prefix.encode()
        self._stats_key = self._prefix + "#stats"
        self._pattern = _glob_escape(self._prefix) + "*"
        self._clock = clock
        self._lock = ForkSafeLock()
        self._pending_hits = 0
        self._pending_misses = 0
        self._last_flush = clock.now()
        self._known = (0, 0, 0)  # hits, misses, size as last read from Redis
        self._rejected = 0
        self._faults = FaultLog("RedisCache", namespace, clock)
        self._reject_gate = WarningGate(clock)

    @property
    def namespace(self) -> str:
        """The prefix of this cache's keys."""
        return self._namespace

    @property
    def ttl(self) -> float | None:
        """Seconds an entry lives, or ``None``."""
        return self._ttl

    @property
    def client(self) -> redis_py.Redis:
        """The sync redis-py client this cache talks through (for a tier built on it)."""
        return self._conn.sync

    @property
    def socket_timeout(self) -> float:
        """Seconds any Redis call of this cache may take."""
        return self._conn.timeout

    def __repr__(self) -> str:
        return f"RedisCache(namespace={self._namespace!r}, ttl={self._ttl!r})"

    # -- faults and counting ---------------------------------------------------------------

    def _fault(self, operation: str, error: BaseException, *, doing: str | None = None) -> None:
        self._faults.fault(operation, error, "fail_open", "failing open", doing=doing)

    def _raise_fault(self, operation: str, error: BaseException) -> None:
        self._faults.fault(operation, error, "raise", "raising")

    def _decode(self, data: bytes, default: Any) -> Any:
        try:
            return self._serializer.loads(data)
        except ValueError as error:
            with self._lock:
                self._rejected += 1
            self._reject_gate.warn(
                logger,
                "RedisCache %r: refused a stored value (%s); treated as a miss",
                self._namespace,
                error,
            )
            return default

    def record(self, *, hits: int = 0, misses: int = 0) -> None:
        """Add to the lookup counters (locally; published in batches, see the module)."""
        with self._lock:
            self._pending_hits += hits
            self._pending_misses += misses

    def _take_pending(self, *, force: bool) -> tuple[int, int]:
        """Return the local counts to publish (zeroed here), or ``(0, 0)`` if not yet due."""
        now = self._clock.now()
        with self._lock:
            hits, misses = self._pending_hits, self._pending_misses
            due = hits + misses >= FLUSH_COUNT or now - self._last_flush >= FLUSH_INTERVAL
            if not (hits or misses) or not (force or due):
                return 0, 0
            self._pending_hits = self._pending_misses = 0
            self._last_flush = now
            return hits, misses

    def _restore_pending(self, hits: int, misses: int, error: BaseException) -> None:
        with self._lock:
            self._pending_hits += hits
            self._pending_misses += misses
        self._fault("flush", error, doing="publishing counts")

    def _flush(self, *, force: bool = False) -> None:
        hits, misses = self._take_pending(force=force)
        if hits or misses:
            try:
                pipe = self._conn.sync.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]  # redis-py: shard_hint untyped
                pipe.hincrby(self._stats_key, "hits", hits)
                pipe.hincrby(self._stats_key, "misses", misses)
                pipe.pexpire(self._stats_key, IDLE_TTL_MS)
                pipe.execute()
            except BACKEND_ERRORS as error:
                self._restore_pending(hits, misses, error)

    async def _aflush(self, client: Any) -> None:
        hits, misses = self._take_pending(force=False)
        if hits or misses:
            try:
                pipe = client.pipeline(transaction=False)
                pipe.hincrby(self._stats_key, "hits", hits)
                pipe.hincrby(self._stats_key, "misses", misses)
                pipe.pexpire(self._stats_key, IDLE_TTL_MS)
                await pipe.execute()
            except BACKEND_ERRORS as error:
                self._restore_pending(hits, misses, error)

    def _owns(self, name: bytes) -> bool:
        """Return whether ``name`` (matched by the scan pattern) is an entry of this cache."""
        try:
            json.loads(name[len(self._prefix_bytes) :])
        except ValueError:
            return False  # the counters, or a nested namespace's entry
        return True

    def stats(self) -> RedisCacheStats:
        """Return the statistics (see :class:`RedisCacheStats`); publishes local counts first.

        Counting the entries scans the namespace (``SCAN``), so this costs O(entries). With
        Redis unreachable the last figures read are reported, plus the unpublished counts.
        """
        self._flush(force=True)
        try:
            raw = cast(list[Any], self._conn.sync.hmget(self._stats_key, ["hits", "misses"]))
            size = sum(
                1
                for name in self._conn.sync.scan_iter(match=self._pattern, count=_SCAN_COUNT)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]  # redis-py: untyped
                if self._owns(cast(bytes, name))
            )
        except BACKEND_ERRORS as error:
            self._fault("stats", error)
        else:
            self._known = (int(raw[0] or 0), int(raw[1] or 0), size)
        with self._lock:
            hits = self._known[0] + self._pending_hits
            misses = self._known[1] + self._pending_misses
            rejected = self._rejected
        backend_errors = self._faults.errors
        lookups = hits + misses
        return {
            "hits": hits,
            "misses": misses,
            "hit_rate": hits / lookups if lookups else 0.0,
            "evictions": 0,
            "expirations": 0,
            "size": self._known[2],
            "maxsize": None,  # unbounded: Redis evicts by its own policy, unseen
            "backend_errors": backend_errors,
            "rejected": rejected,
        }

    # -- the sync store --------------------------------------------------------------------

    def lookup(self, key: K, default: T, /) -> V | T:
        """Return the value stored under ``key``, or ``default`` (also when Redis fails).

        Raises:
            TypeError: If the key is not made of JSON scalars, tuples and types.
        """
        name = self._prefix + encode_key(key)
        self._flush()
        try:
            data = self._conn.sync.get(name)
        except BACKEND_ERRORS as error:
            self._fault("lookup", error)
            return default
        if self._faults.down:
            self._faults.recovered()
        if data is None:
            return default
        return cast("V | T", self._decode(cast(bytes, data), default))

    def set(self, key: K, value: V, /) -> None:
        """Store ``value`` under ``key`` with the cache's ttl; skipped when Redis fails.

        Raises:
            TypeError: If the key or the value cannot be encoded.
        """
        name = self._prefix + encode_key(key)
        data = self._serializer.dumps(value)
        try:
            self._conn.sync.set(name, data, px=self._px)
        except BACKEND_ERRORS as error:
            self._fault("set", error)
            return
        if self._faults.down:
            self._faults.recovered()

    def delete(self, key: K, /) -> bool:
        """Remove ``key``; return whether an entry was removed (``False`` when Redis fails)."""
        name = self._prefix + encode_key(key)
        try:
            return bool(self._conn.sync.delete(name))
        except BACKEND_ERRORS as error:
            self._fault("delete", error)
            return False

    def clear(self) -> None:
        """Remove this namespace's entries (``SCAN`` and ``UNLINK``); the counters stay.

        Raises:
            RedisUnavailableError: If Redis fails: entries may remain.
        """
        client = self._conn.sync
        try:
            cursor = 0
            while True:
                cursor, names = client.scan(cursor, match=self._pattern, count=_SCAN_COUNT)  # pyright: ignore[reportUnknownMemberType]  # redis-py leaves **kwargs unannotated
                owned = [name for name in names if self._owns(cast(bytes, name))]
                if owned:
                    client.unlink(*owned)
                if not cursor:
                    break
        except BACKEND_ERRORS as error:
            self._raise_fault("clear", error)
            raise RedisUnavailableError(
                f"RedisCache {self._namespace!r}: clear failed, entries may remain",
                operation="clear",
                target=self._namespace,
            ) from error

    def close(self) -> None:
        """Publish the local counts and close the connections this cache opened."""
        self._flush(force=True)
        self._conn.close()

    # -- the mapping API (LRUCache's, where a shared remote store can keep its meaning) -----

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: T) -> V | T: ...
    def get(self, key: K, default: object = None) -> object:
        """Return the value under ``key``, or ``default``; count a hit or a miss.

        Like every read here it fails open: with Redis down, ``default``.
        """
        value = self.lookup(key, MISSING)
        if value is MISSING:
            self.record(misses=1)
            return default
        self.record(hits=1)
        return value

    def __getitem__(self, key: K) -> V:
        """Return the value under ``key`` (counting nothing).

        Raises:
            KeyError: If there is none -- or Redis failed (fail open: it reads as absent).
        """
        value = self.lookup(key, MISSING)
        if value is MISSING:
            raise KeyError(key)
        return cast(V, value)

    def __setitem__(self, key: K, value: V) -> None:
        """Store ``value`` under ``key`` (:meth:`set`)."""
        self.set(key, value)

    def __delitem__(self, key: K) -> None:
        """Remove ``key``.

        Raises:
            KeyError: If there was no entry -- or Redis failed.
        """
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        """Return whether ``key`` holds an entry (``EXISTS``; ``False`` when Redis fails)."""
        name = self._prefix + encode_key(key)
        try:
            return bool(self._conn.sync.exists(name))
        except BACKEND_ERRORS as error:
            self._fault("contains", error)
            return False

    def __len__(self) -> int:
        """Return the namespace's entries (a ``SCAN``: O(entries); the last count on faults)."""
        return self.stats()["size"]

    @overload
    def pop(self, key: K) -> V: ...
    @overload
    def pop(self, key: K, default: V) -> V: ...
    @overload
    def pop(self, key: K, default: T) -> V | T: ...
    def pop(self, key: K, default: object = MISSING) -> object:
        """Remove ``key`` and return its value, or ``default``; atomic (``GETDEL``).

        Raises:
            KeyError: If there is no entry (or Redis failed) and no ``default`` is given.
        """
        name = self._prefix + encode_key(key)
        try:
            data = self._conn.sync.getdel(name)
        except BACKEND_ERRORS as error:
            self._fault("pop", error)
            data = None
        value = MISSING if data is None else self._decode(cast(bytes, data), MISSING)
        if value is not MISSING:
            return value
        if default is MISSING:
            raise KeyError(key)
        return default

    def setdefault(self, key: K, default: V) -> V:
        """Return the value under ``key``, else store ``default`` and return it; atomic.

        One ``SET NX GET`` (Redis 7 or later): of several processes racing, one stores its
        default and every one gets that value. With Redis down, ``default`` (not stored).
        """
        name = self._prefix + encode_key(key)
        data = self._serializer.dumps(default)
        try:
            old = self._conn.sync.set(name, data, px=self._px, nx=True, get=True)
        except BACKEND_ERRORS as error:
            self._fault("setdefault", error)
            return default
        if old is None:
            return default
        return cast(V, self._decode(cast(bytes, old), default))

    # -- the async store -------------------------------------------------------------------

    async def alookup(self, key: K, default: T, /) -> V | T:
        """Await the value stored under ``key``, like :meth:`lookup`."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.lookup, key, default)
        name = self._prefix + encode_key(key)
        await self._aflush(client)
        try:
            data = await client.get(name)
        except BACKEND_ERRORS as error:
            self._fault("lookup", error)
            return default
        if self._faults.down:
            self._faults.recovered()
        if data is None:
            return default
        return cast("V | T", self._decode(cast(bytes, data), default))

    async def aset(self, key: K, value: V, /) -> None:
        """Store ``value`` under ``key``, like :meth:`set`."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.set, key, value)
        name = self._prefix + encode_key(key)
        data = self._serializer.dumps(value)
        try:
            await client.set(name, data, px=self._px)
        except BACKEND_ERRORS as error:
            self._fault("set", error)
            return None
        if self._faults.down:
            self._faults.recovered()
        return None

    async def adelete(self, key: K, /) -> bool:
        """Remove ``key``, like :meth:`delete`."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.delete, key)
        name = self._prefix + encode_key(key)
        try:
            return bool(await client.delete(name))
        except BACKEND_ERRORS as error:
            self._fault("delete", error)
            return False

    async def aclear(self) -> None:
        """Remove this namespace's entries, like :meth:`clear`."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.clear)
        try:
            cursor = 0
            while True:
                cursor, names = await client.scan(cursor, match=self._pattern, count=_SCAN_COUNT)  # pyright: ignore[reportUnknownMemberType]  # redis-py leaves **kwargs unannotated
                owned = [name for name in names if self._owns(cast(bytes, name))]
                if owned:
                    await client.unlink(*owned)
                if not cursor:
                    break
        except BACKEND_ERRORS as error:
            self._raise_fault("clear", error)
            raise RedisUnavailableError(
                f"RedisCache {self._namespace!r}: clear failed, entries may remain",
                operation="clear",
                target=self._namespace,
            ) from error
        return None

    async def aclose(self) -> None:
        """Close the running loop's asyncio connections (call it before the loop ends)."""
        await self._conn.aclose()
