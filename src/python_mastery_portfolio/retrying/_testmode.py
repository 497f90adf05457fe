"""The retry test mode: a locked configuration object and the :func:`retry_testing` switch."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Generator
from dataclasses import dataclass

from python_mastery_portfolio._internal.checks import require_count

__all__ = [
    "TEST_MODE",
    "RetryTestMode",
    "RetryTestSettings",
    "retry_testing",
    "set_retry_active",
]


@dataclass(frozen=True, slots=True)
class RetryTestSettings:
    """One immutable snapshot of the test mode; a change swaps in a whole new snapshot.

    Attributes:
        waits_off: Whether every retry wait is skipped (and reported as 0 seconds).
        max_attempts: A cap on every policy's attempts (``inf``: none; ``1``: no retries).

    Example:
        >>> RetryTestSettings().waits_off, RetryTestSettings().max_attempts
        (False, inf)
    """

    waits_off: bool = False
    max_attempts: float = math.inf


_NORMAL = RetryTestSettings()


class RetryTestMode:
    """The process-wide configuration that :func:`retry_testing` and :func:`set_retry_active` set.

    Writers take the lock; the retry engine reads :attr:`settings`, one attribute holding an
    immutable snapshot, so a reader needs no lock and never sees half a change. Activations are
    counted, so overlapping blocks (nested, or in several threads at once) leave test mode only
    when the last one exits; while several are active, the smallest attempt cap applies.

    Example:
        >>> mode = RetryTestMode()
        >>> mode.enter(attempts=2)
        >>> mode.settings.waits_off, mode.settings.max_attempts
        (True, 2)
        >>> mode.leave(attempts=2)
        >>> mode.settings.waits_off
        False
    """

    __slots__ = ("_active", "_caps", "_lock", "settings")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._caps: list[float] = []  # one per activation: its attempt cap, inf for none
        self._active = True
        self.settings = _NORMAL
        """The current snapshot; read it, change it only through the methods."""

    def _publish(self) -> None:
        cap = min(self._caps, default=math.inf)
        if not self._active:
            cap = 1
        waits_off = bool(self._caps)
        self.settings = (
            _NORMAL
            if not waits_off and cap == math.inf
            else RetryTestSettings(waits_off=waits_off, max_attempts=cap)
        )

    def enter(self, attempts: int | None = None) -> None:
        """Turn test mode on (one more activation), capping attempts at ``attempts`` if given."""
        with self._lock:
            self._caps.append(math.inf if attempts is None else attempts)
            self._publish()

    def leave(self, attempts: int | None = None) -> None:
        """End the activation that :meth:`enter` started with the same ``attempts``.

        Raises:
            RuntimeError: If no such activation is on.
        """
        cap = math.inf if attempts is None else attempts
        with self._lock:
            if cap not in self._caps:
                raise RuntimeError("retry test mode left more often than entered")
            self._caps.remove(cap)
            self._publish()

    def set_active(self, active: bool) -> None:
        """Turn retrying on or off for every policy (off: one attempt, the error propagates)."""
        with self._lock:
            self._active = active
            self._publish()


TEST_MODE = RetryTestMode()
"""The one test-mode configuration every retry form reads."""


@contextlib.contextmanager
def retry_testing(attempts: int | None = None) -> Generator[None, None, None]:
    """Turn off every retry wait (all forms, sync and async) until the block exits.

    Attempts still happen, ``on_retry`` and the log still see each retry (with a delay of 0), but
    nothing waits; a ``deadline`` still counts the skipped waits, so a policy gives up at the
    attempt it would in production. ``attempts`` also caps every policy's attempts (``1``: no
    retries at all), as stamina's ``set_testing(attempts=...)``. The switch is process-wide,
    like the test suite it serves, and safe from any thread; it nests (the smallest cap wins),
    and test mode ends when the last block exits. Also usable as a decorator.

    Args:
        attempts: The most attempts any retried call makes inside the block (>= 1).

    Raises:
        TypeError: If ``attempts`` is not an int.
        ValueError: If ``attempts`` is below 1.

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
        >>> calls.clear()
        >>> with retry_testing(attempts=1):
        ...     try:
        ...         flaky()
        ...     except ConnectionError:
        ...         len(calls)
        1
    """
    if attempts is not None:
        require_count("attempts", attempts, 1)
    TEST_MODE.enter(attempts)
    try:
        yield
    finally:
        TEST_MODE.leave(attempts)


def set_retry_active(active: bool) -> None:
    """Turn retrying on or off for the whole process (stamina's ``set_active``).

    Off, every retried call makes one attempt and nothing waits: a failure is handled as running
    out of attempts (the error propagates, or ``fallback`` answers; ``on_giveup`` runs). Safe
    from any thread.

    Args:
        active: ``False`` to stop retrying, ``True`` to resume.

    Raises:
        TypeError: If ``active`` is not a bool.

    Example:
        >>> from python_mastery_portfolio.retrying import retry
        >>> calls = []
        >>> @retry(max_attempts=3, delay=0)
        ... def flaky() -> None:
        ...     calls.append(1)
        ...     raise ConnectionError("down")
        >>> set_retry_active(False)
        >>> try:
        ...     flaky()
        ... except ConnectionError:
        ...     len(calls)
        1
        >>> set_retry_active(True)
    """
    if not isinstance(active, bool):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"active must be a bool, got {active!r}")
    TEST_MODE.set_active(active)
