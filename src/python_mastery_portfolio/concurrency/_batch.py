"""Bounded concurrent processing on the event loop: ``batch_process`` and ``amap``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar, overload

from python_mastery_portfolio._internal.sentinels import Sentinel
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.concurrency._engine import Engine, unwrap

__all__ = ["amap", "batch_process"]

T = TypeVar("T")
R = TypeVar("R")

_DONE = Sentinel("DONE")


@overload
async def batch_process(
    items: Iterable[T] | AsyncIterable[T],
    processor: Callable[[T], Awaitable[R]],
    max_concurrent: int = ...,
    *,
    max_per_second: float | None = ...,
    return_exceptions: Literal[False] = ...,
    timeout: float | None = ...,  # noqa: ASYNC109 - per item, not a deadline for the call
    clock: Clock = ...,
) -> list[R]: ...
@overload
async def batch_process(
    items: Iterable[T] | AsyncIterable[T],
    processor: Callable[[T], Awaitable[R]],
    max_concurrent: int = ...,
    *,
    max_per_second: float | None = ...,
    return_exceptions: Literal[True],
    timeout: float | None = ...,  # noqa: ASYNC109 - per item, not a deadline for the call
    clock: Clock = ...,
) -> list[R | Exception]: ...
@overload
async def batch_process(
    items: Iterable[T] | AsyncIterable[T],
    processor: Callable[[T], R],
    max_concurrent: int = ...,
    *,
    max_per_second: float | None = ...,
    return_exceptions: Literal[False] = ...,
    timeout: float | None = ...,  # noqa: ASYNC109 - per item, not a deadline for the call
    clock: Clock = ...,
) -> list[R]: ...
@overload
async def batch_process(
    items: Iterable[T] | AsyncIterable[T],
    processor: Callable[[T], R],
    max_concurrent: int = ...,
    *,
    max_per_second: float | None = ...,
    return_exceptions: Literal[True],
    timeout: float | None = ...,  # noqa: ASYNC109 - per item, not a deadline for the call
    clock: Clock = ...,
) -> list[R | Exception]: ...
async def batch_process(
    items: Iterable[Any] | AsyncIterable[Any],
    processor: Callable[[Any], Any],
    max_concurrent: int = 5,
    *,
    max_per_second: float | None = None,
    return_exceptions: bool = False,
    timeout: float | None = None,  # noqa: ASYNC109 - per item, not a deadline for the call
    clock: Clock = SYSTEM_CLOCK,
) -> list[Any]:
    """Run ``processor`` over ``items``, at most ``max_concurrent`` at once; results in input order.

    Items are pulled lazily: at most ``max_concurrent`` are pulled and not yet finished, so a
    long generator never sits in memory (the result list, of course, does). A plain function
    runs in a worker thread, never on the event loop.

    On the first failure (without ``return_exceptions``) no further item is started, every
    running call is cancelled and awaited, and the error propagates as itself, or as an
    ``ExceptionGroup`` when several calls failed together; each carries a note naming its
    item. Cancelling the caller cancels and awaits every running call.

    Args:
        items: Any iterable or async iterable.
        processor: ``async def`` function, or a plain function (run in a thread).
        max_concurrent: Most calls running at once (at least 1).
        max_per_second: Most starts per second (spaced evenly through ``clock``), or ``None``.
        return_exceptions: Put each failed item's exception in its place in the results
            instead of raising.
        timeout: Seconds each call may take before it fails with :class:`TimeoutError`;
            a plain function's thread cannot be interrupted, so its item fails once it returns.
        clock: Drives ``max_per_second`` and ``timeout``.

    Returns:
        One result (or, with ``return_exceptions``, exception) per item, in input order.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``max_concurrent`` < 1 or a rate or timeout is not positive.

    Example:
        >>> import asyncio
        >>> async def double(x: int) -> int:
        ...     await asyncio.sleep(0)
        ...     return 2 * x
        >>> asyncio.run(batch_process(range(5), double, max_concurrent=2))
        [0, 2, 4, 6, 8]
    """
    engine: Engine[Any, Any] = Engine(
        items,
        processor,
        max_concurrent,
        max_per_second=max_per_second,
        timeout=timeout,
        clock=clock,
        where="batch_process",
    )
    results: list[Any] = []

    async def store(index: int, item: object, value: object, error: Exception | None) -> None:
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        if error is None:
            results[index] = value
        elif return_exceptions:
            results[index] = error
        else:
            raise error

    failure: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(engine.max_concurrent):
                group.create_task(engine.work(store))
    except BaseExceptionGroup as raised:
        # One failure propagates as itself; several that failed together as a group.
        errors = [unwrap(error) for error in raised.exceptions]
        failure = (
            errors[0]
            if len(errors) == 1
            else BaseExceptionGroup(f"batch_process: {len(errors)} items failed", errors)
        )
    finally:
        engine.close()
    if failure is not None:
        raise failure
    return results


@overload
def amap(
    processor: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    max_concurrent: int = ...,
    *,
    max_per_second: float | None = ...,
    return_exceptions: Literal[False] = ...,
    timeout: float | None = ...,
    clock: Clock = ...,
) -> AsyncGenerator[tuple[T, R], None]: ...
@overload
def amap(
    processor: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    max_concurrent: int = ...,
    *,
    max_per_second: float | None = ...,
    return_exceptions: Literal[True],
    timeout: float | None = ...,
    clock: Clock = ...,
) -> AsyncGenerator[tuple[T, R | Exception], None]: ...
@overload
def amap(
    processor: Callable[[T], R],
    items: Iterable[T] | AsyncIterable[T],
    max_concurrent: int = ...,
    *,
    max_per_second: float | None = ...,
    return_exceptions: Literal[False] = ...,
    timeout: float | None = ...,
    clock: Clock = ...,
) -> AsyncGenerator[tuple[T, R], None]: ...
@overload
def amap(
    processor: Callable[[T], R],
    items: Iterable[T] | AsyncIterable[T],
    max_concurrent: int = ...,
    *,
    max_per_second: float | None = ...,
    return_exceptions: Literal[True],
    timeout: float | None = ...,
    clock: Clock = ...,
) -> AsyncGenerator[tuple[T, R | Exception], None]: ...
def amap(
    processor: Callable[[Any], Any],
    items: Iterable[Any] | AsyncIterable[Any],
    max_concurrent: int = 5,
    *,
    max_per_second: float | None = None,
    return_exceptions: bool = False,
    timeout: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncGenerator[tuple[Any, Any], None]:
    """Yield ``(item, result)`` pairs as calls complete; the streaming form of ``batch_process``.

    The options mean what they mean for :func:`batch_process`. Memory stays bounded however
    slowly the results are consumed: a finished worker waits for the consumer before taking
    another item. The first failure (without ``return_exceptions``) is raised from the
    iteration after the running calls are cancelled and awaited; leaving the loop early (or
    closing the iterator) does the same. Arguments are checked when ``amap`` is called.

    Args:
        processor: ``async def`` function, or a plain function (run in a thread).
        items: Any iterable or async iterable.
        max_concurrent: Most calls running at once (at least 1).
        max_per_second: Most starts per second, or ``None``.
        return_exceptions: Yield a failed item's exception as its result instead of raising.
        timeout: Seconds each call may take before it fails with :class:`TimeoutError`.
        clock: Drives ``max_per_second`` and ``timeout``.

    Returns:
        An async generator of ``(item, result)`` in completion order (close it, e.g. with
        ``contextlib.aclosing``, to stop the running calls at once when leaving early).

    Example:
        >>> import asyncio
        >>> async def main() -> list[tuple[int, int]]:
        ...     return sorted([pair async for pair in amap(abs, [-2, 1, -3])])
        >>> asyncio.run(main())
        [(-3, 3), (-2, 2), (1, 1)]
    """
    engine: Engine[Any, Any] = Engine(
        items,
        processor,
        max_concurrent,
        max_per_second=max_per_second,
        timeout=timeout,
        clock=clock,
        where="amap",
    )
    return _stream(engine, return_exceptions=return_exceptions)


async def _stream(
    engine: Engine[Any, Any], *, return_exceptions: bool
) -> AsyncGenerator[Any, None]:
    # Bounded, so workers wait for a slow consumer instead of piling up results.
    queue: asyncio.Queue[tuple[object, object, BaseException | None] | Sentinel] = asyncio.Queue(
        engine.max_concurrent
    )

    async def deliver(index: int, item: object, value: object, error: Exception | None) -> None:
        await queue.put((item, value, error))

    async def worker() -> None:
        try:
            await engine.work(deliver)
        except Exception as error:  # noqa: BLE001 - the source failed, or a processor cancelled itself
            await queue.put((None, None, _SourceError(unwrap(error))))
        else:
            await queue.put(_DONE)

    loop = asyncio.get_running_loop()
    workers = [loop.create_task(worker()) for _ in range(engine.max_concurrent)]
    try:
        running = len(workers)
        while running:
            entry = await queue.get()
            if isinstance(entry, Sentinel):
                running -= 1
                continue
            item, value, error = entry
            if isinstance(error, _SourceError):
                raise error.error
            if error is not None and not return_exceptions:
                raise error
            yield item, (value if error is None else error)
    finally:
        for task in workers:
            task.cancel()
        # Nothing the iteration started may outlive it.
        await asyncio.gather(*workers, return_exceptions=True)
        engine.close()


class _SourceError(Exception):
    """Carries a fatal error (the source's, or a processor's own cancellation) to the consumer."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error
