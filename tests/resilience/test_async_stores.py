"""The awaitable side of the stores: AsyncRateLimitStore, AsyncBreakerStateStore and their use.

The async contract suites run against the in-memory stores with an async side (the test
doubles of ``tests.resilience.doubles``), both as they are and suspending at every await as a
network round trip does; the limiter's and breaker's async paths are shown to await that side
and never the sync one; and the existing async suites run again over an awaited store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import CircuitOpenError, RateLimitError
from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.resilience import (
    AsyncBreakerStateStore,
    AsyncRateLimitStore,
    CircuitBreaker,
    CircuitState,
    InMemoryBreakerStateStore,
    InMemoryRateLimitStore,
    RateLimiter,
    rate_limit,
)
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.breaker import (
    AsyncBreakerStateStoreContract,
    BreakerStateStoreContract,
)
from python_mastery_portfolio.testing.contracts.rate_limit import (
    AsyncRateLimitStoreContract,
    RateLimitStoreContract,
)
from tests.resilience import test_circuit_breaker as breaker_suite
from tests.resilience import test_circuit_breaker_features as breaker_features
from tests.resilience import test_rate_limiter as limiter_suite
from tests.resilience import test_rate_limiter_forms as limiter_forms
from tests.resilience import test_resilience_instrumentation as instrumentation_suite
from tests.resilience.doubles import (
    AwaitedBreakerStateStore,
    AwaitedCircuitBreaker,
    AwaitedRateLimiter,
    AwaitedRateLimitStore,
    StrictBreakerStateStore,
    StrictRateLimitStore,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """A recording instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


# -- the contracts --------------------------------------------------------------------------


@pytest.mark.parametrize("suspend", [False, True], ids=["direct", "suspending"])
class TestAwaitedRateLimitStoreContract(AsyncRateLimitStoreContract):
    """The in-memory store with an async side passes the async contract."""

    @pytest.fixture(autouse=True)
    def _suspend(self, suspend: bool) -> None:
        self.suspend = suspend

    def make_store(self) -> Any:
        return AwaitedRateLimitStore(suspend=self.suspend)


class TestAwaitedRateLimitStoreSyncContract(RateLimitStoreContract):
    """Its sync side still passes the sync contract."""

    def make_store(self) -> Any:
        return AwaitedRateLimitStore()


@pytest.mark.parametrize("suspend", [False, True], ids=["direct", "suspending"])
class TestAwaitedBreakerStateStoreContract(AsyncBreakerStateStoreContract):
    """The in-memory breaker store with an async side passes the async contract."""

    @pytest.fixture(autouse=True)
    def _suspend(self, suspend: bool) -> None:
        self.suspend = suspend

    def make_store(self) -> Any:
        return AwaitedBreakerStateStore(suspend=self.suspend)


class TestAwaitedBreakerStateStoreSyncContract(BreakerStateStoreContract):
    """Its sync side still passes the sync contract."""

    def make_store(self) -> Any:
        return AwaitedBreakerStateStore()


class TestProtocols:
    def test_in_memory_stores_have_no_async_side(self) -> None:
        """The defaults are fast and called directly: they are not async stores."""
        assert not isinstance(InMemoryRateLimitStore(), AsyncRateLimitStore)
        assert not isinstance(InMemoryBreakerStateStore(), AsyncBreakerStateStore)

    def test_the_async_contracts_are_not_implemented_by_default(self) -> None:
        """The contracts' factories must be given by the subclass."""
        with pytest.raises(NotImplementedError):
            AsyncRateLimitStoreContract().make_store()
        with pytest.raises(NotImplementedError):
            AsyncBreakerStateStoreContract().make_store()


# -- the limiter awaits the async side, and only it -------------------------------------------


def strict_limiter(*args: Any, suspend: bool = False, **kwargs: Any) -> RateLimiter:
    """Return a limiter over a StrictRateLimitStore, armed once the limiter is built."""
    store = StrictRateLimitStore(suspend=suspend)
    limiter = RateLimiter(*args, store=store, **kwargs)
    store.armed = True
    return limiter


def store_of(limiter: RateLimiter) -> StrictRateLimitStore:
    """Return the strict store of a limiter built by :func:`strict_limiter`."""
    store = limiter.store
    assert isinstance(store, StrictRateLimitStore)
    return store


class TestLimiterAwaitsTheStore:
    async def test_aacquire_awaits_atake(self, clock: ManualClock) -> None:
        """aacquire asks ``atake``; a waiter ends its reservation with ``arelease``."""
        limiter = strict_limiter(4, burst=1, clock=clock)
        await limiter.aacquire()
        await limiter.aacquire()
        store = limiter.store
        assert isinstance(store, StrictRateLimitStore)
        assert store.async_calls == ["atake", "atake", "arelease"]
        assert clock.sleeps == [0.25]

    async def test_atry_acquire_awaits_atry_take(self, clock: ManualClock) -> None:
        """atry_acquire asks ``atry_take``; a sync try_acquire still calls the sync side."""
        limiter = strict_limiter(1, clock=clock)
        assert await limiter.atry_acquire(key="a")
        assert not await limiter.atry_acquire(key="a")
        assert await limiter.atry_acquire(0.5, key="b")
        store = limiter.store
        assert isinstance(store, StrictRateLimitStore)
        assert store.async_calls == ["atry_take"] * 3
        with pytest.raises(AssertionError, match="sync try_take"):
            limiter.try_acquire()

    async def test_atake_awaits_atake(self, clock: ManualClock) -> None:
        """atake asks ``atake`` (never reserving); a sync take still calls the sync side."""
        limiter = strict_limiter(1, per=2, clock=clock)
        assert await limiter.atake(key="a") == (True, 0.0, 0.0)
        assert await limiter.atake(key="a") == (False, 0.0, 2.0)
        assert (await limiter.atake(0.5, key="b")).allowed
        assert store_of(limiter).async_calls == ["atake"] * 3
        with pytest.raises(AssertionError, match="sync take"):
            limiter.take()
        store_of(limiter).armed = False
        assert limiter.take(key="c") == (True, 0.0, 0.0)  # one sync take of such a store

    async def test_async_with_and_the_decorator(self, clock: ManualClock) -> None:
        """``async with`` and @rate_limit over a coroutine function await the store too."""
        store = StrictRateLimitStore()

        @rate_limit(1, clock=clock, store=store, timeout=None)
        async def ping() -> str:
            return "pong"

        limiter = RateLimiter(1, clock=clock, store=StrictRateLimitStore())
        store.armed = True
        assert [await ping(), await ping()] == ["pong", "pong"]
        async with limiter:
            pass
        with pytest.raises(RateLimitError):
            await ping.limiter.aacquire(timeout=0)
        assert store.async_calls == ["atake", "atake", "arelease", "atake"]

    async def test_timeout_refusal(self, clock: ManualClock) -> None:
        """A wait beyond the timeout is refused at once, as with a sync store."""
        limiter = strict_limiter(1, clock=clock)
        await limiter.aacquire()
        with pytest.raises(RateLimitError) as info:
            await limiter.aacquire(timeout=0.5)
        assert info.value.retry_after == 1.0
        assert InMemoryRateLimitStore.stats(store_of(limiter), 0)["refused"] == 1

    async def test_cancelled_while_the_store_decides(self, clock: ManualClock) -> None:
        """Cancelled during ``atake``, the caller leaves; the limiter's books stay straight."""
        limiter = strict_limiter(1, clock=clock, suspend=True)
        task = asyncio.create_task(limiter.aacquire())
        await asyncio.sleep(0)  # inside atake, before the store decides
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await limiter.aacquire()  # nothing was taken: the token is still there
        assert clock.sleeps == []
        store_of(limiter).armed = False
        assert limiter.stats()["waiting"] == 0

    async def test_cancelled_waiter_releases_through_the_store(self) -> None:
        """A cancelled waiter ends its reservation with an awaited ``arelease``."""
        clock = limiter_suite.SteppingClock()
        limiter = strict_limiter(1, clock=clock)
        assert await limiter.atry_acquire()
        waiter = asyncio.create_task(limiter.aacquire())
        await limiter_suite.settle()
        waiter.cancel()
        await limiter_suite.settle()
        assert waiter.cancelled()
        store = limiter.store
        assert isinstance(store, StrictRateLimitStore)
        assert store.async_calls == ["atry_take", "atake", "arelease"]
        clock.advance(1)
        assert await limiter.atry_acquire()  # the last waiter's tokens came back

    async def test_reports_to_the_hook(
        self, clock: ManualClock, recorder: RecordingInstrument
    ) -> None:
        """Decisions over an awaited store are reported as over the in-memory one."""
        limiter = strict_limiter(2, burst=1, clock=clock, name="aw")
        assert await limiter.atry_acquire()
        assert not await limiter.atry_acquire()
        await limiter.aacquire()
        with pytest.raises(RateLimitError):
            await limiter.aacquire(timeout=0)
        assert recorder.total("rate_limit.decisions", limiter="aw", decision="allowed") == 2
        assert recorder.total("rate_limit.decisions", limiter="aw", decision="rejected") == 2
        assert recorder.observations("rate_limit.wait", limiter="aw") == [0.5]
        retry_afters = [
            event.attributes["rate_limit.retry_after"]
            for event in recorder.events("rate_limit.rejected", limiter="aw")
        ]
        assert retry_afters == [0.0, 0.5]

    async def test_in_memory_atry_acquire(self, clock: ManualClock) -> None:
        """Over the in-memory store atry_acquire decides at once, reporting when hooked."""
        limiter = RateLimiter(1, clock=clock, name="mem")
        recording = RecordingInstrument()
        with install(recording):
            assert await limiter.atry_acquire()
            assert not await limiter.atry_acquire()
        assert recording.total("rate_limit.decisions", limiter="mem") == 2


class TestLimiterQueueOverAnAwaitedStore:
    """The queue stays exact when the store's replies come back in any order."""

    async def test_many_suspending_tasks_are_served_in_slot_order(self, clock: ManualClock) -> None:
        """Tasks whose decisions interleave still get disjoint slots, each served on time."""
        limiter = RateLimiter(10, burst=1, clock=clock, store=AwaitedRateLimitStore(suspend=True))
        served: list[float] = []

        async def take() -> None:
            await limiter.aacquire()
            served.append(clock.now())

        await asyncio.gather(*(take() for _ in range(30)))
        assert len(served) == 30
        assert served == sorted(served)
        # Never more than the burst plus the rate: the n-th grant is no sooner than (n-1)/10 s.
        for index, when in enumerate(served):
            assert when >= index / 10 - 1e-9
        stats = limiter.stats()
        assert (stats["waited"], stats["waiting"], stats["cancelled"]) == (29, 0, 0)

    async def test_no_slot_moves_while_a_reservation_is_being_decided(self) -> None:
        """A waiter leaving while another's reservation is in flight hands nothing on."""
        clock = limiter_suite.SteppingClock()
        store = AwaitedRateLimitStore()
        limiter = RateLimiter(1, clock=clock, store=store)
        assert await limiter.atry_acquire()
        first = asyncio.create_task(limiter.aacquire())
        second = asyncio.create_task(limiter.aacquire())
        await limiter_suite.settle()
        store.suspend = True
        third = asyncio.create_task(limiter.aacquire())
        await asyncio.sleep(0)  # third is inside atake: its slot is not queued yet
        first.cancel()
        await limiter_suite.settle()
        clock.advance(1)
        await limiter_suite.settle()
        assert not second.done()  # it kept its slot at 2 s: nothing moved
        clock.advance(1)
        await limiter_suite.settle()
        assert second.done()
        clock.advance(1)
        await limiter_suite.settle()
        assert third.done()
        assert limiter.stats()["cancelled"] == 1

    async def test_waiters_behind_a_cancelled_one_move_forward(self) -> None:
        """With nothing in flight, the coroutines behind a cancelled waiter move forward."""
        clock = limiter_suite.SteppingClock()
        limiter = RateLimiter(1, clock=clock, store=AwaitedRateLimitStore())
        assert await limiter.atry_acquire()
        tasks = [asyncio.create_task(limiter.aacquire()) for _ in range(3)]
        await limiter_suite.settle()
        tasks[1].cancel()
        await limiter_suite.settle()
        clock.advance(2)
        await limiter_suite.settle()
        assert tasks[0].done()
        assert tasks[2].done()  # moved from 3 s to 2 s
        assert not await limiter.atry_acquire()
        clock.advance(1)
        assert await limiter.atry_acquire()  # the line moved back: the bucket refilled at 3 s

    async def test_a_thread_behind_keeps_its_slot(self) -> None:
        """Coroutines ahead of a waiting thread move forward; the thread's slot stays."""
        clock = limiter_suite.SteppingClock()
        limiter = RateLimiter(1, clock=clock, store=AwaitedRateLimitStore())
        assert await limiter.atry_acquire()
        first = asyncio.create_task(limiter.aacquire())
        second = asyncio.create_task(limiter.aacquire())
        await limiter_suite.settle()
        done = asyncio.get_running_loop().run_in_executor(None, limiter.acquire)
        clock.wait_for_sleepers(1)
        first.cancel()
        await limiter_suite.settle()
        clock.advance(1)
        await limiter_suite.settle()
        assert second.done()  # moved from 2 s to 1 s
        clock.advance(2)
        await asyncio.wait_for(done, timeout=10)
        assert limiter.stats()["waited"] == 2

    async def test_refund_kept_when_something_came_after(self) -> None:
        """Waiters move forward even when the store keeps the time (taken after them)."""
        clock = limiter_suite.SteppingClock()
        store = AwaitedRateLimitStore()
        limiter = RateLimiter(1, clock=clock, store=store)
        other = RateLimiter(1, clock=clock, store=store)  # shares the default bucket
        assert await limiter.atry_acquire()
        first = asyncio.create_task(limiter.aacquire())
        second = asyncio.create_task(limiter.aacquire())
        await limiter_suite.settle()
        later = asyncio.create_task(other.aacquire())  # its slot ends the line: served at 3 s
        await limiter_suite.settle()
        first.cancel()
        await limiter_suite.settle()
        clock.advance(1)
        await limiter_suite.settle()
        assert second.done()  # moved into first's slot
        clock.advance(2)
        await limiter_suite.settle()
        assert later.done()
        assert not await limiter.atry_acquire()  # the gap at 2 s was lost: the strict side


# -- the breaker awaits the async side, and only it -------------------------------------------


def strict_breaker(**kwargs: Any) -> tuple[CircuitBreaker, StrictBreakerStateStore]:
    """Return a breaker over a StrictBreakerStateStore, armed once the breaker is built."""
    store = StrictBreakerStateStore(suspend=kwargs.pop("suspend", False))
    breaker = CircuitBreaker(store=store, **kwargs)
    store.armed = True
    return breaker, store


async def answer() -> int:
    return 42


async def down() -> None:
    raise OSError("down")


class TestBreakerAwaitsTheStore:
    async def test_acall_awaits_the_async_side(self, clock: ManualClock) -> None:
        """acall reads ``aview`` and records with ``arecord_*``: no sync step."""
        breaker, store = strict_breaker(failure_threshold=1, recovery_timeout=5, clock=clock)
        assert await breaker.acall(answer) == 42
        with pytest.raises(OSError, match="down"):
            await breaker.acall(down)
        with pytest.raises(CircuitOpenError) as info:
            await breaker.acall(answer)
        assert info.value.retry_after == 5.0
        clock.advance(5)
        assert await breaker.acall(answer) == 42
        assert store.inner.async_calls == [
            "aview",
            "arecord_success",
            "aview",
            "arecord_failure",
            "aview",
            "aenter",
            "aview",
            "aenter",
            "arecord_success",
        ]
        store.armed = False
        assert breaker.state is CLOSED

    @pytest.mark.parametrize("suspend", [False, True], ids=["direct", "suspending"])
    async def test_decorated_coroutine_function(self, suspend: bool) -> None:
        """A decorated ``async def`` awaits the store; outcomes count as with acall."""
        breaker, store = strict_breaker(failure_threshold=10**9, suspend=suspend)

        @breaker
        async def work(index: int) -> int:
            await asyncio.sleep(0)
            if index % 3 == 0:
                raise OSError("down")
            return index

        await asyncio.gather(*(work(index) for index in range(30)), return_exceptions=True)
        store.armed = False
        stats = breaker.stats()
        assert (stats["successes"], stats["failures"], stats["state"]) == (20, 10, CLOSED)
        assert store.inner.async_calls.count("aview") == 30

    async def test_async_context_manager(self, clock: ManualClock) -> None:
        """``async with breaker`` awaits the store on the way in and out."""
        breaker, store = strict_breaker(failure_threshold=1, clock=clock)
        async with breaker as entered:
            assert entered is breaker
        with pytest.raises(OSError, match="down"):
            async with breaker:
                raise OSError("down")
        with pytest.raises(CircuitOpenError):
            async with breaker:
                pass  # pragma: no cover - refused on the way in
        assert store.inner.async_calls == [
            "aview",
            "arecord_success",
            "aview",
            "arecord_failure",
            "aview",
            "aenter",
        ]

    async def test_async_exit_without_enter(self) -> None:
        """Leaving an ``async with`` never entered in this context is an error."""
        breaker = CircuitBreaker(store=AwaitedBreakerStateStore())
        with pytest.raises(RuntimeError, match="exited without being entered"):
            await breaker.__aexit__(None, None, None)

    async def test_cancelled_and_excluded_calls_are_ignored(self, clock: ManualClock) -> None:
        """A cancelled probe gives its permit back with ``arecord_ignored``."""
        breaker, store = strict_breaker(
            failure_threshold=1, recovery_timeout=1, exclude=KeyError, clock=clock
        )
        with pytest.raises(OSError, match="down"):
            await breaker.acall(down)
        clock.advance(1)
        never = asyncio.Event()
        probe = asyncio.create_task(breaker.acall(never.wait))
        await asyncio.sleep(0)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe

        async def missing() -> None:
            raise KeyError("k")

        with pytest.raises(KeyError):
            await breaker.acall(missing)  # the permit came back: admitted, then ignored
        assert store.inner.async_calls.count("arecord_ignored") == 2
        store.armed = False
        stats = breaker.stats()
        assert (stats["ignored"], stats["half_open_calls"], stats["state"]) == (2, 0, HALF_OPEN)

    async def test_other_exceptions_are_successes(self) -> None:
        """An exception outside ``exceptions`` counts as a success, awaited."""
        breaker, store = strict_breaker(failure_threshold=1, exceptions=ConnectionError)
        with pytest.raises(OSError, match="down"):
            await breaker.acall(down)
        assert store.inner.async_calls == ["aview", "arecord_success"]

    async def test_async_generator(self, clock: ManualClock) -> None:
        """A decorated async generator awaits the store at its start and its end."""
        breaker, store = strict_breaker(failure_threshold=1, clock=clock)

        @breaker
        async def lines(fail: bool) -> AsyncGenerator[str, None]:
            yield "a"
            if fail:
                raise OSError("lost")

        assert [line async for line in lines(False)] == ["a"]
        with pytest.raises(OSError, match="lost"):
            _ = [line async for line in lines(True)]
        with pytest.raises(CircuitOpenError):
            await lines(False).__anext__()
        assert store.inner.async_calls == [
            "aview",
            "arecord_success",
            "aview",
            "arecord_failure",
            "aview",
            "aenter",
        ]

    async def test_transitions_reach_listeners_and_the_hook(
        self, clock: ManualClock, recorder: RecordingInstrument
    ) -> None:
        """Transitions made by awaited steps are delivered and reported, as in memory."""
        breaker, _ = strict_breaker(
            failure_threshold=1, recovery_timeout=10, clock=clock, name="adb"
        )
        seen: list[tuple[CircuitState, CircuitState]] = []

        @breaker.on_state_change
        def record(old: CircuitState, new: CircuitState) -> None:
            seen.append((old, new))

        with pytest.raises(OSError, match="down"):
            await breaker.acall(down)
        with pytest.raises(CircuitOpenError):
            await breaker.acall(answer)
        clock.advance(10)
        assert await breaker.acall(answer) == 42
        assert seen == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
        changes = [
            (event.attributes["circuit.from"], event.attributes["circuit.to"])
            for event in recorder.events("circuit.state_change", breaker="adb")
        ]
        assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
        assert recorder.total("circuit.rejections", breaker="adb") == 1
        assert recorder.total("circuit.probes", breaker="adb") == 1

    def test_sync_paths_keep_the_sync_side(self) -> None:
        """``call`` and ``with`` over a store with both sides use the sync steps."""
        store = AwaitedBreakerStateStore()
        breaker = CircuitBreaker(store=store)
        assert breaker.call(len, "abc") == 3
        with breaker:
            pass
        assert store.async_calls == []
        assert breaker.stats()["successes"] == 2


class TestInMemoryAsyncContextManager:
    async def test_probe_through_async_with_closes(self, clock: ManualClock) -> None:
        """Over the in-memory store, ``async with`` is refused while open and probes after."""
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, clock=clock)
        seen: list[CircuitState] = []

        @breaker.on_state_change
        def record(old: CircuitState, new: CircuitState) -> None:
            seen.append(new)

        with pytest.raises(OSError, match="down"):
            async with breaker:
                raise OSError("down")
        with pytest.raises(CircuitOpenError):
            async with breaker:
                pass  # pragma: no cover - refused on the way in
        clock.advance(1)
        async with breaker:
            pass
        assert seen == [OPEN, HALF_OPEN, CLOSED]


# -- the existing async suites, again over an awaited store -----------------------------------


@pytest.fixture
def awaited_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the limiter suites build their limiters over an awaited store."""
    for module in (limiter_suite, limiter_forms, instrumentation_suite):
        monkeypatch.setattr(module, "RateLimiter", AwaitedRateLimiter)


@pytest.fixture
def make(clock: ManualClock) -> Callable[..., CircuitBreaker]:
    """Build the breaker suites' breakers over an awaited store."""

    def build(**kwargs: Any) -> CircuitBreaker:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("name", "test")
        return AwaitedCircuitBreaker(**kwargs)

    return build


@pytest.mark.usefixtures("awaited_limiters")
class TestAsyncAcquireOverAnAwaitedStore(limiter_suite.TestAsyncAcquire):
    """aacquire's suite, over an awaited store."""


@pytest.mark.usefixtures("awaited_limiters")
class TestAsyncContextManagerOverAnAwaitedStore(limiter_forms.TestAsyncContextManager):
    """``async with limiter``'s suite, over an awaited store."""


@pytest.mark.usefixtures("awaited_limiters")
class TestLimiterReportsOverAnAwaitedStore(instrumentation_suite.TestRateLimiter):
    """The limiter's instrumentation suite, over an awaited store."""


class TestInterfacesOverAnAwaitedStore(breaker_suite.TestInterfaces):
    """The breaker's interfaces suite (sync and async), over an awaited store."""


class TestBreakerConcurrencyOverAnAwaitedStore(breaker_suite.TestConcurrency):
    """The breaker's concurrency suite, over an awaited store."""


class TestAsyncGeneratorsOverAnAwaitedStore(breaker_features.TestAsyncGenerators):
    """The breaker's async generator suite, over an awaited store."""
