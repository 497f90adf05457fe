"""Bug 5 of issue 16: the limiter's token arithmetic is exact, checked against a Fraction model."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_mastery_portfolio.resilience import RateLimiter
from python_mastery_portfolio.testing import ManualClock

SECOND = 1_000_000_000


class TokenBucket:
    """The textbook token bucket in exact rationals: the model the limiter must match.

    It reads the clock as the limiter does, in whole nanoseconds, and otherwise knows nothing
    of GCRA: tokens refill at ``rate / per`` a second up to ``burst``.
    """

    def __init__(self, rate: int, per: int, burst: int, now: int) -> None:
        self.per_token = Fraction(per * SECOND, rate)  # nanoseconds per token
        self.burst = Fraction(burst)
        self.tokens = Fraction(burst)
        self.last = now

    def refill(self, now: int) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.last) / self.per_token)
        self.last = now

    def take(self, tokens: int, now: int) -> bool:
        self.refill(now)
        if self.tokens >= tokens:
            self.tokens -= tokens
            return True
        return False


def reading(clock: ManualClock) -> int:
    """The clock as the limiter reads it: the nearest nanosecond."""
    return round(clock.now() * SECOND)


# Rates whose interval is a whole number of nanoseconds, so the model's rationals are the truth.
EXACT_RATES = [(1, 1), (3, 3), (4, 1), (5, 1), (100, 1), (10, 60), (100, 3600), (7, 7)]
OPS = st.lists(
    st.tuples(st.integers(0, 2 * SECOND), st.integers(1, 5)),
    min_size=1,
    max_size=40,
)


class TestExactTokens:
    def test_a_third_of_a_second_brings_back_a_whole_token(self) -> None:
        """Rate 3/s, take 3, advance 1/3 s: exactly one token, and try_acquire agrees."""
        clock = ManualClock()
        limiter = RateLimiter(3, clock=clock)
        assert limiter.try_acquire(3)
        clock.advance(1 / 3)
        assert limiter.available() == 1.0
        assert limiter.try_acquire()
        assert limiter.available() == 0.0

    def test_a_year_of_uptime_keeps_whole_tokens(self) -> None:
        """Clock near 3e7 s, rate 100/s, 5 taken, 0.03 s later: 98 tokens, not 97.99999."""
        clock = ManualClock(start=3e7)
        limiter = RateLimiter(100, clock=clock)
        assert limiter.try_acquire(5)
        clock.advance(0.03)
        assert limiter.available() == 98.0
        assert math.floor(limiter.available()) == 98  # what RateLimit-Remaining shows

    def test_a_year_of_uptime_grants_the_whole_burst_one_by_one(self) -> None:
        """Summing 100 intervals of 10 ms at 3e7 s loses no token to rounding."""
        limiter = RateLimiter(100, clock=ManualClock(start=3e7))
        assert [limiter.try_acquire() for _ in range(101)].count(True) == 100

    def test_interval_is_rounded_to_a_nanosecond(self) -> None:
        """A third of a second is 333 333 333 ns: three tokens of it fill the burst exactly."""
        limiter = RateLimiter(3, clock=ManualClock())
        assert limiter.available() == 3.0
        assert limiter.try_acquire(3)
        assert limiter.available() == 0.0

    def test_rate_above_one_per_nanosecond_is_refused(self) -> None:
        """A rate faster than a token per nanosecond cannot be counted: ValueError naming rate."""
        with pytest.raises(ValueError, match="rate"):
            RateLimiter(3 * 10**9, per=1.0)

    def test_a_sliver_of_a_token_still_costs(self) -> None:
        """A fractional token too small for a nanosecond still takes one."""
        limiter = RateLimiter(1, clock=ManualClock())
        assert limiter.try_acquire(1e-12)
        assert limiter.available() < 1.0

    @settings(max_examples=150, deadline=None)
    @given(
        config=st.sampled_from(EXACT_RATES),
        start=st.sampled_from([0.0, 1000.0, 3e7, 1.7e9]),
        ops=OPS,
    )
    def test_matches_the_token_bucket_model(
        self, config: tuple[int, int], start: float, ops: list[tuple[int, int]]
    ) -> None:
        """Every grant, refusal and available() equals the exact model's, at any uptime."""
        rate, per = config
        burst = max(rate, 5)
        clock = ManualClock(start=start)
        limiter = RateLimiter(rate, per=per, burst=burst, clock=clock)
        model = TokenBucket(rate, per, burst, reading(clock))
        for step, tokens in ops:
            clock.advance(step / SECOND)
            now = reading(clock)
            model.refill(now)
            assert limiter.available() == float(model.tokens)
            assert math.floor(limiter.available()) == math.floor(model.tokens)
            assert limiter.try_acquire(tokens) is model.take(tokens, now)
