"""Test doubles: the in-memory stores with an awaitable side, as a store doing I/O has one.

``AwaitedRateLimitStore`` and ``AwaitedBreakerStateStore`` are the in-memory stores plus the
async protocols; with ``suspend=True`` each awaited operation yields to the loop before and
after deciding, as a round trip to Redis does, so that other tasks run in between.
``StrictRateLimitStore`` and ``StrictBreakerStateStore`` raise on every sync step once
``armed``: a limiter or breaker built over one proves that its async paths await the async
side only. ``AwaitedRateLimiter`` and ``AwaitedCircuitBreaker`` build over an awaited store
when none is given, so that existing suites run again over one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

from python_mastery_portfolio.resilience import (
    BreakerAdmission,
    BreakerPolicy,
    CircuitBreaker,
    CircuitBreakerStats,
    CircuitState,
    InMemoryBreakerStateStore,
    InMemoryRateLimitStore,
    RateLimitDecision,
    RateLimiter,
    RateLimitStoreStats,
    Transition,
)


class AwaitedRateLimitStore(InMemoryRateLimitStore):
    """The in-memory rate-limit store with an awaitable side sharing its buckets."""

    __slots__ = ("async_calls", "suspend")

    def __init__(self, *, suspend: bool = False, max_keys: int = 10_000) -> None:
        super().__init__(max_keys=max_keys)
        self.suspend = suspend
        self.async_calls: list[str] = []

    async def _trip(self, name: str) -> None:
        self.async_calls.append(name)
        if self.suspend:
            await asyncio.sleep(0)

    async def atry_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        await self._trip("atry_take")
        granted = InMemoryRateLimitStore.try_take(self, key, cost, now, tolerance)
        if self.suspend:
            await asyncio.sleep(0)
        return granted

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
        await self._trip("atake")
        decision = InMemoryRateLimitStore.take(
            self, key, cost, now, tolerance, interval=interval, max_wait=max_wait
        )
        if self.suspend:
            await asyncio.sleep(0)
        return decision

    async def arelease(self, key: Hashable, refund: int, tat: int) -> bool:
        await self._trip("arelease")
        moved = InMemoryRateLimitStore.release(self, key, refund, tat)
        if self.suspend:
            await asyncio.sleep(0)
        return moved


class StrictRateLimitStore(AwaitedRateLimitStore):
    """An awaited store whose sync decisions raise once ``armed``."""

    __slots__ = ("armed",)

    def __init__(self, *, suspend: bool = False) -> None:
        super().__init__(suspend=suspend)
        self.armed = False

    def _forbid(self, name: str) -> None:
        if self.armed:
            raise AssertionError(f"the sync {name} was called on an async path")

    def try_take(self, key: Hashable, cost: int, now: int, tolerance: int) -> bool:
        self._forbid("try_take")
        return super().try_take(key, cost, now, tolerance)

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
        self._forbid("take")
        return super().take(key, cost, now, tolerance, interval=interval, max_wait=max_wait)

    def release(self, key: Hashable, refund: int, tat: int) -> bool:
        self._forbid("release")
        return super().release(key, refund, tat)

    def stats(self, now: int) -> RateLimitStoreStats:
        self._forbid("stats")
        return super().stats(now)


class AwaitedBreakerStateStore(InMemoryBreakerStateStore):
    """The in-memory breaker store with an awaitable side sharing its state."""

    __slots__ = ("async_calls", "suspend")

    def __init__(self, *, suspend: bool = False) -> None:
        super().__init__()
        self.suspend = suspend
        self.async_calls: list[str] = []

    async def _trip(self, name: str) -> None:
        self.async_calls.append(name)
        if self.suspend:
            await asyncio.sleep(0)

    async def _back(self) -> None:
        if self.suspend:
            await asyncio.sleep(0)

    async def aview(self) -> tuple[int, CircuitState]:
        await self._trip("aview")
        view = (self.epoch, self.state)
        await self._back()
        return view

    async def aenter(self, policy: BreakerPolicy) -> BreakerAdmission:
        await self._trip("aenter")
        admission = InMemoryBreakerStateStore.enter(self, policy)
        await self._back()
        return admission

    async def arecord_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        await self._trip("arecord_success")
        moved = InMemoryBreakerStateStore.record_success(self, ticket, policy)
        await self._back()
        return moved

    async def arecord_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        await self._trip("arecord_failure")
        moved = InMemoryBreakerStateStore.record_failure(self, ticket, policy)
        await self._back()
        return moved

    async def arecord_ignored(self, ticket: int) -> None:
        await self._trip("arecord_ignored")
        InMemoryBreakerStateStore.record_ignored(self, ticket)
        await self._back()


class StrictBreakerStateStore:
    """A breaker store with both sides whose sync steps (and state reads) raise once ``armed``.

    It wraps an :class:`AwaitedBreakerStateStore`: the in-memory store's ``state`` and
    ``epoch`` are plain attributes, which a subclass could not make raise.
    """

    def __init__(self, *, suspend: bool = False) -> None:
        self.inner = AwaitedBreakerStateStore(suspend=suspend)
        self.armed = False

    def _forbid(self, name: str) -> None:
        if self.armed:
            raise AssertionError(f"the sync {name} was called on an async path")

    @property
    def state(self) -> CircuitState:
        self._forbid("state")
        return self.inner.state

    @property
    def epoch(self) -> int:
        self._forbid("epoch")
        return self.inner.epoch

    @property
    def forced(self) -> CircuitState | None:
        self._forbid("forced")
        return self.inner.forced

    def current_state(self, policy: BreakerPolicy) -> CircuitState:
        self._forbid("current_state")
        return self.inner.current_state(policy)

    def enter(self, policy: BreakerPolicy) -> BreakerAdmission:
        self._forbid("enter")
        return self.inner.enter(policy)

    def record_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        self._forbid("record_success")
        return self.inner.record_success(ticket, policy)

    def record_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        self._forbid("record_failure")
        return self.inner.record_failure(ticket, policy)

    def record_ignored(self, ticket: int) -> None:
        self._forbid("record_ignored")
        self.inner.record_ignored(ticket)

    def reset(self, policy: BreakerPolicy) -> bool:
        self._forbid("reset")
        return self.inner.reset(policy)

    def force(self, state: CircuitState, policy: BreakerPolicy) -> bool:
        self._forbid("force")
        return self.inner.force(state, policy)

    def stats(self, policy: BreakerPolicy) -> CircuitBreakerStats:
        self._forbid("stats")
        return self.inner.stats(policy)

    def has_transitions(self) -> bool:
        return self.inner.has_transitions()  # the in-process log: no I/O, allowed

    def drain_transitions(self) -> list[Transition]:
        return self.inner.drain_transitions()

    async def aview(self) -> tuple[int, CircuitState]:
        return await self.inner.aview()

    async def aenter(self, policy: BreakerPolicy) -> BreakerAdmission:
        return await self.inner.aenter(policy)

    async def arecord_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        return await self.inner.arecord_success(ticket, policy)

    async def arecord_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        return await self.inner.arecord_failure(ticket, policy)

    async def arecord_ignored(self, ticket: int) -> None:
        await self.inner.arecord_ignored(ticket)


class AwaitedRateLimiter(RateLimiter):
    """A RateLimiter over a new :class:`AwaitedRateLimitStore` unless given a store."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("store") is None:
            kwargs["store"] = AwaitedRateLimitStore(max_keys=kwargs.pop("max_keys", 10_000))
        super().__init__(*args, **kwargs)


class AwaitedCircuitBreaker(CircuitBreaker):
    """A CircuitBreaker over a new :class:`AwaitedBreakerStateStore` unless given a store."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("store") is None:
            kwargs["store"] = AwaitedBreakerStateStore()
        super().__init__(*args, **kwargs)
