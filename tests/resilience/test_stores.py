"""The store protocols behind the rate limiter and the circuit breaker, and their contracts."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import pytest

from python_mastery_portfolio.resilience import (
    BreakerPolicy,
    BreakerStateStore,
    CircuitBreaker,
    CircuitState,
    InMemoryBreakerStateStore,
    InMemoryRateLimitStore,
    RateLimitDecision,
    RateLimiter,
    RateLimitStore,
    RateLimitStoreStats,
)
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.breaker import BreakerStateStoreContract
from python_mastery_portfolio.testing.contracts.rate_limit import RateLimitStoreContract

SECOND = 1_000_000_000  # the stores count time in nanoseconds


@pytest.mark.usefixtures("fast_switching")
class TestInMemoryRateLimitStoreContract(RateLimitStoreContract):
    """Our in-memory store passes the contract, with threads switching as often as they can."""

    def make_store(self) -> RateLimitStore:
        return InMemoryRateLimitStore()


@pytest.mark.usefixtures("fast_switching")
class TestInMemoryBreakerStateStoreContract(BreakerStateStoreContract):
    """Our in-memory store passes the contract, with threads switching as often as they can."""

    def make_store(self) -> BreakerStateStore:
        return InMemoryBreakerStateStore()


class DelegatingStore:
    """A user's own store: it keeps its buckets in an InMemoryRateLimitStore and logs calls."""

    def __init__(self) -> None:
        self.inner = InMemoryRateLimitStore(max_keys=10)
        self.calls: list[str] = []

    def try_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        self.calls.append("try_take")
        return self.inner.try_take(key, cost, now, tolerance)

    def take(
        self,
        key: Hashable,
        cost: int,
        now: int,
        tolerance: int,
        *,
        interval: int,
        max_wait: int | None,
    ) -> RateLimitDecision:
        self.calls.append("take")
        return self.inner.take(key, cost, now, tolerance, interval=interval, max_wait=max_wait)

    def release(self, key: Hashable, refund: int, tat: int) -> bool:
        self.calls.append("release")
        return self.inner.release(key, refund, tat)

    def backlog(self, key: Hashable, now: int) -> int:
        self.calls.append("backlog")
        return self.inner.backlog(key, now)

    def reset(self, key: Hashable) -> None:
        self.calls.append("reset")
        self.inner.reset(key)

    def clear(self) -> None:
        self.calls.append("clear")
        self.inner.clear()

    def stats(self, now: int) -> RateLimitStoreStats:
        self.calls.append("stats")
        return self.inner.stats(now)


class TestDelegatingStoreContract(RateLimitStoreContract):
    """A store written against the protocol alone passes the same contract."""

    def make_store(self) -> RateLimitStore:
        return DelegatingStore()


class TestRateLimiterStore:
    def test_default_store(self) -> None:
        """Without ``store`` the limiter keeps its buckets in a new in-memory store."""
        limiter = RateLimiter(1, clock=ManualClock(), max_keys=3)
        assert isinstance(limiter.store, InMemoryRateLimitStore)
        assert limiter.store.max_keys == 3
        assert RateLimiter(1).store is not limiter.store
        assert repr(limiter.store) == "InMemoryRateLimitStore(max_keys=3)"

    def test_any_store_plugs_in(self) -> None:
        """A store of the user's own serves every operation of the limiter."""
        clock = ManualClock()
        store = DelegatingStore()
        limiter = RateLimiter(2, clock=clock, store=store)
        assert limiter.store is store
        assert limiter.try_acquire(key="a")
        limiter.acquire(2, key="a")
        assert limiter.available(key="a") == 0
        limiter.reset(key="a")
        limiter.reset()
        assert limiter.stats()["allowed"] == 2
        assert store.calls == [
            "try_take",
            "take",
            "release",
            "backlog",
            "reset",
            "clear",
            "stats",
        ]

    def test_limiters_share_a_store(self) -> None:
        """Two limiters on one store share its buckets and its counters."""
        clock = ManualClock()
        store = InMemoryRateLimitStore()
        first = RateLimiter(1, clock=clock, store=store)
        second = RateLimiter(1, clock=clock, store=store)
        assert first.try_acquire(key="k")
        assert not second.try_acquire(key="k")
        assert second.stats()["allowed"] == 1

    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"store": object()}, TypeError, "store"),
            ({"store": InMemoryRateLimitStore(), "max_keys": 5}, ValueError, "max_keys"),
            ({"max_keys": 0}, ValueError, "max_keys"),
        ],
        ids=["not-a-store", "store-and-max-keys", "max-keys-zero"],
    )
    def test_bad_store_arguments(
        self, kwargs: dict[str, Any], error: type[Exception], name: str
    ) -> None:
        """A wrong ``store``, or ``max_keys`` beside a store, fails at construction."""
        with pytest.raises(error, match=name):
            RateLimiter(1, **kwargs)

    def test_reset_one_key_or_all(self) -> None:
        """``reset`` refills one bucket, or all of them without a key."""
        limiter = RateLimiter(1, clock=ManualClock())
        for key in (None, "a", "b"):
            assert limiter.try_acquire(key=key)
        limiter.reset(key=None)
        assert limiter.try_acquire()
        assert not limiter.try_acquire(key="a")
        limiter.reset()
        assert limiter.try_acquire(key="a")
        assert limiter.try_acquire(key="b")

    def test_refund_refused_when_something_came_after(self) -> None:
        """A waiter that gives up hands nothing back once the line was extended after it."""
        store = InMemoryRateLimitStore()

        class Interrupting(ManualClock):
            def sleep(self, seconds: float) -> None:
                # Another limiter on the store reserves behind the sleeping waiter, then Ctrl-C.
                now = round(self.now() * SECOND)
                decision = store.take(None, SECOND, now, SECOND, interval=SECOND, max_wait=None)
                assert decision.retry_after == 2 * SECOND
                raise KeyboardInterrupt

        limiter = RateLimiter(1, clock=Interrupting(), store=store)
        assert limiter.try_acquire()
        with pytest.raises(KeyboardInterrupt):
            limiter.acquire()
        assert limiter.available() == 0
        assert store.backlog(None, 0) == 3 * SECOND
        assert limiter.stats()["cancelled"] == 1


class TestCircuitBreakerStore:
    def test_default_store(self) -> None:
        """Without ``store`` the breaker keeps its state in a new in-memory store."""
        breaker = CircuitBreaker()
        assert isinstance(breaker.store, InMemoryBreakerStateStore)
        assert repr(breaker.store) == "InMemoryBreakerStateStore(state='closed')"
        assert isinstance(breaker.policy, BreakerPolicy)
        assert breaker.policy.failure_threshold == 5

    def test_breakers_share_a_store(self) -> None:
        """Two breakers on one store open and close together; each tells its own listeners."""
        clock = ManualClock()
        store = InMemoryBreakerStateStore()
        first = CircuitBreaker(failure_threshold=1, clock=clock, store=store)
        second = CircuitBreaker(failure_threshold=1, clock=clock, store=store)
        seen: list[tuple[CircuitState, CircuitState]] = []
        first.on_state_change(lambda old, new: seen.append((old, new)))
        with pytest.raises(ZeroDivisionError):
            first.call(lambda: 1 / 0)
        assert second.state is CircuitState.OPEN
        assert seen == [(CircuitState.CLOSED, CircuitState.OPEN)]

    def test_not_a_store(self) -> None:
        """A ``store`` that is not a BreakerStateStore fails at construction."""
        with pytest.raises(TypeError, match="store"):
            CircuitBreaker(store=object())  # type: ignore[arg-type]  # the point

    @pytest.mark.parametrize("entry", ["call", "acall", "decorator", "async-decorator", "with"])
    def test_a_probe_success_closes_through_every_entry(self, entry: str) -> None:
        """However the probe runs, its success closes the circuit and the listeners hear it."""
        clock = ManualClock()
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, clock=clock)
        seen: list[CircuitState] = []
        breaker.on_state_change(lambda old, new: seen.append(new))
        with pytest.raises(OSError, match="down"):
            breaker.call(_fail)
        clock.advance(1)

        async def ok() -> int:
            return 1

        if entry == "call":
            assert breaker.call(lambda: 1) == 1
        elif entry == "acall":
            assert asyncio.run(breaker.acall(ok)) == 1
        elif entry == "decorator":
            assert breaker(lambda: 1)() == 1
        elif entry == "async-decorator":
            assert asyncio.run(breaker(ok)()) == 1
        else:
            with breaker:
                pass
        assert seen == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


def _fail() -> None:
    raise OSError("down")
