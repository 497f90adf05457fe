"""The state behind a rate limiter: the :class:`RateLimitStore` protocol, kept in memory by default.

Public names are re-exported by :mod:`python_mastery_portfolio.resilience`.

A store keeps one number per key, the GCRA *theoretical arrival time* (``tat``), and makes
each decision in one step: "take ``cost`` tokens for ``key`` at ``now``" reads and moves that
number atomically, so a store shared by several processes (a Redis script) decides exactly
as the in-memory one does for threads. The limiter keeps what only one process can know:
its queue of waiters (which it orders, wakes and moves forward) and its ``waited`` and
``cancelled`` counts.

The numbers every operation takes are those of GCRA, as integer **nanoseconds**: ``cost``,
how far a request moves the ``tat`` (its tokens times ``interval``, the nanoseconds one token
takes to come back, ``per / rate`` rounded to the nearest nanosecond), and ``tolerance``, how
far ahead of ``now`` the ``tat`` may run (``burst * interval``). Integers keep the arithmetic
exact at any uptime: a float clock near 3e7 s cannot even hold a nanosecond, so sums of float
intervals drift and a whole token reads as 0.9999999. A store holds no configuration, so one
store can serve limiters of different rates. ``now`` is the caller's clock reading in
nanoseconds; a store shared between processes, whose monotonic clocks differ, should decide
on one clock of its own (the server's) and may use ``now`` only where the answer is a
duration.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import NamedTuple, Protocol, TypedDict, cast, runtime_checkable

from python_mastery_portfolio._internal.checks import require_count

__all__ = [
    "AsyncRateLimitStore",
    "InMemoryRateLimitStore",
    "RateLimitDecision",
    "RateLimitStore",
    "RateLimitStoreStats",
]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

# Below every clock reading: a bucket never used is full whatever ``now`` is.
_FULL = -(1 << 62)


class RateLimitDecision(NamedTuple):
    """What a store decided for one request.

    Example:
        >>> RateLimitDecision(allowed=False, retry_after=500, remaining=0.0, end=1500).retry_after
        500
    """

    allowed: bool
    """Whether the tokens were granted (at once, or reserved when ``retry_after > 0``)."""
    retry_after: int
    """Nanoseconds from ``now`` until the tokens are there: 0 when granted at once; the wait
    the caller must sleep for its reserved tokens when granted later; when to retry if
    refused."""
    remaining: float
    """Tokens left in the bucket after the decision (0 while reservations are outstanding);
    exact when whole, as it is the quotient of two integers."""
    end: int
    """Where this request's slot ends on the bucket's line (its ``tat`` once granted); a
    reservation hands it to :meth:`RateLimitStore.release`. When refused, the bucket's
    ``tat`` as it stays."""


# RateLimitDecision's constructor is a Python function taking keywords; the hot path
# builds the tuple directly (about 3x faster), in field order.
_decision = cast(
    "Callable[[type[RateLimitDecision], tuple[bool, int, float, int]], RateLimitDecision]",
    tuple.__new__,  # pyright: ignore[reportUnknownMemberType]  # typeshed's overloads
)


class RateLimitStoreStats(TypedDict):
    """Counters of a :class:`RateLimitStore`, as returned by :meth:`RateLimitStore.stats`."""

    granted: int
    """Requests granted at once (reservations are counted by the limiter once served)."""
    refused: int
    """Requests refused."""
    keys: int
    """Live keyed buckets (the default bucket, key ``None``, is not counted)."""
    evicted: int
    """Live buckets evicted to stay within ``max_keys``."""


@runtime_checkable
class RateLimitStore(Protocol):
    """The GCRA state per key behind a :class:`RateLimiter`; every operation is atomic.

    Every time, duration and cost is an ``int`` of nanoseconds (see the module docstring).
    Keys are hashable; ``None`` is the limiter's default bucket. A key never seen (or whose
    bucket has refilled, or was reset) is a full bucket. Run
    :class:`python_mastery_portfolio.testing.contracts.rate_limit.RateLimitStoreContract`
    against an implementation to check it.

    Example:
        >>> from python_mastery_portfolio.resilience import InMemoryRateLimitStore
        >>> isinstance(InMemoryRateLimitStore(), RateLimitStore)
        True
    """

    def try_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        """Take ``cost`` ns' worth of tokens for ``key`` at ``now`` if there; never reserve.

        The limiter's hot path: the same decision as :meth:`take` with ``max_wait=0``,
        without building a :class:`RateLimitDecision`.
        """
        ...

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
        """Take ``cost`` for ``key`` at ``now``, or reserve it if due within ``max_wait`` ns.

        Granted at once (``retry_after == 0``), reserved (``retry_after`` is the wait; the
        bucket's line now holds the slot, and the key is kept, never evicted, until
        :meth:`release`), or refused (``allowed`` false, the bucket unchanged, ``retry_after``
        the time until the tokens would be there). ``max_wait=None`` waits as long as needed;
        ``interval`` (nanoseconds per token) turns time into the ``remaining`` tokens.
        """
        ...

    def release(self, key: Hashable, refund: int, tat: int) -> bool:
        """End one reservation on ``key`` (made by :meth:`take`), handing back ``refund`` ns.

        The ``refund`` goes back only if the bucket's ``tat`` is still ``tat`` (the ``end`` of
        the last slot the caller knows of): nothing was taken after it, so the time handed
        back can never overlap a later grant. Serving a reservation releases it with
        ``refund=0``.

        Returns:
            Whether ``refund`` (> 0) was handed back.
        """
        ...

    def backlog(self, key: Hashable, now: int) -> int:
        """Return how far ``key``'s ``tat`` runs ahead of ``now`` (0 for a full bucket)."""
        ...

    def reset(self, key: Hashable) -> None:
        """Refill ``key``'s bucket at once (reservations already made keep their slots)."""
        ...

    def clear(self) -> None:
        """Refill every bucket at once."""
        ...

    def stats(self, now: int) -> RateLimitStoreStats:
        """Return the store's counters as of ``now``."""
        ...


@runtime_checkable
class AsyncRateLimitStore(Protocol):
    """The awaitable side of a :class:`RateLimitStore` whose decisions do I/O (Redis).

    A :class:`RateLimiter` whose store implements this as well as :class:`RateLimitStore`
    awaits these methods on its async paths (:meth:`~RateLimiter.aacquire`,
    :meth:`~RateLimiter.atry_acquire`, ``async with limiter`` and :func:`rate_limit` over a
    coroutine function), so a decision over the network never blocks the event loop; its sync
    paths keep calling the sync methods. The limiter checks for it once, when it is built. A
    store without it is called synchronously on the loop: it must be fast, as
    :class:`InMemoryRateLimitStore` is.

    Each method makes exactly the decision of its sync twin, on the same state: a store's two
    sides share their buckets. ``backlog``, ``reset``, ``clear`` and ``stats`` stay
    synchronous, as :class:`~python_mastery_portfolio.caching.AsyncCacheStore` keeps
    ``record`` and ``stats``: they serve the limiter's sync methods (``available``,
    ``reset``, ``stats``), never a call being limited. Run
    :class:`python_mastery_portfolio.testing.contracts.rate_limit.AsyncRateLimitStoreContract`
    against an implementation to check it.

    Example:
        >>> import asyncio
        >>> from collections.abc import Hashable
        >>> from python_mastery_portfolio.resilience import RateLimiter
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> class AsyncMemory(InMemoryRateLimitStore):
        ...     async def atry_take(self, key: Hashable, *args: int) -> bool:
        ...         return self.try_take(key, *args)
        ...     async def atake(self, key: Hashable, *args: int, **kw: int) -> RateLimitDecision:
        ...         return self.take(key, *args, **kw)
        ...     async def arelease(self, key: Hashable, refund: int, tat: int) -> bool:
        ...         return self.release(key, refund, tat)
        >>> store = AsyncMemory()
        >>> isinstance(store, AsyncRateLimitStore)
        True
        >>> limiter = RateLimiter(2, store=store, clock=ManualClock())
        >>> asyncio.run(limiter.aacquire()), asyncio.run(limiter.atry_acquire())
        (None, True)
        >>> store.stats(0)["granted"]
        2
    """

    async def atry_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        """Take ``cost`` for ``key`` at ``now`` if there, never reserving (:meth:`try_take`)."""
        ...

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
        """Take ``cost`` for ``key``, or reserve it if due within ``max_wait`` (:meth:`take`)."""
        ...

    async def arelease(self, key: Hashable, refund: int, tat: int) -> bool:
        """End one reservation, handing back ``refund`` if ``tat`` is unchanged (:meth:`release`).

        The limiter awaits it shielded from cancellation: a reservation ends exactly once.
        """
        ...


class InMemoryRateLimitStore:
    """The default :class:`RateLimitStore`: buckets in a dict, guarded by one lock.

    A bucket that has refilled is the same as no bucket, so refilled buckets are dropped
    (lazily, when a new key arrives and in :meth:`stats`). When ``max_keys`` keyed buckets are
    still live and a new key arrives, the least recently used one is evicted, which can only
    make limiting more lenient for that key; buckets holding reservations are never evicted.
    All arithmetic is on integer nanoseconds, so it is exact.

    Args:
        max_keys: Most keyed buckets kept (>= 1).

    Raises:
        TypeError: If ``max_keys`` is not an int.
        ValueError: If ``max_keys`` is below 1.

    Example:
        >>> store = InMemoryRateLimitStore()
        >>> store.try_take("a", 1000, 0, 1000)
        True
        >>> store.take("a", 1000, 0, 1000, interval=1000, max_wait=0)
        RateLimitDecision(allowed=False, retry_after=1000, remaining=0.0, end=1000)
    """

    __slots__ = ("_evicted", "_granted", "_held", "_lock", "_max_keys", "_refused", "_tat", "_tats")

    def __init__(self, *, max_keys: int = 10_000) -> None:
        require_count("max_keys", max_keys, 1)
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # The default bucket lives apart: it is never evicted and costs no dict lookup.
        self._tat = _FULL
        self._tats: OrderedDict[Hashable, int] = OrderedDict()
        # Reservations outstanding per key: those buckets are never dropped nor evicted.
        self._held: dict[Hashable, int] = {}
        self._granted = 0
        self._refused = 0
        self._evicted = 0

    @property
    def max_keys(self) -> int:
        """Most keyed buckets kept."""
        return self._max_keys

    def __repr__(self) -> str:
        return f"InMemoryRateLimitStore(max_keys={self._max_keys!r})"

    def try_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        """Take ``cost`` for ``key`` at ``now`` if the bucket has it.

        Example:
            >>> store = InMemoryRateLimitStore()
            >>> [store.try_take(None, 500, 0, 1000) for _ in range(3)]
            [True, True, False]
        """
        # acquire/try/finally, not ``with``: on CPython 3.11 it saves a third of this call.
        lock = self._lock
        lock.acquire()
        try:
            if key is None:
                tat = self._tat
                if tat < now:  # noqa: PLR1730 - cheaper than calling max() on the hot path
                    tat = now
                tat += cost
                if tat - now <= tolerance:
                    self._tat = tat
                    self._granted += 1
                    return True
                self._refused += 1
                return False
            tat = self._load(key, now)
            if tat < now:  # noqa: PLR1730 - cheaper than calling max() on the hot path
                tat = now
            tat += cost
            if tat - now <= tolerance:
                self._tats[key] = tat
                self._granted += 1
                return True
            self._refused += 1
            return False
        finally:
            lock.release()

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
        """Take ``cost`` for ``key`` at ``now``, or reserve it if due within ``max_wait`` ns.

        Example:
            >>> store = InMemoryRateLimitStore()
            >>> store.take(None, 1000, 0, 1000, interval=500, max_wait=None)
            RateLimitDecision(allowed=True, retry_after=0, remaining=0.0, end=1000)
            >>> store.take(None, 500, 0, 1000, interval=500, max_wait=None)
            RateLimitDecision(allowed=True, retry_after=500, remaining=0.0, end=1500)
        """
        return _decision(
            RateLimitDecision, self.decide(key, cost, now, tolerance, interval, max_wait)
        )

    def decide(  # noqa: PLR0917 - take's arguments, positional for the hot path
        self,
        key: Hashable,
        cost: int,
        now: int,
        tolerance: int,
        interval: int,
        max_wait: int | None,
    ) -> tuple[bool, int, float, int]:
        """Decide as :meth:`take` does; return the decision's fields as a plain tuple.

        :class:`~python_mastery_portfolio.resilience.RateLimiter` calls this on this store
        (an HTTP rate limit asks on every request): a plain tuple and positional arguments
        cost less than building a :class:`RateLimitDecision`.

        Example:
            >>> InMemoryRateLimitStore().decide("k", 1000, 0, 2000, 1000, 0)
            (True, 0, 1.0, 1000)
        """
        # acquire/try/finally and the bucket lookup inline, as in try_take: one call must
        # cost less than try_take + backlog.
        lock = self._lock
        lock.acquire()
        try:
            if key is None:
                start = self._tat
            else:
                found = self._tats.get(key)
                if found is None:
                    self._make_room(now)
                    start = now
                else:
                    self._tats.move_to_end(key)
                    start = found
            if start < now:  # noqa: PLR1730 - the bucket is full: the line starts at now
                start = now
            tat = start + cost
            wait = tat - tolerance - now
            if wait <= 0:
                if key is None:
                    self._tat = tat
                else:
                    self._tats[key] = tat
                self._granted += 1
                # Granted now: tat - now <= tolerance, so what is left is never negative.
                return True, 0, (tolerance - (tat - now)) / interval, tat
            if max_wait is not None and wait > max_wait:
                self._refused += 1
                return False, wait, max(0.0, (tolerance - (start - now)) / interval), start
            self._store(key, tat)
            self._held[key] = self._held.get(key, 0) + 1
            return True, wait, 0.0, tat
        finally:
            lock.release()

    def release(self, key: Hashable, refund: int, tat: int) -> bool:
        """End a reservation, handing back ``refund`` ns if nothing was taken after ``tat``.

        Example:
            >>> store = InMemoryRateLimitStore()
            >>> store.take("k", 2000, 0, 1000, interval=1000, max_wait=None)
            RateLimitDecision(allowed=True, retry_after=1000, remaining=0.0, end=2000)
            >>> store.release("k", refund=1000, tat=2000), store.backlog("k", 0)
            (True, 1000)
        """
        with self._lock:
            held = self._held[key] - 1
            if held:
                self._held[key] = held
            else:
                del self._held[key]
            if refund <= 0:
                return False
            current = self._tat if key is None else self._tats.get(key)
            if current != tat:
                return False
            self._store(key, tat - refund)
            return True

    def backlog(self, key: Hashable, now: int) -> int:
        """Return how far ``key``'s ``tat`` runs ahead of ``now``, in nanoseconds.

        Example:
            >>> InMemoryRateLimitStore().backlog("never seen", 5000)
            0
        """
        with self._lock:
            tat = self._tat if key is None else self._tats.get(key, now)
            return max(0, tat - now)

    def reset(self, key: Hashable) -> None:
        """Refill ``key``'s bucket at once.

        Example:
            >>> store = InMemoryRateLimitStore()
            >>> store.try_take("a", 1000, 0, 1000), store.try_take("a", 1000, 0, 1000)
            (True, False)
            >>> store.reset("a")
            >>> store.try_take("a", 1000, 0, 1000)
            True
        """
        with self._lock:
            if key is None:
                self._tat = _FULL
            else:
                self._tats.pop(key, None)

    def clear(self) -> None:
        """Refill every bucket at once.

        Example:
            >>> store = InMemoryRateLimitStore()
            >>> store.try_take("a", 1000, 0, 1000)
            True
            >>> store.clear()
            >>> store.stats(0)["keys"]
            0
        """
        with self._lock:
            self._tat = _FULL
            self._tats.clear()

    def stats(self, now: int) -> RateLimitStoreStats:
        """Return the counters, dropping refilled buckets first.

        Example:
            >>> store = InMemoryRateLimitStore()
            >>> store.try_take("a", 1000, 0, 1000), store.try_take("a", 1000, 0, 1000)
            (True, False)
            >>> store.stats(0)
            {'granted': 1, 'refused': 1, 'keys': 1, 'evicted': 0}
        """
        with self._lock:
            self._drop_refilled(now)
            return {
                "granted": self._granted,
                "refused": self._refused,
                "keys": len(self._tats),
                "evicted": self._evicted,
            }

    # -- internals; every method below runs with the lock held --

    def _load(self, key: Hashable, now: int) -> int:
        """Return the ``tat`` of keyed (not ``None``) ``key``'s bucket, marking it recently used."""
        tats = self._tats
        tat = tats.get(key)
        if tat is None:
            self._make_room(now)
            return now
        tats.move_to_end(key)
        return tat

    def _store(self, key: Hashable, tat: int) -> None:
        if key is None:
            self._tat = tat
        else:
            self._tats[key] = tat

    def _drop_refilled(self, now: int) -> None:
        """Drop refilled buckets from the least recently used end, up to the first live one."""
        tats = self._tats
        while tats:
            key, tat = next(iter(tats.items()))
            if tat > now or key in self._held:
                return
            del tats[key]

    def _make_room(self, now: int) -> None:
        """Make room for one more keyed bucket, evicting the least recently used if needed."""
        self._drop_refilled(now)
        if len(self._tats) < self._max_keys:
            return
        for key in self._tats:
            if key not in self._held:
                del self._tats[key]
                self._evicted += 1
                logger.debug(
                    "rate limit store at max_keys=%d: evicted a live bucket", self._max_keys
                )
                return
