"""``parallel_process``: a thread-pool map for blocking code that stops cleanly on failure."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar, overload

from python_mastery_portfolio._internal.callables import is_async_callable, qualified_name
from python_mastery_portfolio._internal.checks import require_count, require_positive
from python_mastery_portfolio.concurrency._engine import item_note

__all__ = ["parallel_process"]

T = TypeVar("T")
R = TypeVar("R")


@overload
def parallel_process(
    items: Iterable[T],
    worker_func: Callable[[T], R],
    max_workers: int = ...,
    *,
    timeout: float | None = ...,
    return_exceptions: Literal[False] = ...,
) -> list[R]: ...
@overload
def parallel_process(
    items: Iterable[T],
    worker_func: Callable[[T], R],
    max_workers: int = ...,
    *,
    timeout: float | None = ...,
    return_exceptions: Literal[True],
) -> list[R | Exception]: ...
def parallel_process(
    items: Iterable[Any],
    worker_func: Callable[[Any], Any],
    max_workers: int = 4,
    *,
    timeout: float | None = None,
    return_exceptions: bool = False,
) -> list[Any]:
    """Call ``worker_func`` on each item in up to ``max_workers`` threads; results in input order.

    Unlike the seed's version (results in completion order, every item still run after a
    failure), the first failure cancels every item not yet started, waits for the running
    ones, and re-raises the original exception with a note naming the failing item. A
    ``KeyboardInterrupt`` (or the ``timeout``) stops it the same way, without waiting for the
    running items: no thread starts another item, and each exits after its current one.

    Args:
        items: The inputs (read at once, like ``Executor.map``).
        worker_func: A plain (blocking) function; use :func:`batch_process` for ``async def``.
        max_workers: Most threads (at least 1).
        timeout: Seconds for the whole call before :class:`TimeoutError`, or ``None``. It is
            a real wait for other threads, so it cannot follow an injected clock.
        return_exceptions: Put each failed item's exception in its place instead of raising.
            Only an :class:`Exception` takes its item's place: a ``KeyboardInterrupt``,
            ``SystemExit`` or other ``BaseException`` raised by ``worker_func`` stops the
            call as a failure does (with a note naming the item) and propagates.

    Returns:
        One result (or, with ``return_exceptions``, exception) per item, in input order.

    Raises:
        TypeError: If ``worker_func`` is not a plain callable or ``max_workers`` not an int.
        ValueError: If ``max_workers`` < 1 or ``timeout`` is not positive.
        TimeoutError: If ``timeout`` passes first.

    Example:
        >>> parallel_process(["a", "bb", "ccc"], len, max_workers=2)
        [1, 2, 3]
    """
    require_count("max_workers", max_workers, 1)
    if timeout is not None:
        require_positive("timeout", timeout)
    raw: object = worker_func  # checked at run time: callers may pass anything
    if not callable(raw) or is_async_callable(raw):
        raise TypeError(
            f"worker_func must be a plain callable (use batch_process for async ones), "
            f"got {worker_func!r}"
        )
    inputs = list(items)
    if not inputs:
        return []
    executor = ThreadPoolExecutor(min(max_workers, len(inputs)), thread_name_prefix="pmp-parallel")
    wait_for_running = False
    try:
        futures = [executor.submit(worker_func, item) for item in inputs]
        if return_exceptions:
            done, pending = _wait_for_fatal(futures, timeout)
        else:
            done, pending = concurrent.futures.wait(
                futures, timeout, concurrent.futures.FIRST_EXCEPTION
            )
        if not pending and not return_exceptions:
            # Everything finished: read in input order, so the first failure met is the
            # lowest-numbered one.
            results: list[Any] = []
            for index, future in enumerate(futures):
                try:
                    results.append(future.result())
                except BaseException as error:  # a KeyboardInterrupt is noted too
                    error.add_note(item_note("parallel_process", index, inputs[index]))
                    raise
            return results
        failed = next(
            (i for i, future in enumerate(futures) if _failed(future, done, return_exceptions)),
            None,
        )
        if failed is not None:
            wait_for_running = True
            _raise_noted(futures[failed], failed, inputs[failed])
        if pending:
            raise TimeoutError(
                f"parallel_process of {qualified_name(worker_func)} timed out after {timeout}s "
                f"with {len(pending)} of {len(futures)} items unfinished"
            )
        return [_outcome(future) for future in futures]
    finally:
        # Nothing not yet started runs after we return or raise.
        executor.shutdown(wait=wait_for_running, cancel_futures=True)


def _raise_noted(future: Future[Any], index: int, item: object) -> None:
    error = future.exception()
    assert error is not None  # noqa: S101 - the caller checked
    error.add_note(item_note("parallel_process", index, item))
    raise error


def _wait_for_fatal(
    futures: list[Future[Any]], timeout: float | None
) -> tuple[set[Future[Any]], set[Future[Any]]]:
    """Wait for every future, or until one raises what is not an ``Exception``, or timeout."""
    done: set[Future[Any]] = set()
    try:
        for future in concurrent.futures.as_completed(futures, timeout):
            done.add(future)
            if _fatal(future.exception()):
                break
    except TimeoutError:
        pass  # the caller reports the unfinished ones
    return done, set(futures) - done


def _fatal(error: BaseException | None) -> bool:
    # KeyboardInterrupt, SystemExit and the like are never an item's result: they stop the call.
    return error is not None and not isinstance(error, Exception)


def _failed(future: Future[Any], done: set[Future[Any]], return_exceptions: bool) -> bool:
    if future not in done:
        return False
    error = future.exception()
    return _fatal(error) if return_exceptions else error is not None


def _outcome(future: Future[Any]) -> Any:
    error = future.exception()
    return future.result() if error is None else error
