"""Tests of the retry test mode as a locked configuration object."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pytest

from python_mastery_portfolio.retrying import retry, retry_testing, set_retry_active
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


def _always_failing(calls: list[int]) -> Callable[[], str]:
    def operation() -> str:
        calls.append(1)
        raise ConnectionError("down")

    return operation


class TestAttemptCap:
    def test_retry_testing_caps_attempts(self) -> None:
        """retry_testing(attempts=N) caps every policy at N attempts, and waits stay off."""
        calls: list[int] = []
        clock = ManualClock()
        operation = retry(max_attempts=5, delay=2.0, clock=clock)(_always_failing(calls))
        with retry_testing(attempts=2), pytest.raises(ConnectionError):
            operation()
        assert (len(calls), clock.sleeps) == (2, [])
        calls.clear()
        with pytest.raises(ConnectionError):  # outside the block: the policy's own 5 attempts
            operation()
        assert len(calls) == 5

    def test_cap_above_policy_changes_nothing(self) -> None:
        """A cap above the policy's max_attempts leaves the policy's limit in force."""
        calls: list[int] = []
        operation = retry(max_attempts=3, clock=ManualClock())(_always_failing(calls))
        with retry_testing(attempts=10), pytest.raises(ConnectionError):
            operation()
        assert len(calls) == 3

    def test_nested_blocks_smallest_cap_wins(self) -> None:
        """Nested blocks apply the smallest cap; leaving the inner one restores the outer."""
        with retry_testing(attempts=4):
            assert TEST_MODE.settings.max_attempts == 4
            with retry_testing(attempts=2):
                assert TEST_MODE.settings.max_attempts == 2
                with retry_testing():
                    assert TEST_MODE.settings.max_attempts == 2
            assert TEST_MODE.settings.max_attempts == 4
        assert TEST_MODE.settings == RetryTestSettings()

    @pytest.mark.parametrize("attempts", [0, -1, 1.5, True, "2"], ids=str)
    def test_bad_attempts(self, attempts: object) -> None:
        """attempts must be an int >= 1, named in the error."""
        with pytest.raises((TypeError, ValueError), match="attempts"), retry_testing(attempts):  # type: ignore[arg-type]  # checked at run time
            pass  # pragma: no cover - never entered
        assert TEST_MODE.settings == RetryTestSettings()

    def test_leave_with_unknown_cap(self) -> None:
        """Leaving with a cap that was never entered is refused."""
        mode = RetryTestMode()
        mode.enter(attempts=3)
        with pytest.raises(RuntimeError, match="left more often than entered"):
            mode.leave(attempts=2)
        mode.leave(attempts=3)
        assert mode.settings == RetryTestSettings()


class TestSetRetryActive:
    def test_inactive_makes_one_attempt(self) -> None:
        """set_retry_active(False): one attempt, the error propagates, nothing waits."""
        calls: list[int] = []
        clock = ManualClock()
        operation = retry(max_attempts=5, delay=1.0, clock=clock)(_always_failing(calls))
        set_retry_active(False)
        try:
            with pytest.raises(ConnectionError):
                operation()
            assert (len(calls), clock.sleeps) == (1, [])
        finally:
            set_retry_active(True)
        calls.clear()
        with pytest.raises(ConnectionError):
            operation()
        assert len(calls) == 5
        assert TEST_MODE.settings == RetryTestSettings()

    def test_inactive_inside_test_mode(self) -> None:
        """Inactive wins over a larger test-mode cap; reactivating restores the cap."""
        with retry_testing(attempts=3):
            set_retry_active(False)
            try:
                assert TEST_MODE.settings.max_attempts == 1
            finally:
                set_retry_active(True)
            assert TEST_MODE.settings.max_attempts == 3

    def test_threads_see_the_switch(self) -> None:
        """The switch is process-wide: worker threads make one attempt while it is off."""
        calls: list[int] = []
        operation = retry(max_attempts=4, clock=ManualClock())(_always_failing(calls))
        set_retry_active(False)
        try:
            results = run_threads(16, lambda _: operation())
        finally:
            set_retry_active(True)
        assert all(isinstance(result, ConnectionError) for result in results)
        assert len(calls) == 16

    def test_refuses_non_bool(self) -> None:
        """active must be a bool."""
        with pytest.raises(TypeError, match="active must be a bool"):
            set_retry_active(0)  # type: ignore[arg-type]  # checked at run time


class TestDeadlineInTestMode:
    def test_unlimited_policy_stops_at_its_deadline(self) -> None:
        """With waits off, the skipped waits count towards the deadline: no endless spinning."""
        calls: list[int] = []
        clock = ManualClock()
        operation = retry(max_attempts=None, deadline=10.0, delay=1.0, backoff=2.0, clock=clock)(
            _always_failing(calls)
        )
        with retry_testing(), pytest.raises(ConnectionError):
            operation()
        # Waits 1, 2, 4 fit in 10 s (7 s); the next, 8 s, would not: 4 attempts, as in production.
        assert (len(calls), clock.sleeps) == (4, [])
        calls.clear()
        with pytest.raises(ConnectionError):
            operation()
        assert (len(calls), clock.sleeps) == (4, [1.0, 2.0, 4.0])
