"""Tests of CircuitBreaker and CircuitState (python_mastery_portfolio.resilience)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from python_mastery_portfolio.exceptions import CircuitOpenError, PortfolioError
from python_mastery_portfolio.resilience import CircuitBreaker, CircuitState
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import TIMEOUT, raise_first, run_threads

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def ok() -> str:
    return "ok"


def raising(error: BaseException) -> Callable[[], None]:
    def fail() -> None:
        raise error

    return fail


def fail_times(breaker: CircuitBreaker, times: int, error: type[Exception] = OSError) -> None:
    """Make ``times`` calls through ``breaker`` that raise ``error``."""
    for _ in range(times):
        with pytest.raises(error):
            breaker.call(raising(error("down")))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make(clock: ManualClock) -> Callable[..., CircuitBreaker]:
    def build(**kwargs: Any) -> CircuitBreaker:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("name", "test")
        return CircuitBreaker(**kwargs)

    return build


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"failure_threshold": 0}, ValueError, "failure_threshold"),
            ({"failure_threshold": 1.5}, TypeError, "failure_threshold"),
            ({"failure_threshold": True}, TypeError, "failure_threshold"),
            ({"recovery_timeout": -1}, ValueError, "recovery_timeout"),
            ({"recovery_timeout": math.nan}, ValueError, "recovery_timeout"),
            ({"recovery_timeout": "30"}, TypeError, "recovery_timeout"),
            ({"half_open_max_calls": 0}, ValueError, "half_open_max_calls"),
            ({"success_threshold": 0}, ValueError, "success_threshold"),
            ({"failure_rate": 0}, ValueError, "failure_rate"),
            ({"failure_rate": 1.5}, ValueError, "failure_rate"),
            ({"window": 0}, ValueError, "window"),
            ({"minimum_calls": 0}, ValueError, "minimum_calls"),
            ({"exceptions": int}, TypeError, "exceptions"),
            ({"exclude": 3}, TypeError, "exclude"),
            ({"clock": object()}, TypeError, "clock"),
            ({"name": 3}, TypeError, "name"),
        ],
        ids=[
            "threshold-zero",
            "threshold-float",
            "threshold-bool",
            "recovery-negative",
            "recovery-nan",
            "recovery-str",
            "half-open-calls",
            "success-threshold",
            "rate-zero",
            "rate-above-one",
            "window",
            "minimum-calls",
            "exceptions",
            "exclude",
            "clock",
            "name",
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], error: type[Exception], name: str) -> None:
        """Wrong arguments raise at construction, naming the parameter."""
        with pytest.raises(error, match=name):
            CircuitBreaker(**kwargs)

    def test_default_names_are_unique(self) -> None:
        """Without a name each breaker gets a distinct one, shown in its repr."""
        first, second = CircuitBreaker(), CircuitBreaker()
        assert first.name != second.name
        assert first.name.startswith("CircuitBreaker-")
        assert repr(first) == f"CircuitBreaker(name={first.name!r}, state='closed')"

    def test_state_is_a_string_enum(self) -> None:
        """CircuitState members are their lower-case names."""
        assert [str(state) for state in CircuitState] == ["closed", "open", "half_open"]


class TestClosed:
    def test_passes_results_and_errors_through(self, make: Callable[..., CircuitBreaker]) -> None:
        """A closed breaker returns results and re-raises errors unchanged."""
        breaker = make()
        assert breaker.state is CLOSED
        assert breaker.call(ok) == "ok"
        error = OSError("down")
        with pytest.raises(OSError) as info:
            breaker.call(raising(error))
        assert info.value is error

    def test_consecutive_failures_open(self, make: Callable[..., CircuitBreaker]) -> None:
        """``failure_threshold`` consecutive failures open the circuit, one fewer does not."""
        breaker = make(failure_threshold=3)
        fail_times(breaker, 2)
        assert breaker.state is CLOSED
        fail_times(breaker, 1)
        assert breaker.state is OPEN

    def test_success_resets_the_count(self, make: Callable[..., CircuitBreaker]) -> None:
        """A success between failures resets the consecutive count."""
        breaker = make(failure_threshold=2)
        fail_times(breaker, 1)
        breaker.call(ok)
        fail_times(breaker, 1)
        assert breaker.state is CLOSED
        assert breaker.stats()["consecutive_failures"] == 1

    def test_unmatched_exception_counts_as_success(
        self, make: Callable[..., CircuitBreaker]
    ) -> None:
        """An exception outside ``exceptions`` means the dependency answered: a success."""
        breaker = make(failure_threshold=2, exceptions=ConnectionError)
        fail_times(breaker, 1, ConnectionError)
        fail_times(breaker, 1, ValueError)
        fail_times(breaker, 1, ConnectionError)
        assert breaker.state is CLOSED
        stats = breaker.stats()
        assert (stats["failures"], stats["successes"]) == (2, 1)

    def test_predicate_exceptions(self, make: Callable[..., CircuitBreaker]) -> None:
        """``exceptions`` may be a predicate over the raised exception."""
        breaker = make(failure_threshold=1, exceptions=lambda e: "timeout" in str(e))
        fail_times(breaker, 1, ValueError)
        assert breaker.state is CLOSED
        with pytest.raises(ValueError, match="timeout"):
            breaker.call(raising(ValueError("timeout")))
        assert breaker.state is OPEN


class TestOpen:
    def test_fails_fast(self, make: Callable[..., CircuitBreaker], clock: ManualClock) -> None:
        """An open circuit raises CircuitOpenError without calling the function."""
        breaker = make(failure_threshold=1, recovery_timeout=30, name="db")
        fail_times(breaker, 1)
        calls: list[int] = []
        clock.advance(12)
        with pytest.raises(CircuitOpenError) as info:
            breaker.call(calls.append, 1)
        assert calls == []
        error = info.value
        assert (error.retry_after, error.breaker) == (18, "db")
        assert isinstance(error, PortfolioError)
        assert error.http_status == 503
        assert breaker.stats()["rejected"] == 1

    def test_half_open_after_recovery_timeout(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """Reading ``state`` shows HALF_OPEN once ``recovery_timeout`` has passed."""
        breaker = make(failure_threshold=1, recovery_timeout=10)
        fail_times(breaker, 1)
        clock.advance(9.5)
        assert breaker.state is OPEN
        clock.advance(0.5)
        assert breaker.state is HALF_OPEN

    def test_zero_recovery_timeout(self, make: Callable[..., CircuitBreaker]) -> None:
        """With ``recovery_timeout=0`` the next call is already a probe."""
        breaker = make(failure_threshold=1, recovery_timeout=0)
        fail_times(breaker, 1)
        assert breaker.call(ok) == "ok"
        assert breaker.state is CLOSED


class TestHalfOpen:
    @pytest.fixture
    def half_open(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> Callable[..., CircuitBreaker]:
        def build(**kwargs: Any) -> CircuitBreaker:
            breaker = make(failure_threshold=1, recovery_timeout=10, **kwargs)
            fail_times(breaker, 1)
            clock.advance(10)
            return breaker

        return build

    def test_probe_success_closes(self, half_open: Callable[..., CircuitBreaker]) -> None:
        """One probe success closes the circuit by default."""
        breaker = half_open()
        assert breaker.call(ok) == "ok"
        assert breaker.state is CLOSED

    def test_success_threshold(self, half_open: Callable[..., CircuitBreaker]) -> None:
        """``success_threshold`` consecutive probe successes are needed to close."""
        breaker = half_open(success_threshold=3)
        breaker.call(ok)
        breaker.call(ok)
        assert breaker.state is HALF_OPEN
        breaker.call(ok)
        assert breaker.state is CLOSED

    def test_probe_failure_reopens_and_restarts_timer(
        self, half_open: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """One probe failure opens the circuit again for a whole ``recovery_timeout``."""
        breaker = half_open(success_threshold=2)
        breaker.call(ok)
        fail_times(breaker, 1)
        assert breaker.state is OPEN
        with pytest.raises(CircuitOpenError) as info:
            breaker.call(ok)
        assert info.value.retry_after == 10
        assert breaker.stats()["opened"] == 2

    def test_probe_slots_are_limited(self, half_open: Callable[..., CircuitBreaker]) -> None:
        """At most ``half_open_max_calls`` probes run at a time; others are rejected."""
        breaker = half_open(half_open_max_calls=2, success_threshold=5)
        with breaker, breaker:
            assert breaker.stats()["half_open_calls"] == 2
            with pytest.raises(CircuitOpenError) as info:
                breaker.call(ok)
            assert info.value.retry_after == 0.0
        assert breaker.stats()["half_open_calls"] == 0
        assert breaker.call(ok) == "ok"
        assert breaker.stats()["rejected"] == 1

    @pytest.mark.parametrize(
        "error",
        [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(), KeyError("skip")],
        ids=["cancelled", "keyboard", "exit", "excluded"],
    )
    def test_uncounted_probes_give_their_slot_back(
        self, half_open: Callable[..., CircuitBreaker], error: BaseException
    ) -> None:
        """A probe ending in cancellation, an exit or an excluded error frees its slot."""
        breaker = half_open(exclude=KeyError)
        with pytest.raises(type(error)):
            breaker.call(raising(error))
        stats = breaker.stats()
        assert (stats["state"], stats["half_open_calls"], stats["ignored"]) == (HALF_OPEN, 0, 1)
        assert stats["failures"] == 1  # only the one that opened the circuit
        assert breaker.call(ok) == "ok"

    def test_probe_from_an_earlier_period_is_ignored(
        self, half_open: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """A probe admitted before the circuit re-opened neither closes nor frees a slot."""
        breaker = half_open(half_open_max_calls=2)
        with breaker:  # a slow probe of the first half-open period
            fail_times(breaker, 1)  # a second probe fails: open again
            clock.advance(10)
            assert breaker.state is HALF_OPEN
        stats = breaker.stats()
        assert (stats["state"], stats["half_open_calls"], stats["successes"]) == (
            HALF_OPEN,
            0,
            1,
        )

    def test_stale_success_does_not_close(self, make: Callable[..., CircuitBreaker]) -> None:
        """A call that started before the circuit opened cannot close it by succeeding."""
        breaker = make(failure_threshold=1)
        with breaker:
            fail_times(breaker, 1)
        assert breaker.state is OPEN

    def test_stale_failure_does_not_reopen(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """A call that started while closed cannot re-open a half-open circuit by failing."""
        breaker = make(failure_threshold=1, recovery_timeout=10)
        with pytest.raises(OSError, match="late"), breaker:
            fail_times(breaker, 1)
            clock.advance(10)
            assert breaker.state is HALF_OPEN
            raise OSError("late")
        assert breaker.state is HALF_OPEN
        assert breaker.stats()["failures"] == 2


class TestFailureRate:
    def test_opens_at_the_rate(self, make: Callable[..., CircuitBreaker]) -> None:
        """The circuit opens once failures reach ``failure_rate`` of at least the minimum."""
        breaker = make(failure_rate=0.5, minimum_calls=4, failure_threshold=1)
        breaker.call(ok)
        fail_times(breaker, 1)
        breaker.call(ok)
        assert breaker.state is CLOSED
        fail_times(breaker, 1)
        assert breaker.state is OPEN

    def test_needs_minimum_calls(self, make: Callable[..., CircuitBreaker]) -> None:
        """Below ``minimum_calls`` even all-failures keep it closed (no consecutive mode)."""
        breaker = make(failure_rate=0.1, minimum_calls=5, failure_threshold=1)
        fail_times(breaker, 4)
        assert breaker.state is CLOSED
        fail_times(breaker, 1)
        assert breaker.state is OPEN

    def test_rate_is_not_rounded(self, make: Callable[..., CircuitBreaker]) -> None:
        """Three failures in ten calls reach a rate of 0.3 exactly."""
        breaker = make(failure_rate=0.3, minimum_calls=10)
        for _ in range(7):
            breaker.call(ok)
        fail_times(breaker, 3)
        assert breaker.state is OPEN

    def test_old_calls_leave_the_window(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """Calls older than ``window`` no longer count."""
        breaker = make(failure_rate=0.5, minimum_calls=2, window=10)
        fail_times(breaker, 1)
        clock.advance(10)
        fail_times(breaker, 1)
        assert breaker.state is CLOSED
        assert breaker.stats()["window_calls"] == 1

    def test_bucket_resolution(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """A call counts until its bucket (``window / 10`` long) leaves the window."""
        breaker = make(failure_rate=0.5, window=10)
        clock.advance(0.5)
        breaker.call(ok)
        clock.advance(9.25)
        assert breaker.stats()["window_calls"] == 1
        clock.advance(0.25)
        assert breaker.stats()["window_calls"] == 0
        fail_times(breaker, 1)
        clock.advance(1000)
        assert breaker.stats()["window_failures"] == 0

    def test_window_cleared_when_closing(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """Closing the circuit again starts from an empty window."""
        breaker = make(failure_rate=0.5, minimum_calls=1, recovery_timeout=5)
        fail_times(breaker, 1)
        clock.advance(5)
        breaker.call(ok)
        stats = breaker.stats()
        assert (stats["state"], stats["window_calls"]) == (CLOSED, 0)


class TestExceptions:
    @pytest.mark.parametrize(
        "exclude",
        [KeyError, (KeyError, IndexError), lambda e: isinstance(e, KeyError)],
        ids=["type", "tuple", "predicate"],
    )
    def test_excluded_count_as_neither(
        self, make: Callable[..., CircuitBreaker], exclude: Any
    ) -> None:
        """Excluded exceptions propagate unchanged and count neither way."""
        breaker = make(failure_threshold=2, exclude=exclude)
        fail_times(breaker, 1)
        error = KeyError("missing")
        with pytest.raises(KeyError) as info:
            breaker.call(raising(error))
        assert info.value is error
        fail_times(breaker, 1)
        assert breaker.state is OPEN
        stats = breaker.stats()
        assert (stats["failures"], stats["successes"], stats["ignored"]) == (2, 0, 1)

    def test_exclude_wins_over_exceptions(self, make: Callable[..., CircuitBreaker]) -> None:
        """An exception both matched and excluded is excluded."""
        breaker = make(failure_threshold=1, exceptions=LookupError, exclude=KeyError)
        fail_times(breaker, 1, KeyError)
        assert breaker.state is CLOSED
        fail_times(breaker, 1, IndexError)
        assert breaker.state is OPEN

    @pytest.mark.parametrize(
        "error",
        [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(1)],
        ids=["cancelled", "keyboard", "exit"],
    )
    def test_fatal_never_counted(
        self, make: Callable[..., CircuitBreaker], error: BaseException
    ) -> None:
        """Cancellation, interrupts and exits are never counted, whatever ``exceptions`` says."""
        breaker = make(failure_threshold=1, exceptions=lambda e: True)
        with pytest.raises(type(error)):
            breaker.call(raising(error))
        stats = breaker.stats()
        assert (stats["state"], stats["failures"], stats["ignored"]) == (CLOSED, 0, 1)


class Repository:
    breaker = CircuitBreaker(failure_threshold=1, name="repository")

    @breaker
    def load(self, key: str) -> str:
        if key == "bad":
            raise OSError(key)
        return key

    @breaker
    @classmethod
    def build(cls, value: int) -> tuple[type[Repository], int]:
        return cls, value

    @classmethod
    @breaker
    def build_inner(cls, value: int) -> tuple[type[Repository], int]:
        return cls, value

    @breaker
    @staticmethod
    def helper(value: int) -> int:
        return value + 1

    @staticmethod
    @breaker
    def helper_inner(value: int) -> int:
        return value + 2


class TestInterfaces:
    def test_decorator(self, make: Callable[..., CircuitBreaker]) -> None:
        """As a decorator the breaker keeps the function's metadata and counts its calls."""
        breaker = make(failure_threshold=1)

        def fetch(fail: bool) -> str:
            """Fetch."""
            if fail:
                raise OSError("down")
            return "data"

        wrapped = breaker(fetch)
        assert (wrapped.__name__, wrapped.__doc__) == ("fetch", "Fetch.")
        assert wrapped.__wrapped__ is fetch  # type: ignore[attr-defined]  # set by functools.wraps
        assert wrapped(False) == "data"
        with pytest.raises(OSError):
            wrapped(True)
        with pytest.raises(CircuitOpenError):
            wrapped(False)

    async def test_async_decorator(self, make: Callable[..., CircuitBreaker]) -> None:
        """On ``async def`` the wrapper stays a coroutine function and counts the awaited call."""
        breaker = make(failure_threshold=2)
        awaited: list[bool] = []

        @breaker
        async def fetch(fail: bool) -> str:
            awaited.append(fail)
            await asyncio.sleep(0)
            if fail:
                raise OSError("down")
            return "data"

        assert inspect.iscoroutinefunction(fetch)
        assert await fetch(False) == "data"
        for _ in range(2):
            with pytest.raises(OSError):
                await fetch(True)
        with pytest.raises(CircuitOpenError):
            await fetch(False)
        assert awaited == [False, True, True]

    def test_shared_between_functions(self, make: Callable[..., CircuitBreaker]) -> None:
        """One breaker guarding two functions opens for both."""
        breaker = make(failure_threshold=1)
        first = breaker(raising(OSError("down")))
        second = breaker(ok)
        with pytest.raises(OSError):
            first()
        with pytest.raises(CircuitOpenError):
            second()

    def test_context_manager(self, make: Callable[..., CircuitBreaker]) -> None:
        """``with breaker:`` counts the block and never swallows its exception."""
        breaker = make(failure_threshold=1)
        with breaker as entered:
            assert entered is breaker
        with pytest.raises(OSError), breaker:
            raise OSError("down")
        assert breaker.state is OPEN
        with pytest.raises(CircuitOpenError), breaker:
            pytest.fail("the block must not run")
        stats = breaker.stats()
        assert (stats["successes"], stats["failures"], stats["rejected"]) == (1, 1, 1)

    async def test_async_context_manager(self, make: Callable[..., CircuitBreaker]) -> None:
        """``async with breaker:`` works the same, per task."""
        breaker = make(failure_threshold=3)

        async def guarded(fail: bool) -> None:
            async with breaker:
                await asyncio.sleep(0)
                if fail:
                    raise OSError("down")

        results = await asyncio.gather(
            *(guarded(index % 2 == 0) for index in range(4)), return_exceptions=True
        )
        assert [type(result) for result in results] == [OSError, type(None)] * 2
        stats = breaker.stats()
        assert (stats["successes"], stats["failures"]) == (2, 2)

    def test_exit_without_enter(self, make: Callable[..., CircuitBreaker]) -> None:
        """Exiting a block that was never entered is a RuntimeError."""
        with pytest.raises(RuntimeError, match="without being entered"):
            make().__exit__(None, None, None)

    async def test_acall(self, make: Callable[..., CircuitBreaker]) -> None:
        """``acall`` awaits a coroutine function through the breaker."""
        breaker = make(failure_threshold=1)

        async def double(value: int) -> int:
            return value * 2

        async def fail() -> int:
            raise OSError("down")

        assert await breaker.acall(double, 2) == 4
        with pytest.raises(OSError):
            await breaker.acall(fail)
        with pytest.raises(CircuitOpenError):
            await breaker.acall(double, 3)

    def test_methods(self) -> None:
        """Methods, classmethods and staticmethods work, in either order."""
        repository = Repository()
        assert repository.load("a") == "a"
        assert Repository.build(1) == (Repository, 1)
        assert repository.build_inner(2) == (Repository, 2)
        assert Repository.helper(1) == 2
        assert repository.helper_inner(1) == 3
        with pytest.raises(OSError):
            repository.load("bad")
        with pytest.raises(CircuitOpenError):
            Repository.helper(1)
        Repository.breaker.reset()

    def test_guards_generators_and_rejects_non_callables(self) -> None:
        """Generator functions are guarded over their iteration (issue 16); non-callables fail."""

        def numbers() -> Iterator[int]:
            yield 1

        breaker = CircuitBreaker()
        assert list(breaker(numbers)()) == [1]
        assert breaker.stats()["successes"] == 1
        with pytest.raises(TypeError, match="callable"):
            CircuitBreaker()(42)  # type: ignore[call-overload]  # the point of the test


class TestListeners:
    def test_every_transition_reported(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """Listeners get ``(old, new)`` for every transition, in order."""
        breaker = make(failure_threshold=1, recovery_timeout=5)
        seen: list[tuple[CircuitState, CircuitState]] = []
        assert breaker.on_state_change(lambda old, new: seen.append((old, new))) is not None
        fail_times(breaker, 1)
        clock.advance(5)
        fail_times(breaker, 1)
        clock.advance(5)
        breaker.call(ok)
        assert seen == [
            (CLOSED, OPEN),
            (OPEN, HALF_OPEN),
            (HALF_OPEN, OPEN),
            (OPEN, HALF_OPEN),
            (HALF_OPEN, CLOSED),
        ]

    def test_transitions_logged(
        self, make: Callable[..., CircuitBreaker], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Each transition is logged at WARNING with the breaker's name."""
        breaker = make(failure_threshold=1, name="payments")
        with caplog.at_level(logging.WARNING):
            fail_times(breaker, 1)
        [record] = caplog.records
        assert record.levelno == logging.WARNING
        assert "'payments'" in record.getMessage()
        assert "closed -> open" in record.getMessage()

    def test_raising_listener_is_logged(
        self, make: Callable[..., CircuitBreaker], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A listener that raises is logged; the breaker and other listeners carry on."""
        breaker = make(failure_threshold=1)
        seen: list[CircuitState] = []

        def broken(old: CircuitState, new: CircuitState) -> None:
            raise RuntimeError("listener bug")

        breaker.on_state_change(broken)
        breaker.on_state_change(lambda old, new: seen.append(new))
        with caplog.at_level(logging.WARNING):
            fail_times(breaker, 1)
        assert breaker.state is OPEN
        assert seen == [OPEN]
        errors = [record for record in caplog.records if record.levelno == logging.ERROR]
        assert len(errors) == 1
        assert errors[0].exc_info is not None

    def test_listener_causing_a_transition(self, make: Callable[..., CircuitBreaker]) -> None:
        """A listener may change the state; that event follows, never nested."""
        breaker = make(failure_threshold=1)
        seen: list[tuple[CircuitState, CircuitState, int]] = []
        depth = [0]

        def listener(old: CircuitState, new: CircuitState) -> None:
            depth[0] += 1
            seen.append((old, new, depth[0]))
            if new is OPEN:
                breaker.reset()
            depth[0] -= 1

        breaker.on_state_change(listener)
        fail_times(breaker, 1)
        assert seen == [(CLOSED, OPEN, 1), (OPEN, CLOSED, 1)]
        assert breaker.state is CLOSED

    def test_rejects_non_callable(self) -> None:
        """A listener must be callable."""
        with pytest.raises(TypeError, match="listener"):
            CircuitBreaker().on_state_change(3)  # type: ignore[type-var]  # the point of the test


class TestReset:
    def test_reset_closes(self, make: Callable[..., CircuitBreaker]) -> None:
        """``reset`` forces an open circuit closed."""
        breaker = make(failure_threshold=1)
        seen: list[CircuitState] = []
        breaker.on_state_change(lambda old, new: seen.append(new))
        fail_times(breaker, 1)
        breaker.reset()
        assert breaker.state is CLOSED
        assert seen == [OPEN, CLOSED]

    def test_reset_when_closed_clears_counts(self, make: Callable[..., CircuitBreaker]) -> None:
        """``reset`` on a closed circuit forgets the failures so far and calls in flight."""
        breaker = make(failure_threshold=2)
        fail_times(breaker, 1)
        with pytest.raises(OSError), breaker:
            breaker.reset()
            raise OSError("from before the reset")
        fail_times(breaker, 1)
        assert breaker.state is CLOSED
        assert breaker.stats()["consecutive_failures"] == 1

    def test_reset_clears_the_window(self, make: Callable[..., CircuitBreaker]) -> None:
        """In failure-rate mode ``reset`` empties the window."""
        breaker = make(failure_rate=0.5, minimum_calls=2)
        fail_times(breaker, 1)
        breaker.reset()
        assert breaker.stats()["window_calls"] == 0


class TestStats:
    def test_keys(self, make: Callable[..., CircuitBreaker]) -> None:
        """``stats`` reports the documented keys."""
        assert set(make().stats()) == {
            "state",
            "successes",
            "failures",
            "ignored",
            "rejected",
            "opened",
            "consecutive_failures",
            "half_open_calls",
            "window_calls",
            "window_failures",
        }


class TestConcurrency:
    def test_exact_counts_under_threads(self, make: Callable[..., CircuitBreaker]) -> None:
        """64 threads calling at once leave exact counts."""
        breaker = make(failure_threshold=10**9)
        failing = raising(OSError("down"))

        def worker(_: int) -> None:
            for index in range(200):
                with contextlib.suppress(OSError):
                    breaker.call(failing if index % 4 == 0 else ok)

        raise_first(run_threads(64, worker))
        stats = breaker.stats()
        assert (stats["successes"], stats["failures"]) == (64 * 150, 64 * 50)

    def test_probe_slots_under_threads(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """Of 32 threads arriving at a half-open circuit exactly ``half_open_max_calls`` run."""
        breaker = make(failure_threshold=1, recovery_timeout=1, half_open_max_calls=3)
        fail_times(breaker, 1)
        clock.advance(1)
        release = threading.Event()
        done = threading.Condition()
        outcomes: list[str] = []

        def probe() -> str:
            with done:
                outcomes.append("entered")
                done.notify_all()
            assert release.wait(TIMEOUT)
            return "ok"

        def worker(index: int) -> None:
            if index == 32:
                # The last thread drives: it lets the probes finish once all 32 have arrived.
                try:
                    with done:
                        assert done.wait_for(lambda: len(outcomes) == 32, timeout=TIMEOUT)
                finally:
                    release.set()  # even on failure, so the probes end and the assert is reported
                return
            try:
                breaker.call(probe)
            except CircuitOpenError:
                with done:
                    outcomes.append("rejected")
                    done.notify_all()

        raise_first(run_threads(33, worker))
        assert outcomes.count("entered") == 3
        stats = breaker.stats()
        assert (stats["state"], stats["rejected"], stats["successes"]) == (CLOSED, 29, 3)
        assert stats["half_open_calls"] == 0

    async def test_cancelled_probe_tasks_free_their_slots(
        self, make: Callable[..., CircuitBreaker], clock: ManualClock
    ) -> None:
        """Cancelling probe tasks gives their slots back and counts nothing."""
        breaker = make(failure_threshold=1, recovery_timeout=1, half_open_max_calls=5)
        fail_times(breaker, 1)
        clock.advance(1)
        never = asyncio.Event()

        @breaker
        async def probe() -> None:
            await never.wait()

        tasks = [asyncio.create_task(probe()) for _ in range(100)]
        await asyncio.sleep(0)
        rejected = [task for task in tasks if task.done()]
        assert len(rejected) == 95
        assert all(isinstance(task.exception(), CircuitOpenError) for task in rejected)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stats = breaker.stats()
        assert (stats["state"], stats["half_open_calls"], stats["ignored"]) == (HALF_OPEN, 0, 5)
        assert breaker.call(ok) == "ok"

    async def test_many_tasks_exact_counts(self, make: Callable[..., CircuitBreaker]) -> None:
        """Hundreds of concurrent tasks leave exact counts."""
        breaker = make(failure_threshold=10**9)

        @breaker
        async def work(index: int) -> int:
            await asyncio.sleep(0)
            if index % 3 == 0:
                raise OSError("down")
            return index

        await asyncio.gather(*(work(index) for index in range(300)), return_exceptions=True)
        stats = breaker.stats()
        assert (stats["successes"], stats["failures"]) == (200, 100)


class BreakerMachine(RuleBasedStateMachine):
    """The breaker against a plain model of its state machine (consecutive mode)."""

    THRESHOLD = 3
    RECOVERY = 10.0
    SUCCESSES = 2

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.breaker = CircuitBreaker(
            failure_threshold=self.THRESHOLD,
            recovery_timeout=self.RECOVERY,
            success_threshold=self.SUCCESSES,
            exceptions=OSError,
            exclude=KeyError,
            clock=self.clock,
            name="model",
        )
        self.events: list[tuple[CircuitState, CircuitState]] = []
        self.breaker.on_state_change(lambda old, new: self.events.append((old, new)))
        self.state = CLOSED
        self.consecutive = 0
        self.probe_successes = 0
        self.opened_at = 0.0
        self.expected_events: list[tuple[CircuitState, CircuitState]] = []
        self.counts = {"successes": 0, "failures": 0, "ignored": 0, "rejected": 0}

    def move(self, new: CircuitState) -> None:
        self.expected_events.append((self.state, new))
        self.state = new
        self.consecutive = 0
        self.probe_successes = 0
        if new is OPEN:
            self.opened_at = self.clock.now()

    def settle_model(self) -> None:
        if self.state is OPEN and self.clock.now() >= self.opened_at + self.RECOVERY:
            self.move(HALF_OPEN)

    @rule(seconds=st.sampled_from([0.5, 3.0, 9.5, 10.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(outcome=st.sampled_from(["ok", "fail", "excluded", "other"]))
    def call(self, outcome: str) -> None:
        self.settle_model()
        errors = {"fail": OSError("down"), "excluded": KeyError("k"), "other": ValueError("v")}
        function = ok if outcome == "ok" else raising(errors[outcome])
        if self.state is OPEN:
            with pytest.raises(CircuitOpenError) as info:
                self.breaker.call(function)
            assert info.value.retry_after == pytest.approx(
                self.opened_at + self.RECOVERY - self.clock.now()
            )
            self.counts["rejected"] += 1
            return
        try:
            self.breaker.call(function)
        except (OSError, KeyError, ValueError):
            assert outcome != "ok"
        if outcome == "excluded":
            self.counts["ignored"] += 1
        elif outcome == "fail":
            self.counts["failures"] += 1
            self.consecutive += 1
            if self.state is HALF_OPEN or self.consecutive >= self.THRESHOLD:
                self.move(OPEN)
        else:
            self.counts["successes"] += 1
            self.consecutive = 0
            if self.state is HALF_OPEN:
                self.probe_successes += 1
                if self.probe_successes >= self.SUCCESSES:
                    self.move(CLOSED)

    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        if self.state is not CLOSED:
            self.move(CLOSED)
        self.consecutive = 0

    @invariant()
    def agrees_with_the_model(self) -> None:
        self.settle_model()
        assert self.breaker.state is self.state
        assert self.events == self.expected_events
        stats = self.breaker.stats()
        assert {key: value for key, value in stats.items() if key in self.counts} == self.counts
        if self.state is CLOSED:
            assert stats["consecutive_failures"] == self.consecutive


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
