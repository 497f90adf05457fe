"""Circuit breaking: stop calling a dependency that keeps failing, and probe for its recovery.

Public names are re-exported by :mod:`python_mastery_portfolio.resilience`.

States and transitions::

    CLOSED ──(failure_threshold consecutive failures, or the failure rate)──▶ OPEN
    OPEN ──(recovery_timeout elapsed; seen by the next call or by reading .state)──▶ HALF_OPEN
    HALF_OPEN ──(success_threshold consecutive probe successes)──▶ CLOSED
    HALF_OPEN ──(one probe failure; the timer restarts)──▶ OPEN

The state machine lives in a :class:`BreakerStateStore` (the in-memory one by default), which
makes each step atomically and logs the transitions; the breaker matches exceptions to
outcomes, and delivers the logged transitions to the log and the listeners, in order.

Every transition starts a new *epoch*. A call remembers the epoch it was admitted in, and its
outcome moves the state machine only if the epoch has not changed since: a slow call that
started before the circuit opened cannot close it again, and a probe from an earlier
half-open period cannot take a slot of the current one. Totals in :meth:`CircuitBreaker.stats`
count every outcome.

The closed state's fast path reads the store's state without a lock and makes one store call,
after the call, to count the outcome.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Sequence
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
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock, now_reader
from python_mastery_portfolio.exceptions import CircuitOpenError
from python_mastery_portfolio.instrumentation import HOOKS
from python_mastery_portfolio.resilience._breaker_store import (
    AsyncBreakerStateStore,
    BreakerAdmission,
    BreakerPolicy,
    BreakerStateStore,
    CircuitBreakerStats,
    CircuitState,
    InMemoryBreakerStateStore,
)

__all__ = ["CircuitBreaker", "CircuitBreakerDecorator", "CircuitState", "StateListener"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_names = itertools.count(1)

# The epochs of the ``with breaker:`` blocks entered in this context, innermost first.
_Tickets: TypeAlias = "tuple[int, _Tickets] | None"

_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
# How an outcome counts (see CircuitBreaker._judge).
_SUCCESS, _FAILURE, _IGNORED = 0, 1, 2
# The ``circuit.state`` gauge's value for each state (as resilience4j's state gauge).
_STATE_GAUGE = {_CLOSED: 0, _OPEN: 1, _HALF_OPEN: 2}

StateListener: TypeAlias = Callable[[CircuitState, CircuitState], object]
"""A callback told ``(old, new)`` on every transition."""
L = TypeVar("L", bound=StateListener)

ExceptionMatch: TypeAlias = type[BaseException] | Callable[[BaseException], bool]
"""One entry of a mixed ``exceptions=`` or ``exclude=`` list: a type or a predicate."""
BreakerExceptions: TypeAlias = ExceptionSpec | Sequence[ExceptionMatch]
"""What ``exceptions=`` and ``exclude=`` take: a type, a tuple of types, a predicate, or a list
(or tuple) mixing types and predicates, matched when any entry matches."""


def _matcher(spec: BreakerExceptions, param: str) -> Callable[[BaseException], bool]:
    """Compile ``spec``, accepting lists (and tuples) that mix types and predicates."""
    raw: object = spec
    if isinstance(raw, list | tuple) and (
        isinstance(raw, list) or not all(isinstance(item, type) for item in raw)  # pyright: ignore[reportUnknownVariableType]  # run-time input
    ):
        entries: Sequence[object] = raw  # pyright: ignore[reportUnknownVariableType]  # each entry checked below
        if not entries:
            raise TypeError(f"{param} must not be an empty list, got {spec!r}")
        matchers = tuple(
            exception_matcher(item, param=param)  # type: ignore[arg-type]  # checked there
            for item in entries  # pyright: ignore[reportUnknownVariableType]  # see above
        )

        def matches_any(error: BaseException) -> bool:
            return any(match(error) for match in matchers)

        return matches_any
    return exception_matcher(spec, param=param)  # type: ignore[arg-type]  # lists handled above


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
    listeners registered with :meth:`on_state_change` and the instrumentation hook (with
    rejections and half-open probes). The state lives in a
    :class:`BreakerStateStore` (``store=``), which makes each step atomically. A store that is
    also an :class:`AsyncBreakerStateStore` (one doing I/O, such as Redis) is awaited on the
    async paths (:meth:`acall`, decorated ``async def`` functions and async generators,
    ``async with``), so they never block the event loop.

    Args:
        failure_threshold: Consecutive failures that open the circuit (>= 1).
        recovery_timeout: Seconds the circuit stays open before probing (>= 0).
        half_open_max_calls: Probes allowed at a time while half-open (>= 1).
        success_threshold: Consecutive probe successes that close the circuit (>= 1).
        exceptions: What counts as a failure: an exception type, a tuple of them, a
            predicate over the exception, or a list mixing types and predicates (any match).
        exclude: Exceptions that count as neither failure nor success, in the same forms
            (``exclude=[TypeError, lambda e: e.errno == 2]``); they take precedence over
            ``exceptions``.
        failure_rate: Share of failures (0 < rate <= 1) that opens the circuit; switches to
            failure-rate mode.
        window: Length in seconds of the failure-rate window (> 0).
        minimum_calls: Calls needed in the window before the rate is judged (>= 1).
        clock: Source of time.
        name: Name used in logs and errors; default ``"CircuitBreaker-<n>"``.
        store: Where the state lives; default a new :class:`InMemoryBreakerStateStore`. Breakers
            given one store share one state.

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
        python_mastery_portfolio.CircuitOpenError: circuit breaker 'api' is open; ...
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
        exceptions: BreakerExceptions = (Exception,),
        exclude: BreakerExceptions = (),
        failure_rate: float | None = None,
        window: float = 60.0,
        minimum_calls: int = 10,
        clock: Clock = SYSTEM_CLOCK,
        name: str | None = None,
        store: BreakerStateStore | None = None,
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
        if not isinstance(clock, Clock):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"clock must implement the Clock protocol, got {clock!r}")
        if name is not None and not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"name must be a str or None, got {name!r}")
        if store is None:
            store = InMemoryBreakerStateStore()
        elif not isinstance(store, BreakerStateStore):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"store must implement the BreakerStateStore protocol, got {store!r}")
        self._is_failure = _matcher(exceptions, "exceptions")
        self._is_excluded = None if exclude in ((), []) else _matcher(exclude, "exclude")
        self.name: str = name if name is not None else f"CircuitBreaker-{next(_names)}"
        self._policy = BreakerPolicy(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            failure_rate=failure_rate,
            window=window,
            minimum_calls=minimum_calls,
            now=now_reader(clock),
        )
        self._store = store
        # Decided once: the async paths await a store that does I/O, and call the others.
        self._astore = store if isinstance(store, AsyncBreakerStateStore) else None
        if self._astore is not None:
            # Bound here, so that acall over a fast store checks nothing per call.
            self.acall = functools.partial(self._acall_awaited, self._astore)  # type: ignore[method-assign]  # chosen once per instance
        # (state or None for every state, listener); replaced, never mutated, so that
        # dispatching reads a consistent tuple without a lock.
        self._listeners: tuple[tuple[CircuitState | None, StateListener], ...] = ()
        self._registering = threading.Lock()
        self._dispatching = threading.Lock()
        self._tickets: ContextVar[_Tickets] = ContextVar(f"breaker_{self.name}", default=None)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._store.state.value!r})"

    @property
    def state(self) -> CircuitState:
        """The current state; reading it moves an expired OPEN to HALF_OPEN."""
        store = self._store
        if store.state is not _OPEN:
            return store.state
        state = store.current_state(self._policy)
        self._dispatch()
        return state

    @property
    def store(self) -> BreakerStateStore:
        """Where the state lives."""
        return self._store

    @property
    def policy(self) -> BreakerPolicy:
        """The rules this breaker applies, as handed to its store."""
        return self._policy

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
        return self._add_listener(None, listener)

    @overload
    def on_state(self, state: CircuitState, listener: L, /) -> L: ...
    @overload
    def on_state(self, state: CircuitState, /) -> Callable[[L], L]: ...
    def on_state(self, state: CircuitState, listener: L | None = None, /) -> Any:  # pyright: ignore[reportInvalidTypeVarUse]  # the overloads bind L
        """Register ``listener(old, new)`` for the transitions *into* ``state`` only.

        Works as a call or as a decorator (``@breaker.on_state(CircuitState.OPEN)``); the
        listener runs under the same rules as :meth:`on_state_change`'s, and
        :meth:`remove_listener` takes it away again at run time.

        Raises:
            TypeError: If ``state`` is not a :class:`CircuitState` or ``listener`` is not
                callable.

        Example:
            >>> breaker = CircuitBreaker(failure_threshold=1)
            >>> opened = []
            >>> @breaker.on_state(CircuitState.OPEN)
            ... def alert(old: CircuitState, new: CircuitState) -> None:
            ...     opened.append(old)
            >>> breaker.force_open()
            >>> breaker.reset()
            >>> opened
            [<CircuitState.CLOSED: 'closed'>]
        """
        if not isinstance(state, CircuitState):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"state must be a CircuitState, got {state!r}")
        if listener is None:
            return functools.partial(self._add_listener, state)
        return self._add_listener(state, listener)

    def remove_listener(self, listener: StateListener) -> bool:
        """Unregister ``listener`` (every registration of it); return whether it was there.

        Example:
            >>> breaker = CircuitBreaker()
            >>> listener = breaker.on_state_change(print)
            >>> breaker.remove_listener(listener), breaker.remove_listener(listener)
            (True, False)
        """
        with self._registering:
            kept = tuple(entry for entry in self._listeners if entry[1] is not listener)
            removed = len(kept) != len(self._listeners)
            self._listeners = kept
        return removed

    def reset(self) -> None:
        """Close the circuit with fresh counts and end any forced state.

        Calls in flight no longer count.

        Example:
            >>> breaker = CircuitBreaker()
            >>> breaker.force_open()
            >>> breaker.reset()
            >>> breaker.state, breaker.forced
            (<CircuitState.CLOSED: 'closed'>, None)
        """
        if self._store.reset(self._policy):
            self._dispatch()

    @property
    def forced(self) -> CircuitState | None:
        """The state held by :meth:`force_open` or :meth:`force_closed`, else ``None``."""
        return self._store.forced

    def force_open(self) -> None:
        """Open the circuit and hold it open until :meth:`reset` (or :meth:`force_closed`).

        No probe is let through however long it stays open; calls fail fast with
        :class:`CircuitOpenError` whose ``retry_after`` is ``None``. For maintenance windows
        and kill switches (pybreaker's ``open()``, resilience4j's forced-open state).

        Example:
            >>> breaker = CircuitBreaker(name="db")
            >>> breaker.force_open()
            >>> breaker.call(len, "abc")
            Traceback (most recent call last):
            ...
            python_mastery_portfolio.CircuitOpenError: circuit breaker 'db' is forced open; ...
        """
        if self._store.force(_OPEN, self._policy):
            self._dispatch()

    def force_closed(self) -> None:
        """Close the circuit and hold it closed until :meth:`reset` (or :meth:`force_open`).

        Every call runs and its outcome is counted in :meth:`stats`, but no failure opens the
        circuit (resilience4j's disabled state).

        Example:
            >>> breaker = CircuitBreaker(failure_threshold=1)
            >>> breaker.force_closed()
            >>> for _ in range(3):
            ...     try:
            ...         breaker.call(int, "x")
            ...     except ValueError:
            ...         pass
            >>> breaker.state, breaker.stats()["failures"]
            (<CircuitState.CLOSED: 'closed'>, 3)
        """
        if self._store.force(_CLOSED, self._policy):
            self._dispatch()

    def stats(self) -> CircuitBreakerStats:
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
        stats = self._store.stats(self._policy)
        self._dispatch()
        return stats

    # -- running calls --

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``func(*args, **kwargs)`` through the breaker (a plain function).

        Raises:
            CircuitOpenError: If the circuit is open (or half-open with every probe slot
                taken); ``func`` is not called.
        """
        store = self._store
        ticket = store.epoch
        if store.state is not _CLOSED:
            ticket = self._admit()
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            self._on_error(error, ticket)
            raise
        if self._store.record_success(ticket, self._policy):
            self._dispatch()
        return result

    async def acall(
        self, func: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``func(*args, **kwargs)`` through the breaker (a coroutine function).

        Raises:
            CircuitOpenError: If the circuit is open; ``func`` is not called.
        """
        store = self._store
        ticket = store.epoch
        if store.state is not _CLOSED:
            ticket = self._admit()
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            self._on_error(error, ticket)
            raise
        if self._store.record_success(ticket, self._policy):
            self._dispatch()
        return result

    @overload
    def __call__(self, func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...
    def __call__(self, func: Any, /) -> Any:
        """Decorate ``func`` so that its calls go through the breaker.

        ``def`` and ``async def`` functions are judged per call; generator and async
        generator functions over their whole iteration (admitted at the first ``next``,
        judged when they end; closing one early counts as neither success nor failure).

        Example:
            >>> breaker = CircuitBreaker(failure_threshold=1)
            >>> @breaker
            ... def lines() -> object:
            ...     yield "a"
            ...     raise OSError("connection lost")
            >>> try:
            ...     list(lines())
            ... except OSError:
            ...     pass
            >>> breaker.state
            <CircuitState.OPEN: 'open'>
        """
        return decorate_function(func, self._wrap, "CircuitBreaker", generators=True)

    def _wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(func):
            return self._wrap_async_generator(func)
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)
        # Bound once here: the wrappers below are the hot path.
        admit = self._admit
        on_error = self._on_error
        dispatch = self._dispatch
        store = self._store
        record_success = store.record_success
        policy = self._policy

        if is_async_callable(func) and self._astore is not None:
            awaited = functools.partial(self._acall_awaited, self._astore, func)

            @functools.wraps(func)
            async def awaited_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await awaited(*args, **kwargs)

            return awaited_wrapper

        if is_async_callable(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                ticket = store.epoch
                if store.state is not _CLOSED:
                    ticket = admit()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as error:
                    on_error(error, ticket)
                    raise
                if record_success(ticket, policy):
                    dispatch()
                return result

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ticket = store.epoch
            if store.state is not _CLOSED:
                ticket = admit()
            try:
                result = func(*args, **kwargs)
            except BaseException as error:
                on_error(error, ticket)
                raise
            if record_success(ticket, policy):
                dispatch()
            return result

        return wrapper

    def _wrap_generator(
        self, func: Callable[..., Generator[Any, Any, Any]]
    ) -> Callable[..., Generator[Any, Any, Any]]:
        """Cover a generator's whole iteration: admitted at the first ``next``, judged at its end.

        ``send`` and ``throw`` reach the wrapped generator. An exception raised out of it is an
        outcome like a plain call's; closing it early counts as neither (like a cancelled call).
        """
        store = self._store
        policy = self._policy

        @functools.wraps(func)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            ticket = store.epoch
            if store.state is not _CLOSED:
                ticket = self._admit()
            try:
                result = yield from func(*args, **kwargs)
            except BaseException as error:
                self._on_error(error, ticket)
                raise
            if store.record_success(ticket, policy):
                self._dispatch()
            return result

        return generator_wrapper

    def _wrap_async_generator(
        self, func: Callable[..., AsyncGenerator[Any, Any]]
    ) -> Callable[..., AsyncGenerator[Any, Any]]:
        """Cover an async generator's whole iteration, as :meth:`_wrap_generator` does."""
        astore = self._astore

        @functools.wraps(func)
        async def async_generator_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            ticket = self._ticket() if astore is None else await self._aticket(astore)
            inner = func(*args, **kwargs)
            try:
                try:
                    item = await inner.__anext__()
                    while True:
                        try:
                            sent = yield item
                        except GeneratorExit:
                            raise
                        except BaseException as thrown:  # noqa: BLE001 - forwarded, as yield from does
                            item = await inner.athrow(thrown)
                        else:
                            item = await inner.asend(sent)
                except StopAsyncIteration:
                    pass
            except BaseException as error:
                # Closed early (GeneratorExit) or failed: the wrapped one is finished too.
                await inner.aclose()
                if astore is None:
                    self._on_error(error, ticket)
                else:
                    await self._aoutcome(astore, ticket, error)
                raise
            if astore is None:
                if self._store.record_success(ticket, self._policy):
                    self._dispatch()
            else:
                await self._aoutcome(astore, ticket, None)

        return async_generator_wrapper

    def __enter__(self) -> Self:
        store = self._store
        ticket = store.epoch
        if store.state is not _CLOSED:
            ticket = self._admit()
        self._tickets.set((ticket, self._tickets.get()))
        return self

    def _pop_ticket(self) -> int:
        """Return the ticket of the innermost block entered in this context, forgetting it."""
        tickets = self._tickets.get()
        if tickets is None:
            raise RuntimeError(f"{self!r} exited without being entered in this context")
        ticket, outer = tickets
        self._tickets.set(outer)
        return ticket

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Inlined _pop_ticket: this is the hot path of ``with breaker:``.
        tickets = self._tickets.get()
        if tickets is None:
            raise RuntimeError(f"{self!r} exited without being entered in this context")
        ticket, outer = tickets
        self._tickets.set(outer)
        if exc is None:
            if self._store.record_success(ticket, self._policy):
                self._dispatch()
        else:
            self._on_error(exc, ticket)

    async def __aenter__(self) -> Self:
        # __enter__'s body inlined rather than called: this is the hot path of ``async with``.
        astore = self._astore
        if astore is None:
            store = self._store
            ticket = store.epoch
            if store.state is not _CLOSED:
                ticket = self._admit()
        else:
            ticket = await self._aticket(astore)
        self._tickets.set((ticket, self._tickets.get()))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        ticket = self._pop_ticket()
        astore = self._astore
        if astore is not None:
            await self._aoutcome(astore, ticket, exc)
        elif exc is None:
            # __exit__'s outcome inlined rather than called: the hot path of ``async with``.
            if self._store.record_success(ticket, self._policy):
                self._dispatch()
        else:
            self._on_error(exc, ticket)

    # -- over an awaited store (an AsyncBreakerStateStore) --

    async def _acall_awaited(
        self,
        astore: AsyncBreakerStateStore,
        func: Callable[P, Coroutine[Any, Any, R]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Await ``func(*args, **kwargs)`` through the breaker, awaiting every store step."""
        ticket = await self._aticket(astore)
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            await self._aoutcome(astore, ticket, error)
            raise
        await self._aoutcome(astore, ticket, None)
        return result

    async def _aticket(self, astore: AsyncBreakerStateStore) -> int:
        """Return the ticket of a call about to run (awaiting the store), or raise."""
        ticket, state = await astore.aview()
        if state is not _CLOSED:
            ticket = self._admitted(await astore.aenter(self._policy))
        return ticket

    async def _aoutcome(
        self, astore: AsyncBreakerStateStore, ticket: int, error: BaseException | None
    ) -> None:
        """Record how the call admitted with ``ticket`` ended (awaiting the store)."""
        policy = self._policy
        verdict = _SUCCESS if error is None else self._judge(error)
        if verdict == _IGNORED:
            await astore.arecord_ignored(ticket)
            return
        if verdict == _FAILURE:
            moved = await astore.arecord_failure(ticket, policy)
        else:
            moved = await astore.arecord_success(ticket, policy)
        if moved:
            self._dispatch()

    # -- outcomes and transitions --

    def _add_listener(self, state: CircuitState | None, listener: L) -> L:
        if not callable(listener):
            raise TypeError(f"listener must be callable, got {listener!r}")
        with self._registering:
            self._listeners = (*self._listeners, (state, listener))
        return listener

    def _ticket(self) -> int:
        """Return the ticket of a call about to run, or raise (the sync store's fast path)."""
        store = self._store
        ticket = store.epoch
        if store.state is not _CLOSED:
            ticket = self._admit()
        return ticket

    def _admit(self) -> int:
        """Admit a call outside the closed state, returning its epoch, or raise."""
        return self._admitted(self._store.enter(self._policy))

    def _admitted(self, admission: BreakerAdmission) -> int:
        """Return the ticket of an admitted call, or raise; report either (the store decided)."""
        self._dispatch()
        if admission.admitted:
            if admission.state is _HALF_OPEN and HOOKS.active:
                HOOKS.event("circuit.probe", {"breaker": self.name})
                HOOKS.count("circuit.probes", 1, {"breaker": self.name})
            return admission.ticket
        if HOOKS.active:
            HOOKS.event(
                "circuit.rejected", {"breaker": self.name, "circuit.state": admission.state.value}
            )
            HOOKS.count("circuit.rejections", 1, {"breaker": self.name})
        if admission.retry_after is None:
            raise CircuitOpenError(
                f"circuit breaker {self.name!r} is forced open; reset() ends it",
                retry_after=None,
                breaker=self.name,
            )
        if admission.state is _HALF_OPEN:
            raise CircuitOpenError(
                f"circuit breaker {self.name!r} is half-open and its "
                f"{self._policy.half_open_max_calls} probe slot(s) are taken",
                retry_after=admission.retry_after,
                breaker=self.name,
            )
        raise CircuitOpenError(
            f"circuit breaker {self.name!r} is open; retry in {admission.retry_after:.3g}s",
            retry_after=admission.retry_after,
            breaker=self.name,
        )

    def _judge(self, error: BaseException) -> int:
        """Return how a call that raised ``error`` counts: _IGNORED, _FAILURE or _SUCCESS."""
        excluded = self._is_excluded
        if isinstance(error, FATAL_EXCEPTIONS) or (excluded is not None and excluded(error)):
            return _IGNORED
        return _FAILURE if self._is_failure(error) else _SUCCESS

    def _on_error(self, error: BaseException, ticket: int) -> None:
        verdict = self._judge(error)
        if verdict == _IGNORED:
            self._store.record_ignored(ticket)
            return
        if verdict == _FAILURE:
            moved = self._store.record_failure(ticket, self._policy)
        else:
            moved = self._store.record_success(ticket, self._policy)
        if moved:
            self._dispatch()

    def _report_transition(self, old: CircuitState, new: CircuitState) -> None:
        """Report a state change to the instrumentation hook (while it is on)."""
        name = self.name
        HOOKS.event(
            "circuit.state_change",
            {"breaker": name, "circuit.from": old.value, "circuit.to": new.value},
        )
        HOOKS.gauge("circuit.state", _STATE_GAUGE[new], {"breaker": name})
        HOOKS.count("circuit.transitions", 1, {"breaker": name, "state": new.value})

    def _dispatch(self) -> None:
        """Deliver logged transitions in order, one dispatching thread at a time (lock-free)."""
        store = self._store
        # A listener that causes a transition itself finds the dispatcher busy; its event is
        # delivered by the loop below after the current one, never recursively. Checking the
        # log again after releasing the dispatcher leaves no event behind.
        while store.has_transitions() and self._dispatching.acquire(blocking=False):
            try:
                for old, new in store.drain_transitions():
                    logger.warning("circuit breaker %r: %s -> %s", self.name, old.value, new.value)
                    if HOOKS.active:
                        self._report_transition(old, new)
                    for state, listener in self._listeners:
                        if state is not None and state is not new:
                            continue
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
