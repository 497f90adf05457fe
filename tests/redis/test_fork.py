"""Tests of forking while another thread holds a store's lock: the child must not hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from python_mastery_portfolio.redis import (
    RedisBreakerStateStore,
    RedisCache,
    RedisRateLimitStore,
)
from python_mastery_portfolio.resilience import CircuitBreaker
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


# Each probe hands its own lock to the test: the one a parent's thread holds at the fork.
class CacheProbe(RedisCache[str, int]):
    def held_lock(self) -> AbstractContextManager[Any]:
        return self._lock


class LimiterProbe(RedisRateLimitStore):
    def held_lock(self) -> AbstractContextManager[Any]:
        return self._lock


class BreakerProbe(RedisBreakerStateStore):
    def held_lock(self) -> AbstractContextManager[Any]:
        return self._lock


def make(part: str, url: str) -> tuple[Any, Callable[[], object]]:
    """Return a store of ``part`` and a use of it that takes its lock."""
    namespace = uuid.uuid4().hex
    if part == "cache":
        cache = CacheProbe(url, namespace=namespace)

        def use_cache() -> object:
            cache.record(hits=1)
            return cache.stats()

        return cache, use_cache
    if part == "limiter":
        limiter = LimiterProbe(url, namespace=namespace)
        return limiter, lambda: (limiter.try_take("k", 1, 0, 10**12), limiter.stats(0))
    store = BreakerProbe(url, namespace=namespace)
    policy = CircuitBreaker(store=store).policy
    return store, lambda: (store.enter(policy), store.stats(policy))


def wait_for_child(pid: int) -> int:
    """Return the child's exit code; kill it and fail if it has not ended within TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on a lock its parent's thread held")
        time.sleep(0.01)  # polls for another process's end, not for time


class TestForkWhileLocked:
    @pytest.mark.parametrize("part", ["cache", "limiter", "breaker"])
    def test_the_child_makes_its_own_lock(self, redis_url: str, part: str) -> None:
        """A thread holds the store's lock at the fork: the child still uses the store."""
        store, use = make(part, redis_url)
        use()  # the parent uses it first: connections open, scripts loaded
        holding, done = threading.Event(), threading.Event()

        def hold() -> None:
            with store.held_lock():
                holding.set()
                done.wait(TIMEOUT)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert holding.wait(TIMEOUT)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child: its exit code is the result
                code = 1
                try:
                    use()
                    code = 0
                finally:
                    os._exit(code)
            assert wait_for_child(pid) == 0
        finally:
            done.set()
            holder.join(TIMEOUT)
            store.close()


class TestInterpreterExit:
    def test_registered_parts_exit_quietly(self, redis_url: str) -> None:
        """Parts still alive at interpreter exit leave nothing on stderr (no weakref noise)."""
        code = (
            "from python_mastery_portfolio.redis import *\n"
            f"url = {redis_url!r}\n"
            "parts = [RedisCache(url, namespace='c'), RedisRateLimitStore(url, namespace='l'),"
            " RedisBreakerStateStore(url, namespace='b')]\n"
            "assert parts[1].try_take('k', 1, 0, 10)\n"
        )
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert (done.returncode, done.stderr) == (0, "")
