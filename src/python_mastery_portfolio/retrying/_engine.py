"""The retry engine: the compiled policy, the state of one run, and the retried calls.

Every retry form is a thin shell over this module: the decorators wrap functions with
:func:`~._calls.wrap_callable`, the block form drives a :class:`Run` one attempt at a time.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from typing import Any, cast

from python_mastery_portfolio._internal.callables import exception_matcher
from python_mastery_portfolio.clock import now_reader
from python_mastery_portfolio.exceptions import RetryExhaustedError
from python_mastery_portfolio.instrumentation import HOOKS, error_type
from python_mastery_portfolio.retrying._options import NO_FALLBACK, RetryOptions, RetryState
from python_mastery_portfolio.retrying._stats import Statistics
from python_mastery_portfolio.retrying._testmode import TEST_MODE

__all__ = ["Policy", "Run", "retry_after"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name


_NUMBER = (int, float)  # built once: ``int | float`` would build a union on every failure
_INF = math.inf


def retry_after(error: BaseException) -> float:
    """Return the error's numeric, non-negative ``retry_after`` attribute, or 0."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, _NUMBER) and not isinstance(value, bool) and value >= 0:
        try:
            return float(value)
        except OverflowError:  # an int past float range
            return math.inf
    return 0.0


class Policy:
    """:class:`RetryOptions` compiled for the engine: what every call of one policy reads.

    Attributes:
        options: The options it was compiled from.
        rescues: Whether giving up returns the ``fallback`` instead of raising.
        timed: Whether a run needs its start time (for ``deadline``, a hook or a callable
            fallback); when it does not, a call that succeeds at once reads no clock.
    """

    __slots__ = (
        "after",
        "before",
        "check",
        "clock",
        "deadline",
        "fallback",
        "limit",
        "logger",
        "matches",
        "max_attempts",
        "now",
        "on_giveup",
        "on_retry",
        "options",
        "rescues",
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
        self.before = options.before
        self.after = options.after
        self.on_giveup = options.on_giveup
        self.fallback = options.fallback
        self.rescues = options.fallback is not NO_FALLBACK
        self.clock = options.clock
        self.now: Callable[[], float] = now_reader(options.clock)
        self.logger = options.logger if options.logger is not None else logger
        # Whatever reads the run's elapsed time needs its start; the rest skips the clock.
        self.timed = (
            options.deadline is not None
            or any(
                hook is not None
                for hook in (options.on_retry, options.before, options.after, options.on_giveup)
            )
            or (self.rescues and callable(options.fallback))
        )


class Run:
    """The state of one retried call (or one ``retrying`` loop): the decision logic.

    Attributes:
        attempt: The attempt under way, counting from 1.
        name: The qualified name used in logs and notes.
        policy: The policy it follows.
        start: When the first attempt started (0 when the policy is not timed).
        stats: Where the run's attempts, waits and give-up are counted, by :meth:`finish`.
        waited: Seconds of the waits decided so far.
        skipped: Seconds of the waits that test mode skipped (they count towards the deadline).
        final: The state it gave up with, once it has.
    """

    __slots__ = ("attempt", "final", "name", "policy", "skipped", "start", "stats", "waited")

    def __init__(self, policy: Policy, name: str, start: float, stats: Statistics) -> None:
        self.policy = policy
        self.name = name
        self.start = start
        self.stats = stats
        self.attempt = 1
        self.final: RetryState | None = None
        self.waited = 0.0
        self.skipped = 0.0  # seconds of waits that test mode skipped

    def finish(self, *, succeeded: bool = False) -> None:
        """Add this run to the statistics; call it once, when the run is over.

        A run counts once a retryable failure was retried or given up on; its attempts are
        :attr:`attempt` (each retry decided starts one, see :meth:`abandon`). ``succeeded``
        says the last attempt's outcome was accepted, for the instrumentation hook.
        """
        attempts = self.attempt
        gave_up = self.final is not None
        if attempts > 1 or gave_up:
            self.stats.add(attempts, self.waited, gave_up)
            if HOOKS.active:
                self.report(succeeded=succeeded)

    def report(self, *, succeeded: bool) -> None:
        """Report the end of a counted run to the instrumentation hook.

        ``retry.gave_up`` if it gave up, ``retry.succeeded`` if ``succeeded``, else
        ``retry.aborted`` (an error that is not retried, a cancelled wait, a hook that raised:
        the error is the one propagating).
        """
        function = self.name
        final = self.final
        if final is not None:
            HOOKS.event(
                "retry.gave_up",
                {
                    "function": function,
                    "retry.attempts": final.attempt,
                    "error.type": error_type(final.exception),
                },
            )
            HOOKS.count("retry.giveups", 1, {"function": function})
        elif succeeded:
            HOOKS.event("retry.succeeded", {"function": function, "retry.attempts": self.attempt})
            HOOKS.count("retry.successes", 1, {"function": function})
        else:
            HOOKS.event(
                "retry.aborted",
                {
                    "function": function,
                    "retry.attempts": self.attempt,
                    "error.type": error_type(sys.exc_info()[1]),
                },
            )

    def abandon(self, wait: float) -> None:
        """Uncount the attempt a wait of ``wait`` seconds led to: the wait was interrupted."""
        self.attempt -= 1
        self.waited -= wait

    def elapsed(self) -> float:
        """Return the seconds since the first attempt started (0 when the policy is untimed)."""
        return self.policy.now() - self.start if self.policy.timed else 0.0

    def call_before(self, wait: float) -> None:
        """Call the ``before`` hook for the attempt about to start after ``wait`` seconds."""
        self.policy.before(RetryState(self.attempt, wait, None, None, self.elapsed()))  # type: ignore[misc]  # checked by callers

    def after_error(self, error: BaseException) -> float | None:
        """Return the wait before the next attempt, or ``None`` when there is none.

        ``None`` with :attr:`final` unset means ``error`` is not retried; with it set, the run
        gave up: the error got a note saying how many attempts were made, and the caller
        returns :meth:`rescue` when the policy :attr:`~Policy.rescues`, or raises.
        """
        if not self.policy.matches(error):
            return None
        wait, reason = self._decide(retry_after(error), error, None)
        if reason:
            error.add_note(reason)
            return None
        self._announce(wait, error, None)
        return wait

    def after_result(self, result: object) -> float | None:
        """Return the wait before retrying a rejected ``result``, or ``None`` to :meth:`rescue`.

        Raises:
            RetryExhaustedError: If no further attempt can be made and there is no fallback.
        """
        wait, reason = self._decide(0.0, None, result)
        if reason:
            if self.policy.rescues:
                return None
            raise RetryExhaustedError(
                f"{reason}; the last result was rejected: {result!r}",
                last_result=result,
                attempts=self.attempt,
            )
        self._announce(wait, None, result)
        return wait

    def rescue(self) -> Any:
        """Return the fallback for the state the run gave up with (a callable is called)."""
        fallback = self.policy.fallback
        return fallback(self.final) if callable(fallback) else fallback

    def _decide(
        self, floor: float, error: BaseException | None, result: object
    ) -> tuple[float, str]:
        """Return ``(wait, "")`` to go on, or ``(0, reason)`` to give up."""
        policy = self.policy
        attempt = self.attempt
        testing = TEST_MODE.settings
        if attempt >= policy.max_attempts or attempt >= testing.max_attempts:
            return 0.0, self._gave_up("", error, result)
        nominal = policy.wait(attempt, floor)
        wait = 0.0 if testing.waits_off else nominal
        if wait == _INF:
            return 0.0, self._gave_up(": the next wait would never end", error, result)
        deadline = policy.deadline
        # In test mode the skipped waits still count towards the deadline, so a policy gives up
        # at the attempt it would in production instead of spinning until real time runs out.
        if deadline is not None and policy.now() - self.start + self.skipped + nominal > deadline:
            return 0.0, self._gave_up(
                f": the next attempt could not start within the {deadline:g} s deadline",
                error,
                result,
            )
        if policy.after is not None:
            policy.after(RetryState(attempt, wait, error, result, self.elapsed()))
        if testing.waits_off:
            self.skipped += nominal
        self.attempt = attempt + 1
        self.waited += wait
        return wait, ""

    def _gave_up(self, why: str, error: BaseException | None, result: object) -> str:
        policy = self.policy
        state = RetryState(self.attempt, 0.0, error, result, self.elapsed())
        self.final = state
        if policy.after is not None:
            policy.after(state)
        if policy.on_giveup is not None:
            policy.on_giveup(state)
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
        if HOOKS.active:
            function = {"function": self.name}
            HOOKS.event(
                "retry.attempt",
                {
                    "function": self.name,
                    "retry.attempt": attempt,
                    "retry.wait": wait,
                    "error.type": error_type(error),
                },
            )
            HOOKS.count("retry.attempts", 1, function)
            HOOKS.observe("retry.wait", wait, function)
        if policy.on_retry is not None:
            policy.on_retry(RetryState(attempt, wait, error, result, self.elapsed()))
