"""Issue 16, feature 8: ``with``/``async with`` a limiter (aiolimiter), rate strings (limits)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import RateLimitError
from python_mastery_portfolio.resilience import InMemoryRateLimitStore, RateLimiter, rate_limit
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import raise_first, run_threads


class TestSyncContextManager:
    def test_enter_returns_the_limiter(self) -> None:
        """``with limiter as l`` binds the limiter itself."""
        limiter = RateLimiter(1, clock=ManualClock())
        with limiter as entered:
            assert entered is limiter

    def test_burst_passes_then_waits(self) -> None:
        """The first ``rate`` entries pass at once; the next ones wait an interval each."""
        clock = ManualClock()
        limiter = RateLimiter(4, clock=clock)
        for _ in range(6):
            with limiter:
                pass
        assert clock.sleeps == [0.25, 0.25]
        assert limiter.stats()["allowed"] == 6

    def test_exception_in_the_block_propagates_and_keeps_the_token(self) -> None:
        """A failing block re-raises; its token stays spent, as in aiolimiter."""
        limiter = RateLimiter(1, clock=ManualClock())
        with pytest.raises(KeyError), limiter:
            raise KeyError("x")
        assert limiter.available() == 0.0

    def test_threads_share_the_rate(self) -> None:
        """Many threads entering at one instant get the burst at once and then queue."""
        clock = ManualClock()
        limiter = RateLimiter(10, clock=clock)

        def body(index: int) -> None:
            with limiter:
                pass

        raise_first(run_threads(10, body))
        assert clock.sleeps == []
        assert limiter.available() == 0.0


class TestAsyncContextManager:
    async def test_aenter_returns_the_limiter(self) -> None:
        """``async with limiter as l`` binds the limiter itself."""
        limiter = RateLimiter(1, clock=ManualClock())
        async with limiter as entered:
            assert entered is limiter

    async def test_max_rate_then_fifo_waits(self) -> None:
        """aiolimiter's core case: ``max_rate`` tasks enter at once, the rest one interval apart."""
        clock = ManualClock()
        limiter = RateLimiter(5, per=1.0, clock=clock)
        entered: list[int] = []

        async def task(index: int) -> None:
            async with limiter:
                entered.append(index)

        await asyncio.gather(*(task(i) for i in range(8)))
        assert entered == list(range(8))
        assert clock.sleeps == [0.2, 0.2, 0.2]

    async def test_exception_in_the_block_propagates(self) -> None:
        """A failing ``async with`` block re-raises; the token stays spent."""
        limiter = RateLimiter(2, clock=ManualClock())
        with pytest.raises(ValueError, match="boom"):
            async with limiter:
                raise ValueError("boom")
        assert limiter.available() == 1.0


class TestParse:
    @pytest.mark.parametrize(
        ("text", "rate", "per"),
        [
            ("10/second", 10, 1.0),
            ("10/minute", 10, 60.0),
            ("100/hour", 100, 3600.0),
            ("1000/day", 1000, 86400.0),
            ("10 per minute", 10, 60.0),
            ("5/2 seconds", 5, 2.0),
            ("5 per 2 seconds", 5, 2.0),
            ("  3 / 10 Minutes ", 3, 600.0),
            ("2 PER HOUR", 2, 3600.0),
            ("1.5/second", 1.5, 1.0),
            ("7/days", 7, 86400.0),
            ("1/0.5 seconds", 1, 0.5),
        ],
        ids=lambda value: repr(value) if isinstance(value, str) else None,
    )
    def test_grammar(self, text: str, rate: float, per: float) -> None:
        """The documented forms give the rate and the period in seconds."""
        limiter = RateLimiter.parse(text, clock=ManualClock())
        assert (limiter.rate, limiter.per) == (rate, per)
        assert type(limiter.rate) is type(rate)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "ten/minute",
            "10",
            "10/",
            "10/fortnight",
            "10 minute",
            "/minute",
            "-1/minute",
            "10/minute;1/second",
            "10 per per minute",
        ],
        ids=repr,
    )
    def test_malformed_strings_name_the_parameter(self, text: str) -> None:
        """A string outside the grammar raises ValueError naming ``rate`` and showing it."""
        with pytest.raises(ValueError, match="rate must look like") as info:
            RateLimiter.parse(text)
        assert repr(text) in str(info.value)

    @pytest.mark.parametrize("text", ["0/minute", "10/0 seconds"], ids=repr)
    def test_zero_amount_or_period(self, text: str) -> None:
        """A zero amount or period raises ValueError naming ``rate``."""
        with pytest.raises(ValueError, match="rate must have a positive"):
            RateLimiter.parse(text)

    def test_not_a_string(self) -> None:
        """A number is not a rate string: TypeError naming ``rate``."""
        with pytest.raises(TypeError, match="rate must be a str"):
            RateLimiter.parse(10)  # type: ignore[arg-type]  # the wrong type is the point

    def test_options_pass_through(self) -> None:
        """burst, clock and max_keys reach the constructor."""
        clock = ManualClock()
        limiter = RateLimiter.parse("10/minute", burst=2, clock=clock, max_keys=3)
        assert limiter.burst == 2
        assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
        clock.advance(6)
        assert limiter.try_acquire()

    def test_parsed_rate_limits_like_the_numbers(self) -> None:
        """'2/minute' refuses the third call and lets one through 30 s later."""
        clock = ManualClock()
        limiter = RateLimiter.parse("2/minute", clock=clock)
        assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
        clock.advance(30)
        assert limiter.try_acquire()


class TestRateLimitDecoratorStrings:
    def test_rate_string(self) -> None:
        """``rate_limit("2/minute")`` limits like ``rate_limit(2, per=60)``."""
        clock = ManualClock()

        @rate_limit("2/minute", clock=clock)
        def ping() -> str:
            return "pong"

        assert (ping.limiter.rate, ping.limiter.per) == (2, 60.0)
        assert [ping(), ping()] == ["pong", "pong"]
        with pytest.raises(RateLimitError) as info:
            ping()
        assert info.value.retry_after == pytest.approx(30.0)

    async def test_rate_string_async(self) -> None:
        """A coroutine function takes a rate string too and waits without blocking."""
        clock = ManualClock()

        @rate_limit("1 per 2 seconds", timeout=None, clock=clock)
        async def ping() -> str:
            return "pong"

        assert [await ping(), await ping()] == ["pong", "pong"]
        assert clock.sleeps == [2.0]

    def test_rate_string_with_per_is_refused(self) -> None:
        """A rate string already says the period: ``per`` as well raises ValueError naming it."""
        with pytest.raises(ValueError, match="per"):
            rate_limit("10/minute", per=60)

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"rate": "10/fortnight"}, ValueError, "rate must look like"),
            ({"rate": "0/second"}, ValueError, "rate must have a positive"),
        ],
        ids=["grammar", "zero"],
    )
    def test_bad_strings_at_decoration(
        self, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        """A bad rate string fails when decorating, naming ``rate``."""
        with pytest.raises(error, match=match):
            rate_limit(**kwargs)

    def test_numbers_still_default_per_to_one_second(self) -> None:
        """Without a string, ``per`` still defaults to one second."""
        assert rate_limit(3)(lambda: None).limiter.per == 1.0


class TestRateLimitDecoratorStore:
    def test_a_given_store_holds_the_buckets(self) -> None:
        """Functions decorated with one store share its buckets: one limit between them."""
        store = InMemoryRateLimitStore()
        limit = rate_limit(2, per=60, clock=ManualClock(), store=store)

        @limit
        def first() -> str:
            return "first"

        @limit
        def second() -> str:
            return "second"

        assert first() == "first"
        assert second() == "second"
        with pytest.raises(RateLimitError):
            first()
        assert first.limiter.store is store
        assert second.limiter.store is store

    def test_without_a_store_each_function_has_its_own(self) -> None:
        limit = rate_limit(1, per=60, clock=ManualClock())

        @limit
        def first() -> str:
            return "first"

        @limit
        def second() -> str:
            return "second"

        assert (first(), second()) == ("first", "second")
        assert first.limiter.store is not second.limiter.store

    def test_a_store_that_is_not_one_is_refused_at_decoration(self) -> None:
        with pytest.raises(TypeError, match="store"):
            rate_limit(1, store=object())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
