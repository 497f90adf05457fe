"""``WorkerPool``: threads fed from a bounded queue, with futures, back-pressure and shutdown."""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypedDict, TypeVar

from python_mastery_portfolio._internal.callables import qualified_name
from python_mastery_portfolio._internal.checks import require_count

__all__ = ["WorkerPool", "WorkerPoolStats"]

P = ParamSpec("P")
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


class _Completion(Protocol):
    """Where a worker puts a task's outcome: a ``Future``, or a :class:`_LoopCompletion`."""

    def set_running_or_notify_cancel(self) -> bool: ...
    def set_result(self, result: Any) -> None: ...
    def set_exception(self, exception: BaseException | None) -> None: ...
    def cancel(self) -> bool: ...


# A call, where its outcome goes, and the context it runs in (None: the worker's own).
_Task = tuple[
    _Completion, Callable[..., Any], tuple[Any, ...], dict[str, Any], contextvars.Context | None
]


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
        self._enqueue((future, fn, args, kwargs, None), block=block)
        return future

    def asubmit(
        self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[R]:
        """Queue ``fn(*args, **kwargs)`` from a coroutine; return an asyncio future to await.

        The call runs in a worker, in a copy of the caller's context (as
        :func:`asyncio.to_thread`: context variables such as the request ID go with it), and
        its outcome is handed to the event loop in one ``call_soon_threadsafe``: no
        :class:`concurrent.futures.Future` to chain, which makes a round trip cheaper than
        ``loop.run_in_executor``. Cancelling the future before a worker takes the call skips
        it; after, the call finishes and its outcome is dropped. A full bounded queue raises
        :class:`queue.Full` at once: the event loop never waits for room.

        Raises:
            RuntimeError: If no event loop is running, or the pool is shut down.
            queue.Full: If the queue is bounded and full.

        Example:
            >>> import asyncio
            >>> async def main() -> int:
            ...     with WorkerPool(1) as pool:
            ...         return await pool.asubmit(pow, 2, 10)
            >>> asyncio.run(main())
            1024
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        context = contextvars.copy_context()
        self._enqueue((_LoopCompletion(loop, future), fn, args, kwargs, context), block=False)
        return future

    def _enqueue(self, task: _Task, *, block: bool) -> None:
        """Queue ``task``, waiting for room in a bounded queue if ``block``."""
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
            state.queue.append(task)
            state.not_empty.notify()

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


class _LoopCompletion:
    """A task's outcome, handed from a worker to the asyncio future of :meth:`WorkerPool.asubmit`.

    Every method runs in a worker thread (or the thread shutting the pool down) and touches
    the future only through the loop's ``call_soon_threadsafe``; a loop closed meanwhile has
    nobody waiting, so the outcome is dropped.
    """

    __slots__ = ("_future", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        self._loop = loop
        self._future = future

    def set_running_or_notify_cancel(self) -> bool:
        # Read from the worker thread: at worst a cancellation lands just after, and the
        # outcome is then dropped on the loop (the future is done).
        return not self._future.cancelled()

    def set_result(self, result: Any) -> None:
        self._post(_deliver, result)

    def set_exception(self, exception: BaseException | None) -> None:
        self._post(_fail, exception)

    def cancel(self) -> bool:
        self._post(_cancel, None)
        return True

    def _post(self, settle: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(settle, self._future, value)
        except RuntimeError:  # the loop is closed: nobody awaits the future any more
            return


def _deliver(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # cancelled while the call ran: its result is dropped
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if future.done():
        return
    if isinstance(error, StopIteration):
        # An asyncio future refuses StopIteration (it would end the awaiting coroutine).
        replaced = RuntimeError(f"the call raised {error!r}")
        replaced.__cause__ = error
        error = replaced
    future.set_exception(error)


def _cancel(future: asyncio.Future[Any], _: object) -> None:
    future.cancel()


def _work(state: _State) -> None:
    """One worker thread: run queued tasks until the pool is closed and the queue empty."""
    while True:
        with state.lock:
            while not state.queue and not state.closed:
                state.not_empty.wait()
            if not state.queue:
                state.alive -= 1
                return
            future, fn, args, kwargs, context = state.queue.popleft()
            state.not_full.notify()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            state.running += 1
        # Run in a helper (its result never reaches this frame), then let go of the task:
        # nothing of it (future, result, function, arguments) stays referenced while the
        # worker waits for the next one.
        ok = _run(state, future, fn, args, kwargs, context)
        del future, fn, args, kwargs, context
        with state.lock:
            state.running -= 1
            if ok:
                state.completed += 1
            else:
                state.failed += 1


def _run(  # noqa: PLR0917 - one queued task's parts, unpacked by the worker
    state: _State,
    future: _Completion,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    context: contextvars.Context | None,
) -> bool:
    """Run one task into its future; return whether it returned."""
    try:
        result = fn(*args, **kwargs) if context is None else context.run(fn, *args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - it fails this task's future only
        error.add_note(f"in WorkerPool {state.name!r} task {qualified_name(fn)}")
        future.set_exception(error)
        # The error's traceback holds this frame: without these locals it holds no cycle
        # back to the error through the future, so the arguments go without the collector.
        del future, fn, args, kwargs
        return False
    future.set_result(result)
    return True
