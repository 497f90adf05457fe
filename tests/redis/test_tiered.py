"""Tests of TieredCache: the store contracts, invalidation and single-flight across processes."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from python_mastery_portfolio.caching import LRUCache, async_cache, cache
from python_mastery_portfolio.redis import RedisCache, RedisUnavailableError, TieredCache
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.cache import (
    AsyncCacheStoreContract,
    CacheStoreContract,
)
from tests.conftest import TIMEOUT, wait_until
from tests.redis.conftest import RedisServer

TIERED_STAT_KEYS = frozenset({"backend_errors", "rejected", "local_size", "invalidations"})


def namespace() -> str:
    """Return a namespace no other test uses."""
    return f"tc-{uuid.uuid4().hex}"


def tiered(url: str, space: str | None = None, **options: Any) -> TieredCache[Any, Any]:
    """Return a TieredCache over ``url`` in ``space`` (default: a new namespace)."""
    return TieredCache(
        local=LRUCache(maxsize=100),
        remote=RedisCache(url, namespace=space or namespace()),
        **options,
    )


@pytest.fixture
def store(redis_url: str) -> Iterator[TieredCache[Any, Any]]:
    """A TieredCache on the flushed server, closed after the test."""
    made = tiered(redis_url)
    yield made
    made.close()


class TestTieredContract(CacheStoreContract):
    """TieredCache passes the store contract."""

    extra_stat_keys = TIERED_STAT_KEYS

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> Iterator[None]:
        self.url = redis_url
        self.made: list[TieredCache[Any, Any]] = []
        yield
        for made in self.made:
            made.close()

    def make_store(self) -> TieredCache[Any, Any]:
        self.made.append(tiered(self.url))
        return self.made[-1]


class TestTieredAsyncContract(AsyncCacheStoreContract):
    """TieredCache's awaitable side passes the async store contract."""

    extra_stat_keys = TIERED_STAT_KEYS

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> Iterator[None]:
        self.url = redis_url
        self.made: list[TieredCache[Any, Any]] = []
        yield
        for made in self.made:
            made.close()

    def make_store(self) -> TieredCache[Any, Any]:
        self.made.append(tiered(self.url))
        return self.made[-1]


class TestTiers:
    def test_a_redis_hit_is_copied_to_the_local_tier(self, redis_url: str) -> None:
        """Read once from Redis, then served by the local tier."""
        space = namespace()
        writer, reader = tiered(redis_url, space), tiered(redis_url, space)
        try:
            assert reader.synced  # the listener starts on first use: here, before the write
            writer.set("k", [1, 2])
            # A read racing with the message is not copied (the conservative side): let it land.
            wait_until(lambda: reader.stats()["invalidations"] == 1)
            assert reader.local.lookup("k", None) is None
            assert reader.lookup("k", None) == [1, 2]
            assert reader.local.lookup("k", None) == [1, 2]
            assert reader.lookup("k", None) == [1, 2]
        finally:
            writer.close()
            reader.close()

    def test_writes_and_deletes_evict_other_local_tiers(self, redis_url: str) -> None:
        """A set, delete or clear in one cache evicts the key from the other's local tier."""
        space = namespace()
        first, second = tiered(redis_url, space), tiered(redis_url, space)
        try:
            assert second.synced  # listening before the first write (it starts on first use)
            first.set(("user", 7), "v1")
            assert second.lookup(("user", 7), None) == "v1"
            first.set(("user", 7), "v2")
            wait_until(lambda: second.local.lookup(("user", 7), None) is None)
            assert second.lookup(("user", 7), None) == "v2"
            assert first.delete(("user", 7)) is True
            wait_until(lambda: second.local.lookup(("user", 7), None) is None)
            assert second.lookup(("user", 7), "gone") == "gone"
            first.set(3, "x")
            assert second.lookup(3, None) == "x"
            first.clear()
            wait_until(lambda: second.local.stats()["size"] == 0)
            assert second.stats()["invalidations"] == 5  # set, set, delete, set, clear
        finally:
            first.close()
            second.close()

    def test_a_read_overtaken_by_an_invalidation_is_not_kept(self, redis_url: str) -> None:
        """A value read while an invalidation arrives is returned but not copied locally."""
        space = namespace()
        other = tiered(redis_url, space)
        other.set("k", "old")

        class RacingRemote(RedisCache[Any, Any]):
            def lookup(self, key: Any, default: Any, /) -> Any:
                value = super().lookup(key, default)
                other.delete("unrelated")  # a message lands between the read and the copy
                wait_until(lambda: racing.stats()["invalidations"] == 1)
                return value

        racing: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=8), remote=RacingRemote(redis_url, namespace=space)
        )
        try:
            assert racing.lookup("k", None) == "old"
            assert racing.local.lookup("k", None) is None
        finally:
            other.close()
            racing.close()

    @pytest.mark.parametrize("change", ["delete", "clear"])
    def test_a_read_overtaken_by_a_delete_here_is_not_kept(
        self, redis_url: str, change: str
    ) -> None:
        """A value read before this process deletes (or clears) is not copied locally after."""
        space = namespace()
        racing: TieredCache[Any, Any]

        class RacingRemote(RedisCache[Any, Any]):
            raced = False

            def lookup(self, key: Any, default: Any, /) -> Any:
                value = super().lookup(key, default)
                if not self.raced:
                    self.raced = True
                    # Another thread's change, between the read and the copy.
                    racing.delete("k") if change == "delete" else racing.clear()
                return value

        racing = TieredCache(
            local=LRUCache[Any, Any](maxsize=8), remote=RacingRemote(redis_url, namespace=space)
        )
        try:
            racing.remote.set("k", "old")
            assert racing.lookup("k", None) == "old"  # the read began before the delete
            assert racing.lookup("k", None) is None  # deleted: no stale copy in the local tier
        finally:
            racing.close()

    def test_two_writers_in_one_process_leave_no_stale_copy(self, redis_url: str) -> None:
        """Two sets racing in one process: the local tier never keeps the value Redis lost."""
        space = namespace()
        racing: TieredCache[Any, Any]

        class RacingRemote(RedisCache[Any, Any]):
            def set(self, key: Any, value: Any, /) -> None:
                super().set(key, value)
                if value == "first":  # the second writer goes between Redis and the local copy
                    racing.set(key, "second")

        racing = TieredCache(
            local=LRUCache[Any, Any](maxsize=8), remote=RacingRemote(redis_url, namespace=space)
        )
        try:
            racing.set("k", "first")
            assert racing.remote.lookup("k", None) == "second"
            assert racing.lookup("k", None) == "second"
        finally:
            racing.close()

    def test_a_write_overtaken_by_another_process_leaves_no_stale_copy(
        self, redis_url: str
    ) -> None:
        """Another process writes between our write to Redis and our local copy: no copy."""
        space = namespace()
        other = tiered(redis_url, space)
        racing: TieredCache[Any, Any]

        class RacingRemote(RedisCache[Any, Any]):
            def set(self, key: Any, value: Any, /) -> None:
                super().set(key, value)
                other.set(key, "theirs")  # their message arrives before our local copy
                wait_until(lambda: racing.stats()["invalidations"] == 1)

        racing = TieredCache(
            local=LRUCache[Any, Any](maxsize=8), remote=RacingRemote(redis_url, namespace=space)
        )
        try:
            racing.set("k", "ours")
            assert racing.lookup("k", None) == "theirs"
        finally:
            other.close()
            racing.close()

    def test_a_key_with_a_type_empties_the_local_tier(self, redis_url: str) -> None:
        """A key naming a type (typed=True) cannot be rebuilt: the whole local tier goes."""
        space = namespace()
        first, second = tiered(redis_url, space), tiered(redis_url, space)
        try:
            second.set("other", 1)
            assert second.local.lookup("other", None) == 1
            first.set((1, int), "typed")
            wait_until(lambda: second.local.stats()["size"] == 0)
        finally:
            first.close()
            second.close()

    def test_cache_decorator_over_the_tiers(self, store: TieredCache[Any, Any]) -> None:
        """@cache computes once and invalidates through both tiers."""
        calls: list[int] = []

        @cache(store=store)
        def double(x: int) -> int:
            calls.append(x)
            return 2 * x

        assert [double(2), double(2), double(3)] == [4, 4, 6]
        assert calls == [2, 3]
        assert double.cache_invalidate(2) is True
        assert double(2) == 4
        assert calls == [2, 3, 2]

    def test_async_cache_decorator_over_the_tiers(self, store: TieredCache[Any, Any]) -> None:
        """@async_cache awaits the tiers and computes once."""
        calls: list[int] = []

        @async_cache(store=store)
        async def double(x: int) -> int:
            calls.append(x)
            return 2 * x

        async def main() -> list[int]:
            return [await double(2), await double(2)]

        assert asyncio.run(main()) == [4, 4]
        assert calls == [2]

    def test_options(self, redis_url: str) -> None:
        """Wrong tiers or bounds raise, naming them; the tiers read back."""
        remote: RedisCache[Any, Any] = RedisCache(redis_url, namespace="o")
        with pytest.raises(TypeError, match="local"):
            TieredCache(local="x", remote=remote)  # type: ignore[arg-type]  # checked at run time
        with pytest.raises(ValueError, match="lock_wait"):
            TieredCache(local=LRUCache(maxsize=2), remote=remote, lock_wait=0)
        local: LRUCache[Any, Any] = LRUCache(maxsize=2)
        made = TieredCache(local=local, remote=remote)
        assert (made.local, made.remote, made.synced) == (local, remote, True)
        assert repr(made).startswith("TieredCache(local=LRUCache(")
        made.close()


class HookClock(ManualClock):
    """A manual clock that runs ``hook`` at each sleep: what another process does meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: Callable[[], object] = lambda: None

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.hook()


class TestSingleFlight:
    def test_a_second_cache_waits_for_the_holders_value(self, redis_url: str) -> None:
        """While one cache computes a key, another waits and takes its value."""
        space = namespace()
        holder = tiered(redis_url, space)
        clock = HookClock()
        waiter = tiered(redis_url, space, lock_wait=10.0, clock=clock)
        try:
            assert holder.lookup("k", None) is None  # takes the flight lock
            assert holder.lookup("k", "again") == "again"  # its own flight: no wait
            # The holder lands while the waiter polls.
            clock.hook = lambda: holder.set("k", "computed")
            assert waiter.lookup("k", None) == "computed"
        finally:
            holder.close()
            waiter.close()

    def test_the_wait_is_bounded(self, redis_url: str) -> None:
        """A holder that never stores (it died) delays the others by lock_wait at most."""
        space = namespace()
        holder = tiered(redis_url, space)
        clock = ManualClock()
        waiter = tiered(redis_url, space, lock_wait=1.0, clock=clock)
        try:
            assert holder.lookup("k", None) is None
            assert waiter.lookup("k", "computes") == "computes"
            assert 1.0 <= clock.now() < 1.1
        finally:
            holder.close()
            waiter.close()

    def test_a_freed_lock_is_taken_again(self, redis_url: str) -> None:
        """If the holder frees the lock without a value, the waiter takes the lock."""
        space = namespace()
        holder = tiered(redis_url, space)
        clock = HookClock()
        waiter = tiered(redis_url, space, lock_wait=10.0, clock=clock)
        try:
            assert holder.lookup("k", None) is None
            clock.hook = lambda: holder.delete("k")
            assert waiter.lookup("k", "mine") == "mine"
            assert clock.now() < 0.1
        finally:
            holder.close()
            waiter.close()


class TestTwoProcesses:
    SCRIPT = """
import json, sys
from python_mastery_portfolio.caching import LRUCache, cache
from python_mastery_portfolio.redis import RedisCache, TieredCache

url, space = sys.argv[1:]
store = TieredCache(
    local=LRUCache(maxsize=10), remote=RedisCache(url, namespace=space), lock_wait=30
)
calls = []

@cache(store=store)
def load(user_id: int) -> str:
    calls.append(user_id)
    return "computed by B"

import time
value = load(7)
for _ in range(5000):  # a read racing with A's message is not kept locally: read again
    if store.lookup(7, None) is not None and store.local.lookup(7, None) is not None:
        break
    time.sleep(0.001)  # polls for the message, not for time
print(json.dumps([value, store.local.lookup(7, None), len(calls)]), flush=True)
sys.stdin.readline()  # A changed the user meanwhile
for _ in range(5000):
    if store.local.lookup(7, None) is None:
        break
    time.sleep(0.001)  # polls for the message, not for time
print(json.dumps([store.local.lookup(7, None), load(7), len(calls)]), flush=True)
store.close()
"""

    def test_invalidation_and_single_flight_across_processes(self, redis_url: str) -> None:
        """B waits for A's computation, caches it locally; A's change evicts it in B."""
        space = namespace()
        store = tiered(redis_url, space)
        assert store.lookup(7, None) is None  # A computes user 7: B must wait for it
        other = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", self.SCRIPT, redis_url, space],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert other.stdin is not None
        assert other.stdout is not None
        try:
            store.set(7, "computed by A")
            assert json.loads(other.stdout.readline()) == ["computed by A"] * 2 + [0]
            store.set(7, "changed by A")
            other.stdin.write("go\n")
            other.stdin.flush()
            assert json.loads(other.stdout.readline()) == [None, "changed by A", 0]
            assert other.wait(60) == 0
        finally:
            other.kill()
            other.stdin.close()
            other.stdout.close()
            store.close()


class TestFaults:
    def test_server_stopped_and_restarted_mid_loop(self, tmp_path: Path) -> None:
        """With Redis down calls compute (no exception); after a restart the tiers work."""
        server = RedisServer(tmp_path)
        server.start()
        store: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=10),
            remote=RedisCache(server.url, namespace="f", socket_timeout=1.0),
        )
        calls: list[int] = []

        @cache(store=store)
        def double(x: int) -> int:
            calls.append(x)
            return 2 * x

        try:
            assert [double(x % 3) for x in range(6)] == [0, 2, 4] * 2
            assert len(calls) == 3
            server.stop()
            wait_until(lambda: not store.synced)
            assert [double(x % 3) for x in range(6)] == [0, 2, 4] * 2
            assert len(calls) == 9  # the local tier is bypassed: it could be stale
            with pytest.raises(RedisUnavailableError):
                store.clear()
            assert store.stats()["backend_errors"] > 0
            server.start()
            wait_until(lambda: store.synced)
            double(1)
            before = len(calls)
            assert double(1) == 2
            assert len(calls) == before
        finally:
            store.close()
            server.stop()

    def test_starts_unsynced_without_a_server(self, tmp_path: Path) -> None:
        """No server at the start: the cache works, computing every time."""
        store: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=10),
            remote=RedisCache(f"unix://{tmp_path}/none.sock", namespace="n", socket_timeout=0.05),
        )
        assert not store.synced
        store.set("k", 1)
        assert store.lookup("k", "miss") == "miss"
        assert asyncio.run(store.alookup("k", "miss")) == "miss"
        assert store.delete("k") is False
        store.close()


def listeners(space: str) -> list[threading.Thread]:
    """Return the live listener threads of the caches of ``space``."""
    return [thread for thread in threading.enumerate() if thread.name == f"TieredCache({space})"]


class TestLifecycle:
    def test_the_listener_starts_on_first_use(self, redis_url: str) -> None:
        """Making a cache starts no thread and opens no connection; the first use does."""
        space = namespace()
        store = tiered(redis_url, space)
        try:
            assert listeners(space) == []
            assert store.lookup("k", None) is None
            assert len(listeners(space)) == 1
            assert listeners(space)[0].daemon
            assert store.synced
        finally:
            store.close()

    def test_close_stops_the_listener_and_the_local_tier(self, redis_url: str) -> None:
        """After close (twice is fine) no thread runs, and the local tier is not served."""
        space = namespace()
        store, other = tiered(redis_url, space), tiered(redis_url, space)
        try:
            store.set("k", "old")
            assert store.local.lookup("k", None) == "old"
            store.close()
            store.close()
            assert listeners(space) == []
            other.remote.set("k", "new")  # no message could reach a closed cache
            assert store.lookup("k", None) == "new"
            assert listeners(space) == []  # a use after close starts nothing
        finally:
            other.close()

    def test_a_cache_dropped_without_close_ends_its_thread(self, redis_url: str) -> None:
        """The listener holds its cache weakly: an unclosed cache is collected, its thread ends."""
        space = namespace()
        store = tiered(redis_url, space)
        assert store.synced
        (thread,) = listeners(space)
        del store
        gc.collect()
        thread.join(TIMEOUT)
        assert not thread.is_alive()

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_child_does_not_serve_the_parents_local_tier(self, redis_url: str) -> None:
        """A child has no listener: it bypasses the inherited tier until its own subscribes."""
        space = namespace()
        store, other = tiered(redis_url, space), tiered(redis_url, space)
        try:
            store.set("k", "old")
            assert store.local.lookup("k", None) == "old"
            reader, writer = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's lines are not traced
                code = 1
                try:
                    os.close(reader)
                    changer = tiered(redis_url, space)
                    changer.set("k", "new")  # its message reaches no listener in this child
                    seen = [store.lookup("k", None), store.lookup("k", None)]
                    os.write(writer, json.dumps(seen).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(writer)
            with os.fdopen(reader) as pipe:
                seen = json.loads(pipe.read())
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert seen == ["new", "new"]
            wait_until(lambda: store.lookup("k", None) == "new")  # the parent heard it
        finally:
            store.close()
            other.close()

    def test_a_silent_connection_is_found_out(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """A listener that hears nothing pings; with no answer it stops trusting the tier."""
        space = namespace()
        store: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=8),
            remote=RedisCache(redis_url, namespace=space, socket_timeout=0.05),
        )
        try:
            assert store.synced
            # A server that stops answering (a dropped route, a hung proxy) sends no error:
            # only a PING left unanswered tells the listener its messages may be lost.
            redis_client.client_pause(1000, all=True)
            wait_until(lambda: not store.synced)
            wait_until(lambda: store.synced)  # subscribed again once the server answers
            assert store.stats()["backend_errors"] >= 1
        finally:
            store.close()

    def test_a_quiet_but_live_connection_is_kept(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """A quiet listener's PINGs are answered: it stays subscribed, no fault counted."""

        def pings() -> int:
            stats = redis_client.info("commandstats").get("cmdstat_ping", {"calls": 0})
            return int(stats["calls"])

        store: TieredCache[Any, Any] = TieredCache(
            local=LRUCache[Any, Any](maxsize=8),
            remote=RedisCache(redis_url, namespace=namespace(), socket_timeout=0.05),
        )
        try:
            assert store.synced
            before = pings()
            wait_until(lambda: pings() >= before + 3)  # each one sent after the last answer
            assert store.synced
            assert store.stats()["backend_errors"] == 0
        finally:
            store.close()
