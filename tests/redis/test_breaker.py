"""Tests of RedisBreakerStateStore against a real Redis server."""

from __future__ import annotations

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

from python_mastery_portfolio.exceptions import CircuitOpenError
from python_mastery_portfolio.redis import RedisBreakerStateStore, RedisUnavailableError
from python_mastery_portfolio.resilience import BreakerPolicy, CircuitBreaker, CircuitState
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.breaker import (
    BreakerStateStoreContract,
)
from tests.conftest import TIMEOUT
from tests.redis.conftest import RedisServer

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN


def namespace() -> str:
    """Return a namespace no other test uses."""
    return f"cb-{uuid.uuid4().hex}"


class TestCallerTimeContract(BreakerStateStoreContract):
    """On the policy's (manual) clock, the Redis store passes the whole contract."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_store(self) -> RedisBreakerStateStore:
        return RedisBreakerStateStore(
            self.url, namespace=namespace(), time_source="caller", refresh_interval=60
        )

    extra_stat_keys = frozenset({"backend_errors"})

    def test_counts_no_backend_error_at_first(self) -> None:
        """Besides the contract's counters, a new store has met no Redis fault."""
        store = self.make_store()
        assert store.stats(self.policy(ManualClock()))["backend_errors"] == 0


def boom() -> None:
    """Fail."""
    raise OSError("upstream down")


class TestSharedState:
    def test_server_time_opens_and_recovers(self, redis_url: str) -> None:
        """On the server's clock: opened, refused with retry_after, half-open after it."""
        store = RedisBreakerStateStore(redis_url, namespace=namespace())
        policy = BreakerPolicy(failure_threshold=1, recovery_timeout=3600, now=lambda: 0.0)
        assert store.record_failure(store.epoch, policy)
        admission = store.enter(policy)
        assert not admission.admitted
        assert admission.retry_after is not None
        assert 3599 < admission.retry_after <= 3600
        quick = BreakerPolicy(failure_threshold=1, recovery_timeout=0.000_001, now=lambda: 0.0)
        assert store.current_state(quick) is HALF_OPEN
        assert store.drain_transitions() == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]

    def test_two_stores_share_one_breaker(self, redis_url: str) -> None:
        """Opened through one store, the other's breaker rejects at its next look."""
        space = namespace()
        clock = ManualClock()
        first = CircuitBreaker(
            failure_threshold=1,
            recovery_timeout=3600,
            store=RedisBreakerStateStore(redis_url, namespace=space),
        )
        second_store = RedisBreakerStateStore(redis_url, namespace=space, clock=clock)
        second = CircuitBreaker(failure_threshold=1, recovery_timeout=3600, store=second_store)
        assert second.call(lambda: 1) == 1
        with pytest.raises(OSError, match="upstream"):
            first.call(boom)
        assert second_store.state is CLOSED  # its view is younger than refresh_interval
        clock.advance(0.1)
        assert second_store.state is OPEN
        with pytest.raises(CircuitOpenError):
            second.call(lambda: 1)
        assert second_store.drain_transitions() == []  # the other process made the move

    def test_half_open_probes_are_counted_across_stores(self, redis_url: str) -> None:
        """half_open_max_calls probes in the whole cluster, whichever store admits them."""
        space = namespace()
        stores = [RedisBreakerStateStore(redis_url, namespace=space) for _ in range(3)]
        policy = BreakerPolicy(
            failure_threshold=1, recovery_timeout=0.000_001, half_open_max_calls=2, now=lambda: 0
        )
        assert stores[0].record_failure(stores[0].epoch, policy)
        admitted = [store.enter(policy).admitted for store in stores]
        assert admitted == [True, True, False]
        stats = stores[2].stats(policy)
        assert (stats["half_open_calls"], stats["rejected"], stats["state"]) == (2, 1, HALF_OPEN)

    def test_options(self) -> None:
        """The options read back; wrong ones raise naming them."""
        store = RedisBreakerStateStore("redis://x", namespace="n", time_source="caller")
        assert (store.namespace, store.time_source, store.forced) == ("n", "caller", None)
        assert repr(store) == "RedisBreakerStateStore(namespace='n', state='closed')"
        with pytest.raises(TypeError, match="namespace"):
            RedisBreakerStateStore("redis://x", namespace=1)  # type: ignore[arg-type]  # checked
        with pytest.raises(ValueError, match="namespace"):
            RedisBreakerStateStore("redis://x", namespace="")
        with pytest.raises(ValueError, match="time_source"):
            RedisBreakerStateStore("redis://x", namespace="n", time_source="x")  # type: ignore[arg-type]  # checked
        with pytest.raises(ValueError, match="refresh_interval"):
            RedisBreakerStateStore("redis://x", namespace="n", refresh_interval=0)


class TestTwoProcesses:
    SCRIPT = """
import json, sys
from python_mastery_portfolio.exceptions import CircuitOpenError
from python_mastery_portfolio.redis import RedisBreakerStateStore
from python_mastery_portfolio.resilience import CircuitBreaker

url, space = sys.argv[1:]
breaker = CircuitBreaker(
    failure_threshold=1, recovery_timeout=3600,
    store=RedisBreakerStateStore(url, namespace=space),
)
try:
    breaker.call(print, "called")
except CircuitOpenError as error:
    print(json.dumps({"state": breaker.state.value, "retry_after": error.retry_after}))
"""

    def test_opened_in_one_process_rejects_in_another(self, redis_url: str) -> None:
        """A breaker opened here rejects the other process's call without calling it."""
        space = namespace()
        breaker = CircuitBreaker(
            failure_threshold=1,
            recovery_timeout=3600,
            store=RedisBreakerStateStore(redis_url, namespace=space),
        )
        with pytest.raises(OSError, match="upstream"):
            breaker.call(boom)
        result = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", self.SCRIPT, redis_url, space],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        seen = json.loads(result.stdout)
        assert seen["state"] == "open"
        assert 3500 < seen["retry_after"] <= 3600


class TestFaults:
    def test_fails_open_without_a_server(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With no server calls are admitted and outcomes dropped; orders raise."""
        clock = ManualClock()
        store = RedisBreakerStateStore(f"unix://{tmp_path}/none.sock", namespace="f", clock=clock)
        breaker = CircuitBreaker(failure_threshold=1, store=store)
        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            for _ in range(3):
                with pytest.raises(OSError, match="upstream"):
                    breaker.call(boom)
        assert "using the last state seen" in caplog.text  # then rate-limited
        assert breaker.call(lambda: 2) == 2
        store.record_ignored(store.epoch)
        clock.advance(1)
        assert store.state is CLOSED  # a failed refresh keeps the last state seen
        policy = breaker.policy
        assert store.current_state(policy) is CLOSED
        assert store.enter(policy).admitted
        assert store.stats(policy)["failures"] == 0
        with pytest.raises(RedisUnavailableError, match="reset failed"):
            breaker.reset()
        with pytest.raises(RedisUnavailableError, match="force failed"):
            breaker.force_open()
        with pytest.raises(ValueError, match="HALF_OPEN"):
            store.force(HALF_OPEN, policy)
        assert store.backend_errors == 12  # every call above that needed Redis
        store.close()

    def test_server_stopped_and_restarted_mid_loop(self, tmp_path: Path) -> None:
        """Calls go through while Redis is down; the shared state works again after."""
        server = RedisServer(tmp_path)
        server.start()
        store = RedisBreakerStateStore(server.url, namespace="r", socket_timeout=1.0)
        breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=3600, store=store)
        try:
            assert [breaker.call(abs, n) for n in range(3)] == [0, 1, 2]
            server.stop()
            assert [breaker.call(abs, n) for n in range(3)] == [0, 1, 2]
            server.start()
            for _ in range(2):
                with pytest.raises(OSError, match="upstream"):
                    breaker.call(boom)
            with pytest.raises(CircuitOpenError):
                breaker.call(lambda: 1)
            assert store.backend_errors >= 3
        finally:
            store.close()
            server.stop()


def test_stats_with_any_policy(redis_url: str) -> None:
    """stats reports the shared counters of every process."""
    space = namespace()
    policy = BreakerPolicy(failure_threshold=5, now=lambda: 0.0)
    stores = [RedisBreakerStateStore(redis_url, namespace=space) for _ in range(2)]
    for store in stores:
        assert not store.record_failure(store.epoch, policy)
        store.record_success(store.epoch, policy)
    stats: dict[str, Any] = dict(stores[0].stats(policy))
    assert (stats["failures"], stats["successes"]) == (2, 2)


class TestLocalView:
    def test_a_late_reply_does_not_move_the_view_back(self, redis_url: str) -> None:
        """A reply that overtook an older one stays: the older, when it lands, is ignored."""
        held = threading.Event()
        landed = threading.Event()

        slow: list[threading.Thread] = []

        class SlowForOneThread(redis_py.Redis):
            def evalsha(self, *args: Any) -> Any:
                reply = super().evalsha(*args)
                if threading.current_thread() in slow:
                    landed.set()
                    held.wait(TIMEOUT)  # this reply reaches the store after the next one
                return reply

        client = SlowForOneThread.from_url(redis_url)
        store = RedisBreakerStateStore(client, namespace=namespace(), clock=ManualClock())
        policy = BreakerPolicy(failure_threshold=1, recovery_timeout=3600, now=lambda: 0.0)
        try:
            late = threading.Thread(target=store.enter, args=(policy,))
            slow.append(late)
            late.start()  # admitted while closed, epoch 0 ...
            assert landed.wait(TIMEOUT)
            assert store.record_failure(0, policy)  # ... then opened here: epoch 1, seen
            assert (store.state, store.epoch) == (CircuitState.OPEN, 1)
            held.set()
            late.join(TIMEOUT)
            assert (store.state, store.epoch) == (CircuitState.OPEN, 1)
        finally:
            held.set()
            store.close()
            client.close()

    def test_the_view_follows_a_flushed_server(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """A lower epoch from a step sent later is news (Redis lost the state): it is taken."""
        store = RedisBreakerStateStore(redis_url, namespace=namespace(), clock=ManualClock())
        policy = BreakerPolicy(failure_threshold=1, recovery_timeout=3600, now=lambda: 0.0)
        try:
            assert store.record_failure(0, policy)
            assert (store.state, store.epoch) == (CircuitState.OPEN, 1)
            redis_client.flushdb()
            assert store.current_state(policy) is CircuitState.CLOSED
            assert store.epoch == 0
        finally:
            store.close()
