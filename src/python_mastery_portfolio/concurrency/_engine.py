"""The engine under ``batch_process`` and ``amap``: lazy pulls, bounded workers, clean stops.

A fixed set of ``max_concurrent`` worker tasks pull items one at a time from the shared
source, so at most ``max_concurrent`` items are ever pulled and not yet finished, whatever the
length of the input: a generator of a million items is consumed lazily and no task is created
per item. A plain (non-async) processor runs in a thread of an executor private to the batch,
never on the event loop; a thread cannot be interrupted, so when its call is cancelled the
worker waits for it to return before letting the cancellation through, and nothing the batch
started is still running once the batch has returned or raised.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import reprlib
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from python_mastery_portfolio._internal.callables import is_async_callable
from python_mastery_portfolio._internal.checks import require_count, require_positive
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.clock import Clock
from python_mastery_portfolio.concurrency._clocked import ClockTimeout, StartPacer

__all__ = ["Deliver", "Engine", "EscapedCancellationError", "item_note", "unwrap"]

T = TypeVar("T")
R = TypeVar("R")

Deliver = Callable[[int, Any, Any, "Exception | None"], Awaitable[None]]
"""Receives ``(index, item, value, error)`` for each finished item (``error`` set on failure)."""

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def item_note(where: str, index: int, item: object) -> str:
    """Return the note added to an item's exception: which call failed on which item."""
    return f"{where}: item {index} ({_short.repr(item)}) failed"


class EscapedCancellationError(Exception):
    """Carries a processor's own ``CancelledError`` out of a worker task, to be re-raised."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def unwrap(error: BaseException) -> BaseException:
    """Return the error an :class:`EscapedCancellationError` carries, or ``error`` itself."""
    return error.error if isinstance(error, EscapedCancellationError) else error


class Engine(Generic[T, R]):
    """Run ``processor`` over ``items`` in a fixed set of worker tasks.

    Args:
        items: An iterable or async iterable, pulled lazily.
        processor: An ``async def`` function, or a plain function run in a thread.
        max_concurrent: How many calls run at once (and items are pulled ahead), at least 1.
        max_per_second: Most starts per second, or ``None`` for no limit.
        timeout: Seconds each call may take, or ``None``.
        clock: Drives the rate limit and the timeouts.
        where: The public function's name, for the notes on exceptions.
    """

    def __init__(
        self,
        items: Iterable[T] | AsyncIterable[T],
        processor: Callable[[T], Any],
        max_concurrent: int,
        *,
        max_per_second: float | None,
        timeout: float | None,
        clock: Clock,
        where: str,
    ) -> None:
        require_count("max_concurrent", max_concurrent, 1)
        if max_per_second is not None:
            require_positive("max_per_second", max_per_second)
        if timeout is not None:
            require_positive("timeout", timeout)
        if not callable(processor):
            raise TypeError(f"processor must be callable, got {processor!r}")
        self._sync_source: Iterator[T] | None = None
        self._async_source: AsyncIterator[T] | None = None
        if isinstance(items, AsyncIterable):
            self._async_source = aiter(items)
        elif isinstance(items, Iterable):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            self._sync_source = iter(items)
        else:
            raise TypeError(f"items must be an iterable or async iterable, got {items!r}")
        self._processor = processor
        self._is_async = is_async_callable(processor)
        self._pacer = None if max_per_second is None else StartPacer(max_per_second, clock)
        self._timeout = timeout
        self._clock = clock
        self._where = where
        self._pull_lock = asyncio.Lock()
        self._next_index = 0
        self._exhausted = False
        self._executor: ThreadPoolExecutor | None = None
        self.max_concurrent = max_concurrent
        if isinstance(items, Sized):
            # Do not start idle workers for a short sequence.
            self.max_concurrent = max(1, min(max_concurrent, len(items)))

    async def work(self, deliver: Deliver) -> None:
        """Process items until the source runs out; one worker's loop.

        Raises:
            Exception: Whatever pulling the next item raised (processor errors are delivered).
        """
        while True:
            pulled = await self._pull()
            if pulled is None:
                return
            index, item = pulled
            if self._pacer is not None:
                await self._pacer.wait()
            try:
                if self._timeout is None:
                    value = await self._call(item)
                else:
                    async with ClockTimeout(self._timeout, self._clock):
                        value = await self._call(item)
            except Exception as error:  # noqa: BLE001 - any failure is the item's, delivered
                error.add_note(item_note(self._where, index, item))
                await deliver(index, item, None, error)
            except asyncio.CancelledError as error:
                task = asyncio.current_task()
                assert task is not None  # noqa: S101 - a worker always runs in a task
                if task.cancelling():
                    raise  # our own cancellation
                # The processor's own CancelledError is no item result: it stops the call.
                # Raised as itself it would end this task "cancelled", which a TaskGroup
                # ignores (the item silently lost) and amap would wait for forever.
                error.add_note(item_note(self._where, index, item))
                raise EscapedCancellationError(error) from None
            else:
                await deliver(index, item, value, None)

    def close(self) -> None:
        """Let the batch's idle threads exit (every call has returned by now)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def _pull(self) -> tuple[int, T] | None:
        if self._sync_source is not None:
            item = self._pull_sync(self._sync_source)
        else:
            item = await self._pull_async()
        if item is MISSING:
            return None
        index = self._next_index
        self._next_index = index + 1
        return index, item

    def _pull_sync(self, source: Iterator[T]) -> Any:
        # next() runs without an await, so workers never pull at the same time.
        if self._exhausted:  # an exhausted iterator need not keep raising StopIteration
            return MISSING
        try:
            return next(source)
        except StopIteration:
            self._exhausted = True
            return MISSING

    async def _pull_async(self) -> Any:
        # An async iterator must not be advanced by two tasks at once.
        async with self._pull_lock:
            if self._exhausted or self._async_source is None:
                return MISSING
            try:
                return await anext(self._async_source)
            except StopAsyncIteration:
                self._exhausted = True
                return MISSING

    async def _call(self, item: T) -> Any:
        if self._is_async:
            return await self._processor(item)
        value = await self._call_in_thread(item)
        if inspect.isawaitable(value):  # e.g. a lambda that returns a coroutine
            value = await value
        return value

    async def _call_in_thread(self, item: T) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="pmp-batch")
        context = contextvars.copy_context()
        future: Future[Any] = self._executor.submit(context.run, self._processor, item)
        waiter = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waiter)
        finally:
            if not waiter.done():  # we were cancelled while the call was pending or running
                # Drop the call if no thread has taken it yet; a running thread cannot be
                # stopped, so wait for it to return (through further cancellations) before
                # the cancellation goes on.
                future.cancel()
                await _wait_out(waiter)


async def _wait_out(waiter: asyncio.Future[Any]) -> None:
    """Wait until ``waiter`` is done, ignoring cancellation meanwhile (the caller re-raises)."""
    while not waiter.done():
        try:
            await asyncio.shield(waiter)
        except asyncio.CancelledError:
            continue
        except Exception:  # noqa: BLE001, S112 - the call's outcome no longer matters: we were cancelled
            continue
