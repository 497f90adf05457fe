"""Rate limiting: a token bucket per key, serving threads and coroutines alike.

Public names are re-exported by :mod:`python_mastery_portfolio.resilience`.

How it works (GCRA, the "virtual scheduling" form of a token bucket): each bucket is one
number, its *theoretical arrival time* ``tat``, the moment at which the bucket is full again.
Taking ``n`` tokens moves ``tat`` ``n`` emission intervals (``per / rate`` seconds each) into
the future; that is allowed at once while ``tat`` stays at most ``burst`` intervals ahead of
now. A caller willing to wait *reserves* its tokens at once, which queues it behind everybody
who reserved earlier (first come, first served) and tells it exactly how long to sleep. Each
grant owns a disjoint slot of ``n`` intervals on that time line, no later than ``burst``
intervals after the grant, which is what bounds any interval of length ``T`` to
``burst + rate * T / per`` tokens.

A waiter that gives up (a cancelled task, an interrupted thread) hands its slot back: the
coroutines queued behind it move forward by what it returns, so nobody is held up by a
waiter that left. Coroutines wait for their turn (the head of the queue) before sleeping, so
only the head ever sleeps and moving the others is just arithmetic. A thread's sleep cannot
be shortened, so the slots behind a waiting thread stay where they are (the returned time is
then simply lost capacity, which errs on the strict side).

Time on the bucket's line is counted in integer nanoseconds (the clock's reading rounded to
the nearest one; ``time.monotonic_ns`` for the system clock) and one token's interval is
``per / rate`` rounded to the nearest nanosecond, so all the bucket arithmetic is exact:
whole tokens read as whole numbers at any uptime, and :meth:`RateLimiter.available` agrees
with :meth:`RateLimiter.try_acquire` to the token.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from fractions import Fraction
from types import TracebackType
from typing import (
    NamedTuple,
    ParamSpec,
    Self,
    TypedDict,
    TypeVar,
    cast,
)

from python_mastery_portfolio._internal.checks import (
    require_at_least,
    require_positive,
)
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock, now_reader
from python_mastery_portfolio.exceptions import RateLimitError
from python_mastery_portfolio.instrumentation import HOOKS
from python_mastery_portfolio.resilience._rate_limit_store import (
    AsyncRateLimitStore,
    InMemoryRateLimitStore,
    RateLimitDecision,
    RateLimitStore,
)
from python_mastery_portfolio.resilience._rate_string import parse_rate

__all__ = ["RateLimitVerdict", "RateLimiter", "RateLimiterStats"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

NANOSECONDS = 1_000_000_000
"""Nanoseconds per second: the unit of the bucket's line."""

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)
T = TypeVar("T")


class RateLimiterStats(TypedDict):
    """What :meth:`RateLimiter.stats` returns."""

    allowed: int
    """Acquisitions granted (at once or after waiting)."""
    rejected: int
    """Acquisitions refused, by :meth:`RateLimiter.try_acquire` or a ``timeout``."""
    waited: int
    """Acquisitions granted after waiting."""
    cancelled: int
    """Waiters that gave up."""
    waiting: int
    """Callers waiting now."""
    keys: int
    """Live keyed buckets (refilled ones are dropped first)."""
    evicted: int
    """Live buckets evicted to stay within ``max_keys``."""


class RateLimitVerdict(NamedTuple):
    """What :meth:`RateLimiter.take` decided: enough for a ``429`` and ``RateLimit-*`` headers.

    Example:
        >>> RateLimitVerdict(allowed=False, remaining=0.0, retry_after=0.5).retry_after
        0.5
    """

    allowed: bool
    """Whether the tokens were taken."""
    remaining: float
    """Tokens left in the bucket after the decision (exact when whole)."""
    retry_after: float
    """Seconds until the tokens would be there: 0.0 when allowed."""


# tuple.__new__ builds a verdict in half the time of its generated __new__ (take is per request).
_verdict = cast(
    "Callable[[type[RateLimitVerdict], tuple[bool, float, float]], RateLimitVerdict]",
    tuple.__new__,  # pyright: ignore[reportUnknownMemberType]  # typeshed's overloads
)


def _take_through(  # noqa: PLR0917 - InMemoryRateLimitStore.decide's arguments
    store: RateLimitStore,
    key: Hashable,
    cost: int,
    now: int,
    tolerance: int,
    interval: int,
    max_wait: int | None,
) -> tuple[bool, int, float, int]:
    """Ask any store's ``take``, called as :meth:`InMemoryRateLimitStore.decide` is."""
    return store.take(key, cost, now, tolerance, interval=interval, max_wait=max_wait)


def ns_reader(clock: Clock) -> Callable[[], int]:
    """Return the cheapest callable reading ``clock`` in whole nanoseconds.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> ns_reader(ManualClock(start=1 / 3))()
        333333333
    """
    if now_reader(clock) is time.monotonic:
        return time.monotonic_ns
    now = clock.now

    def now_ns() -> int:
        return round(now() * NANOSECONDS)

    return now_ns


def _is_movable(waiter: _Waiter) -> bool:
    return waiter.movable


def _end(waiter: _Waiter) -> int:
    return waiter.end


def _wake(turn: asyncio.Future[None]) -> None:
    """Tell a coroutine it reached the head of its queue (unless it already left)."""
    if not turn.done():
        turn.set_result(None)


class _Waiter:
    """One reservation waiting for its tokens: the slot ends at ``end`` on the bucket's line."""

    __slots__ = ("cost", "end", "loop", "movable", "turn", "wait")

    def __init__(self, cost: int, end: int, wait: float, *, movable: bool) -> None:
        self.cost = cost
        self.end = end
        self.wait = wait  # seconds, for the clock
        # Only a coroutine's slot may move earlier: a sleeping thread cannot be woken sooner.
        self.movable = movable
        self.loop: asyncio.AbstractEventLoop | None = None
        self.turn: asyncio.Future[None] | None = None


class RateLimiter:
    """Grant at most ``rate`` tokens per ``per`` seconds, with bursts of up to ``burst``.

    A token bucket refilled continuously at ``rate / per`` tokens a second and holding at most
    ``burst`` tokens (default ``rate``, at least 1). Over any interval of length ``T`` it grants
    at most ``burst + rate * T / per`` tokens. One limiter serves threads and coroutines at
    once, and keeps one bucket per ``key=`` (for example per client) besides the default
    bucket used when no key is given.

    Waiting callers are served first come, first served: :meth:`acquire` and :meth:`aacquire`
    reserve their tokens on arrival, so a later caller (even a :meth:`try_acquire`) never
    overtakes an earlier one. A waiter that is cancelled or interrupted takes no tokens and
    the coroutines queued behind it move forward.

    The buckets live in a :class:`RateLimitStore` (``store=``), which makes each decision
    atomically; the default :class:`InMemoryRateLimitStore` keeps them in this process. The
    queue of waiters stays in the limiter. A store that is also an
    :class:`AsyncRateLimitStore` (one doing I/O, such as Redis) is awaited on the async paths
    (:meth:`aacquire`, :meth:`atry_acquire`, ``async with``), so they never block the loop.

    Memory (the default store): a bucket that has refilled is the same as no bucket, so
    refilled buckets are dropped (lazily, when a new key arrives and in :meth:`stats`). When
    ``max_keys`` keyed buckets are still live and a new key arrives, the least recently used
    bucket is evicted, which can only make limiting more lenient for that key (it starts again
    with a full bucket); buckets with waiters are never evicted, so the count may exceed
    ``max_keys`` by the number of keys that have callers waiting. ``stats()["evicted"]``
    counts evictions.

    Args:
        rate: Tokens added per ``per`` seconds (> 0).
        per: Length of the rate's period in seconds (> 0).
        burst: Bucket capacity, the most tokens granted at once (>= 1; default ``rate``, or 1
            when ``rate`` is below 1).
        clock: Source of time and of waiting.
        max_keys: Most keyed buckets kept by the default store (>= 1; default 10 000); not
            with ``store``, which has its own bounds.
        store: Where the buckets live; default a new :class:`InMemoryRateLimitStore`.
        name: The ``limiter`` attribute of its instrumentation reports (default
            ``"RateLimiter"``; :func:`rate_limit` names it after the decorated function).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range, or both ``max_keys`` and ``store`` are
            given; the message names it.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> limiter = RateLimiter(2, per=1.0, clock=clock)
        >>> [limiter.try_acquire() for _ in range(3)]
        [True, True, False]
        >>> limiter.acquire()  # waits (on the manual clock) until a token is back
        >>> clock.sleeps
        [0.5]
        >>> limiter.try_acquire(key="alice")
        True
    """

    __slots__ = (
        "__weakref__",
        "_astore",
        "_burst",
        "_cancelled",
        "_clock",
        "_decide",
        "_inflight",
        "_interval",
        "_labels",
        "_lock",
        "_now",
        "_pending",
        "_per",
        "_rate",
        "_store",
        "_tau",
        "_try_take",
        "_waited",
        "_waiting",
    )

    def __init__(
        self,
        rate: float,
        per: float = 1.0,
        *,
        burst: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_keys: int = MISSING,
        store: RateLimitStore | None = None,
        name: str | None = None,
    ) -> None:
        require_positive("rate", rate)
        if name is not None and not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"name must be a str or None, got {name!r}")
        require_positive("per", per)
        if burst is None:
            burst = max(float(rate), 1.0)
        else:
            require_at_least("burst", burst, 1)
        # An infinite rate, period or burst turns the bucket arithmetic into NaN.
        for param, value in (("rate", rate), ("per", per), ("burst", burst)):
            if not math.isfinite(value):
                raise ValueError(f"{param} must be finite, got {value!r}")
        if not isinstance(clock, Clock):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"clock must implement the Clock protocol, got {clock!r}")
        if store is None:
            store = InMemoryRateLimitStore(max_keys=10_000 if max_keys is MISSING else max_keys)
        elif not isinstance(store, RateLimitStore):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"store must implement the RateLimitStore protocol, got {store!r}")
        elif max_keys is not MISSING:
            raise ValueError("max_keys configures the default store: give it to your store")
        self._rate = rate
        self._per = per
        self._burst = burst
        self._clock = clock
        self._now = ns_reader(clock)
        self._store = store
        # Decided once: the async paths await a store that does I/O, and call the others.
        self._astore = store if isinstance(store, AsyncRateLimitStore) else None
        # Reservations being decided by an awaited store, per key: until they are queued the
        # queue does not know every slot, so nobody's slot may move (see _withdraw).
        self._inflight: dict[Hashable, int] = {}
        # Bound once: try_acquire is the hot path. While the instrumentation hook is on it is
        # swapped for a reporting variant (hooks_changed), so the hot path never checks it.
        self._try_take: Callable[[Hashable, int, int, int], bool] = store.try_take
        # take's one store call: the default store's plain-tuple decide (exactly that class:
        # a subclass may override take), any other store's take.
        self._decide: Callable[..., tuple[bool, int, float, int]] = (
            store.decide
            if type(store) is InMemoryRateLimitStore
            else functools.partial(_take_through, store)
        )
        name = "RateLimiter" if name is None else name
        self._labels = (
            {"limiter": name},
            {"limiter": name, "decision": "allowed"},
            {"limiter": name, "decision": "rejected"},
        )
        # Exact rationals here, once, so that only the final rounding to a nanosecond is lost.
        interval = Fraction(per) * NANOSECONDS / Fraction(rate)
        self._interval = round(interval)
        if self._interval < 1:
            raise ValueError(
                f"rate must be at most one token per nanosecond of per, got {rate!r} per {per!r}"
            )
        self._tau = round(Fraction(burst) * self._interval)
        self._lock = threading.Lock()
        self._pending: dict[Hashable, list[_Waiter]] = {}
        self._waited = 0
        self._cancelled = 0
        self._waiting = 0
        HOOKS.watch(self)

    @property
    def name(self) -> str:
        """The ``limiter`` attribute of its instrumentation reports (default ``"RateLimiter"``).

        Example:
            >>> RateLimiter(1, name="login").name
            'login'
        """
        return self._labels[0]["limiter"]

    def hooks_changed(self, active: bool) -> None:
        """Swap :meth:`try_acquire`'s store call for one that reports, or back (by the hub)."""
        self._try_take = self._reporting_try_take if active else self._store.try_take

    def _reporting_try_take(self, key: Hashable, cost: int, now: int, tau: int) -> bool:
        """Take like the store's ``try_take``, and report the decision (the hook is on)."""
        granted = self._store.try_take(key, cost, now, tau)
        self._report(granted, 0.0)
        return granted

    def _report(self, granted: bool, retry_after: float) -> None:
        """Report one decision; ``retry_after`` is the wait told to a refused caller."""
        name, allowed, rejected = self._labels
        if granted:
            HOOKS.count("rate_limit.decisions", 1, allowed)
            return
        HOOKS.count("rate_limit.decisions", 1, rejected)
        HOOKS.event(
            "rate_limit.rejected",
            {"limiter": name["limiter"], "rate_limit.retry_after": retry_after},
        )

    @property
    def rate(self) -> float:
        """Tokens added per :attr:`per` seconds."""
        return self._rate

    @property
    def per(self) -> float:
        """Length of the rate's period in seconds."""
        return self._per

    @property
    def burst(self) -> float:
        """Capacity of each bucket."""
        return self._burst

    @property
    def store(self) -> RateLimitStore:
        """Where the buckets live."""
        return self._store

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self._rate!r}, per={self._per!r}, burst={self._burst!r})"

    @classmethod
    def parse(
        cls,
        rate: str,
        *,
        burst: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_keys: int = MISSING,
        store: RateLimitStore | None = None,
    ) -> Self:
        """Build a limiter from a rate string such as ``"10/minute"`` (as ``limits`` writes them).

        The grammar, case-insensitive: an amount, ``/`` or ``per``, an optional count and a unit
        (``second``, ``minute``, ``hour`` or ``day``, plural allowed): ``"10/minute"``, ``"100
        per hour"``, ``"5/2 seconds"``, ``"5 per 2 seconds"``.

        Args:
            rate: The rate string.
            burst: As for the constructor.
            clock: As for the constructor.
            max_keys: As for the constructor.
            store: As for the constructor.

        Raises:
            TypeError: If ``rate`` is not a string, or another argument has the wrong type.
            ValueError: If ``rate`` does not follow the grammar (the message shows it) or
                another argument is out of range.

        Example:
            >>> RateLimiter.parse("10/minute")
            RateLimiter(rate=10, per=60.0, burst=10.0)
            >>> RateLimiter.parse("5 per 2 seconds", burst=1).per
            2.0
        """
        amount, per = parse_rate(rate)
        return cls(amount, per, burst=burst, clock=clock, max_keys=max_keys, store=store)

    def __enter__(self) -> Self:
        """Take one token from the default bucket, waiting for it (``with limiter:``).

        As ``aiolimiter`` does: the token is spent when the block starts, whatever the block
        does, and leaving the block gives nothing back.

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> clock = ManualClock()
            >>> limiter = RateLimiter(2, clock=clock)
            >>> for _ in range(3):
            ...     with limiter:
            ...         pass
            >>> clock.sleeps
            [0.5]
        """
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Leave the block; the token stays spent and exceptions propagate."""

    async def __aenter__(self) -> Self:
        """Take one token from the default bucket without blocking the loop (``async with``).

        Example:
            >>> import asyncio
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> clock = ManualClock()
            >>> limiter = RateLimiter(4, burst=1, clock=clock)
            >>> async def main() -> None:
            ...     for _ in range(2):
            ...         async with limiter:
            ...             pass
            >>> asyncio.run(main())
            >>> clock.sleeps
            [0.25]
        """
        await self.aacquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Leave the block; the token stays spent and exceptions propagate."""

    def try_acquire(self, tokens: float = 1, *, key: Hashable = None) -> bool:
        """Take ``tokens`` tokens if they are there now; never wait.

        Args:
            tokens: How many tokens to take (> 0, at most ``burst``).
            key: The bucket to take them from; ``None`` is the default bucket.

        Returns:
            Whether the tokens were granted.

        Raises:
            ValueError: If ``tokens`` is not positive or exceeds ``burst``.

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limiter = RateLimiter(5, burst=5, clock=ManualClock())
            >>> limiter.try_acquire(5), limiter.try_acquire()
            (True, False)
        """
        cost = self._interval if tokens == 1 else self._cost(tokens)
        return self._try_take(key, cost, self._now(), self._tau)

    async def atry_acquire(self, tokens: float = 1, *, key: Hashable = None) -> bool:
        """Take ``tokens`` tokens if they are there now; never wait, never block the loop.

        :meth:`try_acquire` for coroutines: a store that does I/O (an
        :class:`AsyncRateLimitStore`) is awaited, any other is called directly.

        Args:
            tokens: How many tokens to take (> 0, at most ``burst``).
            key: The bucket to take them from; ``None`` is the default bucket.

        Returns:
            Whether the tokens were granted.

        Raises:
            ValueError: If ``tokens`` is not positive or exceeds ``burst``.

        Example:
            >>> import asyncio
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limiter = RateLimiter(1, clock=ManualClock())
            >>> async def main() -> list[bool]:
            ...     return [await limiter.atry_acquire(key="bob") for _ in range(2)]
            >>> asyncio.run(main())
            [True, False]
        """
        cost = self._interval if tokens == 1 else self._cost(tokens)
        astore = self._astore
        if astore is None:
            return self._try_take(key, cost, self._now(), self._tau)
        granted = await astore.atry_take(key, cost, self._now(), self._tau)
        if HOOKS.active:
            self._report(granted, 0.0)
        return granted

    def take(self, tokens: float = 1, *, key: Hashable = None) -> RateLimitVerdict:
        """Take ``tokens`` tokens if they are there now, and tell what is left or when to retry.

        One decision of the store, counted once (allowed or rejected) in :meth:`stats` and
        the instrumentation reports: what an HTTP rate limit needs for its answer (a 429's
        ``Retry-After``, ``RateLimit-Remaining``), where :meth:`try_acquire` then
        :meth:`available` would ask twice. Never waits.

        Args:
            tokens: How many tokens to take (> 0, at most ``burst``).
            key: The bucket to take them from; ``None`` is the default bucket.

        Returns:
            Whether they were taken, the tokens left, and the seconds until a refused
            request could be granted.

        Raises:
            ValueError: If ``tokens`` is not positive or exceeds ``burst``.

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limiter = RateLimiter(2, per=60, clock=ManualClock())
            >>> limiter.take(key="ada")
            RateLimitVerdict(allowed=True, remaining=1.0, retry_after=0.0)
            >>> limiter.take(2, key="ada")
            RateLimitVerdict(allowed=False, remaining=1.0, retry_after=30.0)
        """
        cost = self._interval if tokens == 1 else self._cost(tokens)
        allowed, wait, remaining, _ = self._decide(
            key, cost, self._now(), self._tau, self._interval, 0
        )
        return self._verdict(allowed, wait, remaining)

    async def atake(self, tokens: float = 1, *, key: Hashable = None) -> RateLimitVerdict:
        """Take ``tokens`` tokens if they are there now; never wait, never block the loop.

        :meth:`take` for coroutines: a store that does I/O (an
        :class:`AsyncRateLimitStore`) is awaited, any other is called directly.

        Args:
            tokens: How many tokens to take (> 0, at most ``burst``).
            key: The bucket to take them from; ``None`` is the default bucket.

        Returns:
            As :meth:`take`.

        Raises:
            ValueError: If ``tokens`` is not positive or exceeds ``burst``.

        Example:
            >>> import asyncio
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limiter = RateLimiter(1, clock=ManualClock())
            >>> async def main() -> list[bool]:
            ...     return [(await limiter.atake(key="bob")).allowed for _ in range(2)]
            >>> asyncio.run(main())
            [True, False]
        """
        astore = self._astore
        if astore is None:
            return self.take(tokens, key=key)
        cost = self._interval if tokens == 1 else self._cost(tokens)
        decision = await astore.atake(
            key, cost, self._now(), self._tau, interval=self._interval, max_wait=0
        )
        return self._verdict(decision.allowed, decision.retry_after, decision.remaining)

    def _verdict(self, allowed: bool, wait: int, remaining: float) -> RateLimitVerdict:
        """Report a store's decision taken without waiting; make it a verdict (``wait`` in ns)."""
        retry_after = wait / NANOSECONDS
        if HOOKS.active:
            self._report(allowed, retry_after)
        return _verdict(RateLimitVerdict, (allowed, remaining, retry_after))

    def acquire(
        self, tokens: float = 1, *, key: Hashable = None, timeout: float | None = None
    ) -> None:
        """Take ``tokens`` tokens, blocking the thread exactly until they are there.

        Args:
            tokens: How many tokens to take (> 0, at most ``burst``).
            key: The bucket to take them from; ``None`` is the default bucket.
            timeout: Longest acceptable wait in seconds; ``None`` waits as long as needed and
                ``0`` never waits.

        Raises:
            RateLimitError: At once, without taking tokens, when the wait would exceed
                ``timeout``; ``retry_after`` is the time until the tokens will be there and
                ``limit`` the rate.
            ValueError: If ``tokens`` or ``timeout`` is out of range.

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limiter = RateLimiter(1, clock=ManualClock())
            >>> limiter.acquire()
            >>> limiter.acquire(timeout=0)
            Traceback (most recent call last):
            ...
            python_mastery_portfolio.RateLimitError: rate limit of 1 per 1s exceeded; ...
        """
        cost = self._interval if tokens == 1 else self._cost(tokens)
        if timeout:
            require_at_least("timeout", timeout, 0)
        with self._lock:
            waiter = self._reserve(key, cost, timeout, False)  # noqa: FBT003 - movable, see there
        if waiter is None:
            return
        try:
            self._clock.sleep(waiter.wait)
        except BaseException:
            with self._lock:
                self._withdraw(key, waiter)
            raise
        with self._lock:
            self._finish(key, waiter)

    async def aacquire(
        self,
        tokens: float = 1,
        *,
        key: Hashable = None,
        timeout: float | None = None,  # noqa: ASYNC109 - judged up front from the known wait, not a deadline
    ) -> None:
        """Take ``tokens`` tokens, suspending the coroutine (never the loop) until they are there.

        Waiters are served in arrival order. Cancelling the waiting task takes no tokens and
        lets the waiters queued behind it move forward. A store that does I/O (an
        :class:`AsyncRateLimitStore`) is awaited for each decision; any other is called
        directly.

        Args:
            tokens: How many tokens to take (> 0, at most ``burst``).
            key: The bucket to take them from; ``None`` is the default bucket.
            timeout: Longest acceptable wait in seconds; ``None`` waits as long as needed and
                ``0`` never waits.

        Raises:
            RateLimitError: At once, without taking tokens, when the wait would exceed
                ``timeout``.
            ValueError: If ``tokens`` or ``timeout`` is out of range.

        Example:
            >>> import asyncio
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> clock = ManualClock()
            >>> limiter = RateLimiter(4, burst=1, clock=clock)
            >>> async def main() -> None:
            ...     await asyncio.gather(*(limiter.aacquire() for _ in range(3)))
            >>> asyncio.run(main())
            >>> clock.sleeps
            [0.25, 0.25]
        """
        cost = self._interval if tokens == 1 else self._cost(tokens)
        if timeout:
            require_at_least("timeout", timeout, 0)
        if self._astore is not None:
            await self._aacquire(self._astore, key, cost, timeout)
            return
        with self._lock:
            waiter = self._reserve(key, cost, timeout, True)  # noqa: FBT003 - movable, see there
        if waiter is None:
            return
        try:
            await self._await_turn(key, waiter)
        except BaseException:
            with self._lock:
                self._withdraw(key, waiter)
            raise
        with self._lock:
            self._finish(key, waiter)

    def available(self, *, key: Hashable = None) -> float:
        """Return the tokens ``key``'s bucket holds now, without taking any.

        Tokens already reserved by waiters count as taken, so this is 0 while anyone waits.

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limiter = RateLimiter(4, clock=ManualClock())
            >>> limiter.try_acquire(3)
            True
            >>> limiter.available(), limiter.available(key="new")
            (1.0, 4.0)
        """
        backlog = self._store.backlog(key, self._now())
        # One division of integers: correctly rounded, so exact whenever the answer is whole.
        return max(0.0, (self._tau - backlog) / self._interval)

    def reset(self, *, key: Hashable = MISSING) -> None:
        """Refill ``key``'s bucket (``None``: the default one), or every bucket without ``key``.

        Waiters already queued keep their turn.

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limiter = RateLimiter(1, clock=ManualClock())
            >>> limiter.try_acquire(key="a"), limiter.try_acquire(key="a")
            (True, False)
            >>> limiter.reset(key="a")
            >>> limiter.try_acquire(key="a")
            True
        """
        if key is MISSING:
            self._store.clear()
        else:
            self._store.reset(key)

    def stats(self) -> RateLimiterStats:
        """Return counters: a snapshot, safe to call from any thread.

        Returns:
            ``allowed`` (acquisitions granted), ``rejected`` (refused, by
            :meth:`try_acquire` or a ``timeout``), ``waited`` (granted after waiting),
            ``cancelled`` (waiters that gave up), ``waiting`` (waiting now), ``keys`` (live
            keyed buckets, refilled ones dropped first) and ``evicted`` (live buckets evicted
            to stay within ``max_keys``). ``allowed``, ``rejected``, ``keys`` and ``evicted``
            come from the store, so a store shared by several limiters reports their sum.

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limiter = RateLimiter(1, clock=ManualClock())
            >>> limiter.try_acquire(key="a"), limiter.try_acquire(key="a")
            (True, False)
            >>> stats = limiter.stats()
            >>> stats["allowed"], stats["rejected"], stats["keys"]
            (1, 1, 1)
        """
        with self._lock:
            store = self._store.stats(self._now())
            return {
                "allowed": store["granted"] + self._waited,
                "rejected": store["refused"],
                "waited": self._waited,
                "cancelled": self._cancelled,
                "waiting": self._waiting,
                "keys": store["keys"],
                "evicted": store["evicted"],
            }

    # -- internals; every method below runs with the lock held unless it says otherwise --

    def _cost(self, tokens: float) -> int:
        """Return the nanoseconds ``tokens`` take on the line, validating them (lock-free)."""
        require_positive("tokens", tokens)
        if tokens > self._burst:
            raise ValueError(
                f"tokens must be <= burst ({self._burst!r}), got {tokens!r}: it could never succeed"
            )
        return round(tokens * self._interval) or 1  # a sliver of a token still costs

    def _reserve(
        self,
        key: Hashable,
        cost: int,
        timeout: float | None,
        movable: bool,
        decision: RateLimitDecision | None = None,
    ) -> _Waiter | None:
        """Grant ``cost`` now (``None``), queue a waiter, or raise ``RateLimitError``.

        ``decision`` is the store's answer when it was awaited already; else the store is
        asked here.
        """
        if decision is None:
            max_wait = None if timeout is None else round(timeout * NANOSECONDS)
            decision = self._store.take(
                key, cost, self._now(), self._tau, interval=self._interval, max_wait=max_wait
            )
        wait = decision.retry_after / NANOSECONDS
        if HOOKS.active:
            self._report(decision.allowed, wait)
            if decision.allowed:
                HOOKS.observe("rate_limit.wait", max(wait, 0.0), self._labels[0])
        if not decision.allowed:
            raise RateLimitError(
                f"rate limit of {self._rate:g} per {self._per:g}s exceeded; retry in {wait:.3g}s",
                retry_after=wait,
                limit=self._rate,
                per=self._per,
            )
        if wait <= 0:
            return None
        waiter = _Waiter(cost, decision.end, wait, movable=movable)
        queue = self._pending.setdefault(key, [])
        if self._inflight:
            # An awaited store's replies arrive in any order: keep the queue in the line's.
            bisect.insort(queue, waiter, key=_end)
        else:
            queue.append(waiter)
        self._waiting += 1
        return waiter

    async def _await_turn(self, key: Hashable, waiter: _Waiter) -> None:
        """Wait, outside the lock, for ``waiter`` to head its queue and then for its tokens."""
        with self._lock:
            if self._pending[key][0] is not waiter:
                waiter.loop = asyncio.get_running_loop()
                waiter.turn = waiter.loop.create_future()
        if waiter.turn is not None:
            await waiter.turn
            # Nothing queued ahead any more, so ``end`` is final; it may have moved forward.
            waiter.wait = (waiter.end - self._tau - self._now()) / NANOSECONDS
        if waiter.wait > 0:
            await self._clock.asleep(waiter.wait)

    def _finish(self, key: Hashable, waiter: _Waiter) -> None:
        """Grant ``waiter``'s tokens: it leaves the queue and the next one may go."""
        self._served(key, waiter)
        self._store.release(key, 0, waiter.end)

    def _served(self, key: Hashable, waiter: _Waiter) -> None:
        """Take ``waiter`` out of the queue as served, waking the next; its store is told apart."""
        queue = self._pending[key]
        index = queue.index(waiter)
        del queue[index]
        self._waiting -= 1
        self._waited += 1
        self._after_leave(key, queue, index)

    def _withdraw(self, key: Hashable, waiter: _Waiter) -> None:
        """Give ``waiter``'s slot back and move the coroutines queued behind it forward."""
        now = self._now()
        queue = self._pending[key]
        index = queue.index(waiter)
        del queue[index]
        self._waiting -= 1
        self._cancelled += 1
        # Only the part of the slot still ahead of now can be handed back; the rest is past.
        refund = min(waiter.cost, waiter.end - now)
        later = queue[index:]
        # Only a coroutine's slot may move: the ones queued up to the first thread. None may
        # while a reservation is being decided: its slot may lie between them, unqueued yet.
        ahead = [] if key in self._inflight else list(itertools.takewhile(_is_movable, later))
        if refund > 0 and len(ahead) == len(later):
            # Everybody behind moves forward, and so does the bucket's line, unless something
            # was taken after the last of them (then the store keeps the time: strict side).
            moved = self._store.release(key, refund, later[-1].end if later else waiter.end)
        else:
            # A thread's slot cannot move: the coroutines ahead of it move forward, and the
            # time returned is lost capacity (the strict side).
            self._store.release(key, 0, waiter.end)
            moved = refund > 0 and bool(ahead)
        if moved:
            for other in ahead:
                other.end -= refund
        self._after_leave(key, queue, index)

    # -- over an awaited store (an AsyncRateLimitStore): the lock is never held across an await

    async def _aacquire(
        self,
        astore: AsyncRateLimitStore,
        key: Hashable,
        cost: int,
        timeout: float | None,  # noqa: ASYNC109 - aacquire's, judged up front as there
    ) -> None:
        """Do :meth:`aacquire`'s work, awaiting ``astore`` for every decision (lock-free).

        Cancelled while the store decides, a reservation the store made anyway is never
        released: its slot is lost capacity (the strict side).
        """
        max_wait = None if timeout is None else round(timeout * NANOSECONDS)
        with self._lock:
            self._inflight[key] = self._inflight.get(key, 0) + 1
        try:
            decision = await astore.atake(
                key, cost, self._now(), self._tau, interval=self._interval, max_wait=max_wait
            )
        except BaseException:
            with self._lock:
                self._landed(key)
            raise
        with self._lock:
            try:
                # Still counted in flight here, so the waiter is queued in the line's order.
                waiter = self._reserve(key, cost, timeout, True, decision)  # noqa: FBT003 - movable
            finally:
                self._landed(key)
        if waiter is None:
            return
        try:
            await self._await_turn(key, waiter)
        except BaseException:
            with self._lock:
                refund, tat = self._leave_awaited(key, waiter)
            # Shielded: a reservation ends exactly once, whatever else is cancelled.
            await asyncio.shield(astore.arelease(key, refund, tat))
            raise
        with self._lock:
            self._served(key, waiter)
        await asyncio.shield(astore.arelease(key, 0, waiter.end))

    def _landed(self, key: Hashable) -> None:
        """Count one reservation of ``key`` as no longer being decided."""
        left = self._inflight[key] - 1
        if left:
            self._inflight[key] = left
        else:
            del self._inflight[key]

    def _leave_awaited(self, key: Hashable, waiter: _Waiter) -> tuple[int, int]:
        """Withdraw ``waiter`` (an awaited store's); return the ``(refund, tat)`` to release.

        As :meth:`_withdraw`, but the store answers later: the coroutines behind move into the
        slot given back now, whatever it answers. That is safe as the queue knows every slot
        between them (none is being decided); if the store keeps the time (something was taken
        after them), only the tail of the line is lost, the strict side.
        """
        now = self._now()
        queue = self._pending[key]
        index = queue.index(waiter)
        del queue[index]
        self._waiting -= 1
        self._cancelled += 1
        refund = min(waiter.cost, waiter.end - now)
        later = queue[index:]
        release = (0, waiter.end)
        if refund > 0:
            if not later:
                release = (refund, waiter.end)
            elif key not in self._inflight:
                ahead = list(itertools.takewhile(_is_movable, later))
                if len(ahead) == len(later):
                    release = (refund, later[-1].end)
                for other in ahead:
                    other.end -= refund
        self._after_leave(key, queue, index)
        return release

    def _after_leave(self, key: Hashable, queue: list[_Waiter], index: int) -> None:
        if not queue:
            del self._pending[key]
        elif index == 0:
            head = queue[0]
            if head.turn is not None and head.loop is not None:
                head.loop.call_soon_threadsafe(_wake, head.turn)
