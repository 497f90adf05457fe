"""Static proofs of the types of retry, async_retry and retrying (mypy and pyright check)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, assert_type

import pytest

from python_mastery_portfolio._internal.callables import ExceptionSpec
from python_mastery_portfolio.clock import Clock
from python_mastery_portfolio.retrying import (
    AsyncRetryDecorator,
    Attempt,
    RetryDecorator,
    Retrying,
    RetryingKwargs,
    RetryKwargs,
    RetryOptions,
    RetryState,
    Seconds,
    async_retry,
    retry,
    retry_testing,
    retrying,
)
from python_mastery_portfolio.testing import ManualClock


def test_options_keep_signature() -> None:
    """@retry(...) keeps the parameters and return type; a wrong argument type is rejected."""

    @retry(max_attempts=3, delay=1.0, backoff=2.0, exceptions=(IOError, ConnectionError))
    def add(x: int, y: int = 0) -> int:
        return x + y

    assert_type(add(1, y=2), int)
    with retry_testing(), pytest.raises(TypeError):
        add("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with retry_testing(), pytest.raises(TypeError):
        add(1, z=2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_bare_keeps_signature() -> None:
    """Bare @retry keeps the parameters and return type."""

    @retry
    def greet(name: str, *, punctuation: str = "!") -> str:
        return name + punctuation

    assert_type(greet("a", punctuation="?"), str)
    with retry_testing(), pytest.raises(TypeError):
        greet("a", "?")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_decorator_types() -> None:
    """The configured forms return the typed decorator protocols."""
    assert_type(retry(max_attempts=2), RetryDecorator)
    assert_type(async_retry(max_attempts=2), AsyncRetryDecorator)
    assert_type(retrying(max_attempts=2), Retrying)


def test_async_stays_awaitable() -> None:
    """Both decorators keep a coroutine function's coroutine type."""

    @retry(clock=ManualClock())
    async def fetch(x: int) -> str:
        return str(x)

    @async_retry(max_attempts=5, delay=0.5)
    async def count(items: list[int]) -> int:
        return len(items)

    @async_retry
    async def bare(flag: bool) -> bool:
        return flag

    # asyncio.run takes only a coroutine; pyright names its type CoroutineType, mypy Coroutine.
    fetched: Coroutine[Any, Any, str] = fetch(1)
    assert_type(asyncio.run(fetched), str)
    assert_type(asyncio.run(fetch(1)), str)
    assert_type(asyncio.run(assert_type(count([1]), Coroutine[Any, Any, int])), int)
    assert_type(asyncio.run(bare(True)), bool)
    coroutine = count("ab")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert asyncio.run(coroutine) == 2


def test_async_retry_rejects_sync_function() -> None:
    """async_retry refuses a plain function for the type checker too."""

    def plain(x: int) -> int:
        return x

    with retry_testing(), pytest.raises(TypeError):
        async_retry()(plain)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]


def test_methods() -> None:
    """Methods, classmethods and staticmethods keep their types, in either order."""

    class Service:
        @retry
        def method(self, x: int) -> int:
            return x

        @retry(max_attempts=2)
        @classmethod
        def build(cls, x: int) -> Service:
            return cls()

        @classmethod
        @retry(max_attempts=2)
        def build_inner(cls) -> Service:
            return cls()

        @retry
        @staticmethod
        def helper(x: str) -> str:
            return x

        @async_retry
        @classmethod
        async def load(cls, key: str) -> Service:
            return cls()

    assert_type(Service().method(1), int)
    assert_type(Service.build(1), Service)
    assert_type(Service.build_inner(), Service)
    assert_type(Service.helper("a"), str)
    assert_type(asyncio.run(Service.load("k")), Service)
    with retry_testing(), pytest.raises(TypeError):
        Service().method(1, 2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_block_form_types() -> None:
    """The block form yields Attempt objects, sync and async."""
    states: list[RetryState] = []
    for attempt in retrying(max_attempts=2, on_retry=states.append):
        assert_type(attempt, Attempt)
        with attempt as entered:
            assert_type(entered, Attempt)
            assert_type(entered.number, int)

    async def run() -> None:
        async for attempt in retrying(max_attempts=2):
            assert_type(attempt, Attempt)
            with attempt:
                pass

    asyncio.run(run())
    assert states == []


def test_state_fields() -> None:
    """RetryState fields have precise types."""
    state = RetryState(attempt=1, delay=0.5, exception=None, result=3, elapsed=0.0)
    assert_type(state.attempt, int)
    assert_type(state.delay, float)
    assert_type(state.exception, BaseException | None)
    assert_type(state.elapsed, float)


def test_options_fields() -> None:
    """RetryOptions fields have the declared types; wait() returns a float."""
    options = RetryOptions(max_attempts=2, delay=0.5)
    # max_attempts may be None (no cap, with a deadline); a duration is declared as Seconds (a
    # number or a timedelta, the types the constructor accepts) and read back as float seconds.
    assert_type(options.max_attempts, int | None)
    assert_type(options.delay, Seconds)
    assert_type(options.backoff, float)
    assert_type(options.exceptions, ExceptionSpec)
    assert_type(options.max_delay, Seconds | None)
    assert_type(options.jitter, Seconds)
    assert_type(options.deadline, Seconds | None)
    assert type(options.delay) is float
    assert_type(options.retry_on_result, Callable[[Any], object] | None)
    assert_type(options.on_retry, Callable[[RetryState], object] | None)
    assert_type(options.clock, Clock)
    assert_type(options.logger, logging.Logger | None)
    assert_type(options.wait(1), float)
    assert_type(retrying(max_attempts=2).options, RetryOptions)
    with pytest.raises(TypeError):
        RetryOptions(2, 0.5, 2.0, OSError, None)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_kwargs_type_each_option() -> None:
    """Every form sees each option's type through RetryKwargs; a wrong one is rejected."""
    options: RetryKwargs = {"max_attempts": 2, "delay": 0.5, "exceptions": OSError}
    assert_type(retry(**options), RetryDecorator)
    assert_type(async_retry(**options), AsyncRetryDecorator)
    assert_type(retrying(**options), Retrying)
    block: RetryingKwargs = {"max_attempts": 2, "name": "upload"}
    assert_type(retrying(**block), Retrying)
    assert_type(retry(2, 0.5, 2.0, OSError, jitter=0.1), RetryDecorator)
    assert_type(retrying(2, 0.5), Retrying)
    with pytest.raises(TypeError):
        retry(delay="slow")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError):
        retrying(clock=object())  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError):
        retry(tries=3)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    bad: RetryKwargs = {"max_attempts": "3"}  # type: ignore[typeddict-item]  # pyright: ignore[reportAssignmentType]
    with pytest.raises(TypeError):
        retry(**bad)
