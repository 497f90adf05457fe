"""Tests of the clock protocol, the system clock and the manual clock."""

from __future__ import annotations

import asyncio

import pytest

from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock, SystemClock
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import raise_first, run_threads


def _sleep_many(clock: ManualClock) -> None:
    for _ in range(100):
        clock.sleep(1)


class TestSystemClock:
    def test_is_a_clock(self) -> None:
        """Both clocks satisfy the Clock protocol."""
        assert isinstance(SYSTEM_CLOCK, Clock)
        assert isinstance(ManualClock(), Clock)

    def test_monotonic(self) -> None:
        """Readings never go back."""
        clock = SystemClock()
        first = clock.now()
        clock.sleep(0)
        assert clock.now() >= first
        assert repr(clock) == "SystemClock()"

    async def test_asleep_zero(self) -> None:
        """asleep(0) returns after yielding."""
        await SystemClock().asleep(0)


class TestManualClock:
    def test_start_and_advance(self) -> None:
        """Time starts where told and moves only on advance."""
        clock = ManualClock(start=3.0)
        assert clock.now() == 3.0
        clock.advance(2.5)
        assert clock.now() == 5.5
        assert clock.sleeps == []
        assert repr(clock) == "ManualClock(now=5.5)"

    def test_sleep_advances_and_records(self) -> None:
        """sleep advances time at once and records the duration."""
        clock = ManualClock()
        clock.sleep(1.0)
        clock.sleep(2.0)
        assert clock.now() == 3.0
        assert clock.sleeps == [1.0, 2.0]

    async def test_asleep_advances_records_and_yields(self) -> None:
        """asleep advances, records and lets another task run."""
        clock = ManualClock()
        ran: list[str] = []

        async def other() -> None:
            ran.append("other")

        task = asyncio.create_task(other())
        await clock.asleep(4.0)
        assert ran == ["other"]
        assert clock.now() == 4.0
        assert clock.sleeps == [4.0]
        await task

    @pytest.mark.parametrize("method", ["advance", "sleep"])
    @pytest.mark.parametrize("seconds", [-1, float("nan")], ids=["negative", "nan"])
    def test_negative_rejected(self, method: str, seconds: float) -> None:
        """Time never goes backwards, and NaN never corrupts the clock."""
        clock = ManualClock()
        with pytest.raises(ValueError, match="seconds must be >= 0"):
            getattr(clock, method)(seconds)
        assert clock.now() == 0.0

    def test_threads(self) -> None:
        """Concurrent sleeps from many threads all count."""
        clock = ManualClock()
        raise_first(run_threads(16, lambda _: _sleep_many(clock), together=False))
        assert clock.now() == 1600
        assert len(clock.sleeps) == 1600
