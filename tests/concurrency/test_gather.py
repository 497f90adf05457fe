"""Tests of gather_tasks (python_mastery_portfolio.concurrency)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from python_mastery_portfolio.concurrency import gather_tasks
from tests.concurrency.test_batch import bounded


async def value(x: int) -> int:
    await asyncio.sleep(0)
    return x


async def fail(message: str) -> int:
    await asyncio.sleep(0)
    raise ValueError(message)


class TestGatherTasks:
    async def test_seed_example(self, caplog: pytest.LogCaptureFixture) -> None:
        """As the seed: results in order, each failure logged at ERROR with its index."""
        tasks = [asyncio.create_task(value(1)), asyncio.create_task(fail("x"))]
        with caplog.at_level(logging.ERROR):
            results = await bounded(gather_tasks(*tasks))
        assert results[0] == 1
        assert isinstance(results[1], ValueError)
        assert "Task 1 failed" in caplog.text

    async def test_without_return_exceptions_cancels_the_rest(self) -> None:
        """The first failure cancels and awaits the others before propagating."""
        cleaned: list[str] = []

        async def slow() -> int:
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append("slow")
            return 0

        with pytest.raises(ValueError, match="first"):
            await bounded(gather_tasks(slow(), fail("first"), return_exceptions=False))
        assert cleaned == ["slow"]

    async def test_cancellation_cancels_and_awaits_every_task(self) -> None:
        """Cancelling the caller cancels and awaits every task, then re-raises."""
        started = asyncio.Event()
        cleaned: list[int] = []

        async def slow(index: int) -> int:
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append(index)
            return index

        task = asyncio.create_task(gather_tasks(slow(0), slow(1)))
        await bounded(started.wait())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)
        assert sorted(cleaned) == [0, 1]

    async def test_all_succeed(self) -> None:
        """Without failures the results come back in argument order."""
        assert await gather_tasks(value(3), value(1), return_exceptions=False) == [3, 1]

    async def test_cancelled_child_is_never_a_result(self) -> None:
        """A child cancelled by someone else propagates CancelledError, not a list item."""
        cleaned: list[int] = []

        async def slow(index: int) -> int:
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append(index)
            return index

        victim = asyncio.create_task(slow(0))
        other = asyncio.create_task(value(7))
        call = asyncio.create_task(gather_tasks(victim, other, fail("x")))
        await asyncio.sleep(0)
        victim.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(call)
        assert cleaned == [0]
        assert other.done()

    @pytest.mark.parametrize(
        "fatal", [KeyboardInterrupt(), SystemExit(2)], ids=["keyboard-interrupt", "system-exit"]
    )
    def test_base_exception_is_never_a_result(self, fatal: BaseException) -> None:
        """A future holding a KeyboardInterrupt or SystemExit makes the call raise it.

        On its own loop: asyncio lets a KeyboardInterrupt escape the loop that runs it.
        """

        async def main() -> list[int | BaseException]:
            held: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            held.set_exception(fatal)
            results: list[int | BaseException] = await bounded(
                gather_tasks(value(1), held, fail("x"))
            )
            return results

        with pytest.raises(type(fatal)) as caught:
            asyncio.run(main())
        assert caught.value is fatal
