"""The manual clock: time that moves only when a test says so."""

from __future__ import annotations

import asyncio
import threading

from python_mastery_portfolio._internal.checks import require_at_least

__all__ = ["ManualClock"]


class ManualClock:
    """A clock that only moves when told to; waiting advances it at once.

    ``sleep`` and ``asleep`` return immediately after advancing the time by the requested
    duration and recording it in :attr:`sleeps`; ``asleep`` still yields to the event loop
    once, as a real wait would. Safe to use from many threads.

    Args:
        start: The initial reading of :meth:`now`.

    Example:
        >>> clock = ManualClock(start=10.0)
        >>> clock.advance(5)
        >>> clock.now()
        15.0
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Return the current manual time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``.

        Raises:
            ValueError: If ``seconds`` is negative (monotonic time never goes back).
        """
        require_at_least("seconds", seconds, 0)  # also refuses NaN, which would corrupt readings
        with self._lock:
            self._now += seconds

    def _record(self, seconds: float) -> None:
        require_at_least("seconds", seconds, 0)
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Advance time by ``seconds`` and record the wait, without blocking."""
        self._record(seconds)

    async def asleep(self, seconds: float) -> None:
        """Advance time by ``seconds``, record the wait and yield to the loop once."""
        self._record(seconds)
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"
