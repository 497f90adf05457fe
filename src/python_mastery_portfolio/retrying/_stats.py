"""Per-function retry statistics: counted on the failure path, read as lock-free snapshots."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any, TypedDict

__all__ = ["RetryStatistics", "Statistics", "retry_statistics"]


class RetryStatistics(TypedDict):
    """A snapshot of what the retry machinery did for one decorated function (or block).

    Only calls that failed at least once are counted: a call that succeeds at once stays a bare
    ``try`` around the function (the success path is measured and kept that cheap), so it
    leaves no trace here.

    Attributes:
        attempts: Attempts made by calls that failed at least once, their first included.
        retries: Attempts made after a wait (each retry is also an attempt).
        total_wait: Seconds spent waiting between attempts, in all.
        giveups: Calls (or blocks) that ran out of attempts or time.

    Example:
        >>> stats: RetryStatistics = {"attempts": 3, "retries": 2, "total_wait": 1.5, "giveups": 0}
        >>> stats["retries"]
        2
    """

    attempts: int
    retries: int
    total_wait: float
    giveups: int


_FOLD_AT = 1024
"""Queued runs past which a writer folds them into the totals itself."""


class Statistics(Mapping[str, float]):
    """The live statistics of one decorated function, as a read-only mapping.

    Only the failure path writes, once per run that failed at least once: it appends the run's
    counts to a queue, atomically and without a lock, so a retry costs next to nothing more.
    Readers fold the queue into the totals under the lock (so ``stats["retries"]`` or
    :meth:`snapshot` never see half a run); writers fold too when the queue grows long, to
    bound its memory.

    Example:
        >>> stats = Statistics()
        >>> stats.add(2, 0.5, False)
        >>> stats["attempts"], stats["retries"], stats.snapshot()["total_wait"]
        (2, 1, 0.5)
    """

    __slots__ = ("_lock", "_pending", "_totals")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[tuple[int, float, bool] | None] = deque()
        self._totals: RetryStatistics = {
            "attempts": 0,
            "retries": 0,
            "total_wait": 0.0,
            "giveups": 0,
        }

    def add(self, attempts: int, waited: float, gave_up: bool) -> None:
        """Count one run: its attempts, the seconds it waited and whether it gave up."""
        pending = self._pending
        pending.append((attempts, waited, gave_up))
        if len(pending) > _FOLD_AT:
            self.snapshot()

    def snapshot(self) -> RetryStatistics:
        """Return a copy of the counts, consistent as of one moment."""
        with self._lock:
            totals = self._totals
            pending = self._pending
            # Only this locked code takes from the queue. It drains what was queued before a
            # marker put at its end now, in C, while writers may go on appending behind it.
            pending.append(None)
            runs = list(iter(pending.popleft, None))
            if runs:
                attempts, waits, giveups = zip(*runs, strict=True)
                made = sum(attempts)
                totals["attempts"] += made
                totals["retries"] += made - len(runs)
                totals["total_wait"] += sum(waits)
                totals["giveups"] += sum(giveups)
            return totals.copy()

    def __getitem__(self, key: str) -> float:
        value: float = self.snapshot()[key]  # type: ignore[literal-required]  # KeyError as a dict
        return value  # pyright: ignore[reportUnknownVariableType]  # any str key: see above

    def __iter__(self) -> Iterator[str]:
        return iter(RetryStatistics.__annotations__)

    def __len__(self) -> int:
        return len(RetryStatistics.__annotations__)

    def __repr__(self) -> str:
        return f"<retry statistics {self.snapshot()}>"


def retry_statistics(func: Any) -> RetryStatistics:
    """Return a snapshot of a retry-decorated function's statistics (tenacity's ``statistics``).

    ``func.statistics`` is the live mapping; this function gives it its precise type.

    Raises:
        TypeError: If ``func`` was not decorated by ``retry`` or ``async_retry``.

    Example:
        >>> from python_mastery_portfolio.retrying import retry
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> replies = [OSError("busy"), "ok"]
        >>> @retry(delay=0.5, clock=ManualClock())
        ... def fetch() -> object:
        ...     reply = replies.pop(0)
        ...     if isinstance(reply, Exception):
        ...         raise reply
        ...     return reply
        >>> fetch()
        'ok'
        >>> retry_statistics(fetch)
        {'attempts': 2, 'retries': 1, 'total_wait': 0.5, 'giveups': 0}
    """
    stats = getattr(func, "statistics", None)
    if not isinstance(stats, Statistics):
        raise TypeError(f"{func!r} is not a retry-decorated function")
    return stats.snapshot()
