"""Resilience: rate limiting and circuit breaking, for sync and async callers alike.

- :class:`RateLimiter` is a token bucket (one per key if asked) that can refuse
  (:meth:`~RateLimiter.try_acquire`, :meth:`~RateLimiter.atry_acquire`; or
  :meth:`~RateLimiter.take` and :meth:`~RateLimiter.atake`, which also tell what is left
  and when to retry, a :class:`RateLimitVerdict`), wait in a thread
  (:meth:`~RateLimiter.acquire`) or wait in a coroutine (:meth:`~RateLimiter.aacquire`),
  first come, first served.
  :func:`rate_limit` puts one in front of a function.
- :class:`CircuitBreaker` fails calls fast with :class:`CircuitOpenError` while a dependency
  keeps failing, in consecutive-failure or failure-rate mode, and probes for its recovery.
- Their state lives behind two protocols, :class:`RateLimitStore` (the GCRA state per key)
  and :class:`BreakerStateStore` (state, failure window, half-open permits), whose operations
  each make one decision atomically, so that a store shared by processes can plug in through
  ``store=``. :class:`InMemoryRateLimitStore` and :class:`InMemoryBreakerStateStore` are the
  defaults; :mod:`python_mastery_portfolio.testing.contracts` checks any implementation.
  A store whose operations do I/O (Redis) also implements :class:`AsyncRateLimitStore` or
  :class:`AsyncBreakerStateStore`, their awaitable side: the async paths await it, so they
  never block the event loop.

Both raise errors carrying ``retry_after`` (:class:`RateLimitError`,
:class:`CircuitOpenError`), which ``retry`` honours when it retries them.

Example:
    >>> from python_mastery_portfolio.testing import ManualClock
    >>> clock = ManualClock()
    >>> breaker = CircuitBreaker(failure_threshold=3, clock=clock)
    >>> @breaker
    ... @rate_limit(10, per=1.0, clock=clock)
    ... def lookup(name: str) -> str:
    ...     return name.upper()
    >>> lookup("ok"), breaker.state
    ('OK', <CircuitState.CLOSED: 'closed'>)
"""

from __future__ import annotations

from python_mastery_portfolio.exceptions import CircuitOpenError, RateLimitError
from python_mastery_portfolio.resilience._breaker_store import (
    AsyncBreakerStateStore,
    BreakerAdmission,
    BreakerPolicy,
    BreakerStateStore,
    CircuitBreakerStats,
    InMemoryBreakerStateStore,
    Transition,
)
from python_mastery_portfolio.resilience._circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerDecorator,
    CircuitState,
    StateListener,
)
from python_mastery_portfolio.resilience._rate_limit_decorator import (
    RateLimitDecorator,
    RateLimited,
    RateLimitedClassMethod,
    rate_limit,
)
from python_mastery_portfolio.resilience._rate_limit_store import (
    AsyncRateLimitStore,
    InMemoryRateLimitStore,
    RateLimitDecision,
    RateLimitStore,
    RateLimitStoreStats,
)
from python_mastery_portfolio.resilience._rate_limiter import (
    RateLimiter,
    RateLimiterStats,
    RateLimitVerdict,
)

__all__ = [
    "AsyncBreakerStateStore",
    "AsyncRateLimitStore",
    "BreakerAdmission",
    "BreakerPolicy",
    "BreakerStateStore",
    "CircuitBreaker",
    "CircuitBreakerDecorator",
    "CircuitBreakerStats",
    "CircuitOpenError",
    "CircuitState",
    "InMemoryBreakerStateStore",
    "InMemoryRateLimitStore",
    "RateLimitDecision",
    "RateLimitDecorator",
    "RateLimitError",
    "RateLimitStore",
    "RateLimitStoreStats",
    "RateLimitVerdict",
    "RateLimited",
    "RateLimitedClassMethod",
    "RateLimiter",
    "RateLimiterStats",
    "StateListener",
    "Transition",
    "rate_limit",
]
