"""retry, rate_limit and CircuitBreaker composed as decorators, as users stack them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from python_mastery_portfolio import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    RateLimitError,
    rate_limit,
    retry,
)
from python_mastery_portfolio.testing import ManualClock


class Flaky:
    """A dependency that fails ``failures`` times, then answers; counts its calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls} failed")
        return "ok"


class TestBreakerOutsideRetry:
    """The common stack: the breaker counts whole retried calls, not single attempts."""

    def _stack(self, clock: ManualClock, dependency: Callable[[], str]) -> tuple[Any, Any]:
        breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=30.0, clock=clock)
        guarded = breaker(
            retry(max_attempts=3, delay=1.0, backoff=2.0, exceptions=ConnectionError, clock=clock)(
                dependency
            )
        )
        return breaker, guarded

    def test_transient_failures_are_absorbed(self) -> None:
        """Two failures then success: retried inside, one success for the breaker."""
        clock = ManualClock()
        dependency = Flaky(failures=2)
        breaker, guarded = self._stack(clock, dependency)
        assert guarded() == "ok"
        assert clock.sleeps == [1.0, 2.0]
        assert breaker.state is CircuitState.CLOSED
        assert breaker.stats()["failures"] == 0

    def test_persistent_failure_opens_after_whole_calls(self) -> None:
        """Each exhausted call counts once; the open breaker then spares the dependency."""
        clock = ManualClock()
        dependency = Flaky(failures=10**9)
        breaker, guarded = self._stack(clock, dependency)
        for _ in range(2):
            with pytest.raises(ConnectionError, match="failed"):
                guarded()
        assert dependency.calls == 6
        assert breaker.state is CircuitState.OPEN
        with pytest.raises(CircuitOpenError) as info:
            guarded()
        assert dependency.calls == 6
        assert info.value.retry_after == pytest.approx(30.0)

    def test_recovers_after_timeout(self) -> None:
        """After the recovery timeout a successful probe closes the circuit."""
        clock = ManualClock()
        dependency = Flaky(failures=6)
        breaker, guarded = self._stack(clock, dependency)
        for _ in range(2):
            with pytest.raises(ConnectionError):
                guarded()
        clock.advance(30.0)
        assert guarded() == "ok"
        assert breaker.state is CircuitState.CLOSED

    async def test_async_stack(self) -> None:
        """The same stack works on a coroutine function, waiting on the clock."""
        clock = ManualClock()
        dependency = Flaky(failures=2)
        breaker = CircuitBreaker(failure_threshold=2, clock=clock)

        @breaker
        @retry(max_attempts=3, delay=0.5, exceptions=ConnectionError, clock=clock)
        async def fetch() -> str:
            return dependency()

        assert await fetch() == "ok"
        assert clock.sleeps == [0.5, 1.0]
        assert breaker.state is CircuitState.CLOSED


class TestRetryHonoursRetryAfter:
    def test_retry_outside_open_breaker_waits_retry_after(self) -> None:
        """Retrying a CircuitOpenError waits until half-open, then the probe succeeds."""
        clock = ManualClock()
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10.0, clock=clock)
        dependency = Flaky(failures=1)
        guarded = breaker(dependency)
        with pytest.raises(ConnectionError):
            guarded()
        patient = retry(max_attempts=2, delay=0.1, exceptions=CircuitOpenError, clock=clock)(
            guarded
        )
        assert patient() == "ok"
        assert clock.sleeps == [pytest.approx(10.0)]
        assert breaker.state is CircuitState.CLOSED

    def test_retry_outside_rate_limit_waits_for_tokens(self) -> None:
        """Retrying a RateLimitError waits at least its retry_after, then gets through."""
        clock = ManualClock()
        counter = itertools.count()

        @retry(max_attempts=2, delay=0.01, exceptions=RateLimitError, clock=clock)
        @rate_limit(1, per=2.0, clock=clock)
        def send() -> int:
            return next(counter)

        assert send() == 0
        assert send() == 1
        assert len(clock.sleeps) == 1
        assert clock.sleeps[0] >= 2.0 - 1e-9

    def test_retry_after_capped_by_max_delay(self) -> None:
        """max_delay still caps a long retry_after."""
        clock = ManualClock()
        calls = itertools.count()

        @retry(max_attempts=3, delay=0.1, max_delay=1.0, exceptions=RateLimitError, clock=clock)
        def send() -> None:
            next(calls)
            raise RateLimitError("slow down", retry_after=60.0, limit=1)

        with pytest.raises(RateLimitError):
            send()
        assert clock.sleeps == [1.0, 1.0]

    def test_gives_up_when_retry_after_passes_deadline(self) -> None:
        """A retry_after beyond the deadline ends retrying at once, without waiting."""
        clock = ManualClock()
        calls = itertools.count()

        @retry(max_attempts=5, delay=0.1, deadline=5.0, exceptions=RateLimitError, clock=clock)
        def send() -> None:
            next(calls)
            raise RateLimitError("slow down", retry_after=60.0, limit=1)

        with pytest.raises(RateLimitError):
            send()
        assert clock.sleeps == []
        assert next(calls) == 1


class TestAnyOrder:
    @pytest.mark.parametrize(
        "order",
        list(itertools.permutations(["retry", "rate_limit", "breaker"])),
        ids="-".join,
    )
    def test_orders_compose(self, order: tuple[str, ...]) -> None:
        """Every stacking order runs the function and returns its result."""
        clock = ManualClock()
        dependency = Flaky(failures=1)
        decorators: dict[str, Callable[[Any], Any]] = {
            "retry": retry(max_attempts=3, delay=0.1, exceptions=ConnectionError, clock=clock),
            "rate_limit": rate_limit(100, per=1.0, clock=clock),
            "breaker": CircuitBreaker(failure_threshold=5, clock=clock),
        }
        func: Any = dependency
        for name in reversed(order):
            func = decorators[name](func)
        assert func() == "ok"
        assert dependency.calls == 2
