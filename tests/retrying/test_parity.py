"""Parity with tenacity and stamina (issue 16): behaviours their users rely on."""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from typing import Any

import pytest

from python_mastery_portfolio.retrying import (
    RetryKwargs,
    RetryOptions,
    async_retry,
    retry,
    retrying,
)
from python_mastery_portfolio.testing import ManualClock


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
