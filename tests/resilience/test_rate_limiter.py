"""Tests of RateLimiter and @rate_limit (python_mastery_portfolio.resilience)."""

from __future__ import annotations

import asyncio
import inspect
import math
import threading
from collections.abc import Hashable, Iterator
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_mastery_portfolio.exceptions import PortfolioError, RateLimitError
from python_mastery_portfolio.resilience import (
    InMemoryRateLimitStore,
    RateLimitDecision,
    RateLimiter,
    RateLimitVerdict,
    rate_limit,
)
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import TIMEOUT, raise_first, run_threads


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SteppingClock:
    """A clock whose waits really block until the test advances time past their deadline.

    ``ManualClock`` ends every wait at once; these tests need waiters that are still waiting
    while something else happens (a cancellation, another caller).
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._cond = threading.Condition()
        self._timers: list[tuple[float, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.sleeping = 0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            self.sleeps.append(seconds)
            deadline = self._now + seconds
            self.sleeping += 1
            self._cond.notify_all()
            try:
                woken = self._cond.wait_for(lambda: self._now >= deadline, timeout=10)
            finally:
                self.sleeping -= 1
        assert woken, "a thread was never woken"

    async def asleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            self.sleeps.append(seconds)
            self._timers.append((self._now + seconds, loop, future))
        await future

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds
            due = [timer for timer in self._timers if timer[0] <= self._now]
            self._timers = [timer for timer in self._timers if timer[0] > self._now]
            self._cond.notify_all()
        for _, loop, future in due:
            loop.call_soon_threadsafe(_resolve, future)

    def wait_for_sleepers(self, count: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.sleeping >= count, timeout=10)


class InterruptedClock(ManualClock):
    """A manual clock whose thread sleeps are interrupted, as by Ctrl-C."""

    def sleep(self, seconds: float) -> None:
        raise KeyboardInterrupt


async def settle() -> None:
    """Let every ready task and callback run."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"rate": 0}, ValueError, "rate"),
            ({"rate": -1}, ValueError, "rate"),
            ({"rate": math.nan}, ValueError, "rate"),
            ({"rate": "5"}, TypeError, "rate"),
            ({"rate": True}, TypeError, "rate"),
            ({"rate": 1, "per": 0}, ValueError, "per"),
            ({"rate": 1, "burst": 0.5}, ValueError, "burst"),
            ({"rate": 1, "max_keys": 0}, ValueError, "max_keys"),
            ({"rate": 1, "max_keys": 1.5}, TypeError, "max_keys"),
            ({"rate": 1, "max_keys": True}, TypeError, "max_keys"),
            ({"rate": 1, "clock": object()}, TypeError, "clock"),
            ({"rate": math.inf}, ValueError, "rate"),
            ({"rate": 1, "per": math.inf}, ValueError, "per"),
            ({"rate": 1, "burst": math.inf}, ValueError, "burst"),
        ],
        ids=[
            "rate-zero",
            "rate-negative",
            "rate-nan",
            "rate-str",
            "rate-bool",
            "per-zero",
            "burst-below-one",
            "max-keys-zero",
            "max-keys-float",
            "max-keys-bool",
            "clock",
            "rate-inf",
            "per-inf",
            "burst-inf",
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], error: type[Exception], name: str) -> None:
        """Wrong arguments raise at construction, naming the parameter."""
        with pytest.raises(error, match=name):
            RateLimiter(**kwargs)

    @pytest.mark.parametrize(
        ("rate", "burst", "expected"),
        [(5, None, 5), (0.5, None, 1.0), (5, 2, 2)],
        ids=["rate", "at-least-one", "explicit"],
    )
    def test_burst(self, rate: float, burst: float | None, expected: float) -> None:
        """The burst defaults to the rate, and to 1 when the rate is below 1."""
        limiter = RateLimiter(rate, burst=burst)
        assert limiter.burst == expected
        assert (limiter.rate, limiter.per) == (rate, 1.0)

    def test_repr(self) -> None:
        """The repr shows the configuration."""
        assert repr(RateLimiter(2, 3.0)) == "RateLimiter(rate=2, per=3.0, burst=2.0)"


class TestTryAcquire:
    def test_burst_then_refuse(self, clock: ManualClock) -> None:
        """A full bucket grants ``burst`` tokens at once and then refuses."""
        limiter = RateLimiter(3, clock=clock)
        assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
        assert clock.sleeps == []

    def test_continuous_refill(self, clock: ManualClock) -> None:
        """Tokens come back continuously, one every ``per / rate`` seconds."""
        limiter = RateLimiter(4, clock=clock)
        assert limiter.try_acquire(4)
        clock.advance(0.125)
        assert not limiter.try_acquire()
        clock.advance(0.125)
        assert limiter.try_acquire()
        assert not limiter.try_acquire()

    def test_refill_capped_at_burst(self, clock: ManualClock) -> None:
        """An idle bucket never holds more than ``burst`` tokens."""
        limiter = RateLimiter(2, clock=clock)
        clock.advance(100)
        assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]

    def test_several_tokens(self, clock: ManualClock) -> None:
        """Taking several tokens at once leaves the rest."""
        limiter = RateLimiter(5, clock=clock)
        assert limiter.try_acquire(3)
        assert not limiter.try_acquire(3)
        assert limiter.try_acquire(2)

    @pytest.mark.parametrize(
        ("tokens", "error"),
        [(6, ValueError), (0, ValueError), (-1, ValueError), ("2", TypeError)],
        ids=["over-burst", "zero", "negative", "str"],
    )
    def test_bad_tokens(self, clock: ManualClock, tokens: Any, error: type[Exception]) -> None:
        """More tokens than ``burst`` (never possible) or a bad count fails at once."""
        limiter = RateLimiter(5, clock=clock)
        for method in (limiter.try_acquire, limiter.acquire):
            with pytest.raises(error, match="tokens"):
                method(tokens)
        assert limiter.stats()["rejected"] == 0

    def test_fractional_tokens(self, clock: ManualClock) -> None:
        """Fractions of tokens are fine."""
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire(0.5)
        assert limiter.try_acquire(0.5)
        assert not limiter.try_acquire(0.5)


class TestAvailable:
    def test_reports_tokens_left(self, clock: ManualClock) -> None:
        """``available`` reports the tokens there now, refilling, capped at ``burst``."""
        limiter = RateLimiter(4, clock=clock)
        assert limiter.available() == 4
        assert limiter.try_acquire(3, key="a")
        assert limiter.available(key="a") == 1
        clock.advance(0.5)
        assert limiter.available(key="a") == 3
        clock.advance(10)
        assert limiter.available(key="a") == 4
        assert limiter.stats()["allowed"] == 1

    async def test_zero_while_waiters_wait(self) -> None:
        """Tokens reserved by waiters are not available."""
        clock = SteppingClock()
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire()
        waiter = asyncio.create_task(limiter.aacquire())
        await settle()
        assert limiter.available() == 0
        clock.advance(1)
        await settle()
        assert waiter.done()


class TestAcquire:
    def test_waits_exactly(self, clock: ManualClock) -> None:
        """An empty bucket makes acquire sleep exactly until the token is back."""
        limiter = RateLimiter(4, burst=1, clock=clock)
        limiter.acquire()
        limiter.acquire()
        limiter.acquire(timeout=0.25)
        assert clock.sleeps == [0.25, 0.25]
        assert limiter.stats()["waited"] == 2

    def test_timeout_raises_at_once(self, clock: ManualClock) -> None:
        """A wait longer than the timeout raises at once and takes nothing."""
        limiter = RateLimiter(2, burst=1, clock=clock)
        limiter.acquire()
        with pytest.raises(RateLimitError) as info:
            limiter.acquire(timeout=0.25)
        assert info.value.retry_after == 0.5
        assert info.value.limit == 2
        assert isinstance(info.value, PortfolioError)
        assert clock.sleeps == []
        limiter.acquire()
        assert clock.sleeps == [0.5]
        assert limiter.stats()["rejected"] == 1

    def test_timeout_zero_never_waits(self, clock: ManualClock) -> None:
        """``timeout=0`` grants what is there and raises otherwise."""
        limiter = RateLimiter(1, clock=clock)
        limiter.acquire(timeout=0)
        with pytest.raises(RateLimitError, match="retry in 1s"):
            limiter.acquire(timeout=0)
        assert clock.sleeps == []

    @pytest.mark.parametrize("timeout", [-1, math.nan], ids=["negative", "nan"])
    def test_bad_timeout(self, clock: ManualClock, timeout: float) -> None:
        """A negative or NaN timeout is a ValueError naming it."""
        limiter = RateLimiter(1, clock=clock)
        with pytest.raises(ValueError, match="timeout"):
            limiter.acquire(timeout=timeout)

    def test_retry_after_is_exact(self, clock: ManualClock) -> None:
        """``retry_after`` is exactly when the tokens are there: not before, but then."""
        limiter = RateLimiter(3, per=2.0, clock=clock)
        limiter.acquire(3)
        with pytest.raises(RateLimitError) as info:
            limiter.acquire(2, timeout=0)
        retry_after = info.value.retry_after
        assert retry_after is not None
        clock.advance(retry_after * 0.99)
        assert not limiter.try_acquire(2)
        clock.advance(retry_after * 0.01)
        assert limiter.try_acquire(2)

    def test_interrupted_wait_returns_tokens(self) -> None:
        """A thread interrupted while waiting takes no tokens."""
        clock = InterruptedClock()
        limiter = RateLimiter(1, clock=clock)
        limiter.acquire()
        with pytest.raises(KeyboardInterrupt):
            limiter.acquire()
        clock.advance(1)
        assert limiter.try_acquire()
        stats = limiter.stats()
        assert (stats["cancelled"], stats["waiting"], stats["allowed"]) == (1, 0, 2)

    def test_waiters_queue_ahead_of_try_acquire(self) -> None:
        """A reservation holds its place: later callers cannot take its tokens."""
        stepping = SteppingClock()
        limiter = RateLimiter(1, clock=stepping)
        limiter.acquire()
        thread = threading.Thread(target=limiter.acquire)
        thread.start()
        stepping.wait_for_sleepers(1)
        stepping.advance(0.5)
        assert not limiter.try_acquire()
        assert limiter.stats()["waiting"] == 1
        stepping.advance(0.5)
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert not limiter.try_acquire()
        assert stepping.sleeps == [1.0]


class TestAsyncAcquire:
    async def test_waits_on_the_clock(self, clock: ManualClock) -> None:
        """aacquire waits through ``clock.asleep``, exactly as long as needed."""
        limiter = RateLimiter(4, burst=1, clock=clock)
        await limiter.aacquire()
        await limiter.aacquire()
        assert clock.sleeps == [0.25]

    async def test_timeout_raises_at_once(self, clock: ManualClock) -> None:
        """A wait longer than the timeout raises at once and takes nothing."""
        limiter = RateLimiter(1, clock=clock)
        await limiter.aacquire()
        with pytest.raises(RateLimitError) as info:
            await limiter.aacquire(timeout=0.5)
        assert info.value.retry_after == 1.0
        with pytest.raises(ValueError, match="timeout"):
            await limiter.aacquire(timeout=-1)
        await limiter.aacquire(timeout=1)
        assert clock.sleeps == [1.0]

    async def test_does_not_block_the_loop(self) -> None:
        """While one task waits for a token, the others keep running."""
        clock = SteppingClock()
        limiter = RateLimiter(1, clock=clock)
        await limiter.aacquire()
        waiter = asyncio.create_task(limiter.aacquire())
        await settle()
        assert not waiter.done()
        ran = asyncio.Event()
        asyncio.get_running_loop().call_soon(ran.set)
        await asyncio.wait_for(ran.wait(), timeout=5)
        clock.advance(1)
        await settle()
        assert waiter.done()

    async def test_first_come_first_served(self, clock: ManualClock) -> None:
        """Waiters are served in arrival order, one emission interval apart."""
        limiter = RateLimiter(8, burst=1, clock=clock)
        order: list[int] = []

        async def take(index: int) -> None:
            await limiter.aacquire()
            order.append(index)

        await asyncio.gather(*(take(index) for index in range(20)))
        assert order == list(range(20))
        assert clock.sleeps == [0.125] * 19
        assert clock.now() == 19 * 0.125

    async def test_cancelled_waiter_does_not_hold_up_the_next(self) -> None:
        """A cancelled waiter takes nothing and the waiters behind it move forward."""
        clock = SteppingClock()
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire()
        done: dict[str, float] = {}

        async def take(name: str) -> None:
            await limiter.aacquire()
            done[name] = clock.now()

        tasks = {}
        for name in "abc":
            tasks[name] = asyncio.create_task(take(name))
            await settle()
        tasks["b"].cancel()
        await settle()
        clock.advance(1)
        await settle()
        assert done == {"a": 1.0}
        clock.advance(1)
        await settle()
        assert done == {"a": 1.0, "c": 2.0}
        assert not limiter.try_acquire()
        clock.advance(1)
        assert limiter.try_acquire()
        stats = limiter.stats()
        assert (stats["cancelled"], stats["waited"], stats["waiting"]) == (1, 2, 0)

    async def test_cancelled_sleeping_head(self) -> None:
        """Cancelling the waiter at the head hands its slot to the next one at once."""
        clock = SteppingClock()
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire()
        first = asyncio.create_task(limiter.aacquire())
        await settle()
        second = asyncio.create_task(limiter.aacquire())
        await settle()
        clock.advance(0.5)
        first.cancel()
        await settle()
        assert not second.done()
        clock.advance(0.5)
        await settle()
        assert second.done()
        assert first.cancelled()
        assert clock.sleeps == [1.0, 0.5]

    async def test_cancelled_last_waiter_returns_its_tokens(self) -> None:
        """A cancelled waiter at the end of the queue gives its tokens back to the bucket."""
        clock = SteppingClock()
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire()
        waiter = asyncio.create_task(limiter.aacquire())
        await settle()
        waiter.cancel()
        await settle()
        clock.advance(1)
        assert limiter.try_acquire()
        assert limiter.stats()["cancelled"] == 1

    async def test_cancelled_after_its_time_returns_only_the_future(self) -> None:
        """A waiter cancelled after its tokens were due hands back only what lies ahead."""
        clock = ManualClock()
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire()
        first = asyncio.create_task(limiter.aacquire())
        second = asyncio.create_task(limiter.aacquire())
        await asyncio.sleep(0)  # first sleeps (the manual clock jumps to 1.0), second queues
        clock.advance(0.5)
        first.cancel()
        await settle()
        assert second.done()
        assert first.cancelled()
        assert clock.now() == 1.5
        clock.advance(0.5)
        assert not limiter.try_acquire()  # second's slot runs to 2.5: only 0.5 came back
        clock.advance(0.5)
        assert limiter.try_acquire()

    async def test_cancelled_long_after_its_time(self) -> None:
        """A waiter cancelled after its whole slot has passed has nothing to hand back."""
        clock = ManualClock()
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire()
        waiter = asyncio.create_task(limiter.aacquire())
        await asyncio.sleep(0)  # the waiter sleeps: the manual clock jumps to 1.0
        clock.advance(5)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert limiter.try_acquire()
        assert not limiter.try_acquire()
        assert limiter.stats()["cancelled"] == 1

    async def test_cancelled_just_as_its_turn_comes(self) -> None:
        """A waiter cancelled while being told it is next simply leaves the queue."""
        clock = SteppingClock()
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire()
        first = asyncio.create_task(limiter.aacquire())
        second = asyncio.create_task(limiter.aacquire())
        await settle()
        clock.advance(1)
        await asyncio.sleep(0)  # first is woken; its step runs before second's cancellation
        second.cancel()
        await settle()
        assert first.done()
        assert second.cancelled()
        assert not limiter.try_acquire()
        clock.advance(1)
        assert limiter.try_acquire()

    async def test_sync_waiter_keeps_its_slot(self) -> None:
        """A thread's slot does not move; coroutines behind a thread wait for it, then go."""
        clock = SteppingClock()
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire()
        done: dict[str, float] = {}

        async def take(name: str) -> None:
            await limiter.aacquire()
            done[name] = clock.now()

        first = asyncio.create_task(take("first"))
        await settle()
        thread = threading.Thread(target=limiter.acquire)
        thread.start()
        clock.wait_for_sleepers(1)
        last = asyncio.create_task(take("last"))
        await settle()
        first.cancel()
        await settle()
        clock.advance(2)
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        await settle()
        assert "last" not in done
        clock.advance(1)
        await settle()
        assert done == {"last": 3.0}
        assert last.done()
        assert clock.sleeps == [1.0, 2.0, 1.0]

    async def test_many_tasks_exact_counts(self, clock: ManualClock) -> None:
        """A hundred concurrent tasks are all served, with exact counts."""
        limiter = RateLimiter(100, burst=10, clock=clock)
        await asyncio.gather(*(limiter.aacquire() for _ in range(100)))
        stats = limiter.stats()
        assert (stats["allowed"], stats["waited"], stats["waiting"]) == (100, 90, 0)
        assert clock.now() == pytest.approx(0.9)


class TestKeys:
    def test_buckets_are_separate(self, clock: ManualClock) -> None:
        """Each key, and the default bucket, has a bucket of its own."""
        limiter = RateLimiter(1, clock=clock)
        assert limiter.try_acquire(key="a")
        assert limiter.try_acquire(key="b")
        assert limiter.try_acquire()
        assert not limiter.try_acquire(key="a")
        assert limiter.stats()["keys"] == 2

    def test_unhashable_key(self, clock: ManualClock) -> None:
        """A key must be hashable."""
        with pytest.raises(TypeError):
            RateLimiter(1, clock=clock).try_acquire(key=[])  # type: ignore[arg-type]  # the point

    def test_refilled_buckets_are_dropped(self, clock: ManualClock) -> None:
        """A bucket that has refilled is the same as none, so it is dropped."""
        limiter = RateLimiter(1, clock=clock)
        for key in range(5):
            limiter.try_acquire(key=key)
        clock.advance(0.5)
        limiter.try_acquire(key="late")
        assert limiter.stats()["keys"] == 6
        clock.advance(0.5)
        assert limiter.stats()["keys"] == 1
        clock.advance(0.5)
        assert limiter.stats()["keys"] == 0

    def test_max_keys_evicts_least_recently_used(self, clock: ManualClock) -> None:
        """With ``max_keys`` live buckets, a new key evicts the least recently used one."""
        limiter = RateLimiter(1, clock=clock, max_keys=2)
        assert limiter.try_acquire(key="a")
        assert limiter.try_acquire(key="b")
        assert not limiter.try_acquire(key="a")  # refused, but used: "b" is now the oldest
        assert limiter.try_acquire(key="c")
        stats = limiter.stats()
        assert (stats["keys"], stats["evicted"]) == (2, 1)
        assert not limiter.try_acquire(key="a")
        assert limiter.try_acquire(key="b")  # evicted, so it starts again with a full bucket

    async def test_buckets_with_waiters_are_kept(self) -> None:
        """A bucket with waiters is never evicted; the limiter grows past max_keys instead."""
        clock = SteppingClock()
        limiter = RateLimiter(1, clock=clock, max_keys=1)
        assert limiter.try_acquire(key="a")
        waiter = asyncio.create_task(limiter.aacquire(key="a"))
        await settle()
        assert limiter.try_acquire(key="b")
        stats = limiter.stats()
        assert (stats["keys"], stats["evicted"], stats["waiting"]) == (2, 0, 1)
        clock.advance(1)
        await settle()
        assert waiter.done()

    async def test_keyed_waiters(self, clock: ManualClock) -> None:
        """Waiting works per key, each key with its own queue."""
        limiter = RateLimiter(2, burst=1, clock=clock)
        await asyncio.gather(*(limiter.aacquire(key=index % 2) for index in range(4)))
        limiter.acquire(key=0)
        assert limiter.stats()["allowed"] == 5


class TestGuarantee:
    @settings(max_examples=300, deadline=None)
    @given(
        rate=st.sampled_from([0.5, 1, 3, 10]),
        per=st.sampled_from([0.1, 1.0, 60.0]),
        burst=st.sampled_from([None, 1, 2.5, 5]),
        key=st.sampled_from([None, "k"]),
        ops=st.lists(
            st.one_of(
                st.tuples(st.just("advance"), st.floats(0, 3)),
                st.tuples(st.just("try"), st.sampled_from([1, 2, 0.5])),
                st.tuples(
                    st.just("acquire"),
                    st.sampled_from([1, 2, 0.5]),
                    st.one_of(st.none(), st.floats(0, 2)),
                ),
            ),
            max_size=60,
        ),
    )
    def test_never_more_than_burst_plus_rate(
        self,
        rate: float,
        per: float,
        burst: float | None,
        key: str | None,
        ops: list[tuple[Any, ...]],
    ) -> None:
        """Over any interval of length T at most burst + rate * T / per tokens are granted."""
        clock = ManualClock()
        limiter = RateLimiter(rate, per, burst=burst, clock=clock)
        grants: list[tuple[float, float]] = []
        for op in ops:
            if op[0] == "advance":
                clock.advance(op[1] * per)
                continue
            tokens = op[1]
            if tokens > limiter.burst:
                with pytest.raises(ValueError, match="tokens"):
                    limiter.try_acquire(tokens, key=key)
                continue
            if op[0] == "try":
                if limiter.try_acquire(tokens, key=key):
                    grants.append((clock.now(), tokens))
                continue
            timeout = None if op[2] is None else op[2] * per
            refusal: RateLimitError | None = None
            try:
                limiter.acquire(tokens, key=key, timeout=timeout)
            except RateLimitError as error:
                refusal = error
            if refusal is None:
                grants.append((clock.now(), tokens))
            else:
                assert timeout is not None
                assert refusal.retry_after is not None
                assert refusal.retry_after > timeout
        for first in range(len(grants)):
            total = 0.0
            for last in range(first, len(grants)):
                total += grants[last][1]
                length = grants[last][0] - grants[first][0]
                assert total <= limiter.burst + rate * length / per + 1e-6

    @settings(max_examples=200, deadline=None)
    @given(
        rate=st.sampled_from([0.5, 1, 3, 10]),
        per=st.sampled_from([0.1, 1.0, 60.0]),
        taken=st.lists(st.sampled_from([1, 0.5]), min_size=1, max_size=10),
        tokens=st.sampled_from([1, 0.5]),
    )
    def test_retry_after_is_when_tokens_are_there(
        self, rate: float, per: float, taken: list[float], tokens: float
    ) -> None:
        """After a refusal, waiting ``retry_after`` is enough to get the tokens."""
        clock = ManualClock()
        limiter = RateLimiter(rate, per, burst=1, clock=clock)
        for amount in taken:
            limiter.try_acquire(amount)
        retry_after: float | None = None
        try:
            limiter.acquire(tokens, timeout=0)
        except RateLimitError as error:
            retry_after = error.retry_after
        else:
            return
        assert retry_after is not None
        clock.advance(retry_after)
        assert limiter.try_acquire(tokens)


class TestThreads:
    def test_exact_counts(self, clock: ManualClock) -> None:
        """64 threads racing on a frozen clock get exactly ``burst`` tokens."""
        limiter = RateLimiter(100, clock=clock)
        granted = [0] * 64

        def worker(index: int) -> None:
            for _ in range(50):
                if limiter.try_acquire():
                    granted[index] += 1
                if limiter.try_acquire(key=index % 8):
                    granted[index] += 1

        raise_first(run_threads(64, worker))
        assert sum(granted) == 100 + 8 * 100
        stats = limiter.stats()
        assert (stats["allowed"], stats["rejected"]) == (900, 64 * 100 - 900)

    def test_waiting_threads_all_served(self, clock: ManualClock) -> None:
        """Threads that wait are each served once, with exact counts."""
        limiter = RateLimiter(10, burst=1, clock=clock)

        raise_first(run_threads(32, lambda _: limiter.acquire()))
        stats = limiter.stats()
        assert (stats["allowed"], stats["waiting"]) == (32, 0)
        assert len(clock.sleeps) == stats["waited"] >= 1


# Untyped on purpose: for type checkers a staticmethod is best decorated with @staticmethod
# outermost (as Service.static below); at run time either order works.
_limit_outside: Any = rate_limit(1, clock=ManualClock())


class Service:
    def __init__(self) -> None:
        self.calls = 0

    @rate_limit(1, clock=ManualClock())
    def method(self, value: int) -> int:
        self.calls += 1
        return value

    @classmethod
    @rate_limit(1, clock=ManualClock())
    def klass(cls, value: int) -> int:
        return value

    @staticmethod
    @rate_limit(1, clock=ManualClock())
    def static(value: int) -> int:
        return value

    @rate_limit(1, clock=ManualClock())
    @classmethod
    def klass_outside(cls, value: int) -> tuple[type[Service], int]:
        return cls, value

    @_limit_outside  # type: ignore[untyped-decorator]  # see _limit_outside
    @staticmethod
    def static_outside(value: int) -> int:
        return value


class TestRateLimitDecorator:
    @pytest.mark.parametrize(
        "target",
        [lambda: None, staticmethod(lambda: None), classmethod(lambda cls: None)],
        ids=["function", "staticmethod", "classmethod"],
    )
    def test_bare_decorator_says_to_give_a_rate(self, target: Any) -> None:
        """A bare @rate_limit fails at decoration time with a message showing the call form."""
        with pytest.raises(TypeError, match=r"needs a rate: write @rate_limit\(10, per=1.0\)"):
            rate_limit(target)

    def test_over_the_limit_raises(self, clock: ManualClock) -> None:
        """Over the limit the call raises RateLimitError without running."""
        calls: list[int] = []

        @rate_limit(2, per=10, clock=clock)
        def work(value: int) -> int:
            calls.append(value)
            return value

        assert (work(1), work(2)) == (1, 2)
        with pytest.raises(RateLimitError) as info:
            work(3)
        assert info.value.retry_after == 5.0
        assert calls == [1, 2]
        clock.advance(5)
        assert work(4) == 4

    def test_waits_up_to_timeout(self, clock: ManualClock) -> None:
        """With a timeout the call waits for its token instead of raising."""

        @rate_limit(2, burst=1, timeout=1, clock=clock)
        def work() -> str:
            return "done"

        assert [work(), work()] == ["done", "done"]
        assert clock.sleeps == [0.5]

    async def test_async_function(self, clock: ManualClock) -> None:
        """An async function stays a coroutine function and waits without blocking."""

        @rate_limit(2, burst=1, timeout=None, clock=clock)
        async def work(value: int) -> int:
            await asyncio.sleep(0)
            return value

        assert inspect.iscoroutinefunction(work)
        assert list(await asyncio.gather(work(1), work(2), work(3))) == [1, 2, 3]
        assert clock.sleeps == [0.5, 0.5]

    async def test_async_over_the_limit(self, clock: ManualClock) -> None:
        """An async function over the limit raises RateLimitError."""

        @rate_limit(1, clock=clock)
        async def work() -> None:
            return None

        await work()
        with pytest.raises(RateLimitError):
            await work()

    def test_key_over_arguments(self, clock: ManualClock) -> None:
        """``key`` is called with the call's arguments and picks the bucket."""

        @rate_limit(1, key=lambda user, **_: user, clock=clock)
        def greet(user: str, *, loud: bool = False) -> str:
            return user.upper() if loud else user

        assert greet("ann") == "ann"
        assert greet("bob", loud=True) == "BOB"
        with pytest.raises(RateLimitError):
            greet("ann", loud=True)
        assert greet.limiter.stats()["keys"] == 2

    def test_wrapper_metadata(self, clock: ManualClock) -> None:
        """The wrapper keeps the function's metadata and exposes its limiter."""

        def work() -> None:
            """Do work."""

        wrapped = rate_limit(3, clock=clock)(work)
        assert wrapped.__name__ == "work"
        assert wrapped.__doc__ == "Do work."
        assert wrapped.__wrapped__ is work
        assert isinstance(wrapped.limiter, RateLimiter)
        assert wrapped.limiter.rate == 3

    def test_each_function_has_its_own_limiter(self, clock: ManualClock) -> None:
        """One decorator applied twice gives two independent limiters."""
        limit = rate_limit(1, clock=clock)

        @limit
        def first() -> None: ...

        @limit
        def second() -> None: ...

        first()
        second()
        assert first.limiter is not second.limiter

    def test_methods(self) -> None:
        """Methods, classmethods and staticmethods work, in either decorator order."""
        service = Service()
        assert service.method(1) == 1
        with pytest.raises(RateLimitError):
            service.method(2)
        assert service.calls == 1
        assert Service.klass(3) == 3
        assert Service.static(4) == 4
        with pytest.raises(RateLimitError):
            Service.static(5)
        assert isinstance(service.method.limiter, RateLimiter)
        assert Service.klass_outside(6) == (Service, 6)
        assert Service.klass.limiter is not Service.klass_outside.limiter
        assert service.static_outside(7) == 7
        with pytest.raises(RateLimitError):
            Service.static_outside(8)

    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"rate": 0}, ValueError, "rate"),
            ({"rate": 1, "burst": 0}, ValueError, "burst"),
            ({"rate": 1, "key": "user"}, TypeError, "key"),
            ({"rate": 1, "timeout": -1}, ValueError, "timeout"),
            ({"rate": 1, "clock": 3}, TypeError, "clock"),
        ],
        ids=["rate", "burst", "key", "timeout", "clock"],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], error: type[Exception], name: str) -> None:
        """Wrong arguments raise at decoration time, naming the parameter."""
        with pytest.raises(error, match=name):
            rate_limit(**kwargs)

    def test_rejects_generators_and_non_callables(self) -> None:
        """Generator functions and non-callables cannot be rate limited."""

        def numbers() -> Iterator[int]:
            yield 1

        with pytest.raises(TypeError, match="generator"):
            rate_limit(1)(numbers)
        with pytest.raises(TypeError, match="callable"):
            rate_limit(1)(42)  # type: ignore[call-overload]  # the point of the test


class TestTake:
    def test_take_tells_what_is_left_and_when_to_retry(self) -> None:
        """take: one decision, with the tokens left and, refused, the wait; never waits."""
        clock = ManualClock()
        limiter = RateLimiter(4, per=2, burst=3, clock=clock)
        assert limiter.take(2) == RateLimitVerdict(allowed=True, remaining=1.0, retry_after=0.0)
        assert limiter.take(2) == RateLimitVerdict(allowed=False, remaining=1.0, retry_after=0.5)
        assert limiter.take() == RateLimitVerdict(allowed=True, remaining=0.0, retry_after=0.0)
        assert clock.sleeps == []
        stats = limiter.stats()
        assert (stats["allowed"], stats["rejected"]) == (2, 1)
        with pytest.raises(ValueError, match="tokens"):
            limiter.take(4)

    async def test_atake_over_the_memory_store(self) -> None:
        """atake calls an in-memory store directly, deciding as take does."""
        limiter = RateLimiter(1, clock=ManualClock())
        assert await limiter.atake(key="a") == (True, 0.0, 0.0)
        assert await limiter.atake(key="a") == (False, 0.0, 1.0)
        assert (await limiter.atake(key="b")).allowed

    def test_take_is_one_store_decision(self) -> None:
        """take asks the store once (its one-step take): what it tells is what was decided."""

        class Counting(InMemoryRateLimitStore):
            calls: ClassVar[list[str]] = []

            def take(self, *args: Any, **kwargs: Any) -> RateLimitDecision:
                self.calls.append("take")
                return super().take(*args, **kwargs)

            def try_take(self, *args: Any) -> bool:
                self.calls.append("try_take")
                return super().try_take(*args)

            def backlog(self, key: Hashable, now: int) -> int:
                self.calls.append("backlog")
                return super().backlog(key, now)

        limiter = RateLimiter(1, store=Counting(), clock=ManualClock())
        assert limiter.take(key="k") == (True, 0.0, 0.0)
        assert limiter.take(key="k") == (False, 0.0, 1.0)
        assert Counting.calls == ["take", "take"]
