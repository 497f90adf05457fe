"""Real threads for the contract suites: started together, every wait bounded."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["THREADS", "TIMEOUT", "run_together"]

THREADS = 16
"""How many threads each concurrency check runs."""

TIMEOUT = 10.0
"""Bound on every wait for a thread; never reached when the store is correct."""


def run_together(target: Callable[[int], None]) -> None:
    """Run ``target(index)`` in :data:`THREADS` real threads started together.

    The first failure is re-raised; a thread stuck past :data:`TIMEOUT` fails the check
    instead of hanging it.

    Example:
        >>> seen = set()
        >>> run_together(seen.add)
        >>> len(seen) == THREADS
        True
    """
    barrier = threading.Barrier(THREADS)

    def body(index: int) -> None:
        barrier.wait(TIMEOUT)
        target(index)

    pool = ThreadPoolExecutor(THREADS)
    try:
        for future in [pool.submit(body, index) for index in range(THREADS)]:
            future.result(TIMEOUT)
    finally:
        pool.shutdown(wait=False)
