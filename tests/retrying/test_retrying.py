"""Tests of retry, async_retry, the retrying block form and retry_testing."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_mastery_portfolio.exceptions import (
    CircuitOpenError,
    PortfolioError,
    RateLimitError,
    RetryExhaustedError,
)
from python_mastery_portfolio.retrying import (
    Attempt,
    RetryState,
    async_retry,
    retry,
    retry_testing,
    retrying,
)
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import raise_first, run_threads

NAME = "tests.retrying.test_retrying"


class Flaky:
    """A callable that raises the given errors in turn, then returns ``value``."""

    def __init__(
        self, *errors: BaseException, value: Any = "ok", clock: ManualClock | None = None
    ) -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0
        self.clock = clock
        self.times: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.clock is not None:
            self.times.append(self.clock.now())
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def flaky_function(flaky: Flaky) -> Callable[[], Any]:
    """Return a plain ``def`` that delegates to ``flaky`` (so it has a name and frames)."""

    def operation() -> Any:
        return flaky()

    return operation


def failing(n: int, error: type[BaseException] = ConnectionError) -> list[BaseException]:
    return [error(f"failure {i + 1}") for i in range(n)]


class BlockingClock(ManualClock):
    """A manual clock whose async waits block until released, so a task really waits."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.waiting.set()
        await self.release.wait()


class InterruptingClock(ManualClock):
    """A manual clock whose sync wait is interrupted, as by Ctrl-C."""

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        raise KeyboardInterrupt


class TestWaits:
    def test_exponential_backoff(self) -> None:
        """After failed attempt n the wait is delay * backoff ** (n - 1)."""
        clock = ManualClock()
        flaky = Flaky(*failing(4))
        wrapped = retry(max_attempts=5, delay=1.0, backoff=2.0, clock=clock)(flaky)
        assert wrapped() == "ok"
        assert flaky.calls == 5
        assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]

    def test_max_delay_caps(self) -> None:
        """max_delay caps every wait."""
        clock = ManualClock()
        flaky = Flaky(*failing(4))
        retry(max_attempts=5, delay=1.0, backoff=3.0, max_delay=5.0, clock=clock)(flaky)()
        assert clock.sleeps == [1.0, 3.0, 5.0, 5.0]

    def test_constant_delay(self) -> None:
        """backoff=1 keeps the wait constant."""
        clock = ManualClock()
        retry(max_attempts=4, delay=0.25, backoff=1.0, clock=clock)(Flaky(*failing(3)))()
        assert clock.sleeps == [0.25, 0.25, 0.25]

    def test_zero_wait_skipped(self) -> None:
        """A zero wait never reaches the clock."""
        clock = ManualClock()
        assert retry(max_attempts=3, delay=0, clock=clock)(Flaky(*failing(2)))() == "ok"
        assert clock.sleeps == []

    def test_huge_attempt_number_capped(self) -> None:
        """Thousands of attempts with a steep backoff never overflow: the cap holds."""
        clock = ManualClock()
        flaky = Flaky(*failing(1999))
        wrapped = retry(max_attempts=2000, delay=1.0, backoff=10.0, max_delay=7.0, clock=clock)
        assert wrapped(flaky)() == "ok"
        assert clock.sleeps[:2] == [1.0, 7.0]
        assert set(clock.sleeps[1:]) == {7.0}

    @pytest.mark.parametrize("attempt", [10**6, 10**400], ids=["million", "googol-ish"])
    def test_wait_formula_saturates(self, attempt: int) -> None:
        """The wait formula saturates at the cap, or at infinity without one."""
        capped = retrying(delay=1.0, backoff=2.0, max_delay=3.0).options
        uncapped = retrying(delay=1.0, backoff=2.0).options
        assert capped.wait(attempt, 0.0) == 3.0
        assert uncapped.wait(attempt, 0.0) == math.inf

    def test_infinite_wait_gives_up(self) -> None:
        """Without a cap, a wait past float range ends the retries with the last error."""
        clock = ManualClock()
        errors = failing(10)
        flaky = Flaky(*errors)
        wrapped = retry(max_attempts=10, delay=1.0, backoff=1e100, clock=clock)(flaky)
        with pytest.raises(ConnectionError) as info:
            wrapped()
        assert clock.sleeps == [1.0, 1e100, 1e200, 1e300]
        assert info.value is errors[4]
        assert "after 5 attempts: the next wait would never end" in info.value.__notes__[0]

    def test_jitter_adds_at_most_j(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Jitter adds a uniform extra in [0, j], drawn per wait."""
        draws: list[tuple[float, float]] = []

        def uniform(low: float, high: float) -> float:
            draws.append((low, high))
            return high

        monkeypatch.setattr("random.uniform", uniform)
        clock = ManualClock()
        retry(max_attempts=3, delay=1.0, jitter=0.5, clock=clock)(Flaky(*failing(2)))()
        assert clock.sleeps == [1.5, 2.5]
        assert draws == [(0, 0.5), (0, 0.5)]

    def test_jitter_within_bounds(self) -> None:
        """Real jitter stays within [base, base + j]."""
        clock = ManualClock()
        retry(max_attempts=40, delay=1.0, backoff=1.0, jitter=0.5, clock=clock)(
            Flaky(*failing(39))
        )()
        assert all(1.0 <= wait <= 1.5 for wait in clock.sleeps)
        assert len(set(clock.sleeps)) > 1

    def test_jitter_respects_cap(self) -> None:
        """The cap still holds once jitter is added."""
        clock = ManualClock()
        retry(max_attempts=20, delay=1.0, jitter=10.0, max_delay=1.0, clock=clock)(
            Flaky(*failing(19))
        )()
        assert clock.sleeps == [1.0] * 19

    @settings(max_examples=150, deadline=None)
    @given(
        delay=st.floats(0, 100),
        backoff=st.floats(1, 1000),
        max_delay=st.none() | st.floats(0, 1000),
        jitter=st.floats(0, 10),
        failures=st.integers(0, 60),
    )
    def test_waits_invariant(
        self, delay: float, backoff: float, max_delay: float | None, jitter: float, failures: int
    ) -> None:
        """Every wait lies between the formula and formula + jitter, capped, never negative."""
        states: list[RetryState] = []
        wrapped = retry(
            max_attempts=failures + 1,
            delay=delay,
            backoff=backoff,
            max_delay=max_delay,
            jitter=jitter,
            on_retry=states.append,
            clock=ManualClock(),
            logger=logging.getLogger("quiet.retry.hypothesis"),
        )(Flaky(*failing(failures)))
        try:
            wrapped()
        except ConnectionError as error:
            notes = error.__notes__
        else:
            notes = []
        assert all("would never end" in note for note in notes)
        cap = math.inf if max_delay is None else max_delay
        for n, wait in ((state.attempt, state.delay) for state in states):
            try:
                base = delay * backoff ** (n - 1)
            except OverflowError:
                base = math.inf
            assert 0 <= wait <= cap
            assert min(base, cap) <= wait * (1 + 1e-9)
            assert wait <= min(base + jitter, cap) * (1 + 1e-9)


class TestDeadline:
    def test_no_wait_passes_deadline(self) -> None:
        """The last error is raised at once when the next wait would pass the deadline."""
        clock = ManualClock()
        errors = failing(10)
        flaky = Flaky(*errors, clock=clock)
        wrapped = retry(max_attempts=10, delay=1.0, backoff=2.0, deadline=4.0, clock=clock)
        with pytest.raises(ConnectionError) as info:
            wrapped(flaky)()
        assert flaky.times == [0.0, 1.0, 3.0]
        assert clock.sleeps == [1.0, 2.0]
        assert info.value is errors[2]
        assert (
            "after 3 attempts: the next attempt could not start within the 4 s deadline"
            in (info.value.__notes__[0])
        )

    def test_attempt_at_deadline_allowed(self) -> None:
        """An attempt may start exactly at the deadline, never after it."""
        clock = ManualClock()
        flaky = Flaky(*failing(10), clock=clock)
        wrapped = retry(max_attempts=10, delay=2.0, backoff=1.0, deadline=4.0, clock=clock)
        with pytest.raises(ConnectionError):
            wrapped(flaky)()
        assert flaky.times == [0.0, 2.0, 4.0]

    def test_budget_counts_from_first_call(self) -> None:
        """Time spent inside attempts counts against the deadline."""
        clock = ManualClock()

        def slow() -> None:
            clock.advance(3.0)
            raise ConnectionError("slow")

        wrapped = retry(max_attempts=10, delay=1.0, deadline=5.0, clock=clock)(slow)
        with pytest.raises(ConnectionError, match="slow") as info:
            wrapped()
        # 3 s for attempt 1, 1 s wait, 3 s for attempt 2: past the deadline.
        assert clock.sleeps == [1.0]
        assert "after 2 attempts" in info.value.__notes__[0]

    async def test_async_deadline(self) -> None:
        """The deadline applies to coroutine functions too."""
        clock = ManualClock()
        flaky = Flaky(*failing(10), clock=clock)

        async def operation() -> Any:
            return flaky()

        wrapped = async_retry(max_attempts=10, delay=1.0, deadline=4.0, clock=clock)(operation)
        with pytest.raises(ConnectionError):
            await wrapped()
        assert clock.sleeps == [1.0, 2.0]


class TestExceptions:
    @pytest.mark.parametrize(
        "spec",
        [OSError, (KeyError, OSError), lambda error: "transient" in str(error)],
        ids=["type", "tuple", "predicate"],
    )
    def test_spec_selects_retried(self, spec: Any) -> None:
        """A type, a tuple or a predicate selects the errors that are retried."""
        flaky = Flaky(ConnectionError("transient"))
        assert retry(exceptions=spec, clock=ManualClock())(flaky)() == "ok"
        assert flaky.calls == 2

    def test_others_propagate_untouched(self) -> None:
        """An error outside the spec propagates at once, with no note."""
        error = ValueError("bad input")
        flaky = Flaky(error)
        with pytest.raises(ValueError, match="bad input") as info:
            retry(exceptions=OSError, clock=ManualClock())(flaky)()
        assert info.value is error
        assert flaky.calls == 1
        assert not hasattr(error, "__notes__")

    @pytest.mark.parametrize(
        "fatal",
        [asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit],
        ids=["cancelled", "keyboard", "exit", "generator-exit"],
    )
    @pytest.mark.parametrize(
        "spec", [BaseException, lambda error: True], ids=["base-exception", "predicate"]
    )
    def test_fatal_never_retried(self, fatal: type[BaseException], spec: Any) -> None:
        """Cancellation, interrupts and exits propagate at once whatever the spec says."""
        flaky = Flaky(fatal())
        with pytest.raises(fatal):
            retry(exceptions=spec, clock=ManualClock())(flaky)()
        assert flaky.calls == 1

    def test_bad_spec(self) -> None:
        """A spec that is no type, tuple or predicate is refused by name."""
        with pytest.raises(TypeError, match="exceptions"):
            retry(exceptions=3)  # type: ignore[call-overload]

    def test_exhausted_reraises_same_object_with_note(self) -> None:
        """The last error propagates as itself, noting the attempts."""
        errors = failing(3)
        with pytest.raises(ConnectionError) as info:
            retry(max_attempts=3, clock=ManualClock())(flaky_function(Flaky(*errors)))()
        assert info.value is errors[2]
        assert info.value.__notes__ == [
            f"Gave up retrying {NAME}.flaky_function.<locals>.operation after 3 attempts",
        ]

    def test_single_attempt_note(self) -> None:
        """max_attempts=1 makes one attempt and says so."""
        with pytest.raises(ConnectionError) as info:
            retry(max_attempts=1)(Flaky(*failing(1)))()
        assert info.value.__notes__[0].endswith("after 1 attempt")

    def test_traceback_intact(self) -> None:
        """The raising frame is still the innermost entry of the traceback."""

        def deep() -> None:
            raise ConnectionError("deep")

        with pytest.raises(ConnectionError) as info:
            retry(max_attempts=2, clock=ManualClock())(deep)()
        frames = [entry.tb_frame.f_code.co_name for entry in _walk(info.value.__traceback__)]
        assert frames[-1] == "deep"

    def test_errors_not_chained(self) -> None:
        """A later attempt's error is not chained to an earlier one."""
        errors = failing(3)
        with pytest.raises(ConnectionError):
            retry(max_attempts=3, clock=ManualClock())(Flaky(*errors))()
        assert [error.__context__ for error in errors] == [None, None, None]


def _walk(tb: Any) -> Iterator[Any]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


class TestRetryOnResult:
    def test_rejected_result_retried(self) -> None:
        """A result the predicate rejects is retried like a failure."""
        results = iter([None, None, 42])
        clock = ManualClock()
        wrapped = retry(retry_on_result=lambda value: value is None, clock=clock)(
            lambda: next(results)
        )
        assert wrapped() == 42
        assert clock.sleeps == [1.0, 2.0]

    def test_exhausted_raises_with_last_result(self) -> None:
        """When attempts run out, RetryExhaustedError carries the last result and attempts."""
        results = iter(["pending-1", "pending-2"])
        wrapped = retry(
            max_attempts=2,
            retry_on_result=lambda value: value.startswith("pending"),
            clock=ManualClock(),
        )(lambda: next(results))
        with pytest.raises(RetryExhaustedError) as info:
            wrapped()
        assert isinstance(info.value, PortfolioError)
        assert info.value.last_result == "pending-2"
        assert info.value.attempts == 2
        assert "after 2 attempts" in str(info.value)

    def test_failures_and_results_mixed(self) -> None:
        """Errors and rejected results share one attempt budget."""
        outcomes: list[Any] = [ConnectionError("x"), "bad", ConnectionError("y"), "good"]

        def call() -> Any:
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        wrapped = retry(max_attempts=4, retry_on_result=lambda v: v == "bad", clock=ManualClock())
        assert wrapped(call)() == "good"

    async def test_async_rejected_result(self) -> None:
        """Coroutine functions get retry_on_result too, up to RetryExhaustedError."""
        calls: list[int] = []

        async def poll() -> int:
            calls.append(1)
            return len(calls)

        accepting = async_retry(retry_on_result=lambda v: v < 2, clock=ManualClock())(poll)
        assert await accepting() == 2
        rejecting = async_retry(retry_on_result=lambda v: True, clock=ManualClock())(poll)
        with pytest.raises(RetryExhaustedError) as info:
            await rejecting()
        assert info.value.last_result == 5


class TestOnRetryAndLogging:
    def test_on_retry_receives_state(self) -> None:
        """on_retry sees attempt, wait, error and elapsed time before each wait."""
        clock = ManualClock()
        errors = failing(2)
        states: list[RetryState] = []

        def slow_flaky() -> str:
            clock.advance(0.5)
            if errors:
                raise errors.pop(0)
            return "ok"

        expected_errors = list(errors)
        retry(delay=1.0, on_retry=states.append, clock=clock)(slow_flaky)()
        assert states == [
            RetryState(
                attempt=1, delay=1.0, exception=expected_errors[0], result=None, elapsed=0.5
            ),
            RetryState(
                attempt=2, delay=2.0, exception=expected_errors[1], result=None, elapsed=2.0
            ),
        ]

    def test_on_retry_receives_result(self) -> None:
        """A rejected result reaches on_retry as result, with no exception."""
        states: list[RetryState] = []
        results = iter([0, 1])
        retry(retry_on_result=lambda v: v == 0, on_retry=states.append, clock=ManualClock())(
            lambda: next(results)
        )()
        assert states == [RetryState(1, 1.0, None, 0, 0.0)]

    def test_state_frozen_and_slotted(self) -> None:
        """RetryState is immutable and has no per-instance dict."""
        state = RetryState(1, 1.0, None, None, 0.0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            state.attempt = 2  # type: ignore[misc]
        assert not hasattr(state, "__dict__")

    def test_warning_per_retry(self, caplog: pytest.LogCaptureFixture) -> None:
        """Each retry is logged at WARNING with name, attempt, wait and error."""
        caplog.set_level(logging.WARNING, logger="python_mastery_portfolio.retrying")

        def fetch() -> str:
            raise ConnectionError("reset by peer")

        with pytest.raises(ConnectionError):
            retry(max_attempts=3, delay=1.5, clock=ManualClock())(fetch)()
        records = [r for r in caplog.records if r.name == "python_mastery_portfolio.retrying"]
        assert [r.levelno for r in records] == [logging.WARNING] * 2
        message = records[0].getMessage()
        assert "TestOnRetryAndLogging.test_warning_per_retry.<locals>.fetch" in message
        assert "in 1.5 s" in message
        assert "attempt 1 of 3" in message
        assert "ConnectionError('reset by peer')" in message
        assert "attempt 2 of 3" in records[1].getMessage()

    def test_rejected_result_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """A rejected result is logged with its value."""
        caplog.set_level(logging.WARNING)
        results = iter(["busy", "idle"])
        retry(retry_on_result=lambda v: v == "busy", clock=ManualClock())(lambda: next(results))()
        assert "returned rejected result 'busy'" in caplog.records[0].getMessage()

    def test_custom_logger(self, caplog: pytest.LogCaptureFixture) -> None:
        """logger= sends the retry warnings to the given logger."""
        caplog.set_level(logging.WARNING)
        custom = logging.getLogger("my.service.retries")
        retry(logger=custom, clock=ManualClock())(Flaky(*failing(1)))()
        assert [r.name for r in caplog.records] == ["my.service.retries"]


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [
            ({"max_attempts": 0}, "max_attempts"),
            ({"delay": -1.0}, "delay"),
            ({"delay": math.nan}, "delay"),
            ({"backoff": 0.5}, "backoff"),
            ({"max_delay": -0.1}, "max_delay"),
            ({"deadline": 0}, "deadline"),
            ({"deadline": -5}, "deadline"),
            ({"jitter": -1}, "jitter"),
        ],
        ids=[
            "attempts",
            "delay",
            "delay-nan",
            "backoff",
            "max-delay",
            "deadline-zero",
            "deadline-negative",
            "jitter",
        ],
    )
    @pytest.mark.parametrize("factory", [retry, async_retry, retrying], ids=lambda f: f.__name__)
    def test_out_of_range(self, factory: Any, kwargs: dict[str, Any], name: str) -> None:
        """Out-of-range numbers are a ValueError naming the argument, at decoration time."""
        with pytest.raises(ValueError, match=rf"^{name} must be"):
            factory(**kwargs)

    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [
            ({"max_attempts": 2.5}, "max_attempts"),
            ({"max_attempts": True}, "max_attempts"),
            ({"delay": "1"}, "delay"),
            ({"retry_on_result": 3}, "retry_on_result"),
            ({"on_retry": "log"}, "on_retry"),
            ({"clock": object()}, "clock"),
            ({"logger": "my.logger"}, "logger"),
        ],
        ids=["float-attempts", "bool-attempts", "str-delay", "result", "on-retry", "clock", "log"],
    )
    def test_wrong_types(self, kwargs: dict[str, Any], name: str) -> None:
        """Arguments of the wrong type are a TypeError naming the argument."""
        with pytest.raises(TypeError, match=rf"^{name} must be"):
            retry(**kwargs)

    def test_retrying_name_type(self) -> None:
        """retrying's name must be a string."""
        with pytest.raises(TypeError, match=r"^name must be"):
            retrying(name=3)  # type: ignore[call-overload]

    @pytest.mark.parametrize("decorator", [retry(), async_retry()], ids=["retry", "async_retry"])
    def test_generators_refused(self, decorator: Any) -> None:
        """Generator and async generator functions are refused at decoration time."""

        def gen() -> Iterator[int]:
            yield 1

        async def agen() -> Any:
            yield 1

        for func in (gen, agen):
            with pytest.raises(TypeError, match="cannot decorate generator"):
                decorator(func)

    def test_async_retry_refuses_sync(self) -> None:
        """async_retry refuses a plain function at decoration time."""

        def plain() -> None: ...

        with pytest.raises(TypeError, match="@async_retry needs a coroutine function"):
            async_retry(max_attempts=2)(plain)  # type: ignore[arg-type]

    def test_non_callable_refused(self) -> None:
        """Decorating something that cannot be called is a TypeError."""
        with pytest.raises(TypeError, match="@retry needs a callable"):
            retry()(42)  # type: ignore[call-overload]


class TestForms:
    def test_seed_forms(self) -> None:
        """The seed's decorator calls work as written."""

        @retry(max_attempts=3, delay=1.0, backoff=2.0, exceptions=(IOError, ConnectionError))
        def unstable_operation() -> None:
            pass

        @async_retry(max_attempts=5, delay=0.5)
        async def async_unstable_operation() -> None:
            pass

        assert unstable_operation() is None
        assert asyncio.run(async_unstable_operation()) is None

    def test_bare_retry(self) -> None:
        """Bare @retry uses the defaults: three attempts."""
        flaky = Flaky(*failing(3))
        wrapped = retry(flaky)
        with retry_testing(), pytest.raises(ConnectionError):
            wrapped()
        assert flaky.calls == 3

    async def test_bare_async_retry(self) -> None:
        """Bare @async_retry works on a coroutine function."""
        errors = failing(2)

        @async_retry
        async def fetch() -> str:
            if errors:
                raise errors.pop(0)
            return "ok"

        with retry_testing():
            assert await fetch() == "ok"

    def test_metadata_kept(self) -> None:
        """functools.wraps keeps name, docstring and __wrapped__."""

        def original(x: int) -> int:
            """Double x."""
            return 2 * x

        wrapped = retry()(original)
        assert wrapped.__name__ == "original"
        assert wrapped.__doc__ == "Double x."
        assert wrapped.__wrapped__ is original  # type: ignore[attr-defined]
        assert inspect.signature(wrapped) == inspect.signature(original)

    def test_async_stays_coroutine_function(self) -> None:
        """Both decorators keep a coroutine function a coroutine function."""

        async def fetch() -> int:
            return 1

        assert inspect.iscoroutinefunction(retry()(fetch))
        assert inspect.iscoroutinefunction(async_retry()(fetch))
        assert not inspect.iscoroutinefunction(retry()(lambda: 1))

    async def test_retry_on_async_def(self) -> None:
        """retry on an async def retries awaited failures with async waits."""
        clock = ManualClock()
        errors = failing(2)

        @retry(delay=0.5, clock=clock)
        async def fetch(x: int) -> int:
            if errors:
                raise errors.pop(0)
            return x

        assert await fetch(7) == 7
        assert clock.sleeps == [0.5, 1.0]

    async def test_async_partial(self) -> None:
        """A partial of a coroutine function is wrapped as async."""
        errors = failing(1)

        async def fetch(x: int) -> int:
            if errors:
                raise errors.pop(0)
            return x

        wrapped = async_retry(clock=ManualClock())(functools.partial(fetch, 3))
        assert await wrapped() == 3

    @pytest.mark.parametrize("order", ["retry-outside", "retry-inside"])
    def test_methods(self, order: str) -> None:
        """Instance methods, classmethods and staticmethods work, in either order."""
        clock = ManualClock()
        decorate = retry(max_attempts=2, clock=clock)

        class Service:
            def __init__(self) -> None:
                self.errors = failing(1)

            @decorate
            def method(self, x: int) -> int:
                if self.errors:
                    raise self.errors.pop(0)
                return x

            if order == "retry-outside":

                @decorate
                @classmethod
                def build(cls, x: int) -> tuple[type[Service], int]:
                    return cls, x

                @decorate
                @staticmethod
                def helper(x: int) -> int:
                    return x + 1

            else:

                @classmethod
                @decorate
                def build(cls, x: int) -> tuple[type[Service], int]:
                    return cls, x

                @staticmethod
                @decorate
                def helper(x: int) -> int:
                    return x + 1

        assert Service().method(5) == 5
        assert Service.build(1) == (Service, 1)
        assert Service().build(2) == (Service, 2)
        assert Service.helper(1) == 2
        assert Service().helper(2) == 3
        assert clock.sleeps == [1.0]

    async def test_async_methods(self) -> None:
        """async_retry works on async instance methods and above @classmethod."""
        attempts: list[int] = []

        class Client:
            @async_retry(clock=ManualClock())
            async def get(self, x: int) -> int:
                attempts.append(x)
                if len(attempts) < 2:
                    raise ConnectionError("once")
                return x

            @async_retry(clock=ManualClock())
            @classmethod
            async def make(cls) -> Client:
                return cls()

            @async_retry
            @staticmethod
            async def ping() -> str:
                return "pong"

        assert await Client().get(4) == 4
        assert isinstance(await Client.make(), Client)
        assert await Client.ping() == "pong"


class TestAsync:
    async def test_async_waits_through_clock(self) -> None:
        """Coroutine waits go through clock.asleep."""
        clock = ManualClock()
        flaky = Flaky(*failing(2))

        @async_retry(max_attempts=5, delay=0.5, clock=clock)
        async def fetch() -> Any:
            return flaky()

        assert await fetch() == "ok"
        assert clock.sleeps == [0.5, 1.0]

    async def test_exhausted_note(self) -> None:
        """An exhausted coroutine re-raises the last error with a note."""
        errors = failing(2)

        @async_retry(max_attempts=2, clock=ManualClock())
        async def fetch() -> None:
            raise errors.pop(0)

        with pytest.raises(ConnectionError, match="failure 2") as info:
            await fetch()
        assert "after 2 attempts" in info.value.__notes__[0]

    async def test_cancel_during_wait(self) -> None:
        """Cancelling a task while it waits stops it at once, with no further attempt."""
        clock = BlockingClock()
        calls: list[int] = []

        @async_retry(max_attempts=5, delay=30.0, clock=clock)
        async def fetch() -> None:
            calls.append(1)
            raise ConnectionError("down")

        task = asyncio.create_task(fetch())
        await clock.waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert calls == [1]
        assert clock.sleeps == [30.0]

    async def test_cancelled_error_from_function(self) -> None:
        """A CancelledError raised by the function itself is never retried."""
        calls: list[int] = []

        @async_retry(exceptions=BaseException, clock=ManualClock())
        async def fetch() -> None:
            calls.append(1)
            raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            await fetch()
        assert calls == [1]

    def test_interrupt_during_sync_wait(self) -> None:
        """A KeyboardInterrupt during a sync wait stops at once."""
        clock = InterruptingClock()
        flaky = Flaky(*failing(3))
        with pytest.raises(KeyboardInterrupt):
            retry(max_attempts=5, clock=clock)(flaky)()
        assert flaky.calls == 1


class TestRetryAfter:
    @pytest.mark.parametrize(
        "error",
        [
            RateLimitError("slow down", retry_after=10.0, limit=5),
            CircuitOpenError("open", retry_after=10),
        ],
        ids=["rate-limit", "circuit-open"],
    )
    def test_wait_at_least_retry_after(self, error: Exception) -> None:
        """An error's retry_after raises the wait to at least that long."""
        clock = ManualClock()
        flaky = Flaky(error, ConnectionError("x"))
        retry(delay=1.0, clock=clock)(flaky)()
        assert clock.sleeps == [10.0, 2.0]

    def test_longer_backoff_wins(self) -> None:
        """retry_after is a floor, not a replacement: a longer backoff wait stays."""
        clock = ManualClock()
        retry(delay=5.0, clock=clock)(Flaky(RateLimitError("x", retry_after=1.0)))()
        assert clock.sleeps == [5.0]

    def test_capped_by_max_delay(self) -> None:
        """max_delay still caps a long retry_after."""
        clock = ManualClock()
        retry(delay=1.0, max_delay=3.0, clock=clock)(Flaky(RateLimitError("x", retry_after=60)))()
        assert clock.sleeps == [3.0]

    def test_huge_int_capped(self) -> None:
        """An int retry_after past float range is still capped, with no overflow."""
        clock = ManualClock()
        retry(max_delay=2.0, clock=clock)(Flaky(RateLimitError("x", retry_after=10**400)))()
        assert clock.sleeps == [2.0]

    def test_gives_up_past_deadline(self) -> None:
        """When retry_after would pass the deadline, the error is raised at once."""
        clock = ManualClock()
        error = RateLimitError("slow down", retry_after=60.0)
        flaky = Flaky(error)
        with pytest.raises(RateLimitError) as info:
            retry(max_attempts=5, deadline=30.0, clock=clock)(flaky)()
        assert info.value is error
        assert flaky.calls == 1
        assert clock.sleeps == []
        assert "30 s deadline" in error.__notes__[0]

    @pytest.mark.parametrize(
        "value",
        ["soon", True, -5.0, math.nan, None],
        ids=["str", "bool", "negative", "nan", "none"],
    )
    def test_non_numeric_ignored(self, value: Any) -> None:
        """A retry_after that is not a non-negative number is ignored."""

        class Busy(Exception):
            retry_after = value

        clock = ManualClock()
        retry(delay=1.0, clock=clock)(Flaky(Busy()))()
        assert clock.sleeps == [1.0]

    def test_generic_attribute(self) -> None:
        """Any exception with a numeric retry_after is honoured, not only ours."""

        class Throttled(Exception):
            def __init__(self, retry_after: int) -> None:
                super().__init__("throttled")
                self.retry_after = retry_after

        clock = ManualClock()
        retry(clock=clock)(Flaky(Throttled(7)))()
        assert clock.sleeps == [7.0]


class TestBlockForm:
    def test_sync_block(self) -> None:
        """for/with retries the block, waiting between attempts."""
        clock = ManualClock()
        flaky = Flaky(*failing(2))
        numbers = []
        for attempt in retrying(max_attempts=3, delay=1.0, clock=clock):
            with attempt:
                numbers.append(attempt.number)
                flaky()
        assert numbers == [1, 2, 3]
        assert clock.sleeps == [1.0, 2.0]

    def test_success_stops_loop(self) -> None:
        """A block that succeeds ends the loop at once."""
        attempts = [attempt.number for attempt in _entered(retrying(clock=ManualClock()))]
        assert attempts == [1]

    def test_exhausted_propagates_with_note(self) -> None:
        """The last error leaves the loop as itself, with a note naming the block."""
        errors = failing(3)
        with pytest.raises(ConnectionError) as info:
            for attempt in retrying(max_attempts=3, clock=ManualClock(), name="upload"):
                with attempt:
                    raise errors.pop(0)
        assert info.value.__notes__ == ["Gave up retrying upload after 3 attempts"]
        assert errors == []

    def test_default_block_name(self) -> None:
        """Without name=, notes and logs call it a retrying block."""
        with pytest.raises(ConnectionError) as info:
            for attempt in retrying(max_attempts=1):
                with attempt:
                    raise ConnectionError
        assert info.value.__notes__ == ["Gave up retrying retrying block after 1 attempt"]

    def test_non_matching_propagates(self) -> None:
        """An error outside the spec leaves the loop at once."""
        count = 0
        with pytest.raises(KeyError):
            for attempt in retrying(exceptions=OSError, clock=ManualClock()):
                with attempt:
                    count += 1
                    raise KeyError("x")
        assert count == 1

    def test_caught_error_ends_loop(self) -> None:
        """An error the caller catches inside the loop ends the iteration."""
        count = 0
        for attempt in retrying(max_attempts=3, exceptions=OSError, clock=ManualClock()):
            count += 1
            with pytest.raises(KeyError), attempt:
                raise KeyError("x")
        assert count == 1

    def test_unentered_attempt_ends_loop(self) -> None:
        """An attempt that is never entered ends the loop."""
        assert len(list(retrying(clock=ManualClock()))) == 1

    async def test_async_block(self) -> None:
        """async for waits through clock.asleep."""
        clock = ManualClock()
        flaky = Flaky(*failing(2))
        async for attempt in retrying(max_attempts=3, delay=0.5, clock=clock):
            with attempt:
                flaky()
        assert flaky.calls == 3
        assert clock.sleeps == [0.5, 1.0]

    async def test_async_block_cancelled_in_wait(self) -> None:
        """A task cancelled while its async for loop waits stops at once."""
        clock = BlockingClock()
        calls: list[int] = []

        async def work() -> None:
            async for attempt in retrying(max_attempts=5, delay=9.0, clock=clock):
                with attempt:
                    calls.append(1)
                    raise ConnectionError("down")

        task = asyncio.create_task(work())
        await clock.waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert calls == [1]

    def test_set_result_retried(self) -> None:
        """A result handed to set_result is judged by retry_on_result."""
        results = iter([None, None, "ready"])
        clock = ManualClock()
        for attempt in retrying(retry_on_result=lambda v: v is None, clock=clock):
            with attempt:
                value = next(results)
                attempt.set_result(value)
        assert value == "ready"
        assert clock.sleeps == [1.0, 2.0]

    async def test_set_result_exhausted(self) -> None:
        """Rejected results to the end raise RetryExhaustedError from the block."""
        with pytest.raises(RetryExhaustedError) as info:
            async for attempt in retrying(
                max_attempts=2, retry_on_result=bool, clock=ManualClock()
            ):
                with attempt:
                    attempt.set_result("busy")
        assert (info.value.last_result, info.value.attempts) == ("busy", 2)

    def test_result_unchecked_without_set_result(self) -> None:
        """A block that does not call set_result counts as a success."""
        seen: list[object] = []
        for attempt in retrying(retry_on_result=seen.append, clock=ManualClock()):
            with attempt:
                pass
        assert seen == []

    def test_reusable(self) -> None:
        """Each iteration of one Retrying object is a fresh run."""
        clock = ManualClock()
        policy = retrying(max_attempts=2, delay=1.0, clock=clock)
        for _ in range(2):
            flaky = Flaky(*failing(1))
            for attempt in policy:
                with attempt:
                    flaky()
        assert clock.sleeps == [1.0, 1.0]

    def test_deadline_and_on_retry(self) -> None:
        """The block form shares the deadline and on_retry rules."""
        clock = ManualClock()
        states: list[RetryState] = []
        with pytest.raises(ConnectionError):
            for attempt in retrying(
                max_attempts=9, delay=2.0, deadline=3.0, on_retry=states.append, clock=clock
            ):
                with attempt:
                    raise ConnectionError
        assert [(s.attempt, s.delay) for s in states] == [(1, 2.0)]

    def test_iterators_are_iterable(self) -> None:
        """The iterator of a run is its own iterator, sync and async."""
        policy = retrying()
        sync_run = iter(policy)
        async_run = aiter(policy)
        assert iter(sync_run) is sync_run
        assert aiter(async_run) is async_run

    def test_repr(self) -> None:
        """Retrying and Attempt have readable reprs."""
        policy = retrying(max_attempts=4, name="sync")
        assert repr(policy) == "<Retrying sync max_attempts=4>"
        attempt = next(iter(policy))
        assert isinstance(attempt, Attempt)
        assert repr(attempt) == "<Attempt 1 of sync>"


def _entered(policy: Any) -> Iterator[Attempt]:
    for attempt in policy:
        with attempt:
            yield attempt


class TestRetryTesting:
    def test_turns_waits_off(self) -> None:
        """Inside retry_testing nothing waits, yet every attempt happens."""
        clock = ManualClock()
        flaky = Flaky(*failing(2))
        states: list[RetryState] = []
        with retry_testing():
            assert retry(delay=5.0, on_retry=states.append, clock=clock)(flaky)() == "ok"
        assert clock.sleeps == []
        assert [s.delay for s in states] == [0.0, 0.0]

    async def test_every_form(self) -> None:
        """Async decorators and both block forms are covered too."""
        clock = ManualClock()

        @async_retry(delay=5.0, clock=clock)
        async def fetch() -> None:
            raise ConnectionError

        with retry_testing():
            with pytest.raises(ConnectionError):
                await fetch()
            with pytest.raises(ConnectionError):
                async for attempt in retrying(delay=5.0, clock=clock):
                    with attempt:
                        raise ConnectionError
            with pytest.raises(ConnectionError):
                for attempt in retrying(delay=5.0, clock=clock):
                    with attempt:
                        raise ConnectionError
        assert clock.sleeps == []

    def test_nests_and_restores(self) -> None:
        """Nested blocks restore the previous state on exit, even on error."""
        clock = ManualClock()
        with retry_testing():
            with retry_testing():
                pass
            retry(clock=clock)(Flaky(*failing(1)))()
            assert clock.sleeps == []
        with pytest.raises(RuntimeError), retry_testing():
            raise RuntimeError
        retry(clock=clock)(Flaky(*failing(1)))()
        assert clock.sleeps == [1.0]

    def test_as_decorator(self) -> None:
        """retry_testing() also decorates a test function."""
        clock = ManualClock()

        @retry_testing()
        def check() -> None:
            retry(clock=clock)(Flaky(*failing(2)))()

        check()
        assert clock.sleeps == []


class TestConcurrency:
    def test_threads_have_independent_runs(self) -> None:
        """Many threads sharing one decorated function each get their own attempts."""
        threads_count = 48
        clock = ManualClock()
        local = threading.local()
        counts: dict[int, int] = {}
        lock = threading.Lock()

        @retry(max_attempts=3, delay=1.0, clock=clock, logger=logging.getLogger("quiet.t"))
        def work(ident: int) -> int:
            local.calls = getattr(local, "calls", 0) + 1
            with lock:
                counts[ident] = local.calls
            if local.calls < 3:
                raise ConnectionError("transient")
            return ident

        results: list[int] = []

        def run(ident: int) -> None:
            value = work(ident)
            with lock:
                results.append(value)

        raise_first(run_threads(threads_count, run))
        assert sorted(results) == list(range(threads_count))
        assert set(counts.values()) == {3}
        assert sorted(clock.sleeps) == [1.0] * threads_count + [2.0] * threads_count

    async def test_tasks_have_independent_runs(self) -> None:
        """Many concurrent tasks sharing one decorated coroutine retry independently."""
        clock = ManualClock()
        calls: dict[int, int] = {}

        @async_retry(max_attempts=4, delay=1.0, clock=clock, logger=logging.getLogger("quiet.a"))
        async def work(ident: int) -> int:
            calls[ident] = calls.get(ident, 0) + 1
            await asyncio.sleep(0)
            if calls[ident] <= ident % 4:
                raise ConnectionError("transient")
            return ident

        results = await asyncio.gather(*(work(i) for i in range(100)))
        assert results == list(range(100))
        assert all(calls[i] == i % 4 + 1 for i in range(100))
        assert len(clock.sleeps) == sum(i % 4 for i in range(100))
