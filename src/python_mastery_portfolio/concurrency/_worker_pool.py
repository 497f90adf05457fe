"""``WorkerPool``: threads fed from a bounded queue, with futures, back-pressure and shutdown."""

from __future__ import annotations

import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypedDict, TypeVar

from python_mastery_portfolio._internal.callables import qualified_name
from python_mastery_portfolio._internal.checks import require_count

__all__ = ["WorkerPool", "WorkerPoolStats"]

R = TypeVar("R")
T = TypeVar("T")


class WorkerPoolStats(TypedDict):
    """What :meth:`WorkerPool.stats` reports."""

    workers: int
    """Worker threads alive."""
    queued: int
    """Tasks waiting for a worker (one cancelled there counts until a worker discards it)."""
    running: int
    """Tasks being run now."""
    completed: int
    """Tasks that returned."""
    failed: int
    """Tasks that raised (each failed only its own future)."""


_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class WorkerPool:
    """A fixed set of threads running submitted calls from a queue (seed 002's ``WorkerPool``).

    Every call gets its own :class:`concurrent.futures.Future`, so a failure is reported to
    the one who submitted it (with a note naming the pool and function) and the worker goes on.
    With ``max_queue`` the queue is bounded: :meth:`submit` then waits for room (back-pressure)
    or, with ``block=False``, raises :class:`queue.Full`. :meth:`shutdown` (also on leaving a
    ``with`` block) stops the workers after the queued calls, or cancels those with
    ``cancel_pending=True``.

    A pool dropped without :meth:`shutdown` does not leak its threads (as with
    :class:`concurrent.futures.ThreadPoolExecutor`): the threads do not reference the pool,
    and once it is garbage-collected they run the calls already queued, then exit.

    Args:
        num_workers: How many threads (at least 1).
        max_queue: Most calls waiting for a thread; 0 means no bound.
        name: Prefix of the thread names and the pool's name in messages.

    Raises:
        TypeError: If a count is not an int.
        ValueError: If ``num_workers`` < 1 or ``max_queue`` < 0.

    Example:
        >>> with WorkerPool(2) as pool:
        ...     future = pool.submit(pow, 2, 10)
        ...     squares = pool.map(lambda x: x * x, range(5))
        >>> future.result(), squares
        (1024, [0, 1, 4, 9, 16])
    """

    def __init__(
        self, num_workers: int = 4, *, max_queue: int = 0, name: str = "pmp-worker"
    ) -> None:
        require_count("num_workers", num_workers, 1)
        require_count("max_queue", max_queue, 0)
        self._name = name
        self._max_queue = max_queue
        # The threads run on the state, never on the pool: a thread referencing the pool
        # would keep it alive, and its threads waiting, forever.
        self._state = _State(name, num_workers)
        self._threads = [
            threading.Thread(target=_work, args=(self._state,), name=f"{name}-{index}", daemon=True)
            for index in range(num_workers)
        ]
        for thread in self._threads:
            thread.start()
        # Dropped without shutdown(): let the workers finish the queue and exit.
        weakref.finalize(self, self._state.close)

    @property
    def name(self) -> str:
        """The pool's name (the prefix of its threads' names)."""
        return self._name

    def submit(
        self, fn: Callable[..., R], /, *args: Any, block: bool = True, **kwargs: Any
    ) -> Future[R]:
        """Queue ``fn(*args, **kwargs)`` and return its future.

        ``block`` is this method's own keyword: pass a keyword of ``fn`` named ``block`` through
        :func:`functools.partial`.

        Args:
            fn: What to call in a worker thread.
            *args: Positional arguments for ``fn``.
            block: When the bounded queue is full, wait for room (``True``) or raise.
            **kwargs: Keyword arguments for ``fn``.

        Raises:
            queue.Full: If the queue is full and ``block`` is false.
            RuntimeError: If the pool is shut down (also while waiting for room).

        Example:
            >>> with WorkerPool(1, max_queue=1) as pool:
            ...     pool.submit(str.upper, "done").result()
            'DONE'
        """
        future: Future[R] = Future()
        state = self._state
        with state.lock:
            while True:
                if state.closed:
                    raise RuntimeError(f"cannot submit to WorkerPool {self._name!r} after shutdown")
                if not self._max_queue or len(state.queue) < self._max_queue:
                    break
                if not block:
                    raise queue.Full(
                        f"WorkerPool {self._name!r} queue is full (max_queue={self._max_queue})"
                    )
                state.not_full.wait()
            state.queue.append((future, fn, args, kwargs))
            state.not_empty.notify()
        return future

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Call ``fn`` on every item in the workers; return the results in input order.

        On the first failure (in input order) the calls not yet started are cancelled and the
        exception is raised.

        Example:
            >>> with WorkerPool(3) as pool:
            ...     pool.map(len, ["a", "bb", ""])
            [1, 2, 0]
        """
        futures = [self.submit(fn, item) for item in items]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()  # no-op for the finished ones

    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Stop accepting calls; workers exit once the queue is empty.

        Args:
            wait: Return only after every worker thread has exited.
            cancel_pending: Cancel the queued calls instead of running them.
        """
        self._state.close(cancel_pending=cancel_pending)
        if wait:
            current = threading.current_thread()
            for thread in self._threads:
                if thread is not current:  # a task may shut its own pool down
                    thread.join()

    def stats(self) -> WorkerPoolStats:
        """Return the pool's counters (safe from any thread).

        Example:
            >>> with WorkerPool(2) as pool:
            ...     pool.map(abs, [-1, -2])
            [1, 2]
            >>> pool.stats()
            {'workers': 0, 'queued': 0, 'running': 0, 'completed': 2, 'failed': 0}
        """
        state = self._state
        with state.lock:
            return WorkerPoolStats(
                workers=state.alive,
                queued=len(state.queue),
                running=state.running,
                completed=state.completed,
                failed=state.failed,
            )

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        stats = self.stats()
        return (
            f"WorkerPool(name={self._name!r}, workers={stats['workers']}, queued={stats['queued']})"
        )


class _State:
    """What the worker threads share: the queue, the lock and the counters, not the pool."""

    def __init__(self, name: str, workers: int) -> None:
        self.name = name
        self.queue: deque[_Task] = deque()
        self.lock = threading.Lock()
        self.not_empty = threading.Condition(self.lock)
        self.not_full = threading.Condition(self.lock)
        self.closed = False
        self.alive = workers
        self.running = 0
        self.completed = 0
        self.failed = 0

    def close(self, *, cancel_pending: bool = False) -> None:
        """Stop accepting tasks and wake every waiting thread (idempotent)."""
        with self.lock:
            self.closed = True
            if cancel_pending:
                while self.queue:
                    self.queue.popleft()[0].cancel()
            self.not_empty.notify_all()
            self.not_full.notify_all()  # blocked submitters fail instead of waiting forever


def _work(state: _State) -> None:
    """One worker thread: run queued tasks until the pool is closed and the queue empty."""
    while True:
        with state.lock:
            while not state.queue and not state.closed:
                state.not_empty.wait()
            if not state.queue:
                state.alive -= 1
                return
            future, fn, args, kwargs = state.queue.popleft()
            state.not_full.notify()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            state.running += 1
        # Run in a helper so that nothing of the finished task (not even its result) stays
        # referenced by this frame while the worker waits for the next one.
        ok = _run(state, future, fn, args, kwargs)
        with state.lock:
            state.running -= 1
            if ok:
                state.completed += 1
            else:
                state.failed += 1


def _run(
    state: _State,
    future: Future[Any],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> bool:
    """Run one task into its future; return whether it returned."""
    try:
        result = fn(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - it fails this task's future only
        error.add_note(f"in WorkerPool {state.name!r} task {qualified_name(fn)}")
        future.set_exception(error)
        return False
    future.set_result(result)
    return True
