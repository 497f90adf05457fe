"""Tests of RedisRateLimitStore and RedisRateLimiter against a real Redis server."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from python_mastery_portfolio.exceptions import RateLimitError
from python_mastery_portfolio.redis import (
    RedisRateLimiter,
    RedisRateLimitStore,
    RedisUnavailableError,
)
from python_mastery_portfolio.resilience import RateLimiter
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.rate_limit import (
    INTERVAL,
    SECOND,
    TOLERANCE,
    RateLimitStoreContract,
)
from tests.conftest import TIMEOUT
from tests.redis.conftest import RedisServer


def namespace() -> str:
    """Return a namespace no other test uses."""
    return f"rl-{uuid.uuid4().hex}"


class TestCallerTimeContract(RateLimitStoreContract):
    """With the caller's clock, the Redis store passes the whole contract, to the nanosecond."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_store(self) -> RedisRateLimitStore:
        return RedisRateLimitStore(self.url, namespace=namespace(), time_source="caller")


class TestServerTimeContract(RateLimitStoreContract):
    """With the server's clock, the contract's checks that hold whatever the time pass too.

    The other checks set ``now`` to the nanosecond and expect the store to follow it; a
    server's clock cannot (it moves by itself between two calls), so they run in
    :class:`TestCallerTimeContract`, and :class:`TestServerTime` checks this mode's own
    guarantees.
    """

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_store(self) -> RedisRateLimitStore:
        return RedisRateLimitStore(self.url, namespace=namespace())

    TIME_DEPENDENT: tuple[str, ...] = (
        "test_tokens_come_back_one_interval_each",
        "test_refill_is_capped_at_the_burst",
        "test_the_burst_of_inexact_intervals",
        "test_exact_at_a_year_of_uptime",
        "test_cost_above_the_burst_is_never_granted_at_once",
        "test_granted_decision",
        "test_refused_decision_leaves_the_bucket",
        "test_retry_after_is_when_the_tokens_are_there",
        "test_reservation_within_max_wait",
        "test_unbounded_reservations_queue_up",
        "test_release_hands_back_time_when_nothing_came_after",
        "test_backlog",
        "test_stats",
        "test_threads_never_take_more_than_the_burst",
        "test_threads_reserve_disjoint_slots",
    )


# Not collected here (the caller-time contract runs them): no skip lines, nothing hidden.
for _name in TestServerTimeContract.TIME_DEPENDENT:
    setattr(TestServerTimeContract, _name, None)


@pytest.fixture
def store(redis_url: str) -> Any:
    """A server-time store on the flushed server, closed after the test."""
    made = RedisRateLimitStore(redis_url, namespace=namespace())
    yield made
    made.close()


class TestServerTime:
    def test_callers_clocks_do_not_matter(self, store: RedisRateLimitStore) -> None:
        """Callers whose clocks are days apart share one bucket on the server's line."""
        nows = [0, 86_400 * SECOND, -5 * SECOND, 3 * 10**16]
        granted = [store.try_take("k", INTERVAL, now, TOLERANCE) for now in nows * 2]
        assert granted == [True] * 4 + [False] * 4

    def test_end_is_on_the_callers_line(self, store: RedisRateLimitStore) -> None:
        """A reservation's ``end`` is the caller's now plus its distance on the server."""
        now = 12_345 * SECOND
        assert store.try_take("k", TOLERANCE, now, TOLERANCE)
        decision = store.take("k", INTERVAL, now, TOLERANCE, interval=INTERVAL, max_wait=None)
        assert decision.allowed
        assert 0 < decision.retry_after <= INTERVAL
        assert now < decision.end <= now + TOLERANCE + INTERVAL
        # Equal within the server's time between the two calls (well under a second).
        assert abs(decision.end - (now + decision.retry_after + TOLERANCE)) < SECOND // 10

    def test_release_finds_the_end_while_reservations_are_held(
        self, store: RedisRateLimitStore
    ) -> None:
        """The offset stays while reservations are held, so a refund finds its slot."""
        assert store.try_take("k", TOLERANCE, 0, TOLERANCE)
        first = store.take("k", INTERVAL, 0, TOLERANCE, interval=INTERVAL, max_wait=None)
        later = 7 * SECOND  # another reading of the caller's clock, then a second reservation
        second = store.take("k", INTERVAL, later, TOLERANCE, interval=INTERVAL, max_wait=None)
        assert second.end == first.end + INTERVAL
        assert store.release("k", INTERVAL, second.end) is True
        assert store.release("k", 0, first.end) is False

    def test_time_passes_on_the_server(self, store: RedisRateLimitStore) -> None:
        """A token of one microsecond is back by the next call: the server's clock moved."""
        micro = 1000
        assert store.try_take("k", micro, 0, micro)
        # The next round trip takes more than a microsecond, whatever the caller's now.
        assert all(store.try_take("k", micro, 0, 2 * micro) for _ in range(3))
        assert store.backlog("k", 0) <= 2 * micro

    def test_stats_reads_the_servers_clock(self, store: RedisRateLimitStore) -> None:
        """``keys`` counts buckets live on the server's clock, whatever the caller's now."""
        assert store.try_take("a", TOLERANCE, 0, TOLERANCE)
        assert store.try_take(None, TOLERANCE, 0, TOLERANCE)
        assert store.stats(10**18)["keys"] == 1


class TestLimiter:
    def test_is_a_rate_limiter(self, redis_url: str) -> None:
        """RedisRateLimiter is a RateLimiter with a Redis store; stats add backend_errors."""
        limiter = RedisRateLimiter(2, per=3600, url=redis_url, namespace=namespace())
        assert isinstance(limiter, RateLimiter)
        assert [limiter.try_acquire(key="a") for _ in range(3)] == [True, True, False]
        with pytest.raises(RateLimitError) as caught:
            limiter.acquire(key="a", timeout=0)
        assert caught.value.retry_after is not None
        assert 1700 < caught.value.retry_after <= 1800
        assert limiter.available(key="a") < 0.001  # the server's clock moves on
        assert limiter.available(key="b") == 2.0
        stats = limiter.stats()
        assert (stats["allowed"], stats["rejected"], stats["keys"]) == (2, 2, 1)
        assert stats["backend_errors"] == 0
        limiter.reset(key="a")
        assert limiter.try_acquire(key="a")
        limiter.reset()
        assert limiter.available(key="a") == 2.0
        limiter.store.close()

    def test_waits_for_reserved_tokens(self, redis_url: str) -> None:
        """acquire and aacquire reserve on the server and wait on the limiter's clock."""
        clock = ManualClock()
        limiter = RedisRateLimiter(4, burst=1, url=redis_url, namespace=namespace(), clock=clock)
        limiter.acquire()
        limiter.acquire()

        async def main() -> None:
            try:
                await asyncio.gather(limiter.aacquire(), limiter.aacquire())
            finally:
                await limiter.store.aclose()  # the loop's asyncio client, before the loop ends

        asyncio.run(main())
        assert len(clock.sleeps) == 3
        assert all(0.2 < wait <= 0.75 for wait in clock.sleeps)
        assert limiter.stats()["waited"] == 3

    def test_parse_with_a_store(self, redis_url: str) -> None:
        """parse builds a RedisRateLimiter around a given store."""
        store = RedisRateLimitStore(redis_url, namespace=namespace())
        limiter = RedisRateLimiter.parse("10/minute", store=store)
        assert repr(limiter) == "RedisRateLimiter(rate=10, per=60.0, burst=10.0)"
        assert limiter.store is store

    def test_name_is_passed_to_the_limiter(self, redis_url: str) -> None:
        """name= labels the limiter's instrumentation reports, as RateLimiter's does."""
        named = RedisRateLimiter(1, url=redis_url, namespace=namespace(), name="writes")
        unnamed = RedisRateLimiter(1, url=redis_url, namespace=namespace())
        try:
            assert named.name == "writes"
            assert unnamed.name == RateLimiter(1).name
        finally:
            named.store.close()
            unnamed.store.close()

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({}, TypeError, "needs url"),
            ({"url": "redis://x", "store": "s"}, ValueError, "not both"),
            ({"store": "s"}, TypeError, "RedisRateLimitStore"),
            ({"url": "redis://x", "max_keys": 5}, ValueError, "max_keys"),
        ],
        ids=["nothing", "both", "foreign-store", "max-keys"],
    )
    def test_rejects(self, kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
        """Wrong arguments raise at construction, naming them."""
        with pytest.raises(error, match=match):
            RedisRateLimiter(1, **kwargs)


class TestStoreOptions:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"namespace": 3}, TypeError, "namespace"),
            ({"namespace": ""}, ValueError, "namespace"),
            ({"namespace": "n", "on_backend_error": "maybe"}, ValueError, "on_backend_error"),
            ({"namespace": "n", "time_source": "mine"}, ValueError, "time_source"),
        ],
        ids=["namespace-type", "namespace-empty", "policy", "time-source"],
    )
    def test_rejects(self, kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
        """Wrong options raise at construction, naming them."""
        with pytest.raises(error, match=match):
            RedisRateLimitStore("redis://x", **kwargs)

    def test_properties(self) -> None:
        """The options read back."""
        store = RedisRateLimitStore(
            "redis://x", namespace="n", on_backend_error="deny", time_source="caller"
        )
        assert (store.namespace, store.on_backend_error, store.time_source) == (
            "n",
            "deny",
            "caller",
        )

    def test_nested_and_glob_namespaces_stay_apart(self, redis_url: str) -> None:
        """A nested namespace's buckets are not counted nor cleared by its parent."""
        parent = RedisRateLimitStore(redis_url, namespace="a*[x]", time_source="caller")
        child = RedisRateLimitStore(redis_url, namespace="a*[x]:sub", time_source="caller")
        assert child.try_take("k", INTERVAL, 0, TOLERANCE)
        assert parent.try_take("k", INTERVAL, 0, TOLERANCE)
        assert parent.stats(0)["keys"] == 1
        parent.clear()
        assert child.backlog("k", 0) == INTERVAL
        parent.clear()  # nothing left to clear
        assert parent.stats(0)["keys"] == 0

    def test_release_after_the_bucket_refilled(self, redis_client: redis_py.Redis) -> None:
        """A refund larger than what remains of the bucket's life drops the bucket."""
        store = RedisRateLimitStore(redis_client, namespace="r", time_source="caller")
        assert store.try_take("k", TOLERANCE, 0, TOLERANCE)
        reserved = store.take("k", INTERVAL, 0, TOLERANCE, interval=INTERVAL, max_wait=None)
        assert store.release("k", 100 * SECOND, reserved.end) is True
        assert redis_client.exists('pmp:ratelimit:r:"k"') == 0
        assert store.release("k", INTERVAL, reserved.end) is False  # no bucket any more


class TestTwoProcesses:
    SCRIPT = """
import json, sys
from python_mastery_portfolio.redis import RedisRateLimiter
from python_mastery_portfolio.testing import ManualClock

url, space, start = sys.argv[1:]
# Each process's clock is far from the others': decisions use the server's.
limiter = RedisRateLimiter(10, per=3600, url=url, namespace=space, clock=ManualClock(float(start)))
print(json.dumps(sum(limiter.try_acquire(key="client") for _ in range(20))))
limiter.store.close()  # publishes this process's counts
"""

    def test_one_limit_holds_across_processes(self, redis_url: str) -> None:
        """Four processes with unrelated clocks share one bucket: 10 grants between them."""
        space = namespace()
        processes = [
            subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", self.SCRIPT, redis_url, space, str(start)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for start in (0, 1e6, 5e8, 12.5)
        ]
        granted = [json.loads(process.communicate(timeout=60)[0]) for process in processes]
        assert sum(granted) == 10
        limiter = RedisRateLimiter(10, per=3600, url=redis_url, namespace=space)
        assert not limiter.try_acquire(key="client")
        assert limiter.stats()["rejected"] == 71


class TestFaults:
    @pytest.mark.parametrize(
        ("policy", "granted"), [("allow", True), ("deny", False)], ids=["allow", "deny"]
    )
    def test_policy_without_a_server(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, policy: Any, granted: bool
    ) -> None:
        """With no server each decision follows on_backend_error, logged and counted."""
        limiter = RedisRateLimiter(
            1, url=f"unix://{tmp_path}/none.sock", on_backend_error=policy, clock=ManualClock()
        )
        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            assert limiter.try_acquire() is granted
        assert ("allowing" if granted else "denying") in caplog.text
        if granted:
            limiter.acquire(timeout=0)
            assert limiter.available() == 1.0
        else:
            with pytest.raises(RateLimitError) as caught:
                limiter.acquire(timeout=0)
            assert caught.value.retry_after == 1.0
            assert limiter.available() == 0.0
        with pytest.raises(RedisUnavailableError, match="reset failed"):
            limiter.reset(key="k")
        with pytest.raises(RedisUnavailableError, match="clear failed"):
            limiter.reset()
        assert limiter.store.release(None, INTERVAL, 0) is False
        assert limiter.stats()["backend_errors"] == 7
        assert limiter.stats()["keys"] == 0

    def test_server_stopped_and_restarted_mid_loop(self, tmp_path: Path) -> None:
        """Decisions follow the policy while Redis is down and the limit is back after."""
        server = RedisServer(tmp_path)
        server.start()
        limiter = RedisRateLimiter(3, per=3600, url=server.url, socket_timeout=1.0)
        try:
            assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
            server.stop()
            assert all(limiter.try_acquire() for _ in range(5))  # "allow": no exception
            down = limiter.stats()  # the counts cannot be published: they are kept
            assert (down["allowed"], down["rejected"], down["backend_errors"]) == (3, 1, 7)
            server.start()  # a new, empty server: scripts are loaded again
            assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
            back = limiter.stats()
            assert (back["allowed"], back["rejected"], back["backend_errors"]) == (6, 2, 7)
        finally:
            limiter.store.close()
            server.stop()


class TestWebDependency:
    def test_two_apps_share_one_write_limit(self, redis_url: str) -> None:
        """The web RateLimit takes a RedisRateLimiter unchanged: two apps, one limit."""
        from fastapi import Depends, FastAPI
        from fastapi.testclient import TestClient

        from python_mastery_portfolio.web.errors import install_error_handlers
        from python_mastery_portfolio.web.ratelimit import RateLimit

        space = namespace()

        def worker() -> TestClient:
            app = FastAPI()
            install_error_handlers(app)
            limiter = RedisRateLimiter(3, per=3600, url=redis_url, namespace=space)

            @app.post("/things", dependencies=[Depends(RateLimit(limiter))])
            async def create() -> dict[str, str]:
                return {}

            return TestClient(app)

        first, second = worker(), worker()
        responses = [client.post("/things") for client in (first, second, first, second)]
        assert [response.status_code for response in responses] == [200, 200, 200, 429]
        assert [r.headers.get("RateLimit-Remaining") for r in responses[:3]] == ["2", "1", "0"]
        assert 1100 < int(responses[3].headers["Retry-After"]) <= 1200  # one token back


class TestConnections:
    def test_a_finished_thread_gives_its_connection_back(
        self, store: RedisRateLimitStore, redis_client: redis_py.Redis
    ) -> None:
        """Threads that come and go reuse connections: none stays open per dead thread."""
        before = len(redis_client.client_list())
        for index in range(20):  # one short-lived thread after the other, as a churning pool
            thread = threading.Thread(target=store.try_take, args=(index, 1, 0, 1))
            thread.start()
            thread.join(TIMEOUT)
        gc.collect()
        # The first thread's connection is handed on; without that, one open socket each.
        assert len(redis_client.client_list()) - before <= 2

    def test_a_failed_connection_is_not_handed_on(self, store: RedisRateLimitStore) -> None:
        """A connection dropped after a failure is closed before any other thread can take it."""
        assert store.try_take("k", 1, 0, 10)
        store.close()  # every connection of the pool closed under the holding thread
        assert store.try_take("k", 1, 0, 10)  # reconnects, no exception, no fault counted
        assert store.backend_errors <= 1
