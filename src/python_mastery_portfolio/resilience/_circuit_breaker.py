"""Circuit breaking: stop calling a dependency that keeps failing, and probe for its recovery.

Public names are re-exported by :mod:`python_mastery_portfolio.resilience`.

States and transitions::

    CLOSED ──(failure_threshold consecutive failures, or the failure rate)──▶ OPEN
    OPEN ──(recovery_timeout elapsed; seen by the next call or by reading .state)──▶ HALF_OPEN
    HALF_OPEN ──(success_threshold consecutive probe successes)──▶ CLOSED
    HALF_OPEN ──(one probe failure; the timer restarts)──▶ OPEN

Every transition starts a new *epoch*. A call remembers the epoch it was admitted in, and its
outcome moves the state machine only if the epoch has not changed since: a slow call that
started before the circuit opened cannot close it again, and a probe from an earlier
half-open period cannot take a slot of the current one. Totals in :meth:`CircuitBreaker.stats`
count every outcome.

The closed state's fast path reads the state without the lock and takes the lock once, after
the call, to count the outcome.
"""

from __future__ import annotations

import enum
import functools
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ParamSpec, Protocol, Self, TypeAlias, TypeVar, overload

from python_mastery_portfolio._internal.callables import (
    FATAL_EXCEPTIONS,
    ExceptionSpec,
    decorate_function,
    exception_matcher,
    is_async_callable,
)
from python_mastery_portfolio._internal.checks import (
    require_at_least,
    require_count,
    require_positive,
)
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.exceptions import CircuitOpenError

__all__ = ["CircuitBreaker", "CircuitBreakerDecorator", "CircuitState", "StateListener"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_BUCKETS = 10
_names = itertools.count(1)

# The epochs of the ``with breaker:`` blocks entered in this context, innermost first.
_Tickets: TypeAlias = "tuple[int, _Tickets] | None"


class CircuitState(enum.StrEnum):
    """The state of a :class:`CircuitBreaker`; each member is also its lower-case string.

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

StateListener: TypeAlias = Callable[[CircuitState, CircuitState], object]
"""A callback told ``(old, new)`` on every transition."""
L = TypeVar("L", bound=StateListener)


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


class CircuitBreakerDecorator(Protocol):
    """How a :class:`CircuitBreaker` decorates: the decorated callable keeps its type."""

    @overload
    def __call__(self, func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...
    def __call__(self, func: Any, /) -> Any:
        """Wrap ``func`` so that every call goes through the breaker."""
        ...


class CircuitBreaker:
    """Fail fast while a dependency is failing, and let a few probes test its recovery.

    One breaker serves sync and async callers: decorate a ``def`` or ``async def`` with it
    (several functions may share one breaker), call :meth:`call`, or wrap a block in
    ``with breaker:`` / ``async with breaker:``.

    Outcomes: an exception matched by ``exclude`` counts as neither failure nor success and
    propagates unchanged; otherwise one matched by ``exceptions`` is a failure, and any other
    exception counts as a success (the dependency answered; as in resilience4j).
    ``asyncio.CancelledError``, ``KeyboardInterrupt`` and ``SystemExit`` are never counted
    and give their half-open probe slot back.

    Consecutive mode (the default): ``failure_threshold`` failures in a row open the circuit
    and any success resets the count. Failure-rate mode (``failure_rate`` given): the circuit
    opens when, among the calls of the last ``window`` seconds (at least ``minimum_calls`` of
    them), the share of failures reaches ``failure_rate``; ``failure_threshold`` is then not
    used. The window is kept in 10 buckets of ``window / 10`` seconds, so a call stops
    counting between 0.9 * ``window`` and ``window`` seconds after it was made.

    While open, calls raise :class:`CircuitOpenError` without running, with ``retry_after``
    the seconds left until half-open. After ``recovery_timeout`` the circuit is half-open: at
    most ``half_open_max_calls`` probes run at a time (others are rejected as if open, with
    ``retry_after=0``); ``success_threshold`` consecutive probe successes close it and one
    probe failure opens it again for another ``recovery_timeout``.

    Every transition is logged at WARNING with the breaker's name and reported to the
    listeners registered with :meth:`on_state_change`.

    Args:
        failure_threshold: Consecutive failures that open the circuit (>= 1).
        recovery_timeout: Seconds the circuit stays open before probing (>= 0).
        half_open_max_calls: Probes allowed at a time while half-open (>= 1).
        success_threshold: Consecutive probe successes that close the circuit (>= 1).
        exceptions: What counts as a failure: an exception type, a tuple of them, or a
            predicate over the exception.
        exclude: Exceptions that count as neither failure nor success, in the same forms;
            they take precedence over ``exceptions``.
        failure_rate: Share of failures (0 < rate <= 1) that opens the circuit; switches to
            failure-rate mode.
        window: Length in seconds of the failure-rate window (> 0).
        minimum_calls: Calls needed in the window before the rate is judged (>= 1).
        clock: Source of time.
        name: Name used in logs and errors; default ``"CircuitBreaker-<n>"``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range; the message names it.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> breaker = CircuitBreaker(
        ...     failure_threshold=2, recovery_timeout=10, clock=clock, name="api"
        ... )
        >>> @breaker
        ... def fetch(ok: bool) -> str:
        ...     if not ok:
        ...         raise ConnectionError("down")
        ...     return "data"
        >>> for _ in range(2):
        ...     try:
        ...         fetch(False)
        ...     except ConnectionError:
        ...         pass
        >>> breaker.state
        <CircuitState.OPEN: 'open'>
        >>> fetch(True)
        Traceback (most recent call last):
        ...
        python_mastery_portfolio.exceptions.CircuitOpenError: circuit breaker 'api' is open; ...
        >>> clock.advance(10)
        >>> breaker.state
        <CircuitState.HALF_OPEN: 'half_open'>
        >>> fetch(True), breaker.state
        ('data', <CircuitState.CLOSED: 'closed'>)
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        *,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        exceptions: ExceptionSpec = (Exception,),
        exclude: ExceptionSpec = (),
        failure_rate: float | None = None,
        window: float = 60.0,
        minimum_calls: int = 10,
        clock: Clock = SYSTEM_CLOCK,
        name: str | None = None,
    ) -> None:
        require_count("failure_threshold", failure_threshold, 1)
        require_at_least("recovery_timeout", recovery_timeout, 0)
        require_count("half_open_max_calls", half_open_max_calls, 1)
        require_count("success_threshold", success_threshold, 1)
        if failure_rate is not None:
            require_positive("failure_rate", failure_rate)
            if failure_rate > 1:
                raise ValueError(f"failure_rate must be <= 1, got {failure_rate!r}")
        require_positive("window", window)
        require_count("minimum_calls", minimum_calls, 1)
        if not isinstance(clock, Clock):
            raise TypeError(f"clock must implement the Clock protocol, got {clock!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {name!r}")
        self._is_failure = exception_matcher(exceptions, param="exceptions")
        self._is_excluded = None if exclude == () else exception_matcher(exclude, param="exclude")
        self.name: str = name if name is not None else f"CircuitBreaker-{next(_names)}"
        self._failure_threshold = failure_threshold
        self._recovery_timeout = recovery_timeout
        self._half_open_max_calls = half_open_max_calls
        self._success_threshold = success_threshold
        # Only read in failure-rate mode, where it is the given rate.
        self._failure_rate = 1.0 if failure_rate is None else failure_rate
        self._minimum_calls = minimum_calls
        self._clock = clock
        self._window = None if failure_rate is None else _Window(window, clock.now())
        self._lock = threading.Lock()
        self._state = _CLOSED
        self._epoch = 0
        self._opened_at = 0.0
        self._consecutive = 0
        self._probes = 0
        self._probe_successes = 0
        self._successes = 0
        self._failures = 0
        self._rejected = 0
        self._ignored = 0
        self._opened = 0
        self._listeners: list[StateListener] = []
        self._events: deque[tuple[CircuitState, CircuitState]] = deque()
        self._dispatching = threading.Lock()
        self._tickets: ContextVar[_Tickets] = ContextVar(f"breaker_{self.name}", default=None)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._state.value!r})"

    @property
    def state(self) -> CircuitState:
        """The current state; reading it moves an expired OPEN to HALF_OPEN."""
        if self._state is _OPEN:
            with self._lock:
                now = self._clock.now()
                if self._state is _OPEN and now >= self._opened_at + self._recovery_timeout:
                    self._to(_HALF_OPEN, now)
            self._dispatch()
        return self._state

    def on_state_change(self, listener: L) -> L:
        """Register ``listener(old, new)`` to be called after every transition.

        A listener that raises is logged and does not disturb the breaker or the other
        listeners. Listeners run outside the breaker's lock, in transition order.

        Returns:
            ``listener`` itself, so that this works as a decorator.

        Raises:
            TypeError: If ``listener`` is not callable.

        Example:
            >>> breaker = CircuitBreaker(failure_threshold=1)
            >>> seen = []
            >>> @breaker.on_state_change
            ... def report(old: CircuitState, new: CircuitState) -> None:
            ...     seen.append(f"{old} -> {new}")
            >>> try:
            ...     with breaker:
            ...         raise OSError("boom")
            ... except OSError:
            ...     pass
            >>> seen
            ['closed -> open']
        """
        if not callable(listener):
            raise TypeError(f"listener must be callable, got {listener!r}")
        self._listeners.append(listener)
        return listener

    def reset(self) -> None:
        """Force the circuit CLOSED with fresh counts; calls in flight no longer count."""
        with self._lock:
            if self._state is _CLOSED:
                self._epoch += 1
                self._consecutive = 0
                if self._window is not None:
                    self._window.clear()
            else:
                self._to(_CLOSED, self._clock.now())
        self._dispatch()

    def stats(self) -> dict[str, int | float | str]:
        """Return counters: a snapshot, safe to call from any thread.

        Returns:
            ``state`` (a :class:`CircuitState`, which is a ``str``), ``successes``,
            ``failures``, ``ignored`` (excluded or cancelled calls) and ``rejected`` (failed
            fast) since creation; ``opened`` (times opened); ``consecutive_failures``;
            ``half_open_calls`` (probes running); and ``window_calls`` /
            ``window_failures`` (failure-rate mode, else 0).

        Example:
            >>> breaker = CircuitBreaker()
            >>> breaker.call(len, "abc")
            3
            >>> breaker.stats()["successes"], breaker.stats()["state"]
            (1, <CircuitState.CLOSED: 'closed'>)
        """
        state = self.state
        with self._lock:
            window = self._window
            if window is not None:
                window.advance(self._clock.now())
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

    # -- running calls --

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``func(*args, **kwargs)`` through the breaker (a plain function).

        Raises:
            CircuitOpenError: If the circuit is open (or half-open with every probe slot
                taken); ``func`` is not called.
        """
        ticket = self._epoch
        if self._state is not _CLOSED:
            ticket = self._admit()
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            self._on_error(error, ticket)
            raise
        self._on_success(ticket)
        return result

    async def acall(
        self, func: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``func(*args, **kwargs)`` through the breaker (a coroutine function).

        Raises:
            CircuitOpenError: If the circuit is open; ``func`` is not called.
        """
        ticket = self._epoch
        if self._state is not _CLOSED:
            ticket = self._admit()
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            self._on_error(error, ticket)
            raise
        self._on_success(ticket)
        return result

    @overload
    def __call__(self, func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...
    def __call__(self, func: Any, /) -> Any:
        """Decorate ``func`` (``def`` or ``async def``) so that its calls go through the breaker."""
        return decorate_function(func, self._wrap, "CircuitBreaker")

    def _wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Bound once here: the wrappers below are the hot path.
        admit = self._admit
        on_success = self._on_success
        on_error = self._on_error
        breaker = self

        if is_async_callable(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                ticket = breaker._epoch
                if breaker._state is not _CLOSED:
                    ticket = admit()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as error:
                    on_error(error, ticket)
                    raise
                on_success(ticket)
                return result

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ticket = breaker._epoch
            if breaker._state is not _CLOSED:
                ticket = admit()
            try:
                result = func(*args, **kwargs)
            except BaseException as error:
                on_error(error, ticket)
                raise
            on_success(ticket)
            return result

        return wrapper

    def __enter__(self) -> Self:
        ticket = self._epoch
        if self._state is not _CLOSED:
            ticket = self._admit()
        self._tickets.set((ticket, self._tickets.get()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        tickets = self._tickets.get()
        if tickets is None:
            raise RuntimeError(f"{self!r} exited without being entered in this context")
        ticket, outer = tickets
        self._tickets.set(outer)
        if exc is None:
            self._on_success(ticket)
        else:
            self._on_error(exc, ticket)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    # -- the state machine; methods named _to and below need the lock held --

    def _admit(self) -> int:
        """Admit a call outside the closed state, returning its epoch, or raise."""
        error: CircuitOpenError | None = None
        with self._lock:
            state = self._state
            ticket = self._epoch
            if state is _OPEN:
                now = self._clock.now()
                remaining = self._opened_at + self._recovery_timeout - now
                if remaining > 0:
                    self._rejected += 1
                    error = CircuitOpenError(
                        f"circuit breaker {self.name!r} is open; retry in {remaining:.3g}s",
                        retry_after=remaining,
                        breaker=self.name,
                    )
                else:
                    state = self._to(_HALF_OPEN, now)
                    ticket = self._epoch
            if state is _HALF_OPEN:
                if self._probes < self._half_open_max_calls:
                    self._probes += 1
                else:
                    self._rejected += 1
                    error = CircuitOpenError(
                        f"circuit breaker {self.name!r} is half-open and its "
                        f"{self._half_open_max_calls} probe slot(s) are taken",
                        retry_after=0.0,
                        breaker=self.name,
                    )
        self._dispatch()
        if error is not None:
            raise error
        return ticket

    def _on_success(self, ticket: int) -> None:
        with self._lock:
            self._successes += 1
            if ticket != self._epoch:
                return
            if self._state is _CLOSED:
                self._consecutive = 0
                if self._window is not None:
                    self._window.record(self._clock.now(), failed=False)
                return
            # Same epoch and not closed: this call was admitted as a half-open probe.
            self._probes -= 1
            self._probe_successes += 1
            if self._probe_successes < self._success_threshold:
                return
            self._to(_CLOSED, self._clock.now())
        self._dispatch()

    def _on_error(self, error: BaseException, ticket: int) -> None:
        excluded = self._is_excluded
        if isinstance(error, FATAL_EXCEPTIONS) or (excluded is not None and excluded(error)):
            self._on_ignored(ticket)
        elif self._is_failure(error):
            self._on_failure(ticket)
        else:
            self._on_success(ticket)

    def _on_ignored(self, ticket: int) -> None:
        with self._lock:
            self._ignored += 1
            if ticket == self._epoch and self._state is _HALF_OPEN:
                self._probes -= 1

    def _on_failure(self, ticket: int) -> None:
        with self._lock:
            self._failures += 1
            if ticket != self._epoch:
                return
            now = self._clock.now()
            if self._state is _CLOSED:
                window = self._window
                if window is None:
                    self._consecutive += 1
                    if self._consecutive < self._failure_threshold:
                        return
                else:
                    window.record(now, failed=True)
                    if (
                        window.calls < self._minimum_calls
                        or window.failures / window.calls < self._failure_rate
                    ):
                        return
            self._to(_OPEN, now)
        self._dispatch()

    def _to(self, new: CircuitState, now: float) -> CircuitState:
        """Move to ``new`` and queue the event for the listeners; return ``new``."""
        old = self._state
        # State before epoch: a lock-free reader takes the epoch first, then the state, so
        # whatever it sees, its ticket is either current or stale (and then ignored).
        self._state = new
        self._epoch += 1
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

    def _dispatch(self) -> None:
        """Deliver queued transitions in order, one dispatching thread at a time (lock-free)."""
        events = self._events
        # A listener that causes a transition itself finds the dispatcher busy; its event is
        # delivered by the loop below after the current one, never recursively.
        while events and self._dispatching.acquire(blocking=False):
            try:
                while events:
                    old, new = events.popleft()
                    logger.warning("circuit breaker %r: %s -> %s", self.name, old.value, new.value)
                    for listener in tuple(self._listeners):
                        try:
                            listener(old, new)
                        except Exception:
                            logger.exception(
                                "circuit breaker %r: state change listener %r failed",
                                self.name,
                                listener,
                            )
            finally:
                self._dispatching.release()
