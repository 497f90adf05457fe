"""Retry a call, with exponential backoff, as a decorator or around a block of code.

:func:`retry` decorates ``def`` and ``async def`` functions (a decorated coroutine function stays
a coroutine function), :func:`async_retry` is its coroutine-only twin, and :func:`retrying` gives
the same policy to a block of code::

    for attempt in retrying(max_attempts=5):
        with attempt:
            ...

All three share one policy and one decision loop, so they behave the same:

* After failed attempt ``n`` (1-based) the wait is ``delay * backoff ** (n - 1)``, plus a uniform
  random extra in ``[0, jitter]``, raised to the failure's ``retry_after`` attribute when it has a
  numeric one (as :class:`~.exceptions.RateLimitError` and :class:`~.exceptions.CircuitOpenError`
  do), and finally capped by ``max_delay``. Huge ``n`` never overflows: the wait saturates.
* ``max_attempts=None`` removes the attempt cap; it needs a ``deadline``. Every duration
  (``delay``, ``max_delay``, ``jitter``, ``deadline``) may be a :class:`datetime.timedelta`.
* ``deadline`` is a total budget in seconds, counted from the first call: no attempt starts after
  it and no wait runs past it. When the next attempt could not start in time (or the wait would
  be infinite), the last error is raised at once.
* ``exceptions`` (a type, a tuple of types or a predicate) selects what is retried; anything else
  propagates at once, untouched. ``asyncio.CancelledError``, ``KeyboardInterrupt``,
  ``SystemExit`` and ``GeneratorExit`` are never retried, and a cancellation during a wait stops
  at once.
* When attempts run out the original exception propagates, the same object with its traceback,
  carrying a note (:meth:`BaseException.add_note`) that says how many attempts were made. With
  ``retry_on_result``, a rejected result is retried like a failure and, when attempts run out,
  :class:`~.exceptions.RetryExhaustedError` carries ``last_result`` and ``attempts``.
* Hooks, each called with a :class:`RetryState`: ``before`` each attempt, ``after`` each
  retried failure, ``on_retry`` before each wait, ``on_giveup`` when attempts or time run
  out. A hook that raises stops the retrying: its exception propagates.
* ``fallback`` (a value, or a callable given the final state) is returned instead of raising
  when attempts or time run out; errors that are not retried still propagate.
* Each decorated function has ``statistics`` (attempts, retries, total wait and give-ups of
  the calls that failed at least once); :func:`retry_statistics` gives a typed snapshot.
* Before each wait, ``on_retry`` receives a :class:`RetryState` and a WARNING is logged with the
  qualified name, the attempt, the wait and the error. A wait of zero seconds is skipped, so it
  never reaches the clock.

The options are declared once, in :class:`RetryOptions` (validated when decorating, frozen), and
typed for callers by :class:`RetryKwargs`; every form runs on one engine.

Cost: a call that succeeds at once costs a ``try`` block on top of the plain call (plus one clock
reading when ``deadline``, ``on_retry`` or ``retry_on_result`` is set); the policy is compiled
when decorating and the loop only runs after a failure.

In tests, :func:`retry_testing` turns every wait off (a process-wide, thread-safe switch), or pass
a :class:`~python_mastery_portfolio.testing.ManualClock` as ``clock=`` to see the waits.
"""

from __future__ import annotations

from python_mastery_portfolio.retrying._block import Attempt, Retrying, RetryingKwargs, retrying
from python_mastery_portfolio.retrying._decorators import (
    AsyncRetryDecorator,
    RetryDecorator,
    async_retry,
    retry,
)
from python_mastery_portfolio.retrying._options import (
    NO_FALLBACK,
    RetryKwargs,
    RetryOptions,
    RetryState,
    Seconds,
)
from python_mastery_portfolio.retrying._stats import RetryStatistics, retry_statistics
from python_mastery_portfolio.retrying._testmode import retry_testing, set_retry_active

__all__ = [
    "NO_FALLBACK",
    "AsyncRetryDecorator",
    "Attempt",
    "RetryDecorator",
    "RetryKwargs",
    "RetryOptions",
    "RetryState",
    "RetryStatistics",
    "Retrying",
    "RetryingKwargs",
    "Seconds",
    "async_retry",
    "retry",
    "retry_statistics",
    "retry_testing",
    "retrying",
    "set_retry_active",
]
