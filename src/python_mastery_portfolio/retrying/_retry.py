"""Retry: the decorators, the block form and the test-mode switch."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import random
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from python_mastery_portfolio._internal.callables import (
    ExceptionSpec,
    decorate_function,
    exception_matcher,
    is_async_callable,
    qualified_name,
)
from python_mastery_portfolio._internal.checks import (
    require_at_least,
    require_count,
    require_positive,
)
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock, now_reader
from python_mastery_portfolio.exceptions import RetryExhaustedError

__all__ = [
    "AsyncRetryDecorator",
    "Attempt",
    "RetryDecorator",
    "RetryState",
    "Retrying",
    "async_retry",
    "retry",
    "retry_testing",
    "retrying",
]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_BLOCK_NAME = "retrying block"


@dataclass(frozen=True, slots=True)
class RetryState:
    """What ``on_retry`` learns about a failed attempt, before the wait that follows it.

    Attributes:
        attempt: The attempt that just failed, counting from 1.
        delay: The wait, in seconds, before the next attempt.
        exception: The exception the attempt raised, or ``None`` for a rejected result.
        result: The result ``retry_on_result`` rejected, or ``None`` for an exception.
        elapsed: Seconds since the first attempt started.

    Example:
        >>> RetryState(attempt=1, delay=0.5, exception=OSError(), result=None, elapsed=0.1).delay
        0.5
    """

    attempt: int
    delay: float
    exception: BaseException | None
    result: Any
    elapsed: float


class _Waits:
    """The process-wide switch that :func:`retry_testing` flips."""

    __slots__ = ("off",)

    def __init__(self) -> None:
        self.off = False


_WAITS = _Waits()


@contextlib.contextmanager
def retry_testing() -> Iterator[None]:
    """Turn off every retry wait (all forms, sync and async) until the block exits.

    Attempts still happen, ``on_retry`` and the log still see each retry (with a delay of 0), but
    nothing waits. The switch is process-wide, like the test suite it serves; it nests, and
    the previous state comes back on exit. Also usable as a decorator.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> calls = []
        >>> @retry(max_attempts=3, delay=5.0, clock=clock)
        ... def flaky() -> str:
        ...     calls.append(1)
        ...     if len(calls) < 3:
        ...         raise ConnectionError("down")
        ...     return "up"
        >>> with retry_testing():
        ...     flaky()
        'up'
        >>> clock.sleeps
        []
    """
    previous = _WAITS.off
    _WAITS.off = True
    try:
        yield
    finally:
        _WAITS.off = previous


def _retry_after(error: BaseException) -> float:
    """Return the error's numeric, non-negative ``retry_after`` attribute, or 0."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        try:
            return float(value)
        except OverflowError:  # an int past float range
            return math.inf
    return 0.0


class _Policy:
    """The validated, precomputed options shared by every call of one decorated function."""

    __slots__ = (
        "backoff",
        "check",
        "clock",
        "deadline",
        "delay",
        "jitter",
        "logger",
        "matches",
        "max_attempts",
        "max_delay",
        "now",
        "on_retry",
    )

    def __init__(
        self,
        max_attempts: int,
        delay: float,
        backoff: float,
        exceptions: ExceptionSpec,
        *,
        max_delay: float | None,
        jitter: float,
        deadline: float | None,
        retry_on_result: Callable[[Any], object] | None,
        on_retry: Callable[[RetryState], object] | None,
        clock: Clock,
        logger: logging.Logger | None,
    ) -> None:
        require_count("max_attempts", max_attempts, 1)
        require_at_least("delay", delay, 0)
        require_at_least("backoff", backoff, 1)
        require_at_least("jitter", jitter, 0)
        if max_delay is not None:
            require_at_least("max_delay", max_delay, 0)
        if deadline is not None:
            require_positive("deadline", deadline)
        for name, func in (("retry_on_result", retry_on_result), ("on_retry", on_retry)):
            if func is not None and not callable(func):
                raise TypeError(f"{name} must be callable or None, got {func!r}")
        if not isinstance(clock, Clock):
            raise TypeError(f"clock must be a Clock, got {clock!r}")
        if logger is not None and not isinstance(logger, logging.Logger):
            raise TypeError(f"logger must be a logging.Logger or None, got {logger!r}")
        self.matches = exception_matcher(exceptions, param="exceptions")
        self.max_attempts = max_attempts
        self.delay = float(delay)
        self.backoff = float(backoff)
        self.max_delay = math.inf if max_delay is None else float(max_delay)
        self.jitter = float(jitter)
        self.deadline = deadline
        self.check = retry_on_result
        self.on_retry = on_retry
        self.clock = clock
        self.now: Callable[[], float] = now_reader(clock)
        self.logger = (
            logger if logger is not None else logging.getLogger(__package__)
        )  # the subpackage is the public logger name

    def wait(self, attempt: int, floor: float) -> float:
        """Return the wait after failed ``attempt``, at least ``floor``, capped by max_delay."""
        wait = self.delay
        if attempt > 1 and wait > 0 and self.backoff > 1:
            try:
                wait *= self.backoff ** (attempt - 1)
            except OverflowError:
                # Past float range the uncapped wait is unbounded; the cap below still holds.
                wait = math.inf
        if self.jitter:
            wait += random.uniform(0, self.jitter)  # noqa: S311 - jitter needs no cryptographic strength
        return min(max(wait, floor), self.max_delay)


class _Run:
    """The state of one retried call (or one ``retrying`` loop): the decision logic."""

    __slots__ = ("attempt", "name", "policy", "start")

    def __init__(self, policy: _Policy, name: str, start: float) -> None:
        self.policy = policy
        self.name = name
        self.start = start
        self.attempt = 1

    def after_error(self, error: BaseException) -> float | None:
        """Return the wait before the next attempt, or ``None`` to let ``error`` propagate.

        A retryable error that is given up on gets a note saying how many attempts were made.
        """
        if not self.policy.matches(error):
            return None
        wait, reason = self._decide(_retry_after(error))
        if reason:
            error.add_note(reason)
            return None
        self._announce(wait, error, None)
        return wait

    def after_result(self, result: object) -> float:
        """Return the wait before retrying a rejected ``result``.

        Raises:
            RetryExhaustedError: If no further attempt can be made.
        """
        wait, reason = self._decide(0.0)
        if reason:
            raise RetryExhaustedError(
                f"{reason}; the last result was rejected: {result!r}",
                last_result=result,
                attempts=self.attempt,
            )
        self._announce(wait, None, result)
        return wait

    def _decide(self, floor: float) -> tuple[float, str]:
        """Return ``(wait, "")`` to go on, or ``(0, reason)`` to give up."""
        policy = self.policy
        attempt = self.attempt
        if attempt >= policy.max_attempts:
            return 0.0, self._gave_up("")
        wait = 0.0 if _WAITS.off else policy.wait(attempt, floor)
        if wait == math.inf:
            return 0.0, self._gave_up(": the next wait would never end")
        deadline = policy.deadline
        if deadline is not None and policy.now() - self.start + wait > deadline:
            return 0.0, self._gave_up(
                f": the next attempt could not start within the {deadline:g} s deadline"
            )
        self.attempt = attempt + 1
        return wait, ""

    def _gave_up(self, why: str) -> str:
        plural = "s" if self.attempt > 1 else ""
        return f"Gave up retrying {self.name} after {self.attempt} attempt{plural}{why}"

    def _announce(self, wait: float, error: BaseException | None, result: object) -> None:
        policy = self.policy
        attempt = self.attempt - 1
        if error is not None:
            policy.logger.warning(
                "Retrying %s in %.3g s: attempt %d of %d raised %r",
                self.name, wait, attempt, policy.max_attempts, error,
            )  # fmt: skip
        else:
            policy.logger.warning(
                "Retrying %s in %.3g s: attempt %d of %d returned rejected result %r",
                self.name, wait, attempt, policy.max_attempts, result,
            )  # fmt: skip
        if policy.on_retry is not None:
            elapsed = policy.now() - self.start
            policy.on_retry(RetryState(attempt, wait, error, result, elapsed))


def _retry_sync(
    run: _Run, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], wait: float
) -> Any:
    """Wait, then attempt again until success or until ``run`` gives up."""
    sleep = run.policy.clock.sleep
    check = run.policy.check
    while True:
        if wait:
            sleep(wait)
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            next_wait = run.after_error(error)
            if next_wait is None:
                raise
            wait = next_wait
        else:
            if check is None or not check(result):
                return result
            wait = run.after_result(result)


async def _retry_async(
    run: _Run, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], wait: float
) -> Any:
    """Wait, then attempt again until success or until ``run`` gives up (coroutine form)."""
    asleep = run.policy.clock.asleep
    check = run.policy.check
    while True:
        if wait:
            await asleep(wait)
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            next_wait = run.after_error(error)
            if next_wait is None:
                raise
            wait = next_wait
        else:
            if check is None or not check(result):
                return result
            wait = run.after_result(result)


def _wrap(func: Callable[..., Any], policy: _Policy, decorator: str, *, only_async: bool) -> Any:
    """Wrap a plain function, classmethod or staticmethod in the retry policy."""
    return decorate_function(
        func,
        functools.partial(
            _wrap_callable, policy=policy, decorator=decorator, only_async=only_async
        ),
        decorator,
    )


def _wrap_callable(
    func: Callable[..., Any], *, policy: _Policy, decorator: str, only_async: bool
) -> Any:
    is_async = is_async_callable(func)
    if only_async and not is_async:
        raise TypeError(
            f"@{decorator} needs a coroutine function, got {qualified_name(func)}; use @retry"
        )
    name = qualified_name(func)
    now = policy.now
    check = policy.check
    # The first attempt runs inline; the loop (and every allocation) waits for a failure. The
    # loop starts outside the except clause, so later errors do not chain to the first one.
    if is_async:

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            start = now()
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                run = _Run(policy, name, start)
                wait = run.after_error(error)
                if wait is None:
                    raise
            else:
                if check is None or not check(result):
                    return result
                run = _Run(policy, name, start)
                wait = run.after_result(result)
            return await _retry_async(run, func, args, kwargs, wait)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = now()
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            run = _Run(policy, name, start)
            wait = run.after_error(error)
            if wait is None:
                raise
        else:
            if check is None or not check(result):
                return result
            run = _Run(policy, name, start)
            wait = run.after_result(result)
        return _retry_sync(run, func, args, kwargs, wait)

    return wrapper


class RetryDecorator(Protocol):
    """What ``retry(...)`` returns: a decorator that keeps the decorated callable's type."""

    @overload
    def __call__(self, func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...
    def __call__(self, func: Any, /) -> Any:
        """Wrap ``func`` (a function, method, classmethod or staticmethod) in the policy."""
        ...


class AsyncRetryDecorator(Protocol):
    """What ``async_retry(...)`` returns: a decorator for coroutine functions only."""

    @overload
    def __call__(
        self, func: classmethod[T, P, Coroutine[Any, Any, R]], /
    ) -> classmethod[T, P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(
        self, func: staticmethod[P, Coroutine[Any, Any, R]], /
    ) -> staticmethod[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __call__(self, func: Any, /) -> Any:
        """Wrap the coroutine function ``func`` in the policy."""
        ...


def _is_target(value: object) -> bool:
    """Return whether ``value`` is a function given to the bare decorator form."""
    return callable(value) or isinstance(value, classmethod | staticmethod)


def _decorator(policy: _Policy, decorator: str, *, only_async: bool) -> Any:
    def decorate(func: Any, /) -> Any:
        return _wrap(func, policy, decorator, only_async=only_async)

    return decorate


@overload
def retry(func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
@overload
def retry(func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
@overload
def retry(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def retry(
    max_attempts: int = 3,
    delay: float = 1.0,
    backoff: float = 2.0,
    exceptions: ExceptionSpec = Exception,
    *,
    max_delay: float | None = None,
    jitter: float = 0.0,
    deadline: float | None = None,
    retry_on_result: Callable[[Any], object] | None = None,
    on_retry: Callable[[RetryState], object] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    logger: logging.Logger | None = None,
) -> RetryDecorator: ...
def retry(
    max_attempts: Any = 3,
    delay: float = 1.0,
    backoff: float = 2.0,
    exceptions: ExceptionSpec = Exception,
    *,
    max_delay: float | None = None,
    jitter: float = 0.0,
    deadline: float | None = None,
    retry_on_result: Callable[[Any], object] | None = None,
    on_retry: Callable[[RetryState], object] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    logger: logging.Logger | None = None,
) -> Any:
    """Retry a function (``def`` or ``async def``) with exponential backoff.

    Usable bare (``@retry``, all defaults) or configured (``@retry(max_attempts=5)``), on
    functions, methods, classmethods and staticmethods, in either order with ``@classmethod``
    and ``@staticmethod``. See the module docstring for the exact rules.

    Args:
        max_attempts: Attempts in all, the first included (an int >= 1).
        delay: Wait after the first failure, in seconds (>= 0).
        backoff: Factor by which each further wait grows (>= 1).
        exceptions: What to retry: an exception type, a tuple of them, or a predicate over the
            exception. Cancellation, interrupts and exits are never retried.
        max_delay: Cap on any single wait, in seconds (>= 0); ``None`` for no cap.
        jitter: Upper bound of a uniform random extra added to each wait, in seconds (>= 0).
        deadline: Total budget in seconds from the first call (> 0); ``None`` for none.
        retry_on_result: Predicate over a result; a true answer retries it like a failure.
        on_retry: Called with a :class:`RetryState` before each wait.
        clock: Source of time and waits; tests pass a ``ManualClock``.
        logger: Where retries are logged at WARNING; defaults to this module's logger.

    Returns:
        The wrapped function (bare form) or a decorator.

    Raises:
        ValueError: If a number is out of range (named in the message).
        TypeError: If an argument has the wrong type, or the decorated function is a generator
            or async generator function.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> outcomes = [ConnectionError("reset"), TimeoutError("slow"), "ok"]
        >>> @retry(max_attempts=3, delay=1.0, backoff=2.0, exceptions=OSError, clock=clock)
        ... def fetch() -> str:
        ...     outcome = outcomes.pop(0)
        ...     if isinstance(outcome, Exception):
        ...         raise outcome
        ...     return outcome
        >>> fetch()
        'ok'
        >>> clock.sleeps
        [1.0, 2.0]
    """
    if _is_target(max_attempts):
        func, max_attempts = max_attempts, 3
    else:
        func = None
    policy = _Policy(
        max_attempts, delay, backoff, exceptions,
        max_delay=max_delay, jitter=jitter, deadline=deadline, retry_on_result=retry_on_result,
        on_retry=on_retry, clock=clock, logger=logger,
    )  # fmt: skip
    decorate = _decorator(policy, "retry", only_async=False)
    return decorate if func is None else decorate(func)


@overload
def async_retry(
    func: classmethod[T, P, Coroutine[Any, Any, R]], /
) -> classmethod[T, P, Coroutine[Any, Any, R]]: ...
@overload
def async_retry(
    func: staticmethod[P, Coroutine[Any, Any, R]], /
) -> staticmethod[P, Coroutine[Any, Any, R]]: ...
@overload
def async_retry(
    func: Callable[P, Coroutine[Any, Any, R]], /
) -> Callable[P, Coroutine[Any, Any, R]]: ...
@overload
def async_retry(
    max_attempts: int = 3,
    delay: float = 1.0,
    backoff: float = 2.0,
    exceptions: ExceptionSpec = Exception,
    *,
    max_delay: float | None = None,
    jitter: float = 0.0,
    deadline: float | None = None,
    retry_on_result: Callable[[Any], object] | None = None,
    on_retry: Callable[[RetryState], object] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    logger: logging.Logger | None = None,
) -> AsyncRetryDecorator: ...
def async_retry(
    max_attempts: Any = 3,
    delay: float = 1.0,
    backoff: float = 2.0,
    exceptions: ExceptionSpec = Exception,
    *,
    max_delay: float | None = None,
    jitter: float = 0.0,
    deadline: float | None = None,
    retry_on_result: Callable[[Any], object] | None = None,
    on_retry: Callable[[RetryState], object] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    logger: logging.Logger | None = None,
) -> Any:
    """Retry a coroutine function with exponential backoff, waiting without blocking the loop.

    The same as :func:`retry`, but it refuses anything that is not a coroutine function, so a
    mistake shows at decoration time. Arguments are those of :func:`retry`.

    Returns:
        The wrapped coroutine function (bare form) or a decorator.

    Raises:
        ValueError: If a number is out of range (named in the message).
        TypeError: If an argument has the wrong type or the function is not a coroutine
            function.

    Example:
        >>> import asyncio
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> calls = []
        >>> @async_retry(max_attempts=5, delay=0.5, clock=clock)
        ... async def fetch() -> int:
        ...     calls.append(1)
        ...     if len(calls) < 3:
        ...         raise ConnectionError("reset")
        ...     return len(calls)
        >>> asyncio.run(fetch()), clock.sleeps
        (3, [0.5, 1.0])
    """
    if _is_target(max_attempts):
        func, max_attempts = max_attempts, 3
    else:
        func = None
    policy = _Policy(
        max_attempts, delay, backoff, exceptions,
        max_delay=max_delay, jitter=jitter, deadline=deadline, retry_on_result=retry_on_result,
        on_retry=on_retry, clock=clock, logger=logger,
    )  # fmt: skip
    decorate = _decorator(policy, "async_retry", only_async=True)
    return decorate if func is None else decorate(func)


class Attempt:
    """One attempt of a :func:`retrying` loop: enter it around the code being attempted.

    On exit, a retryable exception is swallowed (the loop waits and yields the next attempt);
    any other exception, or the last one, propagates. With ``retry_on_result``, pass the
    block's result to :meth:`set_result` so the predicate can reject it.

    Attributes:
        number: This attempt's number, counting from 1.
    """

    __slots__ = ("_has_result", "_result", "_run", "_wait", "number")

    def __init__(self, run: _Run) -> None:
        self._run = run
        self.number = run.attempt
        self._wait: float | None = None
        self._has_result = False
        self._result: object = None

    def set_result(self, value: object) -> None:
        """Record the block's result for ``retry_on_result`` to judge on exit."""
        self._has_result = True
        self._result = value

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        run = self._run
        if exc is None:
            check = run.policy.check
            if self._has_result and check is not None and check(self._result):
                self._wait = run.after_result(self._result)
            return False
        self._wait = run.after_error(exc)
        return self._wait is not None

    def __repr__(self) -> str:
        return f"<Attempt {self.number} of {self._run.name}>"


class _Attempts:
    """One run of a :class:`Retrying` loop, iterable with ``for`` and ``async for``."""

    __slots__ = ("_current", "_run")

    def __init__(self, policy: _Policy, name: str) -> None:
        self._run = _Run(policy, name, policy.now())
        self._current: Attempt | None = None

    def _wait(self) -> float | None:
        """Return the wait before the next attempt, or ``None`` when the loop is over."""
        return 0.0 if self._current is None else self._current._wait

    def _start(self) -> Attempt:
        self._current = Attempt(self._run)
        return self._current

    def __iter__(self) -> _Attempts:
        return self

    def __aiter__(self) -> _Attempts:
        return self

    def __next__(self) -> Attempt:
        wait = self._wait()
        if wait is None:
            raise StopIteration
        if wait:
            self._run.policy.clock.sleep(wait)
        return self._start()

    async def __anext__(self) -> Attempt:
        wait = self._wait()
        if wait is None:
            raise StopAsyncIteration
        if wait:
            await self._run.policy.clock.asleep(wait)
        return self._start()


class Retrying:
    """A retry policy for blocks of code; iterate it with ``for`` or ``async for``.

    Each iteration is a fresh run (its own attempts and deadline), so one object can be kept
    and reused. Build it with :func:`retrying`.
    """

    __slots__ = ("_name", "_policy")

    def __init__(self, policy: _Policy, name: str) -> None:
        self._policy = policy
        self._name = name

    def __iter__(self) -> Iterator[Attempt]:
        return _Attempts(self._policy, self._name)

    def __aiter__(self) -> AsyncIterator[Attempt]:
        return _Attempts(self._policy, self._name)

    def __repr__(self) -> str:
        return f"<Retrying {self._name} max_attempts={self._policy.max_attempts}>"


def retrying(
    max_attempts: int = 3,
    delay: float = 1.0,
    backoff: float = 2.0,
    exceptions: ExceptionSpec = Exception,
    *,
    max_delay: float | None = None,
    jitter: float = 0.0,
    deadline: float | None = None,
    retry_on_result: Callable[[Any], object] | None = None,
    on_retry: Callable[[RetryState], object] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    logger: logging.Logger | None = None,
    name: str = _BLOCK_NAME,
) -> Retrying:
    """Retry a block of code, with ``for`` or ``async for`` and ``with attempt:`` inside.

    ``async for`` works the same and waits without blocking the event loop. The options and
    rules are those of :func:`retry`; ``name`` stands in for the function's name in logs and
    notes. With ``retry_on_result``, hand the block's result to ``attempt.set_result(value)``.

    Raises:
        ValueError: If a number is out of range (named in the message).
        TypeError: If an argument has the wrong type.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> replies = iter([OSError("busy"), OSError("busy"), "done"])
        >>> for attempt in retrying(max_attempts=3, delay=0.5, clock=clock, name="upload"):
        ...     with attempt:
        ...         reply = next(replies)
        ...         if isinstance(reply, Exception):
        ...             raise reply
        >>> reply, attempt.number, clock.sleeps
        ('done', 3, [0.5, 1.0])
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    policy = _Policy(
        max_attempts, delay, backoff, exceptions,
        max_delay=max_delay, jitter=jitter, deadline=deadline, retry_on_result=retry_on_result,
        on_retry=on_retry, clock=clock, logger=logger,
    )  # fmt: skip
    return Retrying(policy, name)
