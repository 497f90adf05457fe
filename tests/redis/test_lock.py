"""Tests of RedisLock against a real Redis server: exclusion, ownership, fencing, renewal."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from python_mastery_portfolio.exceptions import LockHeldError
from python_mastery_portfolio.redis import RedisLock, RedisUnavailableError
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import raise_first, run_threads, wait_until

COUNTER = "counter"


def bump(client: redis_py.Redis) -> None:
    """Increment the shared counter non-atomically: lost updates without exclusion."""
    value = int(client.get(COUNTER) or 0)
    client.set(COUNTER, value + 1)


class TestExclusion:
    def test_twenty_threads_one_holder_at_a_time(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """20 threads incrementing under the lock lose no update; fences strictly grow."""
        fences: list[int] = []

        def work(_: int) -> None:
            lock = RedisLock(redis_url, "jobs", ttl=5)
            for _ in range(10):
                with lock:
                    assert lock.fence is not None
                    fences.append(lock.fence)
                    bump(redis_client)
            lock.close()

        raise_first(run_threads(20, work))
        assert int(redis_client.get(COUNTER)) == 200  # type: ignore[arg-type]  # bytes here
        assert fences == sorted(fences)
        assert len(set(fences)) == 200

    def test_two_processes_one_holder_at_a_time(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """Two processes incrementing under the lock lose no update."""
        script = """
import sys
import redis
from python_mastery_portfolio.redis import RedisLock
client = redis.Redis.from_url(sys.argv[1])
lock = RedisLock(sys.argv[1], "jobs", ttl=5)
for _ in range(100):
    with lock:
        value = int(client.get("counter") or 0)
        client.set("counter", value + 1)
"""
        processes = [
            subprocess.Popen([sys.executable, "-c", script, redis_url])  # noqa: S603 - ours
            for _ in range(2)
        ]
        assert [process.wait(60) for process in processes] == [0, 0]
        assert int(redis_client.get(COUNTER)) == 200  # type: ignore[arg-type]  # bytes here

    def test_async_tasks_one_holder_at_a_time(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """20 tasks, each with its own lock object, lose no update."""

        async def work() -> None:
            lock = RedisLock(redis_url, "jobs", ttl=5)
            for _ in range(5):
                async with lock:
                    value = int(redis_client.get(COUNTER) or 0)
                    await asyncio.sleep(0)
                    redis_client.set(COUNTER, value + 1)
            await lock.aclose()

        async def main() -> None:
            await asyncio.gather(*(work() for _ in range(20)))

        asyncio.run(main())
        assert int(redis_client.get(COUNTER)) == 100  # type: ignore[arg-type]  # bytes here


class TestOwnership:
    def test_timeout_raises_lock_held(self, redis_url: str) -> None:
        """A held lock makes another owner's acquire raise LockHeldError when the wait ends."""
        holder = RedisLock(redis_url, "jobs").acquire()
        clock = ManualClock()
        other = RedisLock(redis_url, "jobs", timeout=1.0, clock=clock)
        with pytest.raises(LockHeldError, match="held by another owner") as caught:
            other.acquire()
        assert caught.value.path == "pmp:lock:jobs"
        assert clock.sleeps
        assert sum(clock.sleeps) == pytest.approx(1.0)
        with pytest.raises(LockHeldError):
            other.acquire(timeout=0)
        assert holder.release() is True
        assert other.acquire(timeout=0).held
        other.release()

    def test_expired_lock_cannot_be_released_by_its_former_owner(
        self, redis_url: str, redis_client: redis_py.Redis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """After expiry and a new holder, the former owner's release and extend do nothing."""
        former = RedisLock(redis_url, "jobs", auto_renew=False).acquire()
        redis_client.delete("pmp:lock:jobs")  # what expiry does
        successor = RedisLock(redis_url, "jobs", auto_renew=False).acquire()
        assert former.extend() is False
        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            assert former.release() is False
        assert "expired before release" in caplog.text
        assert successor.held
        assert redis_client.exists("pmp:lock:jobs")
        assert (successor.fence or 0) > (former.fence or 0)
        assert successor.extend(ttl=30) is True
        assert successor.release() is True
        assert former.release() is False  # not held any more

    def test_auto_renew_keeps_the_lock_past_its_ttl(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """A held lock with a 60 ms ttl is renewed until released."""
        lock = RedisLock(redis_url, "jobs", ttl=0.06).acquire()
        wait_until(lambda: lock.renewals >= 6)  # >= 120 ms: twice the ttl
        assert redis_client.get("pmp:lock:jobs") is not None
        assert lock.release() is True
        assert redis_client.get("pmp:lock:jobs") is None

    def test_async_auto_renew(self, redis_url: str, redis_client: redis_py.Redis) -> None:
        """A lock taken with aacquire is renewed by a task until arelease."""

        async def main() -> int:
            lock = await RedisLock(redis_url, "jobs", ttl=0.06).aacquire()
            while lock.renewals < 3:  # noqa: ASYNC110 - polls the renewal task's progress
                await asyncio.sleep(0.01)
            assert redis_client.get("pmp:lock:jobs") is not None
            assert await lock.aextend() is True
            assert await lock.arelease() is True
            assert await lock.arelease() is False
            await lock.aclose()
            return lock.renewals

        assert asyncio.run(main()) >= 3

    def test_not_reentrant_and_extend_needs_a_hold(self, redis_url: str) -> None:
        """Acquiring twice, or extending without a hold, is a RuntimeError."""
        lock = RedisLock(redis_url, "jobs", auto_renew=False)
        with pytest.raises(RuntimeError, match="not held"):
            lock.extend()
        with lock:
            with pytest.raises(RuntimeError, match="already held"):
                lock.acquire()
            assert "held, fence=" in repr(lock)
        assert "not held" in repr(lock)
        assert lock.name == "jobs"

        async def main() -> None:
            with pytest.raises(RuntimeError, match="not held"):
                await lock.aextend()
            await lock.aclose()

        asyncio.run(main())

    def test_renewal_stops_when_the_lock_is_lost(
        self, redis_url: str, redis_client: redis_py.Redis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A renewer that finds the lock gone logs it and ends; it never takes it back."""
        lock = RedisLock(redis_url, "lost", ttl=0.06).acquire()

        def renewing() -> bool:
            return any(thread.name == "RedisLock-lost" for thread in threading.enumerate())

        assert renewing()
        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            redis_client.delete("pmp:lock:lost")  # what expiry does
            wait_until(lambda: not renewing())
        assert "lost before renewal" in caplog.text
        assert redis_client.get("pmp:lock:lost") is None
        assert lock.release() is False
        lock.close()

    def test_async_renewal_stops_when_the_lock_is_lost(
        self, redis_url: str, redis_client: redis_py.Redis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The renewal task of a lost lock logs it and ends."""

        async def main() -> None:
            lock = await RedisLock(redis_url, "lost", ttl=0.06).aacquire()
            me = asyncio.current_task()
            (renewal,) = asyncio.all_tasks() - {me}
            redis_client.delete("pmp:lock:lost")  # what expiry does
            try:
                await asyncio.wait_for(renewal, 10)  # bounds a failure; ends within ttl / 3
                assert not renewal.cancelled()
                assert await lock.arelease() is False
            finally:
                await lock.aclose()

        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            asyncio.run(main())
        assert "lost before renewal" in caplog.text
        assert "expired before release" in caplog.text

    def test_async_without_auto_renew_runs_no_task(
        self, redis_url: str, redis_client: redis_py.Redis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """aacquire with auto_renew=False starts no task; arelease of an expired lock is False."""

        async def main() -> bool:
            lock = await RedisLock(redis_url, "jobs", auto_renew=False).aacquire()
            assert asyncio.all_tasks() == {asyncio.current_task()}
            redis_client.delete("pmp:lock:jobs")  # what expiry does
            try:
                return await lock.arelease()
            finally:
                await lock.aclose()

        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            assert asyncio.run(main()) is False
        assert "expired before release" in caplog.text

    def test_sync_release_stops_the_renewal_task(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """A lock taken with aacquire and released with release() cancels its renewal task."""

        async def main() -> None:
            lock = await RedisLock(redis_url, "jobs", ttl=5).aacquire()
            me = asyncio.current_task()
            (renewal,) = asyncio.all_tasks() - {me}
            assert lock.release() is True
            await asyncio.sleep(0)
            assert renewal.cancelled()
            assert redis_client.get("pmp:lock:jobs") is None
            await lock.aclose()

        asyncio.run(main())


class TestThreadedAsync:
    def test_async_methods_over_a_sync_client(self, redis_client: redis_py.Redis) -> None:
        """Given a redis.Redis, the async methods run the sync ones in worker threads."""

        async def main() -> tuple[bool, bool]:
            async with RedisLock(redis_client, "jobs") as lock:
                extended = await lock.aextend()
            return extended, await lock.arelease()

        assert asyncio.run(main()) == (True, False)


class TestFailsClosed:
    def test_no_server_no_lock(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Without Redis, acquire raises RedisUnavailableError (sync and async)."""
        lock = RedisLock(f"unix://{tmp_path}/none.sock", "jobs")
        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            with pytest.raises(RedisUnavailableError, match="cannot acquire") as caught:
                lock.acquire()
        assert caught.value.operation == "acquire"
        assert "failing closed" in caplog.text

        async def main() -> None:
            with pytest.raises(RedisUnavailableError):
                await lock.aacquire()
            await lock.aclose()

        asyncio.run(main())
        assert not lock.held
        lock.close()

    def test_server_lost_while_held(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Extend raises, renewal logs and retries, release returns False when Redis goes."""
        from tests.redis.conftest import RedisServer

        server = RedisServer(tmp_path)
        server.start()
        lock = RedisLock(server.url, "jobs", ttl=0.03).acquire()
        server.stop()
        try:
            with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
                # The renewal thread meets the dead server (every 10 ms), logs and retries.
                wait_until(lambda: "renewal failed" in caplog.text)
            with pytest.raises(RedisUnavailableError, match="cannot extend"):
                lock.extend()
            assert lock.release() is False
        finally:
            lock.close()

        async def main() -> None:
            server.start()
            alock = await RedisLock(server.url, "jobs", ttl=0.03).aacquire()
            server.stop()
            with pytest.raises(RedisUnavailableError):
                await alock.aextend()
            await asyncio.sleep(0.03)  # lets the renewal task meet the dead server once
            assert await alock.arelease() is False
            await alock.aclose()

        asyncio.run(main())


class TestOptions:
    @pytest.mark.parametrize(
        ("args", "kwargs", "error"),
        [
            ((1,), {}, TypeError),
            (("",), {}, ValueError),
            (("n",), {"auto_renew": 1}, TypeError),
            (("n",), {"timeout": "1"}, TypeError),
            (("n",), {"timeout": -1}, ValueError),
        ],
        ids=["name-type", "name-empty", "auto-renew", "timeout-type", "timeout-negative"],
    )
    def test_rejects(self, args: tuple[Any, ...], kwargs: dict[str, Any], error: type) -> None:
        """Wrong options are refused at construction."""
        with pytest.raises(error):
            RedisLock("unix:///nowhere.sock", *args, **kwargs)
