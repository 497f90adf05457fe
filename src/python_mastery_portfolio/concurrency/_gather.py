"""``gather_tasks``: seed 003's "run tasks concurrently with proper error handling"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Literal, TypeVar, overload

__all__ = ["gather_tasks"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

T = TypeVar("T")


@overload
async def gather_tasks(
    *aws: Awaitable[T], return_exceptions: Literal[True] = ...
) -> list[T | Exception]: ...
@overload
async def gather_tasks(*aws: Awaitable[T], return_exceptions: Literal[False]) -> list[T]: ...
async def gather_tasks(*aws: Awaitable[Any], return_exceptions: bool = True) -> list[Any]:
    """Run ``aws`` concurrently; log each failure with its index; leave nothing running.

    With ``return_exceptions`` (the default, as in the seed) each failure is logged at ERROR
    with its index and returned in its place; only an :class:`Exception` is: a child that
    was cancelled (its ``CancelledError``), or a ``KeyboardInterrupt`` or ``SystemExit``,
    propagates once every task is done, as it would without ``return_exceptions``. Without
    it, the first failure cancels and awaits the others before it propagates (plain
    ``asyncio.gather`` leaves them running).
    Cancelling the caller cancels and awaits every task, then re-raises the cancellation.

    Args:
        *aws: Coroutines, tasks or futures.
        return_exceptions: Return failures in place instead of raising the first.

    Returns:
        The results, in argument order.

    Example:
        >>> import asyncio
        >>> async def ok() -> int:
        ...     return 1
        >>> async def bad() -> int:
        ...     raise ValueError("nope")
        >>> results = asyncio.run(gather_tasks(ok(), bad()))
        >>> results[0], type(results[1]).__name__
        (1, 'ValueError')
    """
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        results = await asyncio.gather(*tasks, return_exceptions=return_exceptions)
    except BaseException as error:
        if isinstance(error, asyncio.CancelledError):
            logger.info("gather_tasks cancelled: cancelling %d tasks", len(tasks))
        for task in tasks:
            task.cancel()
        # Nothing started here may outlive the call; the outcomes no longer matter.
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    # Only an Exception takes its place: a child that was cancelled (by someone else) or a
    # future holding a KeyboardInterrupt or SystemExit stops the call, as without
    # return_exceptions; every task is done by now.
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result
    for index, result in enumerate(results):
        if isinstance(result, Exception):
            logger.error("Task %d failed: %r", index, result, exc_info=result)
    return results
