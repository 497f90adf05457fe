"""Time, behind a protocol that tests replace.

Every time-dependent component (retry, TTL caches, rate limiters, circuit breakers, timers)
takes a keyword-only ``clock=`` argument defaulting to :data:`SYSTEM_CLOCK`. Tests pass a
:class:`python_mastery_portfolio.testing.ManualClock` instead, so nothing waits for real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "now_reader"]


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time that can also wait.

    Example:
        >>> isinstance(SystemClock(), Clock)
        True
    """

    def now(self) -> float:
        """Return monotonic seconds; only differences between two readings mean anything."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` without blocking the event loop."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.sleep`` and ``asyncio.sleep``.

    Example:
        >>> clock = SystemClock()
        >>> clock.now() <= clock.now()
        True
    """

    __slots__ = ()

    def now(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()
"""The shared default clock."""


def now_reader(clock: Clock) -> Callable[[], float]:
    """Return the cheapest callable that reads ``clock``; the one fast path for every component.

    ``SystemClock.now`` is a Python frame around :func:`time.monotonic`; hot paths (a cache hit,
    a retry that succeeds, a rate-limit check) call the latter directly and save that frame.

    Example:
        >>> now_reader(SYSTEM_CLOCK) is time.monotonic
        True
    """
    return time.monotonic if type(clock) is SystemClock else clock.now
