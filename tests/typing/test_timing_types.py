"""Static proofs of the types of @timed and measure_block (mypy and pyright check)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, assert_type

import pytest

from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.timing import BlockTimer, measure_block, timed


def test_bare_keeps_signature() -> None:
    """Bare @timed keeps the parameters and return type."""

    @timed
    def add(x: int, y: int = 0) -> int:
        return x + y

    assert_type(add(1, y=2), int)
    with pytest.raises(TypeError):
        add("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError):
        add(1, z=2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_options_keep_signature() -> None:
    """@timed(...) keeps the parameters and return type, keyword-only ones included."""

    @timed(unit="us", logger=logging.getLogger("typing"), level=logging.DEBUG)
    def greet(name: str, *, punctuation: str = "!") -> str:
        return name + punctuation

    assert_type(greet("a", punctuation="?"), str)
    with pytest.raises(TypeError):
        greet("a", "?")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_async_stays_awaitable() -> None:
    """A decorated coroutine function still returns a coroutine of its result."""

    @timed(clock=ManualClock())
    async def fetch(x: int) -> str:
        return str(x)

    # pyright names a coroutine's type CoroutineType, mypy Coroutine: both accept this.
    fetching: Coroutine[Any, Any, str] = fetch(1)
    result = asyncio.run(fetching)
    assert_type(result, str)


def test_methods() -> None:
    """Methods, classmethods and staticmethods keep their types."""

    class Service:
        @timed
        def method(self, x: int) -> int:
            return x

        @classmethod
        @timed(unit="s")
        def build(cls, x: int) -> Service:
            return cls()

        @staticmethod
        @timed
        def helper(x: str) -> str:
            return x

    assert_type(Service().method(1), int)
    assert_type(Service.build(1), Service)
    assert_type(Service.helper("a"), str)
    with pytest.raises(TypeError):
        Service().method(1, 2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_bad_unit_rejected() -> None:
    """Only the four units are accepted by the type checker."""
    with pytest.raises(ValueError, match="unit"):
        timed(unit="minutes")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="unit"):
        measure_block("x", unit="h")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_measure_block_types() -> None:
    """measure_block binds a BlockTimer whose elapsed is an optional float."""
    with measure_block("x", clock=ManualClock()) as timer:
        assert_type(timer, BlockTimer)
    assert_type(timer.elapsed, float | None)
    assert_type(timer.name, str)
