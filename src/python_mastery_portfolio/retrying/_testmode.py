"""The retry test mode: a locked configuration object and the :func:`retry_testing` switch."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["TEST_MODE", "RetryTestMode", "RetryTestSettings", "retry_testing"]


@dataclass(frozen=True, slots=True)
class RetryTestSettings:
    """One immutable snapshot of the test mode; a change swaps in a whole new snapshot.

    Attributes:
        waits_off: Whether every retry wait is skipped (and reported as 0 seconds).

    Example:
        >>> RetryTestSettings().waits_off
        False
    """

    waits_off: bool = False


_NORMAL = RetryTestSettings()
_TESTING = RetryTestSettings(waits_off=True)


class RetryTestMode:
    """The process-wide test-mode configuration that :func:`retry_testing` switches.

    Writers take the lock; the retry engine reads :attr:`settings`, one attribute holding an
    immutable snapshot, so a reader needs no lock and never sees half a change. Activations are
    counted, so overlapping blocks (nested, or in several threads at once) leave test mode only
    when the last one exits.

    Example:
        >>> mode = RetryTestMode()
        >>> mode.enter()
        >>> mode.settings.waits_off
        True
        >>> mode.leave()
        >>> mode.settings.waits_off
        False
    """

    __slots__ = ("_active", "_lock", "settings")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self.settings = _NORMAL
        """The current snapshot; read it, change it only through :meth:`enter`/:meth:`leave`."""

    def enter(self) -> None:
        """Turn test mode on (one more activation)."""
        with self._lock:
            self._active += 1
            self.settings = _TESTING

    def leave(self) -> None:
        """End one activation; test mode ends with the last.

        Raises:
            RuntimeError: If test mode is not on.
        """
        with self._lock:
            if not self._active:
                raise RuntimeError("retry test mode left more often than entered")
            self._active -= 1
            if not self._active:
                self.settings = _NORMAL


TEST_MODE = RetryTestMode()
"""The one test-mode configuration every retry form reads."""


@contextlib.contextmanager
def retry_testing() -> Iterator[None]:
    """Turn off every retry wait (all forms, sync and async) until the block exits.

    Attempts still happen, ``on_retry`` and the log still see each retry (with a delay of 0), but
    nothing waits. The switch is process-wide, like the test suite it serves, and safe from any
    thread; it nests, and test mode ends when the last block exits. Also usable as a decorator.

    Example:
        >>> from python_mastery_portfolio.retrying import retry
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> calls = []
        >>> @retry(max_attempts=3, delay=5.0, clock=clock)
        ... def flaky() -> str:
        ...     calls.append(1)
        ...     if len(calls) < 3:
        ...         raise ConnectionError("down")
        ...     return "up"
        >>> with retry_testing():
        ...     flaky()
        'up'
        >>> clock.sleeps
        []
    """
    TEST_MODE.enter()
    try:
        yield
    finally:
        TEST_MODE.leave()
