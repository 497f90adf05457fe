"""Tests of batch_process and amap (python_mastery_portfolio.concurrency)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_mastery_portfolio.concurrency import amap, batch_process
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import TIMEOUT


async def bounded(awaitable: Any) -> Any:
    """Await with a generous bound, so a deadlock fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, TIMEOUT)


async def until(predicate: Any) -> None:
    """Yield to the loop until ``predicate()`` holds, failing after a generous bound."""

    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 - the condition is set by other tasks, no event
            await asyncio.sleep(0)

    await bounded(poll())


async def cancels_itself(x: int) -> int:
    """A processor whose own await is cancelled (not the batch's doing) on item 2."""
    await asyncio.sleep(0)
    if x == 2:
        raise asyncio.CancelledError
    return x


def cancels_itself_in_a_thread(x: int) -> int:
    """The same, as a plain function run in a thread."""
    if x == 2:
        raise asyncio.CancelledError
    return x


class Tracker:
    """Counts pulls, running calls and finishes, and records the most running at once."""

    def __init__(self) -> None:
        self.pulled = 0
        self.finished = 0
        self.running = 0
        self.peak = 0
        self.peak_ahead = 0
        self.lock = threading.Lock()

    def source(self, count: int) -> Iterator[int]:
        for value in range(count):
            self.pulled += 1
            self.peak_ahead = max(self.peak_ahead, self.pulled - self.finished)
            yield value

    def enter(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1
            self.finished += 1


async def seed_batch_process(
    items: list[int], processor: Any, max_concurrent: int = 5
) -> list[Any]:
    """The seed 002 version, verbatim apart from names."""
    semaphore = asyncio.Semaphore(max_concurrent)

    async def process_with_limit(item: int) -> Any:
        async with semaphore:
            return await processor(item)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(process_with_limit(item)) for item in items]
    return [task.result() for task in tasks]


class TestBatchProcess:
    async def test_seed_example(self) -> None:
        """The seed's call gives the seed's result."""

        async def fetch(x: int) -> str:
            await asyncio.sleep(0)
            return f"item-{x}"

        items = list(range(20))
        assert await batch_process(items, fetch, max_concurrent=5) == await seed_batch_process(
            items, fetch, 5
        )

    async def test_never_more_than_max_concurrent(self) -> None:
        """1,000 items through 5 slots: never more than 5 calls at once, all of them finish."""
        tracker = Tracker()

        async def work(x: int) -> int:
            tracker.enter()
            for _ in range(x % 4):
                await asyncio.sleep(0)
            tracker.leave()
            return x

        result = await bounded(batch_process(tracker.source(1000), work, 5))
        assert result == list(range(1000))
        assert tracker.peak == 5
        assert tracker.running == 0

    @settings(max_examples=40, deadline=None)
    @given(
        delays=st.lists(st.integers(min_value=0, max_value=5), max_size=40),
        limit=st.integers(min_value=1, max_value=8),
    )
    def test_order_and_bounded_look_ahead(self, delays: list[int], limit: int) -> None:
        """Results keep input order and no more than max_concurrent items are pulled ahead."""
        tracker = Tracker()

        async def work(index: int) -> int:
            tracker.enter()
            for _ in range(delays[index]):
                await asyncio.sleep(0)
            tracker.leave()
            return -index

        result = asyncio.run(bounded(batch_process(tracker.source(len(delays)), work, limit)))
        assert result == [-index for index in range(len(delays))]
        assert tracker.peak_ahead <= limit
        assert tracker.peak <= limit

    async def test_consumes_a_long_generator_lazily(self) -> None:
        """A generator of a million items is pulled only as fast as items finish."""
        tracker = Tracker()
        stop = asyncio.Event()

        async def work(x: int) -> int:
            tracker.enter()
            tracker.leave()
            if tracker.finished >= 200:
                stop.set()
                await asyncio.Event().wait()  # park until cancelled
            return x

        task = asyncio.create_task(batch_process(tracker.source(1_000_000), work, 4))
        await bounded(stop.wait())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)
        assert tracker.pulled <= 200 + 4
        assert tracker.peak_ahead <= 4

    async def test_async_iterable_source(self) -> None:
        """Items may come from an async iterable."""

        async def source() -> AsyncIterator[int]:
            for value in range(10):
                await asyncio.sleep(0)
                yield value

        async def negate(x: int) -> int:
            await asyncio.sleep(0)
            return -x

        assert await bounded(batch_process(source(), negate, 3)) == [-x for x in range(10)]

    async def test_empty(self) -> None:
        """No items give an empty list."""

        async def never(x: int) -> int:
            raise AssertionError("called")

        assert await batch_process([], never) == []

    async def test_plain_function_runs_in_a_thread(self) -> None:
        """A plain processor never runs on the event loop's thread, and sees the context."""
        loop_thread = threading.get_ident()
        request = contextvars.ContextVar("request", default="none")
        request.set("r-1")

        def work(x: int) -> tuple[bool, str, int]:
            return threading.get_ident() != loop_thread, request.get(), x * 2

        result = await bounded(batch_process(range(6), work, 3))
        assert result == [(True, "r-1", x * 2) for x in range(6)]

    async def test_plain_function_concurrency_is_bounded(self) -> None:
        """Threads run at most max_concurrent plain calls at once, really in parallel."""
        tracker = Tracker()
        barrier = threading.Barrier(3)

        def work(x: int) -> int:
            tracker.enter()
            if x < 3:
                barrier.wait(TIMEOUT)  # the first three must be running together
            tracker.leave()
            return x

        assert await bounded(batch_process(range(30), work, 3)) == list(range(30))
        assert tracker.peak == 3

    async def test_lambda_returning_a_coroutine(self) -> None:
        """A plain callable that returns an awaitable has it awaited."""

        async def add(x: int, y: int) -> int:
            return x + y

        result = await bounded(batch_process([1, 2], lambda x: add(x, 10)))
        assert result == [11, 12]

    async def test_partial_of_async_function_runs_on_the_loop(self) -> None:
        """A functools.partial of an async function is recognised as async."""
        loop_thread = threading.get_ident()

        async def tag(prefix: str, x: int) -> tuple[str, bool]:
            return f"{prefix}{x}", threading.get_ident() == loop_thread

        result = await batch_process([1], functools.partial(tag, "n"))
        assert result == [("n1", True)]

    async def test_first_failure_cancels_and_awaits_the_rest(self) -> None:
        """One failure: the running calls are cancelled and awaited, nothing else starts."""
        started: list[int] = []
        cleaned: list[int] = []

        async def work(x: int) -> int:
            started.append(x)
            try:
                if x == 2:
                    await asyncio.sleep(0)
                    raise KeyError(x)
                await asyncio.Event().wait()
            finally:
                cleaned.append(x)
            return x

        with pytest.raises(KeyError) as caught:
            await bounded(batch_process(range(100), work, 4))
        assert sorted(started) == [0, 1, 2, 3]
        assert sorted(cleaned) == sorted(started)
        assert "batch_process: item 2 (2) failed" in caught.value.__notes__

    async def test_failures_together_form_a_group(self) -> None:
        """Calls that fail in the same step propagate together as an ExceptionGroup."""
        gate = asyncio.Event()
        arrived = 0

        async def work(x: int) -> int:
            nonlocal arrived
            arrived += 1
            if arrived == 3:
                gate.set()
            await gate.wait()
            raise ValueError(x)

        with pytest.raises(ExceptionGroup) as caught:
            await bounded(batch_process(range(3), work, 3))
        assert sorted(str(error) for error in caught.value.exceptions) == ["0", "1", "2"]
        assert "3 items failed" in str(caught.value)

    async def test_return_exceptions(self) -> None:
        """With return_exceptions each failed item's exception takes its place."""

        async def work(x: int) -> int:
            if x % 2:
                raise ValueError(x)
            return x

        result = await bounded(batch_process(range(5), work, 2, return_exceptions=True))
        assert [type(value) for value in result] == [int, ValueError, int, ValueError, int]
        assert result[0::2] == [0, 2, 4]

    @pytest.mark.parametrize("return_exceptions", [True, False], ids=["returning", "raising"])
    @pytest.mark.parametrize(
        "processor", [cancels_itself, cancels_itself_in_a_thread], ids=["async", "thread"]
    )
    async def test_processor_cancelled_error_is_never_a_result(
        self, processor: Any, return_exceptions: bool
    ) -> None:
        """A processor's own CancelledError stops the batch: no lost item, no list hole."""
        with pytest.raises(asyncio.CancelledError) as caught:
            if return_exceptions:
                await bounded(batch_process(range(20), processor, 3, return_exceptions=True))
            else:
                await bounded(batch_process(range(20), processor, 3))
        assert "batch_process: item 2 (2) failed" in caught.value.__notes__

    async def test_source_failure_propagates(self) -> None:
        """An exception raised by the item source propagates as itself."""

        def source() -> Iterator[int]:
            yield 1
            raise OSError("disk")

        async def work(x: int) -> int:
            return x

        with pytest.raises(OSError, match="disk"):
            await bounded(batch_process(source(), work, 2, return_exceptions=True))

    async def test_timeout_fails_only_the_slow_item(self) -> None:
        """timeout (through the clock, no real wait) fails the slow item with TimeoutError."""
        clock = ManualClock()

        async def work(x: int) -> int:
            if x == 1:
                await asyncio.Event().wait()
            return x

        result = await bounded(
            batch_process(range(3), work, 3, timeout=5.0, clock=clock, return_exceptions=True)
        )
        assert result[0] == 0
        assert result[2] == 2
        assert isinstance(result[1], TimeoutError)
        assert clock.sleeps == [5.0]

    async def test_timeout_raises_without_return_exceptions(self) -> None:
        """Without return_exceptions a timed-out item raises TimeoutError naming the item."""

        async def stuck(x: int) -> int:
            await asyncio.Event().wait()
            return x

        with pytest.raises(TimeoutError) as caught:
            await bounded(batch_process([7], stuck, timeout=1.0, clock=ManualClock()))
        assert "batch_process: item 0 (7) failed" in caught.value.__notes__

    async def test_max_per_second_spaces_starts(self) -> None:
        """max_per_second spaces the starts through the clock: 5 starts at 2/s take 2 s."""
        clock = ManualClock()
        starts: list[float] = []

        async def work(x: int) -> int:
            starts.append(clock.now())
            return x

        result = await bounded(batch_process(range(5), work, 5, max_per_second=2, clock=clock))
        assert result == list(range(5))
        assert clock.now() == 2.0
        assert sum(clock.sleeps) == 2.0
        assert starts == sorted(starts)

    async def test_cancelling_the_caller_cancels_and_awaits_every_call(self) -> None:
        """Cancelling the caller leaves nothing running in the background."""
        started = asyncio.Event()
        running: set[int] = set()

        async def work(x: int) -> int:
            running.add(x)
            if len(running) == 3:
                started.set()
            try:
                await asyncio.Event().wait()
            finally:
                running.discard(x)
            return x

        task = asyncio.create_task(batch_process(range(10), work, 3, timeout=60.0))
        await bounded(started.wait())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)
        assert running == set()

    async def test_cancelling_waits_for_a_running_thread(self) -> None:
        """A plain call cannot be interrupted: cancellation waits until its thread returns."""
        entered = threading.Event()
        release = threading.Event()
        returned: list[int] = []

        def work(x: int) -> int:
            entered.set()
            release.wait(TIMEOUT)
            returned.append(x)
            if x == 0:
                raise RuntimeError("after cancellation")  # its outcome no longer matters
            return x

        task = asyncio.create_task(batch_process([0], work))
        await bounded(asyncio.to_thread(entered.wait, TIMEOUT))
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not task.done()
        task.cancel()  # a second cancellation of the caller does not abandon the thread either
        for _ in range(5):
            await asyncio.sleep(0)
        assert not task.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)
        assert returned == [0]

    async def test_cancelled_twice_while_a_thread_runs(self) -> None:
        """A timed-out plain call that is then cancelled still waits for its thread."""
        clock = ManualClock()
        entered = threading.Event()
        release = threading.Event()

        def work(x: int) -> int:
            entered.set()
            release.wait(TIMEOUT)
            return x

        task = asyncio.create_task(batch_process([0], work, timeout=1.0, clock=clock))
        await bounded(asyncio.to_thread(entered.wait, TIMEOUT))
        await until(lambda: clock.sleeps)  # the watchdog has started its (instant) wait
        for _ in range(5):  # ...and has cancelled the call
            await asyncio.sleep(0)
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not task.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)

    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"max_concurrent": 0}, ValueError, "max_concurrent"),
            ({"max_concurrent": 2.0}, TypeError, "max_concurrent"),
            ({"max_per_second": 0}, ValueError, "max_per_second"),
            ({"timeout": -1.0}, ValueError, "timeout"),
            ({"processor": 3}, TypeError, "processor"),
            ({"items": 3}, TypeError, "items"),
        ],
        ids=["zero-slots", "float-slots", "zero-rate", "negative-timeout", "processor", "items"],
    )
    async def test_checks_arguments(
        self, kwargs: dict[str, Any], error: type[Exception], name: str
    ) -> None:
        """Wrong arguments raise TypeError/ValueError naming the parameter, for both forms."""
        arguments: dict[str, Any] = {"items": [1], "processor": abs, **kwargs}
        with pytest.raises(error, match=name):
            await batch_process(**arguments)
        with pytest.raises(error, match=name):
            amap(**arguments)


class TestAmap:
    async def test_yields_as_completed_with_items(self) -> None:
        """Results come in completion order, each with the item it came from."""
        gates = {x: asyncio.Event() for x in range(3)}

        async def work(x: int) -> int:
            await gates[x].wait()
            return x * 10

        seen: list[tuple[int, int]] = []
        gates[2].set()
        async with aclosing(amap(work, range(3), 3)) as results:
            async for pair in results:
                seen.append(pair)
                if pair[0] == 2:
                    gates[0].set()
                if pair[0] == 0:
                    gates[1].set()
        assert seen == [(2, 20), (0, 0), (1, 10)]

    async def test_slow_consumer_keeps_memory_bounded(self) -> None:
        """Workers wait for the consumer: pulls stay within a bound of what was consumed."""
        tracker = Tracker()

        async def work(x: int) -> int:
            return x

        consumed = 0
        async with aclosing(amap(work, tracker.source(10_000), 4)) as results:
            async for _ in results:
                consumed += 1
                for _ in range(3):
                    await asyncio.sleep(0)
                assert tracker.pulled <= consumed + 2 * 4 + 1
                if consumed == 100:
                    break
        assert tracker.pulled <= 100 + 2 * 4 + 1

    async def test_leaving_early_cancels_running_calls(self) -> None:
        """Closing the iterator cancels and awaits the calls still running."""
        running: set[int] = set()

        async def work(x: int) -> int:
            if x == 0:
                return x
            running.add(x)
            try:
                await asyncio.Event().wait()
            finally:
                running.discard(x)
            return x

        async with aclosing(amap(work, itertools.count(), 3)) as results:
            async for item, _ in results:
                assert item == 0
                break
        assert running == set()

    async def test_failure_raises_after_cleanup(self) -> None:
        """The first failure is raised from the iteration, with its note."""

        async def work(x: int) -> int:
            if x == 3:
                raise LookupError(x)
            return x

        with pytest.raises(LookupError) as caught:
            async for _ in amap(work, range(10), 2):
                pass
        assert "amap: item 3 (3) failed" in caught.value.__notes__

    async def test_return_exceptions(self) -> None:
        """With return_exceptions a failure is yielded as the item's result."""

        def work(x: int) -> int:
            if x == 1:
                raise ValueError(x)
            return x

        pairs = [pair async for pair in amap(work, range(3), return_exceptions=True)]
        by_item = dict(pairs)
        assert by_item[0] == 0
        assert by_item[2] == 2
        assert isinstance(by_item[1], ValueError)

    @pytest.mark.parametrize("return_exceptions", [True, False], ids=["returning", "raising"])
    @pytest.mark.parametrize(
        "processor", [cancels_itself, cancels_itself_in_a_thread], ids=["async", "thread"]
    )
    async def test_processor_cancelled_error_raises(
        self, processor: Any, return_exceptions: bool
    ) -> None:
        """A processor's own CancelledError is raised from the iteration, never yielded."""

        async def consume() -> list[tuple[int, Any]]:
            if return_exceptions:
                pairs = amap(processor, range(20), 3, return_exceptions=True)
                return [pair async for pair in pairs]
            return [pair async for pair in amap(processor, range(20), 3)]

        with pytest.raises(asyncio.CancelledError) as caught:
            await bounded(consume())
        assert "amap: item 2 (2) failed" in caught.value.__notes__

    async def test_source_failure_raises(self) -> None:
        """A failing source is raised even with return_exceptions."""

        async def source() -> AsyncIterator[int]:
            yield 1
            raise OSError("gone")

        async def work(x: int) -> int:
            return x

        with pytest.raises(OSError, match="gone"):
            async for _ in amap(work, source(), 2, return_exceptions=True):
                pass
