"""Time limits and start pacing for tasks, driven by the toolkit's clock so tests never sleep.

``asyncio.timeout`` reads the event loop's own clock, which a test cannot move; these helpers
wait through :meth:`Clock.asleep` instead, so a ``testing.ManualClock`` makes a timeout or a
rate limit happen at once.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from python_mastery_portfolio.clock import Clock, now_reader

__all__ = ["ClockTimeout", "StartPacer"]


class ClockTimeout:
    """An async context manager that cancels its block after ``seconds`` on ``clock``.

    A watchdog task waits ``clock.asleep(seconds)`` and then cancels the task running the
    block; the cancellation turns into :class:`TimeoutError` on the way out, as with
    ``asyncio.timeout``. A cancellation from anywhere else passes through unchanged.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> async def stuck() -> None:
        ...     async with ClockTimeout(5.0, ManualClock()) as limit:
        ...         await asyncio.Event().wait()
        >>> try:
        ...     asyncio.run(stuck())
        ... except TimeoutError:
        ...     print("timed out")
        timed out
    """

    __slots__ = ("_clock", "_seconds", "_task", "_watchdog", "expired")

    def __init__(self, seconds: float, clock: Clock) -> None:
        self._seconds = seconds
        self._clock = clock
        self._task: asyncio.Task[object] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.expired = False

    async def __aenter__(self) -> ClockTimeout:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - an async with always runs inside a task
            raise RuntimeError("ClockTimeout must be used inside a task")
        self._task = task
        self._watchdog = asyncio.get_running_loop().create_task(self._expire(task))
        return self

    async def _expire(self, task: asyncio.Task[object]) -> None:
        await self._clock.asleep(self._seconds)
        self.expired = True
        task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watchdog, task = self._watchdog, self._task
        if watchdog is None or task is None:  # pragma: no cover - __aenter__ always sets both
            return
        watchdog.cancel()
        # Only our own cancellation becomes a TimeoutError: uncancel() > 0 means someone
        # else cancelled the task too, and that cancellation must propagate.
        if self.expired and exc_type is asyncio.CancelledError and task.uncancel() == 0:
            raise TimeoutError(f"timed out after {self._seconds}s") from exc


class StartPacer:
    """Space starts at least ``1 / per_second`` apart (a token bucket holding one token).

    Each caller reserves the next free start time before waiting, so concurrent callers get
    distinct slots without a lock: the reservation happens between two awaits.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> pacer = StartPacer(4.0, clock)
        >>> async def three() -> None:
        ...     for _ in range(3):
        ...         await pacer.wait()
        >>> asyncio.run(three())
        >>> clock.sleeps
        [0.25, 0.25]
    """

    __slots__ = ("_clock", "_interval", "_next", "_now")

    def __init__(self, per_second: float, clock: Clock) -> None:
        self._interval = 1.0 / per_second
        self._clock = clock
        self._now = now_reader(clock)
        self._next = float("-inf")

    async def wait(self) -> None:
        """Return when this caller's start slot has come."""
        now = self._now()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await self._clock.asleep(start - now)
