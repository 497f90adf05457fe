"""The retry engine: the compiled policy, the state of one run, and the retried calls.

Every retry form is a thin shell over this module: the decorators wrap functions with
:func:`wrap_callable`, the block form drives a :class:`Run` one attempt at a time.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any, cast

from python_mastery_portfolio._internal.callables import (
    exception_matcher,
    is_async_callable,
    qualified_name,
)
from python_mastery_portfolio.clock import now_reader
from python_mastery_portfolio.exceptions import RetryExhaustedError
from python_mastery_portfolio.retrying._options import RetryOptions, RetryState
from python_mastery_portfolio.retrying._testmode import TEST_MODE

__all__ = ["Policy", "Run", "retry_after", "wrap_callable"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

# Tools that introspect defaults (as tenacity users rely on) read them off the wrapper too.
_ASSIGNED = (*functools.WRAPPER_ASSIGNMENTS, "__defaults__", "__kwdefaults__")


def retry_after(error: BaseException) -> float:
    """Return the error's numeric, non-negative ``retry_after`` attribute, or 0."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        try:
            return float(value)
        except OverflowError:  # an int past float range
            return math.inf
    return 0.0


class Policy:
    """:class:`RetryOptions` compiled for the engine: what every call of one policy reads.

    Attributes:
        options: The options it was compiled from.
        timed: Whether a run needs its start time (for ``deadline`` or ``on_retry``); when it
            does not, a call that succeeds at once reads no clock.
    """

    __slots__ = (
        "check",
        "clock",
        "deadline",
        "limit",
        "logger",
        "matches",
        "max_attempts",
        "now",
        "on_retry",
        "options",
        "timed",
        "wait",
    )

    def __init__(self, options: RetryOptions) -> None:
        self.options = options
        self.matches = exception_matcher(options.exceptions, param="exceptions")
        # No cap is an infinite one, so the engine compares numbers only.
        self.max_attempts: float = (
            math.inf if options.max_attempts is None else options.max_attempts
        )
        self.limit = "unlimited" if options.max_attempts is None else str(options.max_attempts)
        self.wait = options.wait
        self.deadline = cast("float | None", options.deadline)  # a float since __post_init__
        self.check = options.retry_on_result
        self.on_retry = options.on_retry
        self.clock = options.clock
        self.now: Callable[[], float] = now_reader(options.clock)
        self.logger = options.logger if options.logger is not None else logger
        self.timed = options.deadline is not None or options.on_retry is not None


class Run:
    """The state of one retried call (or one ``retrying`` loop): the decision logic.

    Attributes:
        attempt: The attempt under way, counting from 1.
        name: The qualified name used in logs and notes.
        policy: The policy it follows.
        start: When the first attempt started (0 when the policy is not timed).
    """

    __slots__ = ("attempt", "name", "policy", "start")

    def __init__(self, policy: Policy, name: str, start: float) -> None:
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
        wait, reason = self._decide(retry_after(error))
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
        wait = 0.0 if TEST_MODE.settings.waits_off else policy.wait(attempt, floor)
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
                "Retrying %s in %.3g s: attempt %d of %s raised %r",
                self.name, wait, attempt, policy.limit, error,
            )  # fmt: skip
        else:
            policy.logger.warning(
                "Retrying %s in %.3g s: attempt %d of %s returned rejected result %r",
                self.name, wait, attempt, policy.limit, result,
            )  # fmt: skip
        if policy.on_retry is not None:
            elapsed = policy.now() - self.start
            policy.on_retry(RetryState(attempt, wait, error, result, elapsed))


def _retry_sync(
    run: Run, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], wait: float
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
    run: Run, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], wait: float
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


def wrap_callable(func: Callable[..., Any], policy: Policy) -> Any:
    """Return ``func`` wrapped in ``policy``: a coroutine function stays a coroutine function.

    The first attempt runs inline; the loop (and every allocation) waits for a failure. The
    loop starts outside the ``except`` clause, so later errors do not chain to the first one.
    Without ``retry_on_result``, ``deadline`` and ``on_retry`` the wrapper is a bare ``try``
    around the call: no clock reading, no result check.
    """
    name = qualified_name(func)
    if is_async_callable(func):
        if policy.check is None and not policy.timed:
            return _async_plain(func, policy, name)
        return _async_full(func, policy, name)
    if policy.check is None and not policy.timed:
        return _sync_plain(func, policy, name)
    return _sync_full(func, policy, name)


def _sync_plain(func: Callable[..., Any], policy: Policy, name: str) -> Any:
    @functools.wraps(func, _ASSIGNED)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BaseException as error:
            run = Run(policy, name, 0.0)
            wait = run.after_error(error)
            if wait is None:
                raise
        return _retry_sync(run, func, args, kwargs, wait)

    return wrapper


def _sync_full(func: Callable[..., Any], policy: Policy, name: str) -> Any:
    now = policy.now
    check = policy.check

    @functools.wraps(func, _ASSIGNED)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = now()
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            run = Run(policy, name, start)
            wait = run.after_error(error)
            if wait is None:
                raise
        else:
            if check is None or not check(result):
                return result
            run = Run(policy, name, start)
            wait = run.after_result(result)
        return _retry_sync(run, func, args, kwargs, wait)

    return wrapper


def _async_plain(func: Callable[..., Any], policy: Policy, name: str) -> Any:
    @functools.wraps(func, _ASSIGNED)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await func(*args, **kwargs)
        except BaseException as error:
            run = Run(policy, name, 0.0)
            wait = run.after_error(error)
            if wait is None:
                raise
        return await _retry_async(run, func, args, kwargs, wait)

    return wrapper


def _async_full(func: Callable[..., Any], policy: Policy, name: str) -> Any:
    now = policy.now
    check = policy.check

    @functools.wraps(func, _ASSIGNED)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = now()
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            run = Run(policy, name, start)
            wait = run.after_error(error)
            if wait is None:
                raise
        else:
            if check is None or not check(result):
                return result
            run = Run(policy, name, start)
            wait = run.after_result(result)
        return await _retry_async(run, func, args, kwargs, wait)

    return wrapper
