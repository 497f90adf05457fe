"""The contract suites of rate-limit stores, sync and async (awaited decisions).

Every :class:`~python_mastery_portfolio.resilience.RateLimitStore` passes
:class:`RateLimitStoreContract` -- our ``InMemoryRateLimitStore``, the Redis store, your own:
taking and refusing, ``retry_after`` and ``remaining``, the burst, a cost above the burst,
reservations and their release, per-key isolation, reset, statistics and atomic decisions
under many real threads. A store that is also an
:class:`~python_mastery_portfolio.resilience.AsyncRateLimitStore` passes
:class:`AsyncRateLimitStoreContract` as well: the same decisions awaited, on the same buckets
as the sync side, atomic under many tasks at once.

Subclass it in a ``test_*.py`` module under a ``Test`` name and implement :meth:`make_store`;
the suite gives every operation its ``now`` explicitly and never sleeps. Every time, cost and
duration is an ``int`` of nanoseconds, as the protocol says. It needs pytest.

Example:
    >>> from python_mastery_portfolio.resilience import InMemoryRateLimitStore
    >>> class TestMyStore(RateLimitStoreContract):
    ...     def make_store(self) -> InMemoryRateLimitStore:
    ...         return InMemoryRateLimitStore()
    >>> TestMyStore().make_store().try_take("k", INTERVAL, 1000 * SECOND, TOLERANCE)
    True
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable
from typing import Any, TypeVar, get_type_hints

import pytest

from python_mastery_portfolio.resilience import (
    AsyncRateLimitStore,
    RateLimitDecision,
    RateLimitStore,
    RateLimitStoreStats,
)
from python_mastery_portfolio.testing.contracts._loops import EventLoopChecks
from python_mastery_portfolio.testing.contracts._threads import THREADS, run_together

__all__ = [
    "BURST",
    "INTERVAL",
    "SECOND",
    "STAT_KEYS",
    "TOLERANCE",
    "AsyncRateLimitStoreContract",
    "RateLimitStoreContract",
]

T = TypeVar("T")

STAT_KEYS = frozenset(get_type_hints(RateLimitStoreStats))
"""The keys of :class:`~python_mastery_portfolio.resilience.RateLimitStoreStats`."""

SECOND = 1_000_000_000
"""A second in the stores' unit, nanoseconds."""
INTERVAL = SECOND // 4
"""The suite's bucket: one token back every quarter second..."""
TOLERANCE = SECOND
"""... and room for :data:`BURST` of them."""
BURST = 4
"""Tokens in the suite's bucket."""
T0 = 1000 * SECOND  # the suite's first reading of the clock


def ns(seconds: float) -> int:
    """Return ``seconds`` in nanoseconds (the suite's times are exact in binary)."""
    return round(seconds * SECOND)


class RateLimitStoreContract:
    """Behaviour every :class:`RateLimitStore` shows; subclass it and implement :meth:`make_store`.

    Not collected on its own (no ``Test`` prefix). Keys are ``None``, strings, ints and
    tuples of them; times start at 1000 s (in nanoseconds) and only move forward.
    """

    def make_store(self) -> RateLimitStore:
        """Return a new store under test, with every bucket full, keeping at least 100 keys."""
        raise NotImplementedError

    # -- helpers --

    def take(
        self,
        store: RateLimitStore,
        key: Hashable,
        tokens: int,
        now: float,
        max_wait: float | None,
    ) -> RateLimitDecision:
        """Take ``tokens`` of the suite's bucket (4 tokens, one back every 0.25 s) at ``now`` s."""
        return store.take(
            key,
            tokens * INTERVAL,
            ns(now),
            TOLERANCE,
            interval=INTERVAL,
            max_wait=None if max_wait is None else ns(max_wait),
        )

    def try_take(self, store: RateLimitStore, key: Hashable, tokens: int, now: float) -> bool:
        """Try to take ``tokens`` of the suite's bucket at once, at ``now`` seconds."""
        return store.try_take(key, tokens * INTERVAL, ns(now), TOLERANCE)

    # -- the protocol --

    def test_implements_the_protocol(self) -> None:
        """The store is a RateLimitStore at run time."""
        assert isinstance(self.make_store(), RateLimitStore)

    @pytest.mark.parametrize("key", [None, "user", 7, ("tenant", 3)], ids=repr)
    def test_full_bucket_grants_the_burst_then_refuses(self, key: Hashable) -> None:
        """A new key's bucket is full: ``burst`` single tokens, then a refusal."""
        store = self.make_store()
        assert [self.try_take(store, key, 1, 1000.0) for _ in range(BURST + 1)] == [
            *([True] * BURST),
            False,
        ]

    def test_tokens_come_back_one_interval_each(self) -> None:
        """After the burst, one token comes back every interval."""
        store = self.make_store()
        assert self.try_take(store, "k", BURST, 1000.0)
        assert not self.try_take(store, "k", 1, 1000.125)
        assert self.try_take(store, "k", 1, 1000.25)
        assert not self.try_take(store, "k", 1, 1000.25)

    def test_refill_is_capped_at_the_burst(self) -> None:
        """An idle bucket never holds more than the burst."""
        store = self.make_store()
        assert self.try_take(store, "k", 1, 1000.0)
        assert [self.try_take(store, "k", 1, 5000.0) for _ in range(BURST + 1)].count(True) == BURST

    def test_several_tokens_at_once(self) -> None:
        """A cost of several tokens takes them together or not at all."""
        store = self.make_store()
        assert self.try_take(store, "k", 3, 1000.0)
        assert not self.try_take(store, "k", 2, 1000.0)
        assert self.try_take(store, "k", 1, 1000.0)

    def test_the_burst_of_inexact_intervals(self) -> None:
        """Intervals that are no fraction of a second in binary grant the whole burst, exactly."""
        store = self.make_store()
        interval = SECOND // 3
        granted = [store.try_take("k", interval, T0, 3 * interval) for _ in range(4)]
        assert granted == [True, True, True, False]
        assert store.backlog("k", T0 + interval) == 2 * interval
        assert store.try_take("k", interval, T0 + interval, 3 * interval)

    def test_exact_at_a_year_of_uptime(self) -> None:
        """Near 3e7 s the line still holds whole nanoseconds: no token is lost to rounding."""
        store = self.make_store()
        interval = SECOND // 100
        now = 30_000_000 * SECOND
        assert all(store.try_take("k", interval, now, 100 * interval) for _ in range(100))
        assert not store.try_take("k", interval, now, 100 * interval)
        later = now + 3 * interval
        assert store.backlog("k", later) == 97 * interval
        decision = store.take("k", interval, later, 100 * interval, interval=interval, max_wait=0)
        assert (decision.allowed, decision.remaining) == (True, 2.0)

    def test_cost_above_the_burst_is_never_granted_at_once(self) -> None:
        """A cost larger than the burst is refused even by a full bucket."""
        store = self.make_store()
        assert not self.try_take(store, "k", BURST + 1, 1000.0)
        decision = self.take(store, "k", BURST + 1, 1000.0, 0)
        assert not decision.allowed
        assert decision.retry_after == INTERVAL
        assert self.try_take(store, "k", BURST, 1000.0)

    def test_granted_decision(self) -> None:
        """Granted at once: no wait, and the tokens left in ``remaining``."""
        store = self.make_store()
        decision = self.take(store, "k", 1, 1000.0, 0)
        assert isinstance(decision, RateLimitDecision)
        assert decision.allowed
        assert decision.retry_after == 0
        assert decision.remaining == BURST - 1
        assert decision.end == T0 + INTERVAL

    def test_refused_decision_leaves_the_bucket(self) -> None:
        """Refused: when to retry, the tokens there now, and nothing taken."""
        store = self.make_store()
        assert self.try_take(store, "k", 3, 1000.0)
        decision = self.take(store, "k", 2, 1000.0, 0)
        assert not decision.allowed
        assert decision.retry_after == INTERVAL
        assert decision.remaining == 1
        assert self.try_take(store, "k", 1, 1000.0)

    def test_retry_after_is_when_the_tokens_are_there(self) -> None:
        """Retrying exactly ``retry_after`` later succeeds."""
        store = self.make_store()
        assert self.try_take(store, "k", BURST, 1000.0)
        decision = self.take(store, "k", 2, 1000.0, 0)
        assert decision.retry_after == 2 * INTERVAL
        assert not store.try_take("k", 2 * INTERVAL, T0 + decision.retry_after - 1, TOLERANCE)
        assert store.try_take("k", 2 * INTERVAL, T0 + decision.retry_after, TOLERANCE)

    def test_reservation_within_max_wait(self) -> None:
        """A wait within ``max_wait`` reserves the tokens; a longer one is refused."""
        store = self.make_store()
        assert self.try_take(store, "k", BURST, 1000.0)
        assert not self.take(store, "k", 2, 1000.0, 0.25).allowed
        decision = self.take(store, "k", 2, 1000.0, 0.5)
        assert (decision.allowed, decision.remaining) == (True, 0)
        assert decision.retry_after == 2 * INTERVAL
        assert decision.end == T0 + TOLERANCE + 2 * INTERVAL
        # The reserved slot is taken: nothing is left until it has passed.
        assert not self.try_take(store, "k", 1, 1000.5)
        assert self.try_take(store, "k", 1, 1000.75)
        assert store.release("k", 0, decision.end) is False

    def test_unbounded_reservations_queue_up(self) -> None:
        """With ``max_wait=None`` each reservation waits behind the previous one."""
        store = self.make_store()
        assert self.try_take(store, None, BURST, 1000.0)
        waits = [self.take(store, None, 1, 1000.0, None).retry_after for _ in range(3)]
        assert waits == [INTERVAL, 2 * INTERVAL, 3 * INTERVAL]

    def test_release_hands_back_time_when_nothing_came_after(self) -> None:
        """A refund goes back only while the bucket's line still ends at the given ``tat``."""
        store = self.make_store()
        assert self.try_take(store, "k", BURST, 1000.0)
        first = self.take(store, "k", 1, 1000.0, None)
        second = self.take(store, "k", 1, 1000.0, None)
        assert store.release("k", INTERVAL, first.end) is False  # second came after it
        assert store.release("k", INTERVAL, second.end) is True
        assert store.backlog("k", T0) == TOLERANCE + INTERVAL

    def test_backlog(self) -> None:
        """``backlog`` is how far the line runs ahead of now, 0 for a full bucket."""
        store = self.make_store()
        assert store.backlog("k", T0) == 0
        assert self.try_take(store, "k", 3, 1000.0)
        assert store.backlog("k", T0) == 3 * INTERVAL
        assert store.backlog("k", ns(1000.5)) == INTERVAL
        assert store.backlog("k", ns(1010.0)) == 0

    def test_keys_are_isolated(self) -> None:
        """Each key, and ``None``, has a bucket of its own."""
        store = self.make_store()
        for key in (None, "a", 1, ("a", 1)):
            assert self.try_take(store, key, BURST, 1000.0)
        for key in (None, "a", 1, ("a", 1)):
            assert not self.try_take(store, key, 1, 1000.0)
        assert self.try_take(store, "b", BURST, 1000.0)

    def test_reset_refills_one_key(self) -> None:
        """``reset`` refills one bucket and leaves the others."""
        store = self.make_store()
        for key in (None, "a", "b"):
            assert self.try_take(store, key, BURST, 1000.0)
        store.reset("a")
        store.reset(None)
        assert self.try_take(store, "a", BURST, 1000.0)
        assert self.try_take(store, None, BURST, 1000.0)
        assert not self.try_take(store, "b", 1, 1000.0)

    def test_clear_refills_every_key(self) -> None:
        """``clear`` refills every bucket."""
        store = self.make_store()
        for key in (None, "a", "b"):
            assert self.try_take(store, key, BURST, 1000.0)
        store.clear()
        for key in (None, "a", "b"):
            assert self.try_take(store, key, BURST, 1000.0)

    def test_stats(self) -> None:
        """``stats`` counts grants, refusals and live keyed buckets."""
        store = self.make_store()
        assert self.try_take(store, "a", 1, 1000.0)
        assert self.take(store, "b", BURST, 1000.0, 0).allowed
        assert not self.try_take(store, "b", 1, 1000.0)
        assert not self.take(store, "b", 1, 1000.0, 0).allowed
        stats = store.stats(T0)
        assert set(stats) == STAT_KEYS
        assert (stats["granted"], stats["refused"], stats["keys"]) == (2, 2, 2)
        assert store.stats(ns(5000.0))["keys"] == 0

    def test_threads_never_take_more_than_the_burst(self) -> None:
        """Many threads at one instant get exactly the burst between them."""
        store = self.make_store()
        granted: list[bool] = []
        lock = threading.Lock()
        burst = 50

        def body(index: int) -> None:
            for _ in range(100):
                result = store.try_take("shared", INTERVAL, T0, burst * INTERVAL)
                with lock:
                    granted.append(result)

        run_together(body)
        assert granted.count(True) == burst
        stats = store.stats(T0)
        assert (stats["granted"], stats["refused"]) == (burst, THREADS * 100 - burst)

    def test_threads_reserve_disjoint_slots(self) -> None:
        """Reservations made by many threads at once get one slot each, back to back."""
        store = self.make_store()
        assert self.try_take(store, "k", BURST, 1000.0)
        ends: list[int] = []
        lock = threading.Lock()

        def body(index: int) -> None:
            for _ in range(30):
                decision = self.take(store, "k", 1, 1000.0, None)
                with lock:
                    ends.append(decision.end)

        run_together(body)
        expected = [T0 + TOLERANCE + INTERVAL * (n + 1) for n in range(THREADS * 30)]
        assert sorted(ends) == expected
        for end in ends:
            store.release("k", 0, end)


class AsyncRateLimitStoreContract(EventLoopChecks):
    """Behaviour of a store that is both a :class:`RateLimitStore` and an ``AsyncRateLimitStore``.

    Subclass it and implement :meth:`make_store`; not collected on its own (no ``Test``
    prefix). Each check runs its own event loop (``asyncio.run``), many tasks at once where it
    checks atomicity, and calls :meth:`aclose_store` before the loop ends. The awaited
    operations decide exactly as the sync ones, on the same buckets.
    """

    def make_store(self) -> Any:
        """Return a new store implementing both protocols, every bucket full."""
        raise NotImplementedError

    async def atake(
        self, store: Any, key: Hashable, tokens: int, now: float, max_wait: float | None
    ) -> RateLimitDecision:
        """Await taking ``tokens`` of the suite's bucket at ``now`` seconds."""
        decision: RateLimitDecision = await store.atake(
            key,
            tokens * INTERVAL,
            ns(now),
            TOLERANCE,
            interval=INTERVAL,
            max_wait=None if max_wait is None else ns(max_wait),
        )
        return decision

    async def atry_take(self, store: Any, key: Hashable, tokens: int, now: float) -> bool:
        """Await trying to take ``tokens`` of the suite's bucket at ``now`` seconds."""
        granted: bool = await store.atry_take(key, tokens * INTERVAL, ns(now), TOLERANCE)
        return granted

    def test_implements_both_protocols(self) -> None:
        """The store is an AsyncRateLimitStore and a RateLimitStore at run time."""
        store = self.make_store()
        assert isinstance(store, AsyncRateLimitStore)
        assert isinstance(store, RateLimitStore)

    @pytest.mark.parametrize("key", [None, "user", 7, ("tenant", 3)], ids=repr)
    def test_atry_take_grants_the_burst_then_refuses(self, key: Hashable) -> None:
        """A new key's bucket is full: ``burst`` single tokens awaited, then a refusal."""
        store = self.make_store()

        async def check() -> list[bool]:
            return [await self.atry_take(store, key, 1, 1000.0) for _ in range(BURST + 1)]

        assert self.run(store, check) == [*([True] * BURST), False]

    def test_atake_decisions(self) -> None:
        """Granted, refused and reserved, with the numbers of the sync ``take``."""
        store = self.make_store()

        async def check() -> list[RateLimitDecision]:
            return [
                await self.atake(store, "k", 3, 1000.0, 0),
                await self.atake(store, "k", 2, 1000.0, 0),
                await self.atake(store, "k", 2, 1000.0, 0.25),
                await self.atake(store, "k", 2, 1000.0, None),
            ]

        granted, refused, reserved, queued = self.run(store, check)
        assert (granted.allowed, granted.retry_after, granted.remaining) == (True, 0, 1)
        assert granted.end == T0 + 3 * INTERVAL
        assert (refused.allowed, refused.retry_after, refused.remaining) == (False, INTERVAL, 1)
        assert (reserved.allowed, reserved.retry_after) == (True, INTERVAL)
        assert reserved.end == T0 + TOLERANCE + INTERVAL
        assert (queued.allowed, queued.retry_after) == (True, 3 * INTERVAL)
        assert queued.end == T0 + TOLERANCE + 3 * INTERVAL
        for end in (reserved.end, queued.end):
            store.release("k", 0, end)

    def test_arelease_hands_back_time_when_nothing_came_after(self) -> None:
        """An awaited refund goes back only while the line still ends at the given ``tat``."""
        store = self.make_store()

        async def check() -> tuple[bool, bool]:
            assert await self.atry_take(store, "k", BURST, 1000.0)
            first = await self.atake(store, "k", 1, 1000.0, None)
            second = await self.atake(store, "k", 1, 1000.0, None)
            return (
                await store.arelease("k", INTERVAL, first.end),  # second came after it
                await store.arelease("k", INTERVAL, second.end),
            )

        assert self.run(store, check) == (False, True)
        assert store.backlog("k", T0) == TOLERANCE + INTERVAL

    def test_sync_and_async_sides_share_the_buckets(self) -> None:
        """Tokens taken on one side are gone from the other; a reset reaches both."""
        store = self.make_store()
        assert self.try_take_sync(store, "k", 2)

        async def check() -> tuple[bool, ...]:
            taken = await self.atry_take(store, "k", 2, 1000.0)
            refused = await self.atry_take(store, "k", 1, 1000.0)
            store.reset("k")
            return (taken, refused, await self.atry_take(store, "k", BURST, 1000.0))

        assert self.run(store, check) == (True, False, True)
        assert not self.try_take_sync(store, "k", 1)
        stats = store.stats(T0)
        assert (stats["granted"], stats["refused"]) == (3, 2)

    def try_take_sync(self, store: Any, key: Hashable, tokens: int) -> bool:
        """Take ``tokens`` on the sync side at the suite's first instant."""
        granted: bool = store.try_take(key, tokens * INTERVAL, T0, TOLERANCE)
        return granted

    def test_tasks_never_take_more_than_the_burst(self) -> None:
        """Many tasks at one instant get exactly the burst between them."""
        store = self.make_store()
        burst = 50

        async def one() -> bool:
            granted: bool = await store.atry_take("shared", INTERVAL, T0, burst * INTERVAL)
            return granted

        async def check() -> list[bool]:
            return list(await asyncio.gather(*(one() for _ in range(400))))

        assert self.run(store, check).count(True) == burst
        stats = store.stats(T0)
        assert (stats["granted"], stats["refused"]) == (burst, 400 - burst)

    def test_tasks_reserve_disjoint_slots(self) -> None:
        """Reservations made by many tasks at once get one slot each, back to back."""
        store = self.make_store()

        async def check() -> list[int]:
            assert await self.atry_take(store, "k", BURST, 1000.0)
            decisions = await asyncio.gather(
                *(self.atake(store, "k", 1, 1000.0, None) for _ in range(200))
            )
            ends = [decision.end for decision in decisions]
            for end in ends:
                await store.arelease("k", 0, end)
            return ends

        ends = self.run(store, check)
        assert sorted(ends) == [T0 + TOLERANCE + INTERVAL * (n + 1) for n in range(200)]
