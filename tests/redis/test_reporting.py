"""Tests of how the Redis parts report faults: the instrumentation hook, WARNINGs, recovery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.caching import LRUCache
from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.redis import (
    RedisBreakerStateStore,
    RedisCache,
    RedisLock,
    RedisRateLimitStore,
    RedisUnavailableError,
    TieredCache,
)
from python_mastery_portfolio.resilience import CircuitBreaker
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import wait_until
from tests.redis.conftest import RedisServer

CONNECTION_ERROR = "redis.exceptions.ConnectionError"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test alone, which the test stops and restarts."""
    made = RedisServer(tmp_path)
    made.start()
    yield made
    made.stop()


@pytest.fixture
def dead(tmp_path: Path) -> str:
    """The URL of a socket nobody listens on."""
    return f"unix://{tmp_path / 'none.sock'}"


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """An instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


def errors(recorder: RecordingInstrument, store: str) -> list[tuple[Any, ...]]:
    """Return the (operation, error.type, policy) of each store.error event of ``store``."""
    return [
        (
            record.attributes["operation"],
            record.attributes["error.type"],
            record.attributes["store.policy"],
        )
        for record in recorder.events("store.error", store=store)
    ]


class TestHook:
    def test_cache_reports_failing_open_and_raising(
        self, dead: str, recorder: RecordingInstrument
    ) -> None:
        """A failed lookup is fail_open, a failed clear is raise; each counted by operation."""
        cache: RedisCache[str, int] = RedisCache(dead, namespace="c", socket_timeout=0.05)
        assert cache.lookup("k", None) is None
        with pytest.raises(RedisUnavailableError):
            cache.clear()
        assert errors(recorder, "RedisCache") == [
            ("lookup", CONNECTION_ERROR, "fail_open"),
            ("clear", CONNECTION_ERROR, "raise"),
        ]
        assert recorder.total("store.errors", store="RedisCache", operation="lookup") == 1
        assert recorder.total("store.errors", store="RedisCache", operation="clear") == 1

    @pytest.mark.parametrize(
        ("policy", "reported"),
        [("allow", "fail_open"), ("deny", "fail_closed")],
        ids=["allow", "deny"],
    )
    def test_limiter_reports_its_policy(
        self, dead: str, recorder: RecordingInstrument, policy: Any, reported: str
    ) -> None:
        """A failed decision reports on_backend_error's outcome; a failed reset is raise."""
        store = RedisRateLimitStore(
            dead, namespace="l", on_backend_error=policy, socket_timeout=0.05
        )
        store.try_take("k", 1, 0, 10)
        with pytest.raises(RedisUnavailableError):
            store.reset("k")
        assert errors(recorder, "RedisRateLimitStore") == [
            ("try_take", CONNECTION_ERROR, reported),
            ("reset", CONNECTION_ERROR, "raise"),
        ]

    def test_breaker_reports_failing_open_and_raising(
        self, dead: str, recorder: RecordingInstrument
    ) -> None:
        """A failed admission is fail_open, a failed force_open is raise."""
        breaker = CircuitBreaker(
            store=RedisBreakerStateStore(dead, namespace="b", socket_timeout=0.05)
        )
        assert breaker.call(abs, -1) == 1
        with pytest.raises(RedisUnavailableError):
            breaker.force_open()
        reported = errors(recorder, "RedisBreakerStateStore")
        assert ("force", CONNECTION_ERROR, "raise") in reported
        assert {policy for _, _, policy in reported} == {"fail_open", "raise"}

    def test_lock_and_tiered_cache_report(self, dead: str, recorder: RecordingInstrument) -> None:
        """The lock fails closed; the tiered cache fails open (its own calls and its remote's)."""
        lock = RedisLock(dead, "jobs", socket_timeout=0.05)
        with pytest.raises(RedisUnavailableError):
            lock.acquire(timeout=0)
        assert errors(recorder, "RedisLock") == [("acquire", CONNECTION_ERROR, "fail_closed")]
        tiered: TieredCache[str, int] = TieredCache(
            local=LRUCache[str, int](maxsize=4),
            remote=RedisCache(dead, namespace="t", socket_timeout=0.05),
        )
        try:
            assert tiered.lookup("k", None) is None
        finally:
            tiered.close()
        assert ("flight_lock", CONNECTION_ERROR, "fail_open") in errors(recorder, "TieredCache")
        assert ("lookup", CONNECTION_ERROR, "fail_open") in errors(recorder, "RedisCache")


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the messages logged at INFO."""
    return [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]


def warning_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """Return the messages logged at WARNING that contain ``text``."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and text in record.getMessage()
    ]


class TestRecovery:
    @pytest.mark.parametrize("part", ["cache", "limiter", "limiter_take", "breaker", "lock"])
    def test_one_info_line_when_redis_is_back(
        self, server: RedisServer, caplog: pytest.LogCaptureFixture, part: str
    ) -> None:
        """One WARNING while down (the rest rate-limited), one INFO once back, then silence."""
        caplog.set_level(logging.INFO, logger="python_mastery_portfolio.redis")
        clock = ManualClock()
        options: dict[str, Any] = {"socket_timeout": 0.2}
        call: Callable[[], object]
        closing: RedisCache[str, int] | RedisRateLimitStore | RedisBreakerStateStore | RedisLock
        if part == "cache":
            cache: RedisCache[str, int] = RedisCache(
                server.url, namespace="c", clock=clock, **options
            )
            call, closing = lambda: cache.lookup("k", None), cache
        elif part == "limiter":
            store = RedisRateLimitStore(server.url, namespace="l", **options)
            call, closing = lambda: store.try_take("k", 1, 0, 10**12), store
        elif part == "limiter_take":
            store = RedisRateLimitStore(server.url, namespace="l", **options)
            call, closing = (
                lambda: store.take("k", 1, 0, 10**12, interval=1, max_wait=None),
                store,
            )
        elif part == "breaker":
            breaker = RedisBreakerStateStore(server.url, namespace="b", clock=clock, **options)
            breaker_ = CircuitBreaker(store=breaker)
            call, closing = lambda: breaker.enter(breaker_.policy), breaker
        else:
            lock = RedisLock(server.url, "jobs", auto_renew=False, clock=clock, **options)

            def call() -> object:
                try:
                    return lock.acquire(timeout=0).release()
                except RedisUnavailableError:
                    return None

            closing = lock
        try:
            call()
            server.stop()
            for _ in range(3):
                call()
            assert len(warning_lines(caplog, "failed")) == 1  # then rate-limited
            server.start()
            for _ in range(3):  # a pooled connection may fail once more, on its dead socket
                call()
            assert len(info_lines(caplog)) == 1
            assert "Redis reachable again" in info_lines(caplog)[0]
            call()
            assert len(info_lines(caplog)) == 1
        finally:
            closing.close()

    def test_tiered_cache_says_so_when_its_listener_is_back(
        self, server: RedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The listener's lost connection is a fault; its new subscription the recovery."""
        caplog.set_level(logging.INFO, logger="python_mastery_portfolio.redis")
        tiered: TieredCache[str, int] = TieredCache(
            local=LRUCache[str, int](maxsize=4),
            remote=RedisCache(server.url, namespace="t", socket_timeout=0.2),
        )
        try:
            assert tiered.synced
            server.stop()
            wait_until(lambda: bool(warning_lines(caplog, "listening for invalidations")))
            server.start()
            wait_until(
                lambda: any(
                    "TieredCache" in line and "reachable again" in line
                    for line in info_lines(caplog)
                )
            )
            assert tiered.synced
        finally:
            tiered.close()


def back_after(server: RedisServer, call: Callable[[], object], caplog: Any) -> None:
    """Fail ``call`` with the server stopped, then call it until the INFO line comes."""
    server.stop()
    call()
    assert warning_lines(caplog, "failed")
    server.start()
    for _ in range(3):  # a pooled connection may fail once more, on its dead socket
        call()
    assert [line for line in info_lines(caplog) if "reachable again" in line]


class TestRecoveryOnEveryPath:
    @pytest.mark.parametrize("path", ["set", "alookup", "aset"])
    def test_cache_paths(
        self, server: RedisServer, caplog: pytest.LogCaptureFixture, path: str
    ) -> None:
        """A write, and the asyncio side, say when Redis is back as a lookup does."""
        caplog.set_level(logging.INFO, logger="python_mastery_portfolio.redis")
        cache: RedisCache[str, int] = RedisCache(server.url, namespace="c", socket_timeout=0.2)

        async def run_async() -> None:
            try:
                if path == "alookup":
                    await cache.alookup("k", None)
                else:
                    await cache.aset("k", 1)
            finally:
                await cache.aclose()

        def call() -> None:
            if path == "set":
                cache.set("k", 1)
            else:
                asyncio.run(run_async())

        try:
            back_after(server, call, caplog)
        finally:
            cache.close()

    def test_limiter_atry_take(self, server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
        """The limiter's asyncio decisions say when Redis is back."""
        caplog.set_level(logging.INFO, logger="python_mastery_portfolio.redis")
        store = RedisRateLimitStore(server.url, namespace="l", socket_timeout=0.2)

        async def run_async() -> None:
            try:
                await store.atry_take("k", 1, 0, 10**12)
            finally:
                await store.aclose()

        try:
            back_after(server, lambda: asyncio.run(run_async()), caplog)
        finally:
            store.close()

    def test_lock_aacquire(self, server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
        """An asyncio acquisition says when Redis is back."""
        caplog.set_level(logging.INFO, logger="python_mastery_portfolio.redis")
        lock = RedisLock(server.url, "jobs", auto_renew=False, socket_timeout=0.2)

        async def run_async() -> None:
            try:
                await lock.aacquire(timeout=0)
                await lock.arelease()
            except RedisUnavailableError:
                pass
            finally:
                await lock.aclose()

        try:
            back_after(server, lambda: asyncio.run(run_async()), caplog)
        finally:
            lock.close()

    def test_lock_renewal(
        self,
        server: RedisServer,
        caplog: pytest.LogCaptureFixture,
        recorder: RecordingInstrument,
    ) -> None:
        """The renewal thread says when Redis is back (then finds the lock lost: a new server)."""
        caplog.set_level(logging.INFO, logger="python_mastery_portfolio.redis")
        lock = RedisLock(server.url, "jobs", ttl=0.3, socket_timeout=0.05)
        lock.acquire()
        try:
            server.stop()
            wait_until(lambda: recorder.total("store.errors", operation="renew") >= 1)
            server.start()
            wait_until(lambda: "lost before renewal" in caplog.text)
            assert [line for line in info_lines(caplog) if "reachable again" in line]
        finally:
            lock.release()
            lock.close()


class TestLockRenewalWarnings:
    def test_renewal_failures_are_rate_limited(
        self,
        server: RedisServer,
        caplog: pytest.LogCaptureFixture,
        recorder: RecordingInstrument,
    ) -> None:
        """Renewal failing every ttl/3: one WARNING, then one per 5 s with the count."""
        clock = ManualClock()
        lock = RedisLock(server.url, "jobs", ttl=0.3, socket_timeout=0.05, clock=clock)
        lock.acquire()
        try:
            server.stop()
            wait_until(lambda: recorder.total("store.errors", operation="renew") >= 3)
            assert len(warning_lines(caplog, "renewal failed")) == 1
            failures = recorder.total("store.errors", operation="renew")
            clock.advance(5)
            wait_until(lambda: recorder.total("store.errors", operation="renew") > failures)
            wait_until(lambda: len(warning_lines(caplog, "renewal failed")) == 2)
            assert warning_lines(caplog, "similar warnings suppressed")
        finally:
            lock.release()
            lock.close()
            server.start()  # the fixture stops it
