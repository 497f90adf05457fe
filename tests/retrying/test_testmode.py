"""Tests of the retry test mode as a locked configuration object."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pytest

from python_mastery_portfolio.retrying import retry, retry_testing
from python_mastery_portfolio.retrying._testmode import (
    TEST_MODE,
    RetryTestMode,
    RetryTestSettings,
)
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import raise_first, run_threads


def _fail_once() -> Callable[[], str]:
    state = {"calls": 0}

    def operation() -> str:
        state["calls"] += 1
        if state["calls"] == 1:
            raise ConnectionError
        return "ok"

    return operation


class TestRetryTestMode:
    def test_snapshot_is_immutable(self) -> None:
        """Readers see one frozen snapshot; a change swaps in a new one."""
        mode = RetryTestMode()
        before = mode.settings
        with pytest.raises(dataclasses.FrozenInstanceError):
            before.waits_off = True  # type: ignore[misc]
        mode.enter()
        assert mode.settings is not before
        assert mode.settings.waits_off
        assert not before.waits_off
        mode.leave()
        assert mode.settings == RetryTestSettings()

    def test_leave_without_enter(self) -> None:
        """Leaving more often than entering is a RuntimeError, and changes nothing."""
        mode = RetryTestMode()
        with pytest.raises(RuntimeError, match="left more often than entered"):
            mode.leave()
        assert not mode.settings.waits_off

    def test_counts_activations(self) -> None:
        """Test mode ends only when the last activation ends."""
        mode = RetryTestMode()
        mode.enter()
        mode.enter()
        mode.leave()
        assert mode.settings.waits_off
        mode.leave()
        assert not mode.settings.waits_off

    def test_overlapping_threads(self, fast_switching: None) -> None:
        """Blocks that overlap in many threads keep waits off until the last one exits."""
        count = 64
        inside = threading.Barrier(count)
        seen: list[bool] = []

        def body(index: int) -> None:
            with retry_testing():
                inside.wait(10)
                seen.append(TEST_MODE.settings.waits_off)
                clock = ManualClock()
                assert retry(delay=5.0, clock=clock)(_fail_once())() == "ok"
                assert clock.sleeps == []
                inside.wait(10)  # nobody leaves until everyone has retried

        raise_first(run_threads(count, body))
        assert seen == [True] * count
        assert not TEST_MODE.settings.waits_off
        clock = ManualClock()
        retry(delay=5.0, clock=clock)(_fail_once())()
        assert clock.sleeps == [5.0]

    def test_staggered_threads(self) -> None:
        """The first thread to leave does not turn waits back on while another is inside."""
        first_in = threading.Event()
        second_in = threading.Event()
        first_out = threading.Event()
        sleeps: list[list[float]] = []

        def body(index: int) -> None:
            if index == 0:
                with retry_testing():
                    first_in.set()
                    assert second_in.wait(10)
                first_out.set()
            else:
                assert first_in.wait(10)
                with retry_testing():
                    second_in.set()
                    assert first_out.wait(10)
                    clock = ManualClock()
                    retry(delay=5.0, clock=clock)(_fail_once())()
                    sleeps.append(clock.sleeps)

        raise_first(run_threads(2, body, together=False))
        assert sleeps == [[]]
        assert not TEST_MODE.settings.waits_off
