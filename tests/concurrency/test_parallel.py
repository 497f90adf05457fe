"""Tests of parallel_process (python_mastery_portfolio.concurrency)."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_mastery_portfolio.concurrency import parallel_process
from tests.conftest import TIMEOUT, wait_until


def seed_parallel_process(items: list[Any], worker_func: Any, max_workers: int = 4) -> list[Any]:
    """The seed 002 version (results in completion order), without its logging."""
    with ThreadPoolExecutor(max_workers=max_workers) as executor:
        future_to_item = {executor.submit(worker_func, item): item for item in items}
        return [future.result() for future in as_completed(future_to_item)]


class TestParallelProcess:
    def test_seed_example(self) -> None:
        """The seed's call gives the seed's results, here in input order."""
        items = list(range(50))
        ours = parallel_process(items, abs, max_workers=4)
        assert ours == [abs(x) for x in items]
        assert sorted(ours) == sorted(seed_parallel_process(items, abs, 4))

    @settings(max_examples=25, deadline=None)
    @given(values=st.lists(st.integers(), max_size=30), workers=st.integers(1, 6))
    def test_input_order(self, values: list[int], workers: int) -> None:
        """Results always come back in input order, whatever order the threads finish in."""
        assert parallel_process(values, lambda x: x * 3, workers) == [x * 3 for x in values]

    def test_really_parallel_and_bounded(self) -> None:
        """max_workers threads run together (a barrier of that size passes), never more."""
        barrier = threading.Barrier(3)
        lock = threading.Lock()
        running = peak = 0

        def work(x: int) -> int:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            if x < 3:
                barrier.wait(TIMEOUT)
            with lock:
                running -= 1
            return x

        assert parallel_process(range(40), work, 3) == list(range(40))
        assert peak == 3

    def test_empty(self) -> None:
        """No items give an empty list and start no thread."""
        assert parallel_process([], abs) == []

    def test_first_failure_cancels_the_rest(self) -> None:
        """A failure stops the items not yet started and re-raises with a note naming the item."""
        started: list[int] = []
        lock = threading.Lock()

        def work(x: int) -> int:
            with lock:
                started.append(x)
            if x == 1:
                raise ValueError("bad item")
            time.sleep(0.01)  # slow items: all 1,000 would take 5 s on two threads
            return x

        with pytest.raises(ValueError, match="bad item") as caught:
            parallel_process(range(1000), work, 2)
        assert "parallel_process: item 1 (1) failed" in caught.value.__notes__
        count = len(started)
        assert count < 1000
        time.sleep(0.05)
        assert len(started) == count  # nothing started after the call returned

    def test_last_item_failing(self) -> None:
        """A failure after every other item finished is raised with its note, as itself."""
        with pytest.raises(ZeroDivisionError) as caught:
            parallel_process([1, 2, 0], lambda x: 1 // x, max_workers=1)
        assert "parallel_process: item 2 (0) failed" in caught.value.__notes__

    def test_return_exceptions(self) -> None:
        """With return_exceptions each failure takes its item's place."""

        def work(x: int) -> int:
            if x == 2:
                raise KeyError(x)
            return x

        result = parallel_process(range(4), work, 2, return_exceptions=True)
        assert result[:2] == [0, 1]
        assert isinstance(result[2], KeyError)
        assert result[3] == 3

    @pytest.mark.parametrize("return_exceptions", [True, False], ids=["returning", "raising"])
    @pytest.mark.parametrize(
        "fatal",
        [KeyboardInterrupt(), SystemExit(3), GeneratorExit()],
        ids=["keyboard-interrupt", "system-exit", "other-base-exception"],
    )
    def test_base_exceptions_are_never_results(
        self, fatal: BaseException, return_exceptions: bool
    ) -> None:
        """A KeyboardInterrupt or SystemExit in an item propagates, never becomes a result.

        With or without return_exceptions, it carries its item's note and no thread is left.
        """

        def work(x: int) -> int:
            if x == 1:
                raise fatal
            if x == 2:
                raise KeyError(x)
            return x

        with pytest.raises(type(fatal)) as caught:
            if return_exceptions:
                parallel_process(range(40), work, 2, return_exceptions=True)
            else:
                parallel_process(range(40), work, 2)
        assert caught.value is fatal
        assert "parallel_process: item 1 (1) failed" in caught.value.__notes__
        assert not any(t.name.startswith("pmp-parallel") for t in threading.enumerate())

    def test_return_exceptions_timeout(self) -> None:
        """The timeout applies with return_exceptions too."""
        release = threading.Event()

        def work(x: int) -> int:
            release.wait(TIMEOUT)
            return x

        try:
            with pytest.raises(TimeoutError, match="unfinished"):
                parallel_process(range(20), work, 2, timeout=0.01, return_exceptions=True)
        finally:
            release.set()

    def test_timeout(self) -> None:
        """The timeout stops the call; queued items never start."""
        release = threading.Event()
        started: list[int] = []

        def work(x: int) -> int:
            started.append(x)
            release.wait(TIMEOUT)
            return x

        try:
            with pytest.raises(TimeoutError, match="unfinished"):
                parallel_process(range(20), work, 2, timeout=0.01)
        finally:
            release.set()
        assert len(started) <= 2

    def test_keyboard_interrupt_leaves_no_thread_working_on_the_rest(self) -> None:
        """A real Ctrl-C in the caller stops the pool: no item starts after it."""
        release = threading.Event()
        lock = threading.Lock()
        started: list[int] = []

        def work(x: int) -> int:
            with lock:
                started.append(x)
            if x == 0:
                os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread: the caller
            release.wait(TIMEOUT)
            return x

        try:
            with pytest.raises(KeyboardInterrupt):
                parallel_process(range(100), work, 2)
        finally:
            release.set()
        before = threading.active_count()
        wait_until(
            lambda: not any(t.name.startswith("pmp-parallel") for t in threading.enumerate())
        )
        assert before >= threading.active_count()
        assert len(started) <= 2

    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"max_workers": 0}, ValueError, "max_workers"),
            ({"timeout": 0}, ValueError, "timeout"),
            ({"worker_func": None}, TypeError, "worker_func"),
        ],
        ids=["zero-workers", "zero-timeout", "not-callable"],
    )
    def test_checks_arguments(
        self, kwargs: dict[str, Any], error: type[Exception], name: str
    ) -> None:
        """Wrong arguments raise TypeError/ValueError naming the parameter."""
        with pytest.raises(error, match=name):
            parallel_process(**{"items": [1], "worker_func": abs, **kwargs})

    def test_refuses_async_functions(self) -> None:
        """An async function is refused: it belongs to batch_process."""

        async def work(x: int) -> int:
            return x

        with pytest.raises(TypeError, match="batch_process"):
            parallel_process([1], work)
