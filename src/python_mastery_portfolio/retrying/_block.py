"""The block form, :func:`retrying`: ``for attempt in retrying(...): with attempt: ...``."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Unpack, overload

from python_mastery_portfolio._internal.callables import ExceptionSpec
from python_mastery_portfolio.retrying._engine import Policy, Run
from python_mastery_portfolio.retrying._options import (
    RetryKwargs,
    RetryOptions,
    Seconds,
    expose_signature,
    options_from,
)
from python_mastery_portfolio.retrying._stats import Statistics

__all__ = ["Attempt", "Attempts", "Retrying", "RetryingKwargs", "retrying"]

BLOCK_NAME = "retrying block"


class RetryingKwargs(RetryKwargs, total=False):
    """The keyword arguments of :func:`retrying`: the retry options and the block's ``name``.

    Example:
        >>> options: RetryingKwargs = {"max_attempts": 2, "name": "upload"}
        >>> retrying(**options)
        <Retrying upload max_attempts=2>
    """

    name: str


class Attempts:
    """One run of a :class:`Retrying` loop, iterable with ``for`` and ``async for``.

    Attributes:
        run: The engine's state of this run.
        next_wait: The wait before the next attempt, or ``None`` when the loop is over; the
            current :class:`Attempt` sets it on exit.
    """

    __slots__ = ("next_wait", "run")

    def __init__(self, policy: Policy, name: str, stats: Statistics) -> None:
        self.run = Run(policy, name, policy.now(), stats)
        self.next_wait: float | None = 0.0

    def _start(self, wait: float) -> Attempt:
        run = self.run
        if run.policy.before is not None:
            run.call_before(wait)
        # Until the attempt exits with a retryable failure, there is no next one.
        self.next_wait = None
        return Attempt(self)

    def __iter__(self) -> Attempts:
        return self

    def __aiter__(self) -> Attempts:
        return self

    def __next__(self) -> Attempt:
        wait = self.next_wait
        if wait is None:
            raise StopIteration
        if wait:
            try:
                self.run.policy.clock.sleep(wait)
            except BaseException:
                self.run.abandon(wait)  # interrupted: the attempt it led to never starts
                self.run.finish()
                raise
        return self._start(wait)

    async def __anext__(self) -> Attempt:
        wait = self.next_wait
        if wait is None:
            raise StopAsyncIteration
        if wait:
            try:
                await self.run.policy.clock.asleep(wait)
            except BaseException:
                self.run.abandon(wait)  # cancelled: the attempt it led to never starts
                self.run.finish()
                raise
        return self._start(wait)


class Attempt:
    """One attempt of a :func:`retrying` loop: enter it around the code being attempted.

    Use it as ``with attempt:`` or, inside ``async for``, as ``async with attempt:``. On exit,
    a retryable exception is swallowed (the loop waits and yields the next attempt);
    any other exception, or the last one, propagates. With ``retry_on_result``, pass the
    block's result to :meth:`set_result` so the predicate can reject it.

    Attributes:
        number: This attempt's number, counting from 1.

    Example:
        >>> import asyncio
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> async def upload() -> int:
        ...     async for attempt in retrying(max_attempts=3, clock=ManualClock()):
        ...         async with attempt:
        ...             if attempt.number < 2:
        ...                 raise ConnectionError("reset")
        ...     return attempt.number
        >>> asyncio.run(upload())
        2
    """

    __slots__ = ("_attempts", "_has_result", "_result", "number")

    def __init__(self, attempts: Attempts) -> None:
        self._attempts = attempts
        self.number = attempts.run.attempt
        self._has_result = False
        self._result: object = None

    def set_result(self, value: object) -> None:
        """Record the block's result for ``retry_on_result`` to judge on exit."""
        self._has_result = True
        self._result = value

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        attempts = self._attempts
        run = attempts.run
        if exc is None:
            check = run.policy.check
            if self._has_result and check is not None and check(self._result):
                try:
                    attempts.next_wait = run.after_result(self._result)
                except BaseException:
                    run.finish()  # given up, or a hook raised: the loop is over
                    raise
            else:
                run.finish(succeeded=True)  # the loop is over
            return False
        attempts.next_wait = wait = run.after_error(exc)
        if wait is None:
            run.finish()
        return wait is not None

    async def __aenter__(self) -> Attempt:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        # The decision is synchronous; ``async with`` only lets the block form read naturally
        # inside ``async for``.
        return self.__exit__(exc_type, exc, traceback)

    def __repr__(self) -> str:
        return f"<Attempt {self.number} of {self._attempts.run.name}>"


class Retrying:
    """A retry policy for blocks of code; iterate it with ``for`` or ``async for``.

    Each iteration is a fresh run (its own attempts and deadline), so one object can be kept
    and reused. Build it with :func:`retrying`.
    """

    __slots__ = ("_name", "_policy", "statistics")

    def __init__(self, policy: Policy, name: str) -> None:
        self._policy = policy
        self._name = name
        self.statistics = Statistics()
        """What every run of this policy did, counted as for a decorated function."""

    @property
    def options(self) -> RetryOptions:
        """The validated options this policy follows.

        Example:
            >>> retrying(max_attempts=5, delay=0.5).options.wait(2)
            1.0
        """
        return self._policy.options

    def __iter__(self) -> Iterator[Attempt]:
        return Attempts(self._policy, self._name, self.statistics)

    def __aiter__(self) -> AsyncIterator[Attempt]:
        return Attempts(self._policy, self._name, self.statistics)

    def __repr__(self) -> str:
        return f"<Retrying {self._name} max_attempts={self._policy.options.max_attempts}>"


@overload
def retrying(**options: Unpack[RetryingKwargs]) -> Retrying: ...
@overload
def retrying(
    max_attempts: int | None,
    delay: Seconds = ...,
    backoff: float = ...,
    exceptions: ExceptionSpec = ...,
    /,
    **options: Unpack[RetryingKwargs],  # pyright: ignore[reportGeneralTypeIssues]  # the clashing names are positional-only
) -> Retrying: ...
def retrying(*args: Any, **options: Unpack[RetryingKwargs]) -> Retrying:
    """Retry a block of code, with ``for`` or ``async for`` and ``with attempt:`` inside.

    ``async for`` works the same and waits without blocking the event loop; inside it, both
    ``with attempt:`` and ``async with attempt:`` work. The options and
    rules are those of :func:`retry`; ``name`` stands in for the function's name in logs and
    notes. With ``retry_on_result``, hand the block's result to ``attempt.set_result(value)``.

    Raises:
        ValueError: If a number is out of range (named in the message).
        TypeError: If an argument has the wrong type, or ``fallback`` is given.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> replies = iter([OSError("busy"), OSError("busy"), "done"])
        >>> for attempt in retrying(max_attempts=3, delay=0.5, clock=clock, name="upload"):
        ...     with attempt:
        ...         reply = next(replies)
        ...         if isinstance(reply, Exception):
        ...             raise reply
        >>> reply, attempt.number, clock.sleeps
        ('done', 3, [0.5, 1.0])
    """
    name = options.pop("name", BLOCK_NAME)
    if not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"name must be a str, got {name!r}")
    policy = Policy(options_from("retrying", args, options))
    if policy.rescues:
        raise TypeError(
            "fallback is for retry and async_retry: a retrying block returns nothing to replace"
        )
    return Retrying(policy, name)


# help(), IDEs and docs show the options, not ``*args, **options``.
expose_signature(
    retrying,
    inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=BLOCK_NAME, annotation="str"),
)
