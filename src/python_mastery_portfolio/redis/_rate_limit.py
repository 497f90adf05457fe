"""``RedisRateLimitStore`` and ``RedisRateLimiter``: one GCRA limit shared by every process.

Layout in Redis, for a namespace ``ns``: each bucket is the string key
``pmp:ratelimit:ns:`` followed by the key's canonical JSON (the default bucket, key
``None``, is ``pmp:ratelimit:ns:null``), holding its
``tat`` as ``"<seconds>:<nanoseconds>"``, with a ``PX`` expiry at the moment it is full again
(a full bucket is the same as no bucket). Each decision is one Lua script, so it is atomic
across processes. The counters are the hash ``pmp:ratelimit:ns:#stats``: each process counts its
decisions locally and adds them to it (``HINCRBY``; the hash expires a week after its last
update) every 256 decisions or every second (on
the next decision), at ``stats()`` and at ``close()`` -- which keeps them out of the
script, the hot path. ``stats()`` reports every process's counts, this one's exactly and the
others' as of their last batch.

Time: by default (``time_source="server"``) the scripts read the Redis server's clock
(``TIME``), so the processes' own clocks may differ by any amount. The protocol hands the
store the caller's ``now`` and expects absolute times back on the caller's line (a
reservation's ``end``): the scripts return every absolute time as a distance from the time
they used, and the store adds the caller's offset (``caller now - server now``) to it. The
offset is re-read on each decision, except while this store holds reservations, when it
stays fixed so that :meth:`RedisRateLimitStore.release` finds their ``end`` again exactly.
``time_source="caller"`` decides on the caller's ``now`` instead: every process must then
read one shared clock (a wall clock, or a test's manual clock); the contract suite runs in
this mode, since it sets ``now`` to the nanosecond and a server's clock would move under it.

The scripts count in two parts, seconds and nanoseconds, because Lua's numbers are doubles
(exact to 2**53, about 104 days of nanoseconds): every sum and difference they make is exact
at any uptime.

The async side (:class:`~python_mastery_portfolio.resilience.AsyncRateLimitStore`:
``atry_take``, ``atake``, ``arelease``) runs the same scripts on the same buckets through
the running loop's asyncio client (one per loop; :meth:`RedisRateLimitStore.aclose` closes
it), so a limiter's async paths never block the event loop; with a ready sync client
instead of a URL they run the sync calls in a worker thread.

Faults: every call has ``socket_timeout``. When Redis is down or slow a decision follows
``on_backend_error``: ``"allow"`` (the default) grants, ``"deny"`` refuses (``retry_after``
is the cost of the tokens asked for); each is logged at WARNING (at most one line every 5
seconds per store, with the number suppressed) and counted in ``backend_errors``. ``reset``
and ``clear`` raise :class:`RedisUnavailableError` instead: a refill that silently did
nothing would keep a client locked out.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Hashable
from typing import Any, Final, Literal, cast

import redis as redis_py

from python_mastery_portfolio.clock import SYSTEM_CLOCK
from python_mastery_portfolio.redis._connection import (
    BACKEND_ERRORS,
    DEFAULT_MAX_CONNECTIONS,
    IDLE_TTL_MS,
    Connection,
    FaultLog,
    Policy,
    RedisUnavailableError,
)
from python_mastery_portfolio.redis._fork import ForkSafeLock
from python_mastery_portfolio.redis._keys import rate_limit_prefix
from python_mastery_portfolio.redis._rate_limit_scripts import BACKLOG, RELEASE, TAKE, TRY_TAKE
from python_mastery_portfolio.redis._scripts import FastScript
from python_mastery_portfolio.redis._serializers import encode_key
from python_mastery_portfolio.resilience import (
    RateLimitDecision,
    RateLimitStoreStats,
)

__all__ = ["OnBackendError", "RedisRateLimitStore", "TimeSource"]


NS: Final = 1_000_000_000
_SCAN_COUNT: Final = 1000
FLUSH_COUNT: Final = 256
"""Local decisions that make the next one publish the counts."""
FLUSH_INTERVAL: Final = 1.0
"""Seconds after which the next decision publishes the counts, however few."""
_EMPTY: Final = 1 << 62  # the backlog reported by a "deny" store that cannot reach Redis

OnBackendError = Literal["allow", "deny"]
TimeSource = Literal["server", "caller"]


def _parse_tat(data: bytes) -> int:
    seconds, _, nanoseconds = data.partition(b":")
    return int(seconds) * NS + int(nanoseconds)


class RedisRateLimitStore:
    """A :class:`~python_mastery_portfolio.resilience.RateLimitStore` in Redis: one limit for all.

    Give it to a :class:`~python_mastery_portfolio.resilience.RateLimiter` (``store=``), or
    use :class:`RedisRateLimiter`. Limiters of every process that share a namespace share
    their buckets; each decision is one atomic Lua script. See the module docstring for the
    layout, the time line and the fault policy.

    Args:
        client_or_url: A Redis URL or a ``redis.Redis`` client (its own timeouts apply).
        namespace: The prefix of every key.
        on_backend_error: ``"allow"`` (default) or ``"deny"``: the decision when Redis fails.
        time_source: ``"server"`` (default): decide on the Redis server's clock;
            ``"caller"``: on the ``now`` the limiter passes (one clock shared by all).
        socket_timeout: Seconds any Redis call may take, connecting included.
        max_connections: Connections opened at most from a URL (per event loop for the
            asyncio side); a call finding all in use waits up to ``socket_timeout``, then
            fails like any Redis fault. Ignored with a client (its own pool applies).

    Raises:
        TypeError: For a client that is neither a URL nor a ``redis.Redis``, or a namespace
            that is not a string.
        ValueError: For an empty namespace, an unknown ``on_backend_error`` or
            ``time_source``, or a ``socket_timeout`` that is not positive and finite.

    Example:
        >>> store = RedisRateLimitStore("unix:///run/redis.sock", namespace="api")
        >>> store
        RedisRateLimitStore(namespace='api', on_backend_error='allow', time_source='server')
    """

    __slots__ = (
        "__weakref__",
        "_conn",
        "_default_bytes",
        "_default_name",
        "_faults",
        "_held",
        "_known",
        "_last_flush",
        "_lock",
        "_mode",
        "_mode_bytes",
        "_namespace",
        "_offset",
        "_on_error",
        "_pattern",
        "_pending_granted",
        "_pending_refused",
        "_prefix",
        "_stats_key",
        "_time_source",
        "_try_take",
    )

    def __init__(
        self,
        client_or_url: Any,
        *,
        namespace: str,
        on_backend_error: OnBackendError = "allow",
        time_source: TimeSource = "server",
        socket_timeout: float = 0.5,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if not isinstance(namespace, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"namespace must be a string, got {namespace!r}")
        if not namespace:
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}")
        if on_backend_error not in ("allow", "deny"):
            raise ValueError(
                f"on_backend_error must be 'allow' or 'deny', got {on_backend_error!r}"
            )
        if time_source not in ("server", "caller"):
            raise ValueError(f"time_source must be 'server' or 'caller', got {time_source!r}")
        self._conn = Connection(
            client_or_url,
            socket_timeout=socket_timeout,
            owner="RedisRateLimitStore",
            max_connections=max_connections,
        )
        self._namespace = namespace
        self._prefix = rate_limit_prefix(namespace)
        self._default_name = self._prefix + encode_key(None)
        self._default_bytes = self._default_name.encode()
        self._stats_key = self._prefix + "#stats"
        self._pattern = "".join("\\" + char if char in "\\*?[]" else char for char in self._prefix)
        self._pattern += "*"
        self._on_error: OnBackendError = on_backend_error
        self._time_source: TimeSource = time_source
        self._mode = "s" if time_source == "server" else "c"
        self._mode_bytes = self._mode.encode()
        # The hot path's script runs on a connection per thread, packed by hand.
        self._try_take = FastScript(TRY_TAKE, self._conn.sync, 1)
        self._lock = ForkSafeLock()
        self._offset = 0  # caller's time minus the server's (0 with time_source="caller")
        self._held = 0  # reservations made by this store and not yet released
        self._pending_granted = 0  # decisions not yet added to the namespace's counters
        self._pending_refused = 0
        self._last_flush = time.monotonic()
        self._known: tuple[int, int, int] = (0, 0, 0)  # granted, refused, keys as last read
        self._faults = FaultLog("RedisRateLimitStore", namespace, SYSTEM_CLOCK)

    @property
    def namespace(self) -> str:
        """The prefix of this store's keys."""
        return self._namespace

    @property
    def on_backend_error(self) -> OnBackendError:
        """The decision when Redis fails: ``"allow"`` or ``"deny"``."""
        return self._on_error

    @property
    def time_source(self) -> TimeSource:
        """Whose clock decides: ``"server"`` or ``"caller"``."""
        return self._time_source

    @property
    def client(self) -> redis_py.Redis:
        """The sync redis-py client this store talks through."""
        return self._conn.sync

    @property
    def backend_errors(self) -> int:
        """Redis calls of this process that failed or timed out."""
        return self._faults.errors

    def __repr__(self) -> str:
        return (
            f"RedisRateLimitStore(namespace={self._namespace!r}, "
            f"on_backend_error={self._on_error!r}, time_source={self._time_source!r})"
        )

    def _name(self, key: Hashable) -> str:
        return self._default_name if key is None else self._prefix + encode_key(key)

    def _fault(
        self,
        operation: str,
        error: BaseException,
        outcome: str,
        policy: Policy = "fail_open",
        *,
        doing: str | None = None,
    ) -> None:
        self._faults.fault(operation, error, policy, outcome, doing=doing)

    def _tally(self, *, granted: bool) -> bool:
        """Count a decision locally; return whether a batch of counts is due for publishing."""
        lock = self._lock
        lock.acquire()
        try:
            if granted:
                self._pending_granted += 1
            else:
                self._pending_refused += 1
            return (
                self._pending_granted + self._pending_refused >= FLUSH_COUNT
                or time.monotonic() - self._last_flush >= FLUSH_INTERVAL
            )
        finally:
            lock.release()

    def _count(self, *, granted: bool) -> None:
        """Count a decision locally; publish the counts when a batch is due."""
        if self._tally(granted=granted):
            self._flush()

    def _take_counts(self) -> tuple[int, int]:
        """Return the local counts to publish, zeroed here."""
        with self._lock:
            granted, refused = self._pending_granted, self._pending_refused
            self._pending_granted = self._pending_refused = 0
            self._last_flush = time.monotonic()
        return granted, refused

    def _keep_counts(self, granted: int, refused: int, error: BaseException) -> None:
        with self._lock:
            self._pending_granted += granted
            self._pending_refused += refused
        self._fault("flush", error, "kept for later", doing="publishing counts")

    def _flush(self) -> None:
        """Add the local counts to the namespace's counters (``HINCRBY``); keep them on faults."""
        granted, refused = self._take_counts()
        if not (granted or refused):
            return
        try:
            pipe = self._conn.sync.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]  # redis-py: shard_hint untyped
            pipe.hincrby(self._stats_key, "granted", granted)
            pipe.hincrby(self._stats_key, "refused", refused)
            pipe.pexpire(self._stats_key, IDLE_TTL_MS)
            pipe.execute()
        except BACKEND_ERRORS as error:
            self._keep_counts(granted, refused, error)

    async def _aflush(self, client: Any) -> None:
        """Publish the local counts like :meth:`_flush`, on the loop's asyncio client."""
        granted, refused = self._take_counts()
        if not (granted or refused):
            return
        try:
            pipe = client.pipeline(transaction=False)
            pipe.hincrby(self._stats_key, "granted", granted)
            pipe.hincrby(self._stats_key, "refused", refused)
            pipe.pexpire(self._stats_key, IDLE_TTL_MS)
            await pipe.execute()
        except BACKEND_ERRORS as error:
            self._keep_counts(granted, refused, error)

    def _fail_decision(self, operation: str, error: BaseException) -> bool:
        if self._on_error == "allow":
            self._fault(operation, error, "allowing")
            return True
        self._fault(operation, error, "denying", "fail_closed")
        return False

    # -- the protocol ----------------------------------------------------------------------

    def try_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        """Take ``cost`` for ``key`` if the bucket has it (one script, one round trip).

        Raises:
            TypeError: If the key is not made of JSON scalars and tuples.
        """
        name = self._default_bytes if key is None else (self._prefix + encode_key(key)).encode()
        seconds, nanoseconds = divmod(now, NS)
        try:
            granted = self._try_take(
                name,
                self._mode_bytes,
                b"%d" % seconds,
                b"%d" % nanoseconds,
                b"%d" % cost,
                b"%d" % tolerance,
            )
        except BACKEND_ERRORS as error:
            return self._fail_decision("try_take", error)
        if self._faults.down:
            self._faults.recovered()
        allowed: bool = granted == 1
        self._count(granted=allowed)
        return allowed

    def take(
        self,
        key: Hashable,
        cost: int,
        now: int,
        tolerance: int,
        *,
        interval: int,
        max_wait: int | None,
    ) -> RateLimitDecision:
        """Take ``cost`` for ``key``, or reserve it if due within ``max_wait`` ns.

        Raises:
            TypeError: If the key is not made of JSON scalars and tuples.
        """
        name = self._name(key)
        seconds, nanoseconds = divmod(now, NS)
        try:
            reply = TAKE(
                self._conn.sync,
                1,
                name,
                self._mode,
                seconds,
                nanoseconds,
                cost,
                tolerance,
                -1 if max_wait is None else max_wait,
            )
        except BACKEND_ERRORS as error:
            return self._failed_take("take", error, cost, now)
        decision, due = self._decided(reply, now, tolerance, interval)
        if due:
            self._flush()
        return decision

    def _failed_take(
        self, operation: str, error: BaseException, cost: int, now: int
    ) -> RateLimitDecision:
        if self._fail_decision(operation, error):
            return RateLimitDecision(allowed=True, retry_after=0, remaining=0.0, end=now + cost)
        return RateLimitDecision(allowed=False, retry_after=cost, remaining=0.0, end=now)

    def _decided(
        self, reply: Any, now: int, tolerance: int, interval: int
    ) -> tuple[RateLimitDecision, bool]:
        """Return the decision of a ``TAKE`` reply, and whether counts are due for publishing."""
        if self._faults.down:
            self._faults.recovered()
        status, wait, distance, used_seconds, used_nanoseconds = (int(part) for part in reply)
        due = False
        if status != 2:  # the script's "reserved": counted by the limiter once served
            due = self._tally(granted=status == 1)
        used = used_seconds * NS + used_nanoseconds
        with self._lock:
            if self._mode == "s" and not self._held:
                self._offset = now - used
            end = used + distance + self._offset
            if status == 2:  # the script's "reserved"
                self._held += 1
        if status == 2:  # the script's "reserved"
            return RateLimitDecision(allowed=True, retry_after=wait, remaining=0.0, end=end), due
        decision = RateLimitDecision(
            allowed=status == 1,
            retry_after=wait,
            remaining=max(0.0, (tolerance - distance) / interval),
            end=end,
        )
        return decision, due

    def _unhold(self) -> int:
        """Count one reservation ended; return the offset its times were translated by."""
        with self._lock:
            self._held = max(0, self._held - 1)
            return self._offset

    def release(self, key: Hashable, refund: int, tat: int) -> bool:
        """End a reservation, handing back ``refund`` ns if nothing was taken after ``tat``."""
        offset = self._unhold()
        if refund <= 0:
            return False
        seconds, nanoseconds = divmod(tat - offset, NS)
        try:
            moved = RELEASE(self._conn.sync, 1, self._name(key), refund, seconds, nanoseconds)
        except BACKEND_ERRORS as error:
            self._fault("release", error, "the refund is lost")
            return False
        return int(moved) == 1

    # -- the async side (AsyncRateLimitStore): the same decisions, awaited ------------------

    async def atry_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        """Await :meth:`try_take`'s decision on the loop's asyncio client.

        Raises:
            TypeError: If the key is not made of JSON scalars and tuples.
        """
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.try_take, key, cost, now, tolerance)
        seconds, nanoseconds = divmod(now, NS)
        try:
            granted = await TRY_TAKE.acall(
                client, 1, self._name(key), self._mode, seconds, nanoseconds, cost, tolerance
            )
        except BACKEND_ERRORS as error:
            return self._fail_decision("atry_take", error)
        if self._faults.down:
            self._faults.recovered()
        allowed: bool = int(granted) == 1
        if self._tally(granted=allowed):
            await self._aflush(client)
        return allowed

    async def atake(
        self,
        key: Hashable,
        cost: int,
        now: int,
        tolerance: int,
        *,
        interval: int,
        max_wait: int | None,
    ) -> RateLimitDecision:
        """Await :meth:`take`'s decision on the loop's asyncio client.

        Raises:
            TypeError: If the key is not made of JSON scalars and tuples.
        """
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(
                functools.partial(
                    self.take, key, cost, now, tolerance, interval=interval, max_wait=max_wait
                )
            )
        seconds, nanoseconds = divmod(now, NS)
        try:
            reply = await TAKE.acall(
                client,
                1,
                self._name(key),
                self._mode,
                seconds,
                nanoseconds,
                cost,
                tolerance,
                -1 if max_wait is None else max_wait,
            )
        except BACKEND_ERRORS as error:
            return self._failed_take("atake", error, cost, now)
        # Only once the reply is here: a cancelled call leaves the reservation count alone.
        decision, due = self._decided(reply, now, tolerance, interval)
        if due:
            await self._aflush(client)
        return decision

    async def arelease(self, key: Hashable, refund: int, tat: int) -> bool:
        """End a reservation like :meth:`release`, awaited."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.release, key, refund, tat)
        offset = self._unhold()
        if refund <= 0:
            return False
        seconds, nanoseconds = divmod(tat - offset, NS)
        try:
            moved = await RELEASE.acall(client, 1, self._name(key), refund, seconds, nanoseconds)
        except BACKEND_ERRORS as error:
            self._fault("arelease", error, "the refund is lost")
            return False
        return int(moved) == 1

    async def aclose(self) -> None:
        """Publish the local counts and close the running loop's asyncio connections."""
        client = self._conn.aclient()
        if client is not None:
            await self._aflush(client)
        await self._conn.aclose()

    def backlog(self, key: Hashable, now: int) -> int:
        """Return how far ``key``'s ``tat`` runs ahead of now, in nanoseconds."""
        seconds, nanoseconds = divmod(now, NS)
        try:
            return int(
                BACKLOG(self._conn.sync, 1, self._name(key), self._mode, seconds, nanoseconds)
            )
        except BACKEND_ERRORS as error:
            if self._fail_decision("backlog", error):
                return 0
            return _EMPTY

    def reset(self, key: Hashable) -> None:
        """Refill ``key``'s bucket at once.

        Raises:
            RedisUnavailableError: If Redis fails: the bucket may stay as it was.
        """
        try:
            self._conn.sync.delete(self._name(key))
        except BACKEND_ERRORS as error:
            self._raise("reset", error)

    def _bucket_names(self) -> list[bytes]:
        names: list[bytes] = []
        start = len(self._prefix.encode())
        for name in self._conn.sync.scan_iter(match=self._pattern, count=_SCAN_COUNT):  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]  # redis-py: untyped
            try:
                json.loads(cast(bytes, name)[start:])
            except ValueError:
                continue  # the counters, or a nested namespace's bucket
            names.append(cast(bytes, name))
        return names

    def clear(self) -> None:
        """Refill every bucket of the namespace at once (``SCAN`` and ``UNLINK``).

        Raises:
            RedisUnavailableError: If Redis fails: buckets may stay as they were.
        """
        try:
            names = self._bucket_names()
            if names:
                self._conn.sync.unlink(*names)
        except BACKEND_ERRORS as error:
            self._raise("clear", error)

    def _raise(self, operation: str, error: BaseException) -> None:
        self._fault(operation, error, "raising", "raise")
        raise RedisUnavailableError(
            f"RedisRateLimitStore {self._namespace!r}: {operation} failed",
            operation=operation,
            target=self._namespace,
        ) from error

    def stats(self, now: int) -> RateLimitStoreStats:
        """Return the cluster-wide counters; ``keys`` scans the namespace (O(buckets)).

        With Redis unreachable the last figures read are reported (WARNING, counted).
        """
        self._flush()
        client = self._conn.sync
        try:
            raw = cast(list[Any], client.hmget(self._stats_key, ["granted", "refused"]))
            default = self._default_name.encode()
            names = [name for name in self._bucket_names() if name != default]
            if self._mode == "s":
                seconds, micros = client.time()  # pyright: ignore[reportUnknownMemberType]  # redis-py leaves **kwargs unannotated
                now = seconds * NS + micros * 1000
            values = cast(list[bytes | None], client.mget(names)) if names else []
            live = sum(1 for value in values if value is not None and _parse_tat(value) > now)
        except BACKEND_ERRORS as error:
            self._fault("stats", error, "reporting the last figures")
        else:
            self._known = (int(raw[0] or 0), int(raw[1] or 0), live)
        granted, refused, keys = self._known
        with self._lock:
            granted += self._pending_granted
            refused += self._pending_refused
        return {"granted": granted, "refused": refused, "keys": keys, "evicted": 0}

    def close(self) -> None:
        """Publish the local counts and close the connections this store opened."""
        self._flush()
        self._conn.close()
