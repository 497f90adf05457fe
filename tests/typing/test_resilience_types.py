"""Static proofs of the types of the resilience module (mypy and pyright check, pytest runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Hashable, Iterator
from typing import Any, assert_type

import pytest

from python_mastery_portfolio.exceptions import CircuitOpenError, RateLimitError
from python_mastery_portfolio.resilience import (
    AsyncBreakerStateStore,
    AsyncRateLimitStore,
    BreakerAdmission,
    BreakerPolicy,
    BreakerStateStore,
    CircuitBreaker,
    CircuitBreakerStats,
    CircuitState,
    InMemoryBreakerStateStore,
    InMemoryRateLimitStore,
    RateLimitDecision,
    RateLimitDecorator,
    RateLimited,
    RateLimitedClassMethod,
    RateLimiter,
    RateLimiterStats,
    RateLimitStore,
    rate_limit,
)
from python_mastery_portfolio.testing import ManualClock


def test_rate_limiter_methods() -> None:
    """The limiter's methods are typed; a wrong argument type is rejected."""
    limiter = RateLimiter(10, clock=ManualClock())
    assert_type(limiter.try_acquire(), bool)
    assert_type(limiter.try_acquire(2, key=("user", 1)), bool)
    assert_type(limiter.acquire(timeout=0), None)
    # pyright names a coroutine's type CoroutineType, mypy Coroutine: both accept this.
    acquiring: Coroutine[Any, Any, None] = limiter.aacquire()
    assert_type(asyncio.run(acquiring), None)
    assert_type(limiter.stats(), RateLimiterStats)
    assert_type(limiter.stats()["allowed"], int)
    assert_type(limiter.store, RateLimitStore)
    assert_type(limiter.burst, float)
    assert_type(limiter.available(key="a"), float)
    with pytest.raises(TypeError):
        limiter.try_acquire("2")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError):
        limiter.try_acquire(key=["unhashable"])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError):
        RateLimiter(10, 1.0, 5)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_rate_limiter_forms() -> None:
    """``parse`` returns a limiter, ``with``/``async with`` bind it, rate strings decorate."""
    limiter = assert_type(RateLimiter.parse("10/minute", clock=ManualClock()), RateLimiter)
    with limiter as entered:
        assert_type(entered, RateLimiter)

    async def main() -> None:
        async with limiter as aentered:
            assert_type(aentered, RateLimiter)

    asyncio.run(main())
    assert_type(rate_limit("100/hour"), RateLimitDecorator)
    with pytest.raises(TypeError):
        RateLimiter.parse(10)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # a rate string only


def test_rate_limit_keeps_signature() -> None:
    """@rate_limit keeps parameters and return type and adds ``limiter``."""
    assert_type(rate_limit(5), RateLimitDecorator)

    # A typed key function: against Callable[..., Hashable] pyright's strict mode leaves a
    # lambda's parameters unknown.
    def by_user(user: str, **_: object) -> str:
        return user

    @rate_limit(5, key=by_user, clock=ManualClock())
    def greet(user: str, *, loud: bool = False) -> str:
        return user.upper() if loud else user

    limited: RateLimited[..., str] = greet
    assert limited is greet
    assert_type(greet("ann", loud=True), str)
    assert_type(greet.limiter, RateLimiter)
    wrong: Any = greet(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert wrong == 1
    with pytest.raises(TypeError):
        greet("ann", True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_rate_limit_async() -> None:
    """An async function keeps its coroutine type."""

    @rate_limit(5, clock=ManualClock())
    async def fetch(item: int) -> bytes:
        return bytes(item)

    fetching: Coroutine[Any, Any, bytes] = fetch(1)
    assert assert_type(asyncio.run(fetching), bytes) == b"\x00"


class Store:
    @rate_limit(5, clock=ManualClock())
    def get(self, key: str) -> int:
        return len(key)

    @classmethod
    @rate_limit(5, clock=ManualClock())
    def create(cls, size: int) -> Store:
        return cls()

    @rate_limit(5, clock=ManualClock())
    @classmethod
    def build(cls, size: int) -> Store:
        return cls()

    @staticmethod
    @rate_limit(5, clock=ManualClock())
    def version(major: int) -> str:
        return str(major)


def test_rate_limit_methods() -> None:
    """Methods bind ``self``; classmethods bind ``cls`` in either order.

    A staticmethod is typed right when reached through its class (mypy binds the first
    parameter of a callable object reached through an instance).
    """
    store = Store()
    assert_type(store.get("abc"), int)
    assert_type(store.get.limiter, RateLimiter)
    assert_type(Store.get(store, "abc"), int)
    assert_type(Store.create(1), Store)
    assert_type(store.create(1), Store)
    assert_type(Store.build(1), Store)
    assert_type(Store.version(1), str)
    with pytest.raises(TypeError):
        store.get(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_rate_limited_class_method_protocol() -> None:
    """A function taking a class first is seen as a rate-limited classmethod."""

    @rate_limit(5, clock=ManualClock())
    def make(cls: type[Store], size: int) -> Store:
        return cls()

    checked: RateLimitedClassMethod[Store, [int], Store] = make
    assert checked is make
    assert isinstance(make(Store, 1), Store)


def test_circuit_breaker_keeps_signature() -> None:
    """A breaker used as a decorator keeps the exact signature, sync and async."""
    breaker = CircuitBreaker(failure_threshold=3, clock=ManualClock())

    @breaker
    def add(x: int, y: int = 0) -> int:
        return x + y

    @breaker
    async def fetch(url: str) -> bytes:
        return url.encode()

    assert_type(add(1, y=2), int)
    fetching: Coroutine[Any, Any, bytes] = fetch("u")
    assert assert_type(asyncio.run(fetching), bytes) == b"u"
    with pytest.raises(TypeError):
        add("1", 2)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_circuit_breaker_call_and_state() -> None:
    """``call``, ``acall``, ``state``, ``stats`` and listeners are typed."""
    breaker = CircuitBreaker(clock=ManualClock())

    async def double(x: int) -> int:
        return 2 * x

    assert_type(breaker.call(len, "abc"), int)
    assert_type(asyncio.run(breaker.acall(double, 2)), int)
    assert_type(breaker.state, CircuitState)
    assert_type(breaker.stats(), CircuitBreakerStats)
    assert_type(breaker.stats()["state"], CircuitState)
    assert_type(breaker.store, BreakerStateStore)
    with pytest.raises(TypeError):
        breaker.call(len, 3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

    def listener(old: CircuitState, new: CircuitState) -> None:
        return None

    registered = breaker.on_state_change(listener)
    assert registered is listener
    with breaker as entered:
        assert_type(entered, CircuitBreaker)


def test_errors_carry_retry_after() -> None:
    """Both errors expose a numeric ``retry_after``."""
    limiter = RateLimiter(1, clock=ManualClock())
    limiter.acquire()
    with pytest.raises(RateLimitError) as limited:
        limiter.acquire(timeout=0)
    assert_type(limited.value.retry_after, float | None)
    assert limited.value.retry_after == 1.0
    breaker = CircuitBreaker(failure_threshold=1, clock=ManualClock())
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    with pytest.raises(CircuitOpenError) as opened:
        breaker.call(lambda: 1)
    assert_type(opened.value.retry_after, float | None)
    assert opened.value.retry_after == 30.0


def test_circuit_breaker_controls_and_generators() -> None:
    """Forced states, per-state listeners and decorated generators keep their types."""
    breaker = CircuitBreaker()
    assert_type(breaker.force_open(), None)
    assert_type(breaker.force_closed(), None)
    assert_type(breaker.forced, CircuitState | None)
    breaker.reset()

    def listener(old: CircuitState, new: CircuitState) -> None:
        """Hear a transition."""

    assert breaker.on_state(CircuitState.OPEN, listener) is listener  # returned as given
    assert_type(breaker.remove_listener(listener), bool)

    @breaker
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    assert_type(numbers(2), Iterator[int])
    assert list(numbers(2)) == [0, 1]
    CircuitBreaker(exclude=[TypeError, lambda error: "soft" in str(error)])


class AwaitedRateLimitStore(InMemoryRateLimitStore):
    """The in-memory store with the awaitable side too: both protocols, statically."""

    async def atry_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        return self.try_take(key, cost, now, tolerance)

    async def atake(
        self,
        key: Hashable,
        cost: int,
        now: int,
        tolerance: int,
        *,
        interval: int,
        max_wait: int | None,
    ) -> RateLimitDecision:
        return self.take(key, cost, now, tolerance, interval=interval, max_wait=max_wait)

    async def arelease(self, key: Hashable, refund: int, tat: int) -> bool:
        return self.release(key, refund, tat)


class AwaitedBreakerStateStore(InMemoryBreakerStateStore):
    """The in-memory breaker store with the awaitable side too."""

    async def aview(self) -> tuple[int, CircuitState]:
        return self.epoch, self.state

    async def aenter(self, policy: BreakerPolicy) -> BreakerAdmission:
        return self.enter(policy)

    async def arecord_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        return self.record_success(ticket, policy)

    async def arecord_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        return self.record_failure(ticket, policy)

    async def arecord_ignored(self, ticket: int) -> None:
        self.record_ignored(ticket)


def test_async_store_protocols() -> None:
    """A store with both sides satisfies both protocols; the awaited methods are typed."""
    rate_store = AwaitedRateLimitStore()
    sync_side: RateLimitStore = rate_store
    async_side: AsyncRateLimitStore = rate_store
    assert_type(asyncio.run(async_side.atry_take(None, 1, 0, 1)), bool)
    decision = asyncio.run(async_side.atake(None, 1, 0, 1, interval=1, max_wait=None))
    assert_type(decision, RateLimitDecision)
    assert_type(asyncio.run(async_side.arelease(None, 0, decision.end)), bool)
    assert_type(sync_side.backlog(None, 0), int)
    breaker_store = AwaitedBreakerStateStore()
    breaker_sync: BreakerStateStore = breaker_store
    breaker_async: AsyncBreakerStateStore = breaker_store
    policy = BreakerPolicy(now=ManualClock().now)
    assert_type(asyncio.run(breaker_async.aview()), tuple[int, CircuitState])
    assert_type(asyncio.run(breaker_async.aenter(policy)), BreakerAdmission)
    assert_type(asyncio.run(breaker_async.arecord_success(0, policy)), bool)
    assert_type(asyncio.run(breaker_async.arecord_failure(0, policy)), bool)
    assert_type(asyncio.run(breaker_async.arecord_ignored(0)), None)
    assert_type(breaker_sync.state, CircuitState)
    # The in-memory stores are fast and called directly: they have no async side.
    _: AsyncRateLimitStore = InMemoryRateLimitStore()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    __: AsyncBreakerStateStore = InMemoryBreakerStateStore()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    plain: object = InMemoryRateLimitStore()
    assert not isinstance(plain, AsyncRateLimitStore)


def test_atry_acquire() -> None:
    """atry_acquire is a coroutine of a bool, over either kind of store."""
    limiter = RateLimiter(2, clock=ManualClock(), store=AwaitedRateLimitStore())
    trying: Coroutine[Any, Any, bool] = limiter.atry_acquire(key="a")
    assert_type(asyncio.run(trying), bool)
    with pytest.raises(TypeError):
        asyncio.run(limiter.atry_acquire("2"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
