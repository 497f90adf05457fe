"""The contract suites of circuit-breaker state stores, sync and async (awaited steps).

Every :class:`~python_mastery_portfolio.resilience.BreakerStateStore` passes
:class:`BreakerStateStoreContract` -- our ``InMemoryBreakerStateStore``, the Redis store, your
own: the transitions and their log, consecutive and failure-rate windows, half-open permit
counting, stale tickets, reset, forced states, statistics and atomic steps under many real
threads. A store that is also an
:class:`~python_mastery_portfolio.resilience.AsyncBreakerStateStore` passes
:class:`AsyncBreakerStateStoreContract` as well: the same steps awaited, on the same state as
the sync side, atomic under many tasks at once.

Subclass one in a ``test_*.py`` module under a ``Test`` name and implement :meth:`make_store`;
the suites drive time through a :class:`~python_mastery_portfolio.testing.ManualClock` (read
through each :class:`~python_mastery_portfolio.resilience.BreakerPolicy`) and never sleeps.
It needs pytest.

Example:
    >>> from python_mastery_portfolio.resilience import InMemoryBreakerStateStore
    >>> class TestMyStore(BreakerStateStoreContract):
    ...     def make_store(self) -> InMemoryBreakerStateStore:
    ...         return InMemoryBreakerStateStore()
    >>> TestMyStore().make_store().state
    <CircuitState.CLOSED: 'closed'>
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypeVar, get_type_hints

import pytest

from python_mastery_portfolio.resilience import (
    AsyncBreakerStateStore,
    BreakerAdmission,
    BreakerPolicy,
    BreakerStateStore,
    CircuitBreakerStats,
    CircuitState,
)
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts._loops import EventLoopChecks
from python_mastery_portfolio.testing.contracts._threads import THREADS, run_together

__all__ = ["STAT_KEYS", "AsyncBreakerStateStoreContract", "BreakerStateStoreContract"]

T = TypeVar("T")

STAT_KEYS = frozenset(get_type_hints(CircuitBreakerStats))
"""The keys of :class:`~python_mastery_portfolio.resilience.CircuitBreakerStats`."""

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN


class BreakerStateStoreContract:
    """What every :class:`BreakerStateStore` does; subclass it and implement :meth:`make_store`.

    Not collected on its own (no ``Test`` prefix).
    """

    extra_stat_keys: frozenset[str] = frozenset()
    """Keys ``stats()`` reports beyond :class:`CircuitBreakerStats`' (a TypedDict extending it,
    e.g. a shared store's ``backend_errors``)."""

    def make_store(self) -> BreakerStateStore:
        """Return a new store under test, in the CLOSED state with nothing counted."""
        raise NotImplementedError

    # -- helpers --

    def policy(self, clock: ManualClock, **rules: Any) -> BreakerPolicy:
        """Return a policy reading ``clock``, recovering after 10 s unless ``rules`` say else."""
        rules.setdefault("recovery_timeout", 10.0)
        return BreakerPolicy(now=clock.now, **rules)

    def open_store(
        self, clock: ManualClock, **rules: Any
    ) -> tuple[BreakerStateStore, BreakerPolicy]:
        """Return a store opened by one failure, its log drained, and its policy."""
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1, **rules)
        assert store.record_failure(store.epoch, policy)
        store.drain_transitions()
        return store, policy

    def fail(self, store: BreakerStateStore, policy: BreakerPolicy, count: int) -> list[bool]:
        """Record ``count`` failures of calls admitted now."""
        return [store.record_failure(store.enter(policy).ticket, policy) for _ in range(count)]

    # -- the protocol --

    def test_implements_the_protocol(self) -> None:
        """The store is a BreakerStateStore at run time."""
        assert isinstance(self.make_store(), BreakerStateStore)

    def test_starts_closed_with_nothing_counted(self) -> None:
        """A new store is CLOSED, admits calls and has counted nothing."""
        store = self.make_store()
        policy = self.policy(ManualClock())
        assert store.state is CLOSED
        assert store.current_state(policy) is CLOSED
        admission = store.enter(policy)
        assert isinstance(admission, BreakerAdmission)
        assert (admission.admitted, admission.state, admission.ticket) == (
            True,
            CLOSED,
            store.epoch,
        )
        stats = store.stats(policy)
        assert set(stats) == STAT_KEYS | self.extra_stat_keys
        assert {name: value for name, value in stats.items() if name in STAT_KEYS} == {
            "state": CLOSED,
            "successes": 0,
            "failures": 0,
            "ignored": 0,
            "rejected": 0,
            "opened": 0,
            "consecutive_failures": 0,
            "half_open_calls": 0,
            "window_calls": 0,
            "window_failures": 0,
        }
        assert not store.has_transitions()
        assert store.drain_transitions() == []

    def test_consecutive_failures_open(self) -> None:
        """``failure_threshold`` failures in a row open the circuit, once."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_threshold=3)
        assert self.fail(store, policy, 2) == [False, False]
        assert store.stats(policy)["consecutive_failures"] == 2
        assert self.fail(store, policy, 1) == [True]
        assert store.state is OPEN
        assert store.has_transitions()
        assert store.drain_transitions() == [(CLOSED, OPEN)]
        assert not store.has_transitions()
        stats = store.stats(policy)
        assert (stats["failures"], stats["opened"], stats["consecutive_failures"]) == (3, 1, 0)

    def test_a_success_resets_the_count(self) -> None:
        """A success between failures starts the count again."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_threshold=2)
        assert self.fail(store, policy, 1) == [False]
        assert store.record_success(store.enter(policy).ticket, policy) is False
        assert self.fail(store, policy, 1) == [False]
        assert store.state is CLOSED
        assert store.stats(policy)["successes"] == 1

    def test_open_refuses_with_retry_after(self) -> None:
        """While open, entering is refused with the time left, and counted."""
        clock = ManualClock()
        store, policy = self.open_store(clock)
        clock.advance(4)
        admission = store.enter(policy)
        assert (admission.admitted, admission.state) == (False, OPEN)
        assert admission.retry_after == 6.0
        assert store.stats(policy)["rejected"] == 1

    def test_recovery_timeout_turns_half_open(self) -> None:
        """After ``recovery_timeout`` the state reads HALF_OPEN, logged once."""
        clock = ManualClock()
        store, policy = self.open_store(clock)
        clock.advance(9.5)
        assert store.current_state(policy) is OPEN
        clock.advance(0.5)
        assert store.current_state(policy) is HALF_OPEN
        assert store.current_state(policy) is HALF_OPEN
        assert store.drain_transitions() == [(OPEN, HALF_OPEN)]

    def test_entering_after_the_timeout_takes_a_permit(self) -> None:
        """Entering an expired OPEN circuit turns it HALF_OPEN and admits a probe."""
        clock = ManualClock()
        store, policy = self.open_store(clock)
        clock.advance(10)
        admission = store.enter(policy)
        assert (admission.admitted, admission.state) == (True, HALF_OPEN)
        assert admission.ticket == store.epoch
        assert store.stats(policy)["half_open_calls"] == 1
        assert store.drain_transitions() == [(OPEN, HALF_OPEN)]

    def test_half_open_permits_are_counted(self) -> None:
        """At most ``half_open_max_calls`` probes at a time; an ignored one gives its back."""
        clock = ManualClock()
        store, policy = self.open_store(clock, half_open_max_calls=2)
        clock.advance(10)
        first, second = store.enter(policy), store.enter(policy)
        assert first.admitted
        assert second.admitted
        refused = store.enter(policy)
        assert (refused.admitted, refused.state, refused.retry_after) == (False, HALF_OPEN, 0.0)
        store.record_ignored(first.ticket)
        assert store.enter(policy).admitted
        stats = store.stats(policy)
        assert (stats["half_open_calls"], stats["rejected"], stats["ignored"]) == (2, 1, 1)

    def test_probe_successes_close(self) -> None:
        """``success_threshold`` probe successes close the circuit."""
        clock = ManualClock()
        store, policy = self.open_store(clock, half_open_max_calls=2, success_threshold=2)
        clock.advance(10)
        tickets = [store.enter(policy).ticket for _ in range(2)]
        assert store.record_success(tickets[0], policy) is False
        assert store.state is HALF_OPEN
        assert store.record_success(tickets[1], policy) is True
        assert store.state is CLOSED
        assert store.drain_transitions() == [(OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]

    def test_a_probe_failure_reopens_and_restarts_the_timer(self) -> None:
        """One probe failure opens the circuit again for a whole ``recovery_timeout``."""
        clock = ManualClock()
        store, policy = self.open_store(clock)
        clock.advance(10)
        assert store.record_failure(store.enter(policy).ticket, policy) is True
        assert store.state is OPEN
        assert store.enter(policy).retry_after == 10.0
        assert store.drain_transitions() == [(OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]
        assert store.stats(policy)["opened"] == 2

    def test_stale_tickets_do_not_move_the_state(self) -> None:
        """An outcome from an earlier epoch is counted but changes nothing."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1)
        stale = store.enter(policy).ticket
        assert store.record_failure(store.enter(policy).ticket, policy) is True
        clock.advance(10)
        probe = store.enter(policy)
        assert store.record_success(stale, policy) is False
        assert store.record_failure(stale, policy) is False
        store.record_ignored(stale)
        assert store.state is HALF_OPEN
        stats = store.stats(policy)
        assert (stats["half_open_calls"], stats["successes"], stats["failures"]) == (1, 1, 2)
        assert store.record_success(probe.ticket, policy) is True

    def test_failure_rate_needs_minimum_calls(self) -> None:
        """In failure-rate mode nothing opens before ``minimum_calls`` calls."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_rate=0.5, minimum_calls=4, window=10.0)
        assert self.fail(store, policy, 3) == [False, False, False]
        stats = store.stats(policy)
        assert (stats["window_calls"], stats["window_failures"]) == (3, 3)
        assert self.fail(store, policy, 1) == [True]
        assert store.state is OPEN

    def test_failure_rate_opens_at_the_rate(self) -> None:
        """The circuit opens when the share of failures reaches ``failure_rate``."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_rate=0.5, minimum_calls=4, window=10.0)
        for _ in range(3):
            assert store.record_success(store.enter(policy).ticket, policy) is False
        assert self.fail(store, policy, 2) == [False, False]  # 2 of 5
        assert self.fail(store, policy, 1) == [True]  # 3 of 6
        assert store.drain_transitions() == [(CLOSED, OPEN)]

    def test_old_calls_leave_the_window(self) -> None:
        """Calls older than ``window`` seconds no longer count."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_rate=0.5, minimum_calls=2, window=10.0)
        assert self.fail(store, policy, 1) == [False]
        clock.advance(10)
        assert store.stats(policy)["window_calls"] == 0
        assert self.fail(store, policy, 1) == [False]
        assert store.state is CLOSED

    def test_closing_clears_the_window(self) -> None:
        """A circuit that closes starts with an empty window."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_rate=0.5, minimum_calls=2, window=60.0)
        assert self.fail(store, policy, 2) == [False, True]
        clock.advance(10)
        assert store.record_success(store.enter(policy).ticket, policy) is True
        stats = store.stats(policy)
        assert (stats["window_calls"], stats["window_failures"]) == (0, 0)

    def test_reset_closes(self) -> None:
        """``reset`` moves a non-closed circuit to CLOSED, logged."""
        clock = ManualClock()
        store, policy = self.open_store(clock)
        assert store.reset(policy) is True
        assert store.state is CLOSED
        assert store.drain_transitions() == [(OPEN, CLOSED)]
        assert store.enter(policy).admitted

    def test_reset_while_closed_forgets_the_count(self) -> None:
        """``reset`` of a closed circuit forgets its failures and the calls in flight."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_threshold=2)
        in_flight = store.enter(policy).ticket
        assert self.fail(store, policy, 1) == [False]
        assert store.reset(policy) is False
        assert store.stats(policy)["consecutive_failures"] == 0
        assert store.record_failure(in_flight, policy) is False
        assert self.fail(store, policy, 1) == [False]
        assert store.state is CLOSED
        assert not store.has_transitions()

    def test_reset_while_closed_clears_the_window(self) -> None:
        """``reset`` of a closed circuit in failure-rate mode empties the window."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_rate=0.5, minimum_calls=5)
        assert self.fail(store, policy, 2) == [False, False]
        store.reset(policy)
        assert store.stats(policy)["window_calls"] == 0

    def test_force_open_holds_past_the_recovery_timeout(self) -> None:
        """Forced OPEN never turns HALF_OPEN and refuses with ``retry_after=None``."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock)
        assert self.make_store().forced is None
        assert store.force(OPEN, policy) is True
        assert (store.forced, store.drain_transitions()) == (OPEN, [(CLOSED, OPEN)])
        clock.advance(1000)
        assert store.current_state(policy) is OPEN
        admission = store.enter(policy)
        assert (admission.admitted, admission.state, admission.retry_after) == (False, OPEN, None)
        assert store.stats(policy)["rejected"] == 1

    def test_force_closed_counts_failures_but_never_opens(self) -> None:
        """Forced CLOSED admits every call and never opens, whatever fails."""
        clock = ManualClock()
        store, policy = self.open_store(clock)
        assert store.force(CLOSED, policy) is True
        assert store.drain_transitions() == [(OPEN, CLOSED)]
        assert self.fail(store, policy, 5) == [False] * 5
        stats = store.stats(policy)
        assert (stats["state"], stats["failures"]) == (CLOSED, 6)

    def test_force_the_current_state_only_holds_it(self) -> None:
        """Forcing the state the circuit is in logs nothing and keeps calls in flight counting."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1)
        ticket = store.epoch
        assert store.force(CLOSED, policy) is False
        assert store.drain_transitions() == []
        assert store.record_failure(ticket, policy) is False
        assert (store.state, store.forced) == (CLOSED, CLOSED)

    def test_forcing_starts_a_new_epoch(self) -> None:
        """Calls admitted before a forced move no longer count."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1)
        before = store.enter(policy).ticket
        store.force(OPEN, policy)
        store.force(CLOSED, policy)
        assert store.record_failure(before, policy) is False
        assert store.drain_transitions() == [(CLOSED, OPEN), (OPEN, CLOSED)]

    def test_reset_ends_the_hold(self) -> None:
        """``reset`` closes the circuit and lets the state machine run again."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1)
        store.force(OPEN, policy)
        assert store.reset(policy) is True
        assert (store.state, store.forced) == (CLOSED, None)
        store.force(CLOSED, policy)
        assert store.reset(policy) is False
        assert store.forced is None
        assert self.fail(store, policy, 1) == [True]

    def test_force_half_open_is_refused(self) -> None:
        """Only OPEN and CLOSED can be held: HALF_OPEN raises ValueError naming ``state``."""
        store = self.make_store()
        with pytest.raises(ValueError, match="state"):
            store.force(HALF_OPEN, self.policy(ManualClock()))

    def test_threads_open_the_circuit_once(self) -> None:
        """Failures recorded by many threads at once open the circuit exactly once."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_threshold=400)
        ticket = store.epoch
        moved: list[bool] = []
        lock = threading.Lock()

        def body(index: int) -> None:
            for _ in range(50):
                result = store.record_failure(ticket, policy)
                with lock:
                    moved.append(result)

        run_together(body)
        assert moved.count(True) == 1
        stats = store.stats(policy)
        assert (stats["failures"], stats["opened"], stats["state"]) == (THREADS * 50, 1, OPEN)
        assert store.drain_transitions() == [(CLOSED, OPEN)]

    def test_threads_share_the_half_open_permits(self) -> None:
        """Many threads entering a half-open circuit at once get exactly the permits."""
        clock = ManualClock()
        store, policy = self.open_store(clock, half_open_max_calls=3)
        clock.advance(10)
        admitted: list[bool] = []
        lock = threading.Lock()

        def body(index: int) -> None:
            for _ in range(20):
                result = store.enter(policy).admitted
                with lock:
                    admitted.append(result)

        run_together(body)
        assert admitted.count(True) == 3
        stats = store.stats(policy)
        assert (stats["half_open_calls"], stats["rejected"]) == (3, THREADS * 20 - 3)
        assert store.drain_transitions() == [(OPEN, HALF_OPEN)]

    def test_threads_count_every_outcome(self) -> None:
        """Successes and failures recorded by many threads are all counted."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_threshold=10_000)

        def body(index: int) -> None:
            for _ in range(200):
                ticket = store.enter(policy).ticket
                if index % 2:
                    store.record_failure(ticket, policy)
                else:
                    store.record_success(ticket, policy)

        run_together(body)
        stats = store.stats(policy)
        assert (stats["successes"], stats["failures"]) == (THREADS * 100, THREADS * 100)
        assert stats["state"] is CLOSED


class AsyncBreakerStateStoreContract(EventLoopChecks):
    """Behaviour of a store that is both a :class:`BreakerStateStore` and an async one.

    Subclass it and implement :meth:`make_store`; not collected on its own (no ``Test``
    prefix). Each check runs its own event loop (``asyncio.run``), many tasks at once where it
    checks atomicity, and calls :meth:`aclose_store` before the loop ends. Time is a
    :class:`~python_mastery_portfolio.testing.ManualClock` read through each policy. The
    awaited steps move the same state machine as the sync ones, and log their transitions in
    the same in-process log.
    """

    def make_store(self) -> Any:
        """Return a new store implementing both protocols, CLOSED with nothing counted."""
        raise NotImplementedError

    def policy(self, clock: ManualClock, **rules: Any) -> BreakerPolicy:
        """Return a policy reading ``clock``, recovering after 10 s unless ``rules`` say else."""
        rules.setdefault("recovery_timeout", 10.0)
        return BreakerPolicy(now=clock.now, **rules)

    def test_implements_both_protocols(self) -> None:
        """The store is an AsyncBreakerStateStore and a BreakerStateStore at run time."""
        store = self.make_store()
        assert isinstance(store, AsyncBreakerStateStore)
        assert isinstance(store, BreakerStateStore)

    def test_aview_is_the_epoch_and_state(self) -> None:
        """``aview`` reads as ``epoch`` then ``state``, and follows the transitions."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_threshold=1)

        async def check() -> tuple[tuple[int, CircuitState], tuple[int, CircuitState]]:
            before = await store.aview()
            assert await store.arecord_failure(before[0], policy)
            return before, await store.aview()

        (epoch, state), (later_epoch, later_state) = self.run(store, check)
        assert state is CLOSED
        assert later_state is OPEN
        assert later_epoch > epoch
        assert (store.epoch, store.state) == (later_epoch, later_state)

    def test_the_awaited_state_machine(self) -> None:
        """Open, refused with ``retry_after``, half-open probe, closed: every step awaited."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=2)

        async def check() -> None:
            first = await store.aenter(policy)
            assert isinstance(first, BreakerAdmission)
            assert (first.admitted, first.state) == (True, CLOSED)
            assert await store.arecord_failure(first.ticket, policy) is False
            assert await store.arecord_failure((await store.aenter(policy)).ticket, policy)
            clock.advance(4)
            refused = await store.aenter(policy)
            assert (refused.admitted, refused.state, refused.retry_after) == (False, OPEN, 6.0)
            clock.advance(6)
            probe = await store.aenter(policy)
            assert (probe.admitted, probe.state) == (True, HALF_OPEN)
            assert (await store.aenter(policy)).admitted is False  # the one permit is taken
            assert await store.arecord_success(probe.ticket, policy) is True

        self.run(store, check)
        assert store.state is CLOSED
        assert store.drain_transitions() == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
        stats = store.stats(policy)
        assert (stats["successes"], stats["failures"], stats["rejected"]) == (1, 2, 2)
        assert stats["opened"] == 1

    def test_a_probe_failure_reopens(self) -> None:
        """An awaited probe failure opens the circuit for another ``recovery_timeout``."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1)

        async def check() -> BreakerAdmission:
            assert await store.arecord_failure((await store.aenter(policy)).ticket, policy)
            clock.advance(10)
            probe = await store.aenter(policy)
            assert await store.arecord_failure(probe.ticket, policy) is True
            refused: BreakerAdmission = await store.aenter(policy)
            return refused

        refused = self.run(store, check)
        assert (refused.admitted, refused.state, refused.retry_after) == (False, OPEN, 10.0)
        assert store.stats(policy)["opened"] == 2

    def test_arecord_ignored_gives_the_permit_back(self) -> None:
        """An ignored probe frees its half-open permit and counts as neither outcome."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1)

        async def check() -> bool:
            assert await store.arecord_failure((await store.aenter(policy)).ticket, policy)
            clock.advance(10)
            probe = await store.aenter(policy)
            assert (await store.aenter(policy)).admitted is False
            await store.arecord_ignored(probe.ticket)
            admitted: bool = (await store.aenter(policy)).admitted
            return admitted

        assert self.run(store, check) is True
        stats = store.stats(policy)
        assert (stats["ignored"], stats["half_open_calls"], stats["successes"]) == (1, 1, 0)

    def test_stale_tickets_do_not_move_the_state(self) -> None:
        """An awaited outcome from an earlier epoch is counted but changes nothing."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1)

        async def check() -> None:
            stale = (await store.aenter(policy)).ticket
            assert await store.arecord_failure((await store.aenter(policy)).ticket, policy)
            clock.advance(10)
            assert (await store.aenter(policy)).admitted
            assert await store.arecord_success(stale, policy) is False
            assert await store.arecord_failure(stale, policy) is False
            await store.arecord_ignored(stale)

        self.run(store, check)
        assert store.current_state(policy) is HALF_OPEN
        assert store.stats(policy)["half_open_calls"] == 1

    def test_sync_and_async_sides_share_the_state(self) -> None:
        """A circuit opened on one side is open on the other; a reset reaches both."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_threshold=1)
        assert store.record_failure(store.epoch, policy)

        async def check() -> tuple[bool, CircuitState]:
            refused = (await store.aenter(policy)).admitted
            store.reset(policy)
            return refused, (await store.aview())[1]

        assert self.run(store, check) == (False, CLOSED)
        assert store.drain_transitions() == [(CLOSED, OPEN), (OPEN, CLOSED)]

    def test_tasks_open_the_circuit_once(self) -> None:
        """Failures awaited by many tasks at once open the circuit exactly once."""
        store = self.make_store()
        policy = self.policy(ManualClock(), failure_threshold=100)
        ticket = store.epoch

        async def check() -> list[bool]:
            return list(
                await asyncio.gather(*(store.arecord_failure(ticket, policy) for _ in range(300)))
            )

        assert self.run(store, check).count(True) == 1
        stats = store.stats(policy)
        assert (stats["failures"], stats["opened"], stats["state"]) == (300, 1, OPEN)
        assert store.drain_transitions() == [(CLOSED, OPEN)]

    def test_tasks_share_the_half_open_permits(self) -> None:
        """Many tasks entering a half-open circuit at once get exactly the permits."""
        clock = ManualClock()
        store = self.make_store()
        policy = self.policy(clock, failure_threshold=1, half_open_max_calls=3)
        assert store.record_failure(store.epoch, policy)
        clock.advance(10)

        async def check() -> list[bool]:
            admissions = await asyncio.gather(*(store.aenter(policy) for _ in range(200)))
            return [admission.admitted for admission in admissions]

        assert self.run(store, check).count(True) == 3
        stats = store.stats(policy)
        assert (stats["half_open_calls"], stats["rejected"]) == (3, 197)
