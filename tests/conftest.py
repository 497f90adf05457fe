"""Helpers shared by the whole test suite: real threads with bounded waits, polling, switching."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Scripts that the process tests run as child programs: never imported by the collector (its
# doctest pass imports every module), since running one is the point of the test.
collect_ignore_glob = ["processes/scripts_*/*.py"]

TIMEOUT = 10.0
"""Generous bound on every wait for another thread; never reached when the tests pass."""


def run_threads(count: int, target: Callable[[int], Any], *, together: bool = True) -> list[Any]:
    """Run ``target(index)`` in ``count`` real threads; return each result or exception, in order.

    With ``together`` the threads wait on a barrier and start at once, to make races likely.
    Each join is bounded by :data:`TIMEOUT`, so a deadlock fails the test instead of hanging it.
    """
    barrier = threading.Barrier(count) if together else None
    results: list[Any] = [None] * count

    def body(index: int) -> None:
        if barrier is not None:
            barrier.wait(TIMEOUT)
        try:
            results[index] = target(index)
        except BaseException as error:  # collected for the test to inspect
            results[index] = error

    threads = [threading.Thread(target=body, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a thread is stuck (deadlock?)"
    return results


def raise_first(results: list[Any]) -> list[Any]:
    """Return ``results`` unchanged, raising the first exception among them."""
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll ``predicate`` (a condition other threads make true), failing after :data:`TIMEOUT`."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.0005)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Make the interpreter switch threads as often as it can, to shake out races."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)
