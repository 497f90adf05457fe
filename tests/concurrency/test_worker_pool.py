"""Tests of WorkerPool (python_mastery_portfolio.concurrency)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import queue
import threading
import weakref
from concurrent.futures import CancelledError
from typing import Any

import pytest

from python_mastery_portfolio.concurrency import WorkerPool
from tests.conftest import TIMEOUT, raise_first, run_threads, wait_until


class SeedWorkerPool:
    """The seed 002 version, with a stop added so the test can end it."""

    def __init__(self, num_workers: int = 4) -> None:
        self.task_queue: queue.Queue[Any] = queue.Queue()
        self.result_queue: queue.Queue[Any] = queue.Queue()
        self.workers = [
            threading.Thread(target=self._worker_loop, daemon=True) for _ in range(num_workers)
        ]
        for worker in self.workers:
            worker.start()

    def _worker_loop(self) -> None:
        while True:
            task = self.task_queue.get()
            if task is None:
                break
            try:
                self.result_queue.put(task())
            except Exception as e:
                self.result_queue.put(e)
            finally:
                self.task_queue.task_done()


class TestWorkerPool:
    def test_seed_example(self) -> None:
        """The seed's tasks give the same results (ours, each on its own future)."""
        tasks = [lambda i=i: i * i for i in range(10)]
        seed = SeedWorkerPool(2)
        for task in tasks:
            seed.task_queue.put(task)
        seed.task_queue.join()
        for _ in seed.workers:
            seed.task_queue.put(None)
        seed_results = sorted(seed.result_queue.get_nowait() for _ in tasks)
        with WorkerPool(num_workers=2) as pool:
            futures = [pool.submit(task) for task in tasks]
        assert [future.result() for future in futures] == [i * i for i in range(10)]
        assert sorted(future.result() for future in futures) == seed_results

    def test_submit_passes_arguments(self) -> None:
        """submit passes positional and keyword arguments."""
        with WorkerPool(1) as pool:
            assert pool.submit(int, "ff", base=16).result(TIMEOUT) == 255

    def test_failure_fails_only_its_future(self) -> None:
        """A task's exception fails its future (with a note); the worker survives."""
        with WorkerPool(1, name="jobs") as pool:
            bad = pool.submit(int, "x")
            good = pool.submit(int, "7")
            with pytest.raises(ValueError, match="invalid literal") as caught:
                bad.result(TIMEOUT)
            assert good.result(TIMEOUT) == 7
        assert any("WorkerPool 'jobs'" in note for note in caught.value.__notes__)
        assert pool.stats() == {
            "workers": 0,
            "queued": 0,
            "running": 0,
            "completed": 1,
            "failed": 1,
        }

    def test_map_is_ordered(self) -> None:
        """map returns results in input order."""
        with WorkerPool(4) as pool:
            assert pool.map(lambda x: -x, range(100)) == [-x for x in range(100)]

    def test_map_failure_cancels_the_rest(self) -> None:
        """map raises the first failure and cancels what has not started."""
        release = threading.Event()
        started: list[int] = []

        def work(x: int) -> int:
            started.append(x)
            if x == 0:
                raise KeyError(x)
            release.wait(TIMEOUT)
            return x

        pool = WorkerPool(1)
        try:
            with pytest.raises(KeyError):
                pool.map(work, range(50))
        finally:
            release.set()
            pool.shutdown()
        assert started in ([0], [0, 1])
        assert pool.stats()["completed"] == len(started) - 1

    def test_bounded_queue_blocks_then_raises_without_block(self) -> None:
        """A full bounded queue blocks submit (back-pressure), or raises with block=False."""
        release = threading.Event()
        started = threading.Event()

        def hold() -> str:
            started.set()
            release.wait(TIMEOUT)
            return "held"

        pool = WorkerPool(1, max_queue=1)
        try:
            first = pool.submit(hold)
            started.wait(TIMEOUT)
            queued = pool.submit(str, 1)  # fills the queue
            with pytest.raises(queue.Full, match="max_queue=1"):
                pool.submit(str, 2, block=False)
            submitted = threading.Event()

            def blocked_submit() -> str:
                future = pool.submit(str, 3)
                submitted.set()
                return future.result(TIMEOUT)

            helper: list[Any] = []
            thread = threading.Thread(target=lambda: helper.append(blocked_submit()))
            thread.start()
            wait_until(lambda: thread.is_alive())
            assert not submitted.is_set()  # waiting for room while the worker is busy
            release.set()
            thread.join(TIMEOUT)
            assert helper == ["3"]
            assert first.result(TIMEOUT) == "held"
            assert queued.result(TIMEOUT) == "1"
        finally:
            release.set()
            pool.shutdown()

    def test_shutdown_runs_queued_tasks(self) -> None:
        """shutdown(wait=True) runs what is queued, then the workers exit."""
        pool = WorkerPool(2)
        futures = [pool.submit(abs, -x) for x in range(20)]
        pool.shutdown(wait=True)
        assert [future.result(0) for future in futures] == list(range(20))
        assert pool.stats()["workers"] == 0

    def test_shutdown_cancel_pending(self) -> None:
        """shutdown(cancel_pending=True) cancels the queued tasks, not the running one."""
        release = threading.Event()
        started = threading.Event()

        def hold() -> int:
            started.set()
            release.wait(TIMEOUT)
            return 1

        pool = WorkerPool(1)
        running = pool.submit(hold)
        started.wait(TIMEOUT)
        queued = [pool.submit(abs, x) for x in range(5)]
        pool.shutdown(wait=False, cancel_pending=True)
        assert all(future.cancelled() for future in queued)
        release.set()
        assert running.result(TIMEOUT) == 1
        wait_until(lambda: pool.stats()["workers"] == 0)

    def test_submit_after_shutdown(self) -> None:
        """Submitting after shutdown is a clear RuntimeError."""
        pool = WorkerPool(1, name="closed")
        pool.shutdown()
        with pytest.raises(RuntimeError, match="'closed' after shutdown"):
            pool.submit(abs, 1)

    def test_blocked_submitter_fails_on_shutdown(self) -> None:
        """A submitter waiting for room is released with RuntimeError when the pool shuts down."""
        release = threading.Event()
        pool = WorkerPool(1, max_queue=1)
        pool.submit(release.wait, TIMEOUT)
        pool.submit(abs, 1)
        errors: list[BaseException] = []

        def submit() -> None:
            try:
                pool.submit(abs, 2)
            except RuntimeError as error:
                errors.append(error)

        thread = threading.Thread(target=submit)
        thread.start()
        try:
            pool.shutdown(wait=False, cancel_pending=False)
            thread.join(TIMEOUT)
            assert len(errors) == 1
        finally:
            release.set()
            pool.shutdown()

    def test_cancelled_future_is_skipped(self) -> None:
        """A future cancelled while queued never runs."""
        release = threading.Event()
        ran: list[int] = []
        pool = WorkerPool(1)
        pool.submit(release.wait, TIMEOUT)
        skipped = pool.submit(ran.append, 1)
        assert skipped.cancel()
        release.set()
        pool.shutdown()
        assert ran == []
        with pytest.raises(CancelledError):
            skipped.result(0)

    def test_task_may_shut_down_its_own_pool(self) -> None:
        """shutdown(wait=True) from inside a task does not join the calling thread."""
        pool = WorkerPool(2)
        future = pool.submit(pool.shutdown)
        assert future.result(TIMEOUT) is None
        pool.shutdown()
        assert pool.stats()["workers"] == 0

    def test_concurrent_submitters(self) -> None:
        """Eight threads submitting 200 tasks each through a bounded queue: all run once."""
        counter = [0]
        lock = threading.Lock()

        def bump() -> None:
            with lock:
                counter[0] += 1

        with WorkerPool(3, max_queue=4) as pool:

            def submit_many(_: int) -> None:
                for future in [pool.submit(bump) for _ in range(200)]:
                    future.result(TIMEOUT)

            raise_first(run_threads(8, submit_many))
        assert counter[0] == 1600
        assert pool.stats()["completed"] == 1600

    def test_repr_and_name(self) -> None:
        """The repr names the pool and counts its workers; threads carry the name."""
        with WorkerPool(2, name="io") as pool:
            assert repr(pool) == "WorkerPool(name='io', workers=2, queued=0)"
            assert pool.name == "io"
            assert (
                pool.submit(lambda: threading.current_thread().name)
                .result(TIMEOUT)
                .startswith("io-")
            )

    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"num_workers": 0}, ValueError, "num_workers"),
            ({"max_queue": -1}, ValueError, "max_queue"),
            ({"max_queue": 1.5}, TypeError, "max_queue"),
        ],
        ids=["no-workers", "negative-queue", "float-queue"],
    )
    def test_checks_arguments(
        self, kwargs: dict[str, Any], error: type[Exception], name: str
    ) -> None:
        """Wrong arguments raise TypeError/ValueError naming the parameter."""
        with pytest.raises(error, match=name):
            WorkerPool(**kwargs)

    def test_dropped_pools_release_their_threads(self) -> None:
        """Pools dropped without shutdown are collected and their idle threads exit."""
        gc.collect()
        before = threading.active_count()
        refs = []
        for _ in range(50):
            pool = WorkerPool(4)
            refs.append(weakref.ref(pool))
            del pool
        gc.collect()
        assert all(ref() is None for ref in refs)  # the threads do not keep the pools alive
        wait_until(lambda: threading.active_count() <= before)

    def test_dropped_pool_still_runs_its_queued_tasks(self) -> None:
        """Tasks submitted before the pool is dropped still run, then its thread exits."""
        gate = threading.Event()
        pool = WorkerPool(1, name="dropped")
        ref = weakref.ref(pool)
        (thread,) = [t for t in threading.enumerate() if t.name == "dropped-0"]
        first = pool.submit(gate.wait, TIMEOUT)
        queued = [pool.submit(pow, 2, n) for n in range(5)]
        del pool
        gc.collect()
        assert ref() is None
        gate.set()
        assert first.result(TIMEOUT) is True
        assert [future.result(TIMEOUT) for future in queued] == [1, 2, 4, 8, 16]
        thread.join(TIMEOUT)
        assert not thread.is_alive()


request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="none")


class TestAsubmit:
    """asubmit: run on the pool, await on the event loop."""

    async def test_result_in_the_callers_context(self) -> None:
        """The call sees the caller's context variables; its result is awaited."""
        request_var.set("r-1")
        with WorkerPool(2) as pool:
            assert await pool.asubmit(request_var.get) == "r-1"
            assert await pool.asubmit(pow, 2, 10) == 1024
            assert await pool.asubmit(int, "ff", base=16) == 255
        assert pool.stats()["completed"] == 3

    async def test_failure_reaches_the_awaiting_coroutine(self) -> None:
        """An exception is raised where the future is awaited, noted with the pool and call."""
        with WorkerPool(1, name="db") as pool:
            with pytest.raises(ZeroDivisionError) as raised:
                await pool.asubmit(divmod, 1, 0)
            assert any("WorkerPool 'db'" in note for note in raised.value.__notes__)

            def stop() -> None:
                raise StopIteration

            with pytest.raises(RuntimeError, match="StopIteration") as replaced:
                await pool.asubmit(stop)
            assert isinstance(replaced.value.__cause__, StopIteration)
        assert pool.stats()["failed"] == 2

    async def test_interrupts_are_not_swallowed(self) -> None:
        """SystemExit raised by the call reaches the awaiting coroutine as it is."""

        def leave() -> None:
            raise SystemExit(3)

        with WorkerPool(1) as pool:
            with pytest.raises(SystemExit):
                await pool.asubmit(leave)

    async def test_cancelled_before_a_worker_takes_it_is_skipped(self) -> None:
        """Cancelling a queued call means it never runs."""
        release = threading.Event()
        ran: list[str] = []
        with WorkerPool(1) as pool:
            busy = pool.submit(release.wait, TIMEOUT)
            queued = pool.asubmit(ran.append, "queued")
            queued.cancel()
            release.set()
            assert busy.result(TIMEOUT)
        assert ran == []
        assert pool.stats()["completed"] == 1

    @pytest.mark.parametrize("fails", [False, True], ids=["returns", "raises"])
    async def test_cancelled_while_running_drops_the_outcome(self, fails: bool) -> None:
        """A call already running finishes; its outcome lands on a cancelled future, silently."""
        started, release = threading.Event(), threading.Event()
        errors: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: errors.append(context))

        def slow() -> str:
            started.set()
            release.wait(TIMEOUT)
            if fails:
                raise ValueError("late")
            return "late"

        with WorkerPool(1) as pool:
            future = pool.asubmit(slow)
            await asyncio.to_thread(started.wait, TIMEOUT)
            future.cancel()
            release.set()
            assert await pool.asubmit(str, "next") == "next"  # after slow's outcome was posted
        assert future.cancelled()
        assert errors == []
        loop.set_exception_handler(None)

    def test_a_closed_loop_does_not_kill_the_worker(self) -> None:
        """An outcome for a loop that has ended is dropped; the worker goes on."""
        started, release = threading.Event(), threading.Event()

        def slow() -> str:
            started.set()
            release.wait(TIMEOUT)
            return "late"

        with WorkerPool(1) as pool:

            async def abandon() -> None:
                pool.asubmit(slow)
                await asyncio.to_thread(started.wait, TIMEOUT)

            asyncio.run(abandon())  # the loop closes while slow still runs
            release.set()
            assert pool.submit(str.upper, "alive").result(TIMEOUT) == "ALIVE"
            assert pool.stats()["workers"] == 1
        assert pool.stats()["completed"] == 2

    async def test_shutdown_cancel_pending_cancels_the_awaited_future(self) -> None:
        release = threading.Event()
        pool = WorkerPool(1)
        busy = pool.submit(release.wait, TIMEOUT)
        await asyncio.to_thread(wait_until, lambda: pool.stats()["running"] == 1)
        queued = pool.asubmit(str, "never")
        pool.shutdown(wait=False, cancel_pending=True)
        with pytest.raises(asyncio.CancelledError):
            await queued
        release.set()
        assert busy.result(TIMEOUT)
        pool.shutdown()

    async def test_refusals(self) -> None:
        """Outside a loop, after shutdown, or with a full bounded queue: at once, no waiting."""
        release = threading.Event()
        with WorkerPool(1, max_queue=1) as pool:
            busy = pool.submit(release.wait, TIMEOUT)
            await asyncio.to_thread(wait_until, lambda: pool.stats()["running"] == 1)
            queued = pool.asubmit(str, "queued")
            with pytest.raises(queue.Full):
                pool.asubmit(str, "one too many")
            release.set()
            assert await queued == "queued"
            assert busy.result(TIMEOUT)
        with pytest.raises(RuntimeError, match="after shutdown"):
            pool.asubmit(str, "late")

    def test_outside_an_event_loop_is_refused(self) -> None:
        with WorkerPool(1) as pool, pytest.raises(RuntimeError, match="no running event loop"):
            pool.asubmit(str, "no loop")
        assert pool.stats()["completed"] == 0

    def test_many_loops_in_many_threads(self) -> None:
        """Coroutines on several event loops in several threads share one pool."""
        with WorkerPool(4) as pool:

            def one_loop(index: int) -> list[int]:
                async def main() -> list[int]:
                    futures = [pool.asubmit(pow, index, n) for n in range(50)]
                    return list(await asyncio.gather(*futures))

                return asyncio.run(main())

            results = run_threads(8, one_loop)
        raise_first(results)
        assert results == [[index**n for n in range(50)] for index in range(8)]
        assert pool.stats()["completed"] == 400

    async def test_an_idle_worker_keeps_nothing_of_its_last_call(self) -> None:
        """The call's result, arguments and future go once it is done (as ThreadPoolExecutor)."""

        class Payload:
            pass

        def fail(payload: Payload) -> None:
            raise ValueError("with a traceback that holds the worker's frames")

        with WorkerPool(1) as pool:
            result = await pool.asubmit(Payload)
            argument = Payload()
            await pool.asubmit(id, argument)
            failed_with = Payload()
            with pytest.raises(ValueError, match="traceback"):
                await pool.asubmit(fail, failed_with)
            sync_result = pool.submit(Payload).result(TIMEOUT)
            refs = [weakref.ref(item) for item in (result, argument, failed_with, sync_result)]
            del result, argument, failed_with, sync_result
            gc_was_enabled = gc.isenabled()
            gc.disable()  # freed by reference counting alone: no cycle keeps them
            try:
                await asyncio.to_thread(wait_until, lambda: pool.stats()["running"] == 0)
                assert [ref() for ref in refs] == [None, None, None, None]
            finally:
                if gc_was_enabled:
                    gc.enable()
