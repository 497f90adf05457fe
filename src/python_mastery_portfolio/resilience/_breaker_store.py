"""The state behind a circuit breaker: the :class:`BreakerStateStore` protocol, in memory first.

Public names are re-exported by :mod:`python_mastery_portfolio.resilience`.

A store holds the state machine (state, epoch, when it opened), the failure window (the count
of consecutive failures, or the calls and failures of the last ``window`` seconds), the
half-open permits, the counters and the log of transitions. Each operation is one atomic
step, "try to enter", "record a success / failure / ignored outcome", that returns what
happened, so a store shared by several processes (a Redis script) keeps one breaker for all
of them. The breaker keeps what belongs to the caller: matching exceptions to outcomes,
listeners and logging.

Every transition starts a new *epoch*. A call is admitted with the epoch as its *ticket*, and
its outcome moves the state machine only if the epoch has not changed since: a slow call that
started before the circuit opened cannot close it again, and a probe from an earlier half-open
period cannot take a slot of the current one.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypedDict, runtime_checkable

__all__ = [
    "AsyncBreakerStateStore",
    "BreakerAdmission",
    "BreakerPolicy",
    "BreakerStateStore",
    "CircuitBreakerStats",
    "CircuitState",
    "InMemoryBreakerStateStore",
    "Transition",
]

_BUCKETS = 10


class CircuitState(enum.StrEnum):
    """The state of a circuit breaker; each member is also its lower-case string.

    Example:
        >>> CircuitState.HALF_OPEN == "half_open"
        True
    """

    CLOSED = "closed"
    """Calls go through; failures are counted."""
    OPEN = "open"
    """Calls fail fast with :class:`CircuitOpenError`."""
    HALF_OPEN = "half_open"
    """A few probe calls go through to test whether the dependency recovered."""


_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN

Transition = tuple[CircuitState, CircuitState]
"""One state change, ``(old, new)``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """The rules a :class:`BreakerStateStore` applies; a breaker passes its own to every operation.

    ``failure_rate`` ``None`` is consecutive mode (``failure_threshold`` failures in a row
    open the circuit); otherwise failure-rate mode over the last ``window`` seconds, judged
    once ``minimum_calls`` calls are in it. ``now`` reads the caller's clock; a store calls it
    only when it needs the time (an in-memory store under its lock), and a store shared by
    processes, whose monotonic clocks differ, should use one clock of its own instead.

    Example:
        >>> BreakerPolicy(now=lambda: 0.0).failure_threshold
        5
    """

    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    half_open_max_calls: int = 1
    success_threshold: int = 1
    failure_rate: float | None = None
    window: float = 60.0
    minimum_calls: int = 10
    now: Callable[[], float]


class BreakerAdmission(NamedTuple):
    """The answer to :meth:`BreakerStateStore.enter`.

    Example:
        >>> BreakerAdmission(True, 3, CircuitState.OPEN, retry_after=2.5).retry_after
        2.5
    """

    admitted: bool
    """Whether the call may run."""
    ticket: int
    """The epoch it was admitted in: hand it back with its outcome."""
    state: CircuitState
    """The state it was admitted (or refused) in."""
    retry_after: float | None
    """When refused: seconds until the circuit turns half-open (0 when the half-open permits
    are taken; ``None`` while it is forced open, which has no end in sight)."""


class CircuitBreakerStats(TypedDict):
    """What :meth:`CircuitBreaker.stats` (and :meth:`BreakerStateStore.stats`) return."""

    state: CircuitState
    """The current state."""
    successes: int
    """Calls counted as successes since creation."""
    failures: int
    """Calls counted as failures since creation."""
    ignored: int
    """Excluded or cancelled calls."""
    rejected: int
    """Calls failed fast."""
    opened: int
    """Times the circuit opened."""
    consecutive_failures: int
    """Failures in a row (consecutive mode)."""
    half_open_calls: int
    """Probes running."""
    window_calls: int
    """Calls in the failure-rate window (failure-rate mode, else 0)."""
    window_failures: int
    """Failures in the failure-rate window (failure-rate mode, else 0)."""


@runtime_checkable
class BreakerStateStore(Protocol):
    """The state of a circuit breaker; every operation is atomic.

    Run :class:`python_mastery_portfolio.testing.contracts.breaker.BreakerStateStoreContract`
    against an implementation to check it.

    Example:
        >>> from python_mastery_portfolio.resilience import InMemoryBreakerStateStore
        >>> isinstance(InMemoryBreakerStateStore(), BreakerStateStore)
        True
    """

    @property
    def state(self) -> CircuitState:
        """The state as last seen, read without locking (the breaker's fast path)."""
        ...

    @property
    def epoch(self) -> int:
        """The epoch as last seen, read without locking; read it before :attr:`state`."""
        ...

    def current_state(self, policy: BreakerPolicy) -> CircuitState:
        """Return the state now, first moving an OPEN circuit whose timeout ran out to HALF_OPEN."""
        ...

    def enter(self, policy: BreakerPolicy) -> BreakerAdmission:
        """Admit a call: always when closed, never while open, while permits last when half-open.

        An OPEN circuit whose ``recovery_timeout`` ran out turns HALF_OPEN first; a half-open
        admission takes one of the ``half_open_max_calls`` permits until its outcome is
        recorded. A refusal is counted as ``rejected``.
        """
        ...

    def record_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a success of the call admitted with ``ticket``; return if it moved the state."""
        ...

    def record_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a failure of the call admitted with ``ticket``; return if it moved the state."""
        ...

    def record_ignored(self, ticket: int) -> None:
        """Record an outcome that does not count (its half-open permit, if any, comes back)."""
        ...

    def reset(self, policy: BreakerPolicy) -> bool:
        """Force CLOSED with fresh counts (calls in flight stop counting); return if it moved.

        Also ends a hold set by :meth:`force`.
        """
        ...

    @property
    def forced(self) -> CircuitState | None:
        """The state held by :meth:`force`, or ``None`` when the state machine runs freely."""
        ...

    def force(self, state: CircuitState, policy: BreakerPolicy) -> bool:
        """Move to ``state`` (OPEN or CLOSED) and hold it until :meth:`reset`; return if it moved.

        Held OPEN, the circuit never turns HALF_OPEN and :meth:`enter` refuses with
        ``retry_after=None``; held CLOSED, failures are counted but never open it. Moving
        starts a new epoch (calls in flight stop counting), and is logged as a transition.
        """
        ...

    def stats(self, policy: BreakerPolicy) -> CircuitBreakerStats:
        """Return the counters, after :meth:`current_state`'s move if it is due."""
        ...

    def has_transitions(self) -> bool:
        """Return whether transitions wait in the log (read without locking)."""
        ...

    def drain_transitions(self) -> list[Transition]:
        """Return the logged transitions in order, and forget them."""
        ...


@runtime_checkable
class AsyncBreakerStateStore(Protocol):
    """The awaitable side of a :class:`BreakerStateStore` whose steps do I/O (Redis).

    A :class:`CircuitBreaker` whose store implements this as well as
    :class:`BreakerStateStore` awaits these methods on its async paths (:meth:`~CircuitBreaker.
    acall`, decorated ``async def`` functions and async generators, ``async with breaker``),
    so no step over the network blocks the event loop; its sync paths keep calling the sync
    methods. The breaker checks for it once, when it is built. A store without it is called
    synchronously on the loop: it must be fast, as :class:`InMemoryBreakerStateStore` is.

    Each method makes exactly the step of its sync twin, on the same state. The rest stays
    synchronous, as :class:`~python_mastery_portfolio.caching.AsyncCacheStore` keeps
    ``record`` and ``stats``: ``current_state``, ``reset``, ``force``, ``forced`` and
    ``stats`` serve the breaker's sync methods and properties (``state``, ``reset()``,
    ``force_open()``, ``stats()``), never a call being judged; ``has_transitions`` and
    ``drain_transitions`` read this process's log of the transitions its own steps made, which
    must stay in memory. Run :class:`python_mastery_portfolio.testing.contracts.breaker.
    AsyncBreakerStateStoreContract` against an implementation to check it.

    Example:
        >>> import asyncio
        >>> from python_mastery_portfolio.resilience import CircuitBreaker
        >>> class AsyncMemory(InMemoryBreakerStateStore):
        ...     async def aview(self) -> tuple[int, CircuitState]:
        ...         return self.epoch, self.state
        ...     async def aenter(self, policy: BreakerPolicy) -> BreakerAdmission:
        ...         return self.enter(policy)
        ...     async def arecord_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        ...         return self.record_success(ticket, policy)
        ...     async def arecord_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        ...         return self.record_failure(ticket, policy)
        ...     async def arecord_ignored(self, ticket: int) -> None:
        ...         self.record_ignored(ticket)
        >>> store = AsyncMemory()
        >>> isinstance(store, AsyncBreakerStateStore)
        True
        >>> async def answer() -> int:
        ...     return 42
        >>> asyncio.run(CircuitBreaker(store=store).acall(answer))
        42
        >>> store.stats(BreakerPolicy(now=lambda: 0.0))["successes"]
        1
    """

    async def aview(self) -> tuple[int, CircuitState]:
        """Return the epoch and the state as last seen, as reading :attr:`epoch` then :attr:`state`.

        The async fast path's read: a store whose local view goes stale (the Redis one
        re-reads it every ``refresh_interval``) refreshes it here, awaiting the I/O, so that
        its ``epoch`` and ``state`` properties can answer from memory.
        """
        ...

    async def aenter(self, policy: BreakerPolicy) -> BreakerAdmission:
        """Admit a call or refuse it, as :meth:`BreakerStateStore.enter` does."""
        ...

    async def arecord_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a success of the call admitted with ``ticket``; return if it moved the state."""
        ...

    async def arecord_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a failure of the call admitted with ``ticket``; return if it moved the state."""
        ...

    async def arecord_ignored(self, ticket: int) -> None:
        """Record an outcome that does not count (its half-open permit, if any, comes back)."""
        ...


class _Window:
    """Calls and failures of the last ``window`` seconds, in ``_BUCKETS`` buckets.

    A call counts from the moment it is recorded until its bucket falls out of the window,
    that is for between ``window * (1 - 1 / _BUCKETS)`` and ``window`` seconds.
    """

    __slots__ = ("_calls", "_failures", "_last", "_width", "calls", "failures")

    def __init__(self, window: float, now: float) -> None:
        self._width = window / _BUCKETS
        self._calls = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS
        self._last = int(now // self._width)
        self.calls = 0
        self.failures = 0

    def advance(self, now: float) -> None:
        """Forget the buckets that fell out of the window by ``now``."""
        index = int(now // self._width)
        last = self._last
        if index <= last:
            return
        for stale in range(last + 1, min(index, last + _BUCKETS) + 1):
            slot = stale % _BUCKETS
            self.calls -= self._calls[slot]
            self.failures -= self._failures[slot]
            self._calls[slot] = 0
            self._failures[slot] = 0
        self._last = index

    def record(self, now: float, *, failed: bool) -> None:
        """Count one call made at ``now``."""
        self.advance(now)
        slot = self._last % _BUCKETS
        self._calls[slot] += 1
        self.calls += 1
        if failed:
            self._failures[slot] += 1
            self.failures += 1

    def clear(self) -> None:
        """Forget every call."""
        self._calls = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS
        self.calls = 0
        self.failures = 0


class InMemoryBreakerStateStore:
    """The default :class:`BreakerStateStore`: the state of one breaker, guarded by one lock.

    The failure-rate window is created on the first call recorded in failure-rate mode, with
    that policy's ``window``.

    Example:
        >>> store = InMemoryBreakerStateStore()
        >>> policy = BreakerPolicy(failure_threshold=1, recovery_timeout=5, now=lambda: 0.0)
        >>> store.record_failure(store.epoch, policy), store.state
        (True, <CircuitState.OPEN: 'open'>)
        >>> store.drain_transitions()
        [(<CircuitState.CLOSED: 'closed'>, <CircuitState.OPEN: 'open'>)]
        >>> store.enter(policy).retry_after
        5.0
    """

    __slots__ = (
        "_consecutive",
        "_events",
        "_failures",
        "_forced",
        "_ignored",
        "_lock",
        "_opened",
        "_opened_at",
        "_probe_successes",
        "_probes",
        "_rejected",
        "_successes",
        "_window",
        "epoch",
        "state",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state = _CLOSED
        self.epoch = 0
        self._opened_at = 0.0
        self._forced: CircuitState | None = None
        self._consecutive = 0
        self._probes = 0
        self._probe_successes = 0
        self._window: _Window | None = None
        self._successes = 0
        self._failures = 0
        self._rejected = 0
        self._ignored = 0
        self._opened = 0
        self._events: deque[Transition] = deque()

    def __repr__(self) -> str:
        return f"InMemoryBreakerStateStore(state={self.state.value!r})"

    def current_state(self, policy: BreakerPolicy) -> CircuitState:
        """Return the state now, moving an expired OPEN to HALF_OPEN.

        Example:
            >>> InMemoryBreakerStateStore().current_state(BreakerPolicy(now=lambda: 0.0))
            <CircuitState.CLOSED: 'closed'>
        """
        if self.state is not _OPEN:
            return self.state
        with self._lock:
            now = policy.now()
            if (
                self.state is _OPEN
                and self._forced is None
                and now >= self._opened_at + policy.recovery_timeout
            ):
                self._to(_HALF_OPEN, now)
            return self.state

    def enter(self, policy: BreakerPolicy) -> BreakerAdmission:
        """Admit a call, or refuse it while open or out of half-open permits.

        Example:
            >>> InMemoryBreakerStateStore().enter(BreakerPolicy(now=lambda: 0.0)).admitted
            True
        """
        with self._lock:
            state = self.state
            ticket = self.epoch
            if state is _OPEN:
                if self._forced is not None:
                    self._rejected += 1
                    return BreakerAdmission(False, ticket, state, None)  # noqa: FBT003 - a record
                now = policy.now()
                remaining = self._opened_at + policy.recovery_timeout - now
                if remaining > 0:
                    self._rejected += 1
                    return BreakerAdmission(False, ticket, state, remaining)  # noqa: FBT003 - a record
                state = self._to(_HALF_OPEN, now)
                ticket = self.epoch
            if state is _HALF_OPEN:
                if self._probes >= policy.half_open_max_calls:
                    self._rejected += 1
                    return BreakerAdmission(False, ticket, state, 0.0)  # noqa: FBT003 - a record
                self._probes += 1
            return BreakerAdmission(True, ticket, state, 0.0)  # noqa: FBT003 - a record

    def record_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a success; return whether it closed the circuit.

        Example:
            >>> InMemoryBreakerStateStore().record_success(0, BreakerPolicy(now=lambda: 0.0))
            False
        """
        # acquire/try/finally, not ``with``: on CPython 3.11 it saves a fifth of a closed call.
        lock = self._lock
        lock.acquire()
        try:
            self._successes += 1
            if ticket != self.epoch:
                return False
            if self.state is _CLOSED:
                self._consecutive = 0
                if policy.failure_rate is not None:
                    now = policy.now()
                    self._window_of(policy, now).record(now, failed=False)
                return False
            # Same epoch and not closed: this call was admitted as a half-open probe.
            self._probes -= 1
            self._probe_successes += 1
            if self._probe_successes < policy.success_threshold:
                return False
            self._to(_CLOSED, policy.now())
            return True
        finally:
            lock.release()

    def record_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a failure; return whether it opened the circuit.

        Example:
            >>> store = InMemoryBreakerStateStore()
            >>> policy = BreakerPolicy(failure_threshold=2, now=lambda: 0.0)
            >>> [store.record_failure(store.epoch, policy) for _ in range(2)]
            [False, True]
        """
        with self._lock:
            self._failures += 1
            if ticket != self.epoch:
                return False
            if self._forced is not None:
                return False
            now = policy.now()
            if self.state is _CLOSED:
                if policy.failure_rate is None:
                    self._consecutive += 1
                    if self._consecutive < policy.failure_threshold:
                        return False
                else:
                    window = self._window_of(policy, now)
                    window.record(now, failed=True)
                    if (
                        window.calls < policy.minimum_calls
                        or window.failures / window.calls < policy.failure_rate
                    ):
                        return False
            self._to(_OPEN, now)
            return True

    def record_ignored(self, ticket: int) -> None:
        """Record an outcome that does not count, giving back its half-open permit.

        Example:
            >>> store = InMemoryBreakerStateStore()
            >>> store.record_ignored(store.epoch)
            >>> store.stats(BreakerPolicy(now=lambda: 0.0))["ignored"]
            1
        """
        with self._lock:
            self._ignored += 1
            if ticket == self.epoch and self.state is _HALF_OPEN:
                self._probes -= 1

    def reset(self, policy: BreakerPolicy) -> bool:
        """Force CLOSED with fresh counts; return whether the state changed.

        Example:
            >>> InMemoryBreakerStateStore().reset(BreakerPolicy(now=lambda: 0.0))
            False
        """
        with self._lock:
            self._forced = None
            if self.state is not _CLOSED:
                self._to(_CLOSED, policy.now())
                return True
            self.epoch += 1
            self._consecutive = 0
            if self._window is not None:
                self._window.clear()
            return False

    @property
    def forced(self) -> CircuitState | None:
        """The state held by :meth:`force`, or ``None``.

        Example:
            >>> InMemoryBreakerStateStore().forced is None
            True
        """
        return self._forced

    def force(self, state: CircuitState, policy: BreakerPolicy) -> bool:
        """Move to ``state`` and hold it until :meth:`reset`; return whether the state changed.

        Example:
            >>> store = InMemoryBreakerStateStore()
            >>> policy = BreakerPolicy(recovery_timeout=0, now=lambda: 0.0)
            >>> store.force(CircuitState.OPEN, policy), store.current_state(policy)
            (True, <CircuitState.OPEN: 'open'>)
            >>> store.enter(policy).retry_after is None
            True
        """
        if state is _HALF_OPEN:
            raise ValueError(
                "state must be CircuitState.OPEN or CircuitState.CLOSED, not HALF_OPEN"
            )
        with self._lock:
            self._forced = state
            if self.state is state:
                return False
            self._to(state, policy.now())
            return True

    def stats(self, policy: BreakerPolicy) -> CircuitBreakerStats:
        """Return the counters.

        Example:
            >>> InMemoryBreakerStateStore().stats(BreakerPolicy(now=lambda: 0.0))["opened"]
            0
        """
        state = self.current_state(policy)
        with self._lock:
            window = self._window
            if window is not None:
                window.advance(policy.now())
            return {
                "state": state,
                "successes": self._successes,
                "failures": self._failures,
                "ignored": self._ignored,
                "rejected": self._rejected,
                "opened": self._opened,
                "consecutive_failures": self._consecutive,
                "half_open_calls": self._probes,
                "window_calls": 0 if window is None else window.calls,
                "window_failures": 0 if window is None else window.failures,
            }

    def has_transitions(self) -> bool:
        """Return whether transitions wait in the log.

        Example:
            >>> InMemoryBreakerStateStore().has_transitions()
            False
        """
        return bool(self._events)

    def drain_transitions(self) -> list[Transition]:
        """Return the logged transitions in order, and forget them.

        Example:
            >>> InMemoryBreakerStateStore().drain_transitions()
            []
        """
        with self._lock:
            events = list(self._events)
            self._events.clear()
            return events

    # -- methods below need the lock held --

    def _window_of(self, policy: BreakerPolicy, now: float) -> _Window:
        window = self._window
        if window is None:
            window = self._window = _Window(policy.window, now)
        return window

    def _to(self, new: CircuitState, now: float) -> CircuitState:
        """Move to ``new`` and log the transition; return ``new``."""
        old = self.state
        # State before epoch: a lock-free reader takes the epoch first, then the state, so
        # whatever it sees, its ticket is either current or stale (and then ignored).
        self.state = new
        self.epoch += 1
        self._consecutive = 0
        # Probes still running belong to the old epoch now; they no longer hold a slot.
        self._probes = 0
        self._probe_successes = 0
        if new is _OPEN:
            self._opened_at = now
            self._opened += 1
        elif new is _CLOSED and self._window is not None:
            self._window.clear()
        self._events.append((old, new))
        return new
