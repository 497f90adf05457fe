"""Tests of the engine's wrapper variants: every kind of policy behaves the same, sync and async."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import RetryExhaustedError
from python_mastery_portfolio.retrying import RetryState, retry
from python_mastery_portfolio.testing import ManualClock

QUIET = logging.getLogger("quiet.engine")

# The engine picks a wrapper by whether the policy needs a start time or checks results.
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "deadline": {"deadline": 100.0},
    "on-retry": {"on_retry": lambda state: None},
    "result-check": {"retry_on_result": lambda value: value == "reject"},
}


def _outcomes(*outcomes: object) -> tuple[Any, Any, list[int]]:
    """Return a sync and an async function yielding ``outcomes`` in turn, and their call log."""
    queue = list(outcomes)
    calls: list[int] = []

    def next_outcome() -> Any:
        calls.append(1)
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def anext_outcome() -> Any:
        return next_outcome()

    return next_outcome, anext_outcome, calls


def _call(kwargs: dict[str, Any], is_async: bool, *outcomes: object) -> tuple[Any, list[int]]:
    sync_func, async_func, calls = _outcomes(*outcomes)
    decorator = retry(
        max_attempts=3, delay=1.0, exceptions=ConnectionError, clock=ManualClock(), logger=QUIET,
        **kwargs,
    )  # fmt: skip
    if is_async:
        return asyncio.run(decorator(async_func)()), calls
    return decorator(sync_func)(), calls


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kwargs", VARIANTS.values(), ids=VARIANTS.keys())
class TestVariants:
    def test_success_at_once(self, kwargs: dict[str, Any], is_async: bool) -> None:
        """A first-time success returns its value after one call."""
        assert _call(kwargs, is_async, "ok") == ("ok", [1])

    def test_retried_then_success(self, kwargs: dict[str, Any], is_async: bool) -> None:
        """A retryable failure is retried."""
        assert _call(kwargs, is_async, ConnectionError(), "ok") == ("ok", [1, 1])

    def test_not_retryable(self, kwargs: dict[str, Any], is_async: bool) -> None:
        """A failure the policy does not select propagates at once."""
        with pytest.raises(KeyError):
            _call(kwargs, is_async, KeyError("no"), "ok")

    def test_exhausted(self, kwargs: dict[str, Any], is_async: bool) -> None:
        """The last retryable failure propagates with its note."""
        with pytest.raises(ConnectionError) as info:
            _call(kwargs, is_async, *[ConnectionError()] * 3)
        assert info.value.__notes__[0].endswith("after 3 attempts")


class TestStartTime:
    def test_plain_policy_reads_no_clock(self) -> None:
        """Without deadline, on_retry or retry_on_result a success never reads the clock."""

        class CountingClock(ManualClock):
            reads = 0

            def now(self) -> float:
                CountingClock.reads += 1
                return super().now()

        retry(clock=CountingClock())(lambda: 1)()
        assert CountingClock.reads == 0

    def test_elapsed_counts_from_first_call(self) -> None:
        """on_retry's elapsed time starts at the first attempt, in every timed variant."""
        clock = ManualClock(start=50.0)
        states: list[RetryState] = []
        calls: list[int] = []

        def slow() -> str:
            calls.append(1)
            clock.advance(2.0)
            if len(calls) < 2:
                raise ConnectionError
            return "ok"

        retry(delay=1.0, on_retry=states.append, clock=clock, logger=QUIET)(slow)()
        assert [state.elapsed for state in states] == [2.0]

    @pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
    def test_rejected_result_exhausts(self, is_async: bool) -> None:
        """A result rejected on every attempt ends in RetryExhaustedError."""
        with pytest.raises(RetryExhaustedError) as info:
            _call(VARIANTS["result-check"], is_async, "reject", "reject", "reject")
        assert info.value.attempts == 3
