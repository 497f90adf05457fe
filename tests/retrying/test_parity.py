"""Parity with tenacity and stamina (issue 16): behaviours their users rely on."""

from __future__ import annotations

import asyncio
import copy
import inspect
import pickle
import threading
from datetime import timedelta
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import RetryExhaustedError
from python_mastery_portfolio.retrying import (
    NO_FALLBACK,
    RetryKwargs,
    RetryOptions,
    async_retry,
    retry,
    retry_statistics,
    retrying,
)
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import raise_first, run_threads


class Flaky:
    """Raise the given errors in turn, then return ``value``; advance ``clock`` per call."""

    def __init__(self, *errors: BaseException, value: Any = "ok", step: float = 0.0,
                 clock: ManualClock | None = None) -> None:  # fmt: skip
        self.errors = list(errors)
        self.value = value
        self.calls = 0
        self.step = step
        self.clock = clock

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.clock is not None and self.step:
            self.clock.advance(self.step)
        if self.errors:
            raise self.errors.pop(0)
        return self.value


class TestNoAttemptCap:
    """stamina ``attempts=None`` / tenacity ``stop_after_delay``: only the deadline stops."""

    def test_none_without_deadline_names_both(self) -> None:
        """Without a deadline an uncapped policy would never stop: refused when decorating."""
        with pytest.raises(ValueError, match=r"max_attempts=None.*deadline"):
            RetryOptions(max_attempts=None)
        with pytest.raises(ValueError, match=r"max_attempts=None.*deadline"):
            retry(max_attempts=None)
        with pytest.raises(ValueError, match=r"max_attempts=None.*deadline"):
            retrying(max_attempts=None)

    def test_retries_until_the_deadline(self) -> None:
        """Far more attempts than any default cap, then the deadline gives up with a note."""
        clock = ManualClock()
        flaky = Flaky(*[OSError(i) for i in range(1000)], clock=clock)
        wrapped = retry(max_attempts=None, delay=1.0, backoff=1.0, deadline=50.0, clock=clock)(
            flaky
        )
        with pytest.raises(OSError) as caught:
            wrapped()
        assert flaky.calls == 51  # attempts start at 0, 1, ..., 50 s
        assert clock.sleeps == [1.0] * 50
        assert "51 attempts" in caught.value.__notes__[0]
        assert "50 s deadline" in caught.value.__notes__[0]

    def test_succeeds_after_many_attempts(self) -> None:
        """An uncapped policy returns as soon as an attempt succeeds."""
        clock = ManualClock()
        flaky = Flaky(*[OSError()] * 20, clock=clock)
        wrapped = retry(max_attempts=None, delay=0.1, backoff=1.0, deadline=60, clock=clock)(flaky)
        assert wrapped() == "ok"
        assert flaky.calls == 21

    def test_log_says_unlimited(self, caplog: pytest.LogCaptureFixture) -> None:
        """The retry log has no number to print for the cap."""
        clock = ManualClock()
        wrapped = retry(max_attempts=None, deadline=10, clock=clock)(Flaky(OSError()))
        with caplog.at_level("WARNING"):
            wrapped()
        assert "attempt 1 of unlimited" in caplog.text

    def test_async_and_block_forms(self) -> None:
        """Every form takes ``max_attempts=None``."""
        clock = ManualClock()
        calls = []

        @async_retry(max_attempts=None, delay=1.0, backoff=1.0, deadline=3.0, clock=clock)
        async def failing() -> None:
            calls.append(1)
            raise OSError

        with pytest.raises(OSError):
            asyncio.run(failing())
        assert len(calls) == 4
        block = retrying(max_attempts=None, delay=0.5, backoff=1.0, deadline=5.0, clock=clock)
        assert repr(block) == "<Retrying retrying block max_attempts=None>"
        for attempt in block:
            with attempt:
                if attempt.number < 7:
                    raise OSError
        assert attempt.number == 7

    def test_infinite_wait_gives_up(self) -> None:
        """A wait that would never end stops an uncapped policy at once."""
        clock = ManualClock()
        error = OSError()
        error.retry_after = float("inf")  # type: ignore[attr-defined]
        flaky = Flaky(error)
        with pytest.raises(OSError):
            retry(max_attempts=None, deadline=10, clock=clock)(flaky)()
        assert flaky.calls == 1


class TestTimedelta:
    """Durations as ``datetime.timedelta`` wherever seconds are accepted."""

    def test_every_duration(self) -> None:
        """delay, max_delay, jitter and deadline become float seconds."""
        options = RetryOptions(
            delay=timedelta(milliseconds=500),
            max_delay=timedelta(seconds=2),
            jitter=timedelta(0),
            deadline=timedelta(minutes=1),
        )
        assert (options.delay, options.max_delay, options.jitter, options.deadline) == (
            0.5, 2.0, 0.0, 60.0,
        )  # fmt: skip
        assert all(type(v) is float for v in (options.delay, options.max_delay, options.jitter))
        assert [options.wait(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]

    def test_waits_and_deadline_in_use(self) -> None:
        """The converted values drive the real waits and the deadline."""
        clock = ManualClock()
        flaky = Flaky(*[OSError()] * 10)
        wrapped = retry(
            max_attempts=None,
            delay=timedelta(seconds=1),
            backoff=1.0,
            deadline=timedelta(seconds=3),
            clock=clock,
        )(flaky)
        with pytest.raises(OSError):
            wrapped()
        assert clock.sleeps == [1.0, 1.0, 1.0]

    def test_negative_timedelta_is_range_checked(self) -> None:
        """A negative or zero timedelta fails like the same number of seconds."""
        with pytest.raises(ValueError, match=r"^delay must be >= 0, got -1.0"):
            retry(delay=timedelta(seconds=-1))
        with pytest.raises(ValueError, match=r"^deadline must be"):
            retrying(deadline=timedelta(0))

    def test_signature_shows_the_union(self) -> None:
        """help() shows the ``Seconds`` alias (a number or a timedelta) for every duration."""
        parameters = inspect.signature(retry).parameters
        for name in ("delay", "jitter", "max_delay", "deadline"):
            assert "Seconds" in str(parameters[name].annotation)


class TestWrapperIntrospection:
    """tenacity copies ``__defaults__`` and ``__kwdefaults__`` onto the wrapper."""

    def test_defaults_copied_sync_and_async(self) -> None:
        """Both wrappers (plain and timed paths) expose the function's defaults."""

        def sync(a: int, b: int = 2, *, c: str = "x") -> str:
            return f"{a}{b}{c}"

        async def coro(a: int = 1, *, d: float = 0.5) -> float:
            return a + d

        variants: list[RetryKwargs] = [{}, {"deadline": 5.0}]
        for options in variants:
            wrapped_sync = retry(**options)(sync)
            assert wrapped_sync.__defaults__ == (2,)
            assert wrapped_sync.__kwdefaults__ == {"c": "x"}
            assert wrapped_sync(1) == "12x"  # the copies do not change how the call binds
            wrapped_coro = retry(**options)(coro)
            assert wrapped_coro.__defaults__ == (1,)
            assert wrapped_coro.__kwdefaults__ == {"d": 0.5}
            assert asyncio.run(wrapped_coro()) == 1.5

    def test_no_defaults(self) -> None:
        """A function without defaults gives a wrapper without them (None, as the original)."""

        def bare(a: int) -> int:
            return a

        wrapped = retry(bare)
        assert wrapped.__defaults__ is None
        assert wrapped.__kwdefaults__ is None
        assert inspect.signature(wrapped) == inspect.signature(bare)

    def test_callable_object_without_defaults(self) -> None:
        """A callable object has no ``__defaults__``: the wrapper keeps its own."""
        wrapped = retry(Flaky())
        assert wrapped() == "ok"


class TestAsyncWithAttempt:
    """``async with attempt:`` inside ``async for``, as tenacity's AsyncRetrying allows."""

    def test_retries_then_succeeds(self) -> None:
        """Retryable failures are swallowed by ``async with`` exactly as by ``with``."""
        clock = ManualClock()
        flaky = Flaky(OSError(), OSError())

        async def main() -> Any:
            async for attempt in retrying(max_attempts=3, delay=1.0, clock=clock):
                async with attempt:
                    result = flaky()
            return result, attempt.number

        assert asyncio.run(main()) == ("ok", 3)
        assert clock.sleeps == [1.0, 2.0]

    def test_last_failure_and_other_errors_propagate(self) -> None:
        """The last failure propagates with its note; a non-retryable error at once."""
        clock = ManualClock()

        async def exhaust() -> None:
            async for attempt in retrying(max_attempts=2, exceptions=OSError, clock=clock):
                async with attempt:
                    raise OSError("down")

        with pytest.raises(OSError, match="down") as caught:
            asyncio.run(exhaust())
        assert "after 2 attempts" in caught.value.__notes__[0]
        seen = []

        async def other() -> None:
            async for attempt in retrying(max_attempts=5, exceptions=OSError, clock=clock):
                async with attempt:
                    seen.append(attempt.number)
                    raise ValueError("bad")

        with pytest.raises(ValueError, match="bad"):
            asyncio.run(other())
        assert seen == [1]

    def test_result_rejected(self) -> None:
        """``set_result`` works the same under ``async with``."""
        clock = ManualClock()
        results = iter([None, None, 7])

        async def main() -> int:
            async for attempt in retrying(
                max_attempts=3, retry_on_result=lambda r: r is None, clock=clock
            ):
                async with attempt:
                    value = next(results)
                    attempt.set_result(value)
            return value  # type: ignore[return-value]

        assert asyncio.run(main()) == 7

    def test_cancellation_never_swallowed(self) -> None:
        """A cancellation inside ``async with`` propagates at once."""
        clock = ManualClock()
        seen = []

        async def main() -> None:
            async for attempt in retrying(max_attempts=5, exceptions=BaseException, clock=clock):
                async with attempt:
                    seen.append(attempt.number)
                    raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(main())
        assert seen == [1]


class TestHooks:
    """tenacity's ``before``/``after`` and backoff's ``on_giveup``, each with a RetryState."""

    def test_order_and_states(self) -> None:
        """before each attempt, after each retried failure, on_retry before waits, on_giveup."""
        clock = ManualClock()
        events: list[tuple[str, int, float]] = []

        def hook(kind: str) -> Any:
            return lambda state: events.append((kind, state.attempt, state.delay))

        wrapped = retry(
            max_attempts=3,
            delay=1.0,
            exceptions=OSError,
            clock=clock,
            before=hook("before"),
            after=hook("after"),
            on_retry=hook("retry"),
            on_giveup=hook("giveup"),
        )(Flaky(OSError(), OSError(), OSError()))
        with pytest.raises(OSError):
            wrapped()
        assert events == [
            ("before", 1, 0.0),
            ("after", 1, 1.0),
            ("retry", 1, 1.0),
            ("before", 2, 1.0),
            ("after", 2, 2.0),
            ("retry", 2, 2.0),
            ("before", 3, 2.0),
            ("after", 3, 0.0),
            ("giveup", 3, 0.0),
        ]

    def test_giveup_state_carries_the_error_and_elapsed(self) -> None:
        """on_giveup sees the final exception and the time spent."""
        clock = ManualClock()
        states: list[Any] = []
        error = OSError("last")
        wrapped = retry(max_attempts=2, delay=3.0, clock=clock, on_giveup=states.append)(
            Flaky(OSError(), error)
        )
        with pytest.raises(OSError, match="last"):
            wrapped()
        (state,) = states
        assert (state.attempt, state.exception, state.result, state.elapsed) == (
            2,
            error,
            None,
            3.0,
        )

    def test_giveup_on_deadline_and_rejected_result(self) -> None:
        """A deadline give-up and a rejected last result call on_giveup too."""
        clock = ManualClock()
        states: list[Any] = []
        wrapped = retry(
            max_attempts=9, delay=5.0, deadline=6.0, clock=clock, on_giveup=states.append
        )(Flaky(*[OSError()] * 5))
        with pytest.raises(OSError):
            wrapped()
        assert states[0].attempt == 2
        rejected = retry(
            max_attempts=2,
            clock=clock,
            retry_on_result=lambda r: r is None,
            on_giveup=states.append,
        )(lambda: None)
        with pytest.raises(RetryExhaustedError):
            rejected()
        assert (states[1].attempt, states[1].result, states[1].exception) == (2, None, None)

    def test_no_hooks_for_success_or_unretried_errors(self) -> None:
        """Success calls only ``before``; an error that is not retried calls no after/giveup."""
        events: list[str] = []
        kw: RetryKwargs = {
            "exceptions": OSError,
            "clock": ManualClock(),
            "before": lambda s: events.append("before"),
            "after": lambda s: events.append("after"),
            "on_giveup": lambda s: events.append("giveup"),
        }
        assert retry(**kw)(Flaky())() == "ok"
        with pytest.raises(ValueError, match="bad"):
            retry(**kw)(Flaky(ValueError("bad")))()
        assert events == ["before", "before"]

    @pytest.mark.parametrize("hook", ["before", "after", "on_retry", "on_giveup"])
    def test_hook_raising_stops_retrying(self, hook: str) -> None:
        """A hook that raises ends the call with the hook's error, as in tenacity."""
        flaky = Flaky(OSError(), OSError(), OSError())

        def broken(state: Any) -> None:
            raise RuntimeError(f"{hook} broke")

        options: dict[str, Any] = {"max_attempts": 3 if hook != "on_giveup" else 1, hook: broken}
        wrapped = retry(clock=ManualClock(), **options)(flaky)
        with pytest.raises(RuntimeError, match=f"{hook} broke"):
            wrapped()
        assert flaky.calls == (0 if hook == "before" else 1)

    def test_block_form_hooks(self) -> None:
        """The block form calls the same hooks."""
        events: list[tuple[str, int]] = []
        block = retrying(
            max_attempts=2,
            clock=ManualClock(),
            before=lambda s: events.append(("before", s.attempt)),
            on_giveup=lambda s: events.append(("giveup", s.attempt)),
        )
        with pytest.raises(OSError):
            for attempt in block:
                with attempt:
                    raise OSError
        assert events == [("before", 1), ("before", 2), ("giveup", 2)]

    def test_hooks_must_be_callable(self) -> None:
        """A hook that is not callable is refused when decorating, naming it."""
        for name in ("before", "after", "on_giveup"):
            with pytest.raises(TypeError, match=f"^{name} must be callable"):
                retry(**{name: 3})  # type: ignore[call-overload]


class TestFallback:
    """``fallback``: backoff's ``giveup`` + stamina's users' ``except`` replaced by a value."""

    def test_value_replaces_the_raise(self) -> None:
        """When attempts run out, the value is returned; None is a valid fallback."""
        clock = ManualClock()
        flaky = Flaky(*[OSError()] * 5)
        assert retry(max_attempts=3, clock=clock, fallback=None)(flaky)() is None
        assert flaky.calls == 3
        assert retry(max_attempts=1, fallback=[])(Flaky(OSError()))() == []

    def test_callable_gets_the_final_state(self) -> None:
        """A callable fallback is called with the final state."""
        clock = ManualClock()
        error = OSError("down")
        wrapped = retry(max_attempts=2, clock=clock, fallback=lambda s: (s.attempt, s.exception))(
            Flaky(OSError(), error)
        )
        assert wrapped() == (2, error)

    def test_rejected_result_and_deadline(self) -> None:
        """A rejected last result and a deadline give-up also return the fallback."""
        clock = ManualClock()
        wrapped = retry(
            max_attempts=3,
            clock=clock,
            retry_on_result=lambda r: r < 0,
            fallback=lambda s: s.result,
        )(Flaky(value=-1))
        assert wrapped() == -1
        timed = retry(max_attempts=9, delay=5.0, deadline=4.0, clock=clock, fallback="late")(
            Flaky(OSError())
        )
        assert timed() == "late"
        plain = retry(max_attempts=2, clock=clock, retry_on_result=lambda r: r < 0, fallback=0)(
            Flaky(value=-1)
        )
        assert plain() == 0

    def test_not_for_unretried_or_fatal(self) -> None:
        """Errors that are not retried, cancellation and interrupts propagate past it."""
        for error in (ValueError("bad"), KeyboardInterrupt(), SystemExit(2)):
            flaky = Flaky(error)
            spec = OSError if isinstance(error, ValueError) else BaseException
            wrapped = retry(exceptions=spec, max_attempts=3, clock=ManualClock(), fallback="no")(
                flaky
            )
            with pytest.raises(type(error)):
                wrapped()
            assert flaky.calls == 1

    def test_async_function_fallbacks(self) -> None:
        """An async function's fallback may be a value, a function or a coroutine function."""
        clock = ManualClock()

        async def failing() -> str:
            raise OSError

        async def async_fallback(state: Any) -> str:
            await asyncio.sleep(0)
            return f"async after {state.attempt}"

        for fallback, expected in [
            ("value", "value"),
            (lambda s: f"sync after {s.attempt}", "sync after 2"),
            (async_fallback, "async after 2"),
        ]:
            for deadline in (None, 60.0):  # the plain and the timed wrapper
                wrapped = async_retry(
                    max_attempts=2, clock=clock, deadline=deadline, fallback=fallback
                )(failing)
                assert asyncio.run(wrapped()) == expected

    def test_async_rejected_result_fallback(self) -> None:
        """A rejected last result of a coroutine function returns the awaited fallback."""

        async def negative() -> int:
            return -1

        async def zero(state: Any) -> int:
            return 0

        wrapped = async_retry(
            max_attempts=3, clock=ManualClock(), retry_on_result=lambda r: r < 0, fallback=zero
        )(negative)
        assert asyncio.run(wrapped()) == 0

    def test_async_cancellation_not_rescued(self) -> None:
        """A cancelled coroutine function is never given the fallback."""

        async def cancelled() -> None:
            raise asyncio.CancelledError

        wrapped = async_retry(exceptions=BaseException, clock=ManualClock(), fallback="no")(
            cancelled
        )
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(wrapped())

    def test_async_fallback_for_sync_function_refused(self) -> None:
        """A coroutine-function fallback for a plain function is refused when decorating."""

        async def later(state: Any) -> str:
            return "never awaited"

        with pytest.raises(TypeError, match="fallback must not be a coroutine function"):
            retry(fallback=later)(Flaky())

    def test_block_form_refuses_fallback(self) -> None:
        """A block returns nothing, so it has nothing to replace."""
        with pytest.raises(TypeError, match="fallback is for retry and async_retry"):
            retrying(fallback=None)

    def test_fallback_raising(self) -> None:
        """A fallback that raises propagates its own error."""

        def broken(state: Any) -> str:
            raise LookupError("no default")

        with pytest.raises(LookupError, match="no default"):
            retry(max_attempts=1, fallback=broken)(Flaky(OSError()))()

    def test_default_is_the_sentinel(self) -> None:
        """The default raises; its repr reads well in help()."""
        assert RetryOptions().fallback is NO_FALLBACK
        assert repr(NO_FALLBACK) == "NO_FALLBACK"
        assert copy.copy(NO_FALLBACK) is NO_FALLBACK
        assert pickle.loads(pickle.dumps(NO_FALLBACK)) is NO_FALLBACK


class TestStatistics:
    """``statistics`` per decorated function, as tenacity's ``fn.statistics``."""

    def test_counts(self) -> None:
        """Attempts, retries, total wait and give-ups of the calls that failed at least once."""
        clock = ManualClock()
        outcomes: list[Any] = [OSError(), OSError(), "ok", OSError(), OSError(), OSError(), "ok"]

        def flaky() -> Any:
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        wrapped = retry(max_attempts=3, delay=1.0, clock=clock)(flaky)
        assert wrapped() == "ok"  # 2 failures, 3 attempts
        assert retry_statistics(wrapped) == {
            "attempts": 3, "retries": 2, "total_wait": 3.0, "giveups": 0,
        }  # fmt: skip
        with pytest.raises(OSError):
            wrapped()  # 3 failures, a give-up
        assert retry_statistics(wrapped) == {
            "attempts": 6, "retries": 4, "total_wait": 6.0, "giveups": 1,
        }  # fmt: skip
        assert wrapped() == "ok"  # at once: not counted, the success path stays bare
        assert retry_statistics(wrapped)["attempts"] == 6
        assert wrapped.statistics["retries"] == 4  # type: ignore[attr-defined]
        assert dict(wrapped.statistics) == retry_statistics(wrapped)  # type: ignore[attr-defined]
        assert len(wrapped.statistics) == 4  # type: ignore[attr-defined]
        assert "giveups" in repr(wrapped.statistics)  # type: ignore[attr-defined]

    def test_per_function(self) -> None:
        """One decorator applied twice keeps two sets of statistics."""
        decorator = retry(max_attempts=2, clock=ManualClock())
        first = decorator(Flaky(OSError()))
        second = decorator(Flaky())
        first()
        second()
        assert retry_statistics(first)["retries"] == 1
        assert retry_statistics(second)["retries"] == 0

    def test_fatal_and_unretried_not_counted(self) -> None:
        """Cancellation, interrupts and errors that are not retried count nothing."""
        wrapped = retry(exceptions=OSError, clock=ManualClock())(
            Flaky(KeyboardInterrupt(), SystemExit(), ValueError())
        )
        for error in (KeyboardInterrupt, SystemExit, ValueError):
            with pytest.raises(error):
                wrapped()
        assert retry_statistics(wrapped) == {
            "attempts": 0,
            "retries": 0,
            "total_wait": 0.0,
            "giveups": 0,
        }

    def test_async_and_block(self) -> None:
        """Coroutine functions and blocks count the same way."""
        clock = ManualClock()

        @async_retry(max_attempts=3, delay=0.5, clock=clock)
        async def failing() -> None:
            raise OSError

        with pytest.raises(OSError):
            asyncio.run(failing())
        assert retry_statistics(failing) == {
            "attempts": 3,
            "retries": 2,
            "total_wait": 1.5,
            "giveups": 1,
        }
        block = retrying(max_attempts=3, delay=0.5, clock=clock)
        for attempt in block:
            with attempt:
                if attempt.number == 1:
                    raise OSError
        assert block.statistics.snapshot() == {
            "attempts": 2,
            "retries": 1,
            "total_wait": 0.5,
            "giveups": 0,
        }

    def test_not_a_retry_function(self) -> None:
        """retry_statistics refuses what retry did not wrap."""
        with pytest.raises(TypeError, match="not a retry-decorated function"):
            retry_statistics(len)

    @pytest.mark.usefixtures("fast_switching")
    def test_under_threads(self) -> None:
        """Counts from many threads at once add up exactly."""
        threads, calls = 16, 50
        lock = threading.Lock()
        seen: dict[int, int] = {}

        def fail_every_other(index: int) -> str:
            with lock:
                seen[index] = seen.get(index, 0) + 1
                count = seen[index]
            if count % 2:
                raise OSError
            return "ok"

        wrapped = retry(max_attempts=2, delay=0.25, clock=ManualClock())(fail_every_other)

        def work(index: int) -> None:
            for _ in range(calls):
                assert wrapped(index) == "ok"

        raise_first(run_threads(threads, work))
        assert retry_statistics(wrapped) == {
            "attempts": 2 * threads * calls,
            "retries": threads * calls,
            "total_wait": 0.25 * threads * calls,
            "giveups": 0,
        }


class InterruptingClock(ManualClock):
    """A manual clock whose waits are interrupted, as a Ctrl-C or a cancellation would."""

    def sleep(self, seconds: float) -> None:
        raise KeyboardInterrupt

    async def asleep(self, seconds: float) -> None:
        raise asyncio.CancelledError


class TestEdgeCases:
    """The less travelled paths: async variants, interrupted waits, many runs."""

    def test_async_timed_hooks_and_result_giveup(self) -> None:
        """The timed async wrapper calls before, and a rejected result with hooks gives up."""
        events: list[int] = []

        async def negative() -> int:
            return -1

        wrapped = async_retry(
            max_attempts=2,
            clock=ManualClock(),
            before=lambda s: events.append(s.attempt),
            retry_on_result=lambda r: r < 0,
        )(negative)
        with pytest.raises(RetryExhaustedError):
            asyncio.run(wrapped())
        assert events == [1, 2]
        assert retry_statistics(wrapped)["giveups"] == 1
        once = async_retry(max_attempts=1, clock=ManualClock(), retry_on_result=lambda r: r < 0)(
            negative
        )
        with pytest.raises(RetryExhaustedError):
            asyncio.run(once())
        assert retry_statistics(once) == {
            "attempts": 1, "retries": 0, "total_wait": 0.0, "giveups": 1,
        }  # fmt: skip

    def test_async_timed_fallbacks(self) -> None:
        """The timed async wrapper returns the fallback after a failure or a rejected result."""

        async def failing() -> int:
            raise OSError

        async def negative() -> int:
            return -1

        for func in (failing, negative):
            for attempts in (1, 2):
                wrapped = async_retry(
                    max_attempts=attempts,
                    clock=ManualClock(),
                    deadline=60.0,
                    retry_on_result=lambda r: r < 0,
                    fallback=lambda s: 0,
                )(func)
                assert asyncio.run(wrapped()) == 0

    def test_sync_result_giveup_on_first_attempt_counted(self) -> None:
        """A rejected first result with one attempt counts one give-up."""
        wrapped = retry(max_attempts=1, retry_on_result=lambda r: r is None)(lambda: None)
        with pytest.raises(RetryExhaustedError):
            wrapped()
        assert retry_statistics(wrapped)["giveups"] == 1

    def test_before_on_retries_of_the_sync_loop(self) -> None:
        """before is called for every attempt of the sync loop, with the wait before it."""
        seen: list[tuple[int, float]] = []
        wrapped = retry(
            max_attempts=3,
            delay=1.0,
            clock=ManualClock(),
            before=lambda s: seen.append((s.attempt, s.delay)),
        )(Flaky(OSError(), OSError()))
        assert wrapped() == "ok"
        assert seen == [(1, 0.0), (2, 1.0), (3, 2.0)]

    def test_interrupted_wait_is_not_counted(self) -> None:
        """A wait interrupted by KeyboardInterrupt or cancellation makes no attempt."""
        sync = retry(max_attempts=3, delay=1.0, clock=InterruptingClock())(Flaky(OSError()))
        with pytest.raises(KeyboardInterrupt):
            sync()
        assert retry_statistics(sync) == {
            "attempts": 1, "retries": 0, "total_wait": 0.0, "giveups": 0,
        }  # fmt: skip

        async def failing() -> None:
            raise OSError

        coro = async_retry(max_attempts=3, delay=1.0, clock=InterruptingClock())(failing)
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(coro())
        assert retry_statistics(coro)["retries"] == 0

    def test_block_interrupted_wait(self) -> None:
        """The block form stops at an interrupted wait, counting what it did."""
        block = retrying(max_attempts=3, delay=1.0, clock=InterruptingClock())
        with pytest.raises(KeyboardInterrupt):
            for attempt in block:
                with attempt:
                    raise OSError

        async def main() -> None:
            async for attempt in block:
                async with attempt:
                    raise OSError

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(main())
        assert block.statistics.snapshot()["retries"] == 0

    def test_block_rejected_result_giveup_counted(self) -> None:
        """A block that gives up on a rejected result counts it."""
        block = retrying(max_attempts=2, clock=ManualClock(), retry_on_result=lambda r: r is None)
        with pytest.raises(RetryExhaustedError):
            for attempt in block:
                with attempt:
                    attempt.set_result(None)
        assert block.statistics.snapshot()["giveups"] == 1

    def test_many_runs_fold_the_queue(self) -> None:
        """Past the queue bound, writers fold it; nothing is lost."""
        flaky = Flaky(*[OSError()] * 3000)
        wrapped = retry(max_attempts=1, clock=ManualClock(), fallback=None)(flaky)
        for _ in range(3000):
            wrapped()
        assert retry_statistics(wrapped) == {
            "attempts": 3000, "retries": 0, "total_wait": 0.0, "giveups": 3000,
        }  # fmt: skip
        with pytest.raises(KeyError):
            wrapped.statistics["missing"]  # type: ignore[attr-defined]

    def test_first_attempt_fallbacks(self) -> None:
        """With one attempt, the fallback replaces the first failure or rejected result."""
        rejected = retry(max_attempts=1, retry_on_result=lambda r: r is None, fallback="fb")(
            lambda: None
        )
        assert rejected() == "fb"

        async def failing() -> None:
            raise OSError

        assert asyncio.run(async_retry(max_attempts=1, fallback="fb")(failing)()) == "fb"
