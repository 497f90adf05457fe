"""Tests of RedisCache against a real Redis server: the contracts, decorators, processes, faults."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from python_mastery_portfolio.caching import async_cache, cache
from python_mastery_portfolio.redis import (
    PickleSerializer,
    RedisCache,
    RedisUnavailableError,
)
from python_mastery_portfolio.redis._cache import FLUSH_COUNT
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.cache import (
    AsyncCacheStoreContract,
    CacheStoreContract,
)
from tests.conftest import raise_first, run_threads
from tests.redis.conftest import RedisServer

KEY = b"0123456789abcdef"


def namespace() -> str:
    """Return a namespace no other test uses."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def store(redis_url: str) -> Any:
    """A RedisCache on the flushed server, closed after the test."""
    cache_store: RedisCache[Any, Any] = RedisCache(redis_url, namespace=namespace())
    yield cache_store
    cache_store.close()


REDIS_STAT_KEYS = frozenset({"backend_errors", "rejected"})


class TestRedisCacheContract(CacheStoreContract):
    """RedisCache over a URL passes the store contract."""

    extra_stat_keys = REDIS_STAT_KEYS

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_store(self) -> RedisCache[Any, Any]:
        return RedisCache(self.url, namespace=namespace())


class TestRedisCacheClientContract(CacheStoreContract):
    """RedisCache over a given redis.Redis client passes the store contract."""

    extra_stat_keys = REDIS_STAT_KEYS

    @pytest.fixture(autouse=True)
    def _server(self, redis_client: redis_py.Redis) -> None:
        self.client = redis_client

    def make_store(self) -> RedisCache[Any, Any]:
        return RedisCache(self.client, namespace=namespace())


class TestRedisCacheAsyncContract(AsyncCacheStoreContract):
    """RedisCache's asyncio side passes the async store contract."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_store(self) -> RedisCache[Any, Any]:
        return RedisCache(self.url, namespace=namespace())

    async def aclose_store(self, store: Any) -> None:
        await store.aclose()


class TestRedisCacheThreadedAsyncContract(AsyncCacheStoreContract):
    """Over a given sync client, the async side runs in worker threads and passes too."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_client: redis_py.Redis) -> None:
        self.client = redis_client

    def make_store(self) -> RedisCache[Any, Any]:
        return RedisCache(self.client, namespace=namespace())


class TestKeysAndValues:
    @pytest.mark.parametrize(
        "value",
        [(), (1, "a"), {1: "one", (2, 3): [4]}, {"\x00t": [1]}, [(1,), {"a": (2,)}]],
        ids=["empty-tuple", "tuple", "other-keys", "reserved-name", "nested"],
    )
    def test_json_types_round_trip(self, store: RedisCache[Any, Any], value: object) -> None:
        """Tuples, dicts with non-string keys and nested ones read back with their types."""
        store.set("key", value)
        found = store.lookup("key", None)
        assert found == value
        assert repr(found) == repr(value)

    def test_keys_of_equal_values_and_other_types_differ(self, store: RedisCache[Any, Any]) -> None:
        """1, 1.0, True and "1" are four keys (a dict would merge three of them)."""
        for index, key in enumerate([1, 1.0, True, "1", (1,), None, int]):
            store.set(key, index)
        assert [store.lookup(key, None) for key in [1, 1.0, True, "1", (1,), None, int]] == list(
            range(7)
        )

    def test_unencodable_key_and_value_raise(self, store: RedisCache[Any, Any]) -> None:
        """A key or value outside the JSON types is a TypeError naming it; nothing is stored."""
        with pytest.raises(TypeError, match="frozenset"):
            store.set(frozenset(), 1)
        with pytest.raises(TypeError, match="got set"):
            store.set("key", {1})
        assert store.stats()["size"] == 0

    def test_ttl_sets_an_expiry(self, redis_url: str, redis_client: redis_py.Redis) -> None:
        """With a ttl, every entry carries a Redis expiry of that many milliseconds."""
        ttl_store: RedisCache[Any, Any] = RedisCache(redis_url, namespace="ttl", ttl=60)
        ttl_store.set("key", 1)
        assert 59_000 < redis_client.pttl('pmp:cache:ttl:"key"') <= 60_000
        assert ttl_store.ttl == 60.0
        assert ttl_store.namespace == "ttl"
        ttl_store.close()

    def test_nested_namespaces_stay_apart(self, redis_url: str) -> None:
        """Clearing or sizing namespace 'a' leaves namespace 'a:b' alone, and the reverse."""
        outer: RedisCache[Any, Any] = RedisCache(redis_url, namespace="a")
        inner: RedisCache[Any, Any] = RedisCache(redis_url, namespace="a:b")
        outer.set("x", 1)
        inner.set("y", 2)
        assert (outer.stats()["size"], inner.stats()["size"]) == (1, 1)
        outer.clear()
        assert inner.lookup("y", None) == 2
        inner.clear()

    def test_glob_characters_in_the_namespace(self, redis_url: str) -> None:
        """A namespace with glob characters matches only itself."""
        odd: RedisCache[Any, Any] = RedisCache(redis_url, namespace="n*[?]\\")
        other: RedisCache[Any, Any] = RedisCache(redis_url, namespace="nx[?]\\")
        odd.set(1, 1)
        other.set(1, 1)
        odd.clear()
        assert (odd.lookup(1, None), other.lookup(1, None)) == (None, 1)

    def test_clear_in_batches(self, store: RedisCache[Any, Any]) -> None:
        """clear() removes more entries than one SCAN page holds."""
        for number in range(2500):
            store.set(number, number)
        store.clear()
        assert store.stats()["size"] == 0

    def test_clear_with_only_foreign_names_in_the_pattern(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """When every matching name is the counters or a nested namespace's, clear removes none."""
        outer: RedisCache[Any, Any] = RedisCache(redis_url, namespace="a")
        inner: RedisCache[Any, Any] = RedisCache(redis_url, namespace="a:b")
        inner.set("y", 2)
        outer.record(hits=1)
        outer.stats()  # publishes the counters: the hash a:#stats exists
        outer.clear()
        asyncio.run(self._aclear_and_close(outer))
        assert inner.lookup("y", None) == 2
        assert redis_client.exists("pmp:cache:a:#stats")
        assert outer.stats()["hits"] == 1
        outer.close()
        inner.close()

    def test_aclear_in_batches(self, store: RedisCache[Any, Any]) -> None:
        """aclear() removes more entries than one SCAN page holds, through the asyncio client."""
        for number in range(2500):
            store.set(number, number)
        asyncio.run(self._aclear_and_close(store))
        assert store.stats()["size"] == 0

    @staticmethod
    async def _aclear_and_close(store: RedisCache[Any, Any]) -> None:
        try:
            await store.aclear()
        finally:
            await store.aclose()


class TestSignedPickle:
    def test_pickled_values_round_trip(self, redis_url: str) -> None:
        """With PickleSerializer, any picklable value is stored."""
        pickled: RedisCache[Any, Any] = RedisCache(
            redis_url, namespace="p", serializer=PickleSerializer(key=KEY)
        )
        pickled.set("key", {1, 2})
        assert pickled.lookup("key", None) == {1, 2}
        pickled.close()

    def test_bad_signature_is_a_counted_miss(
        self, redis_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A value signed with another key is refused: a miss, a WARNING, counted as rejected."""
        writer: RedisCache[Any, Any] = RedisCache(
            redis_url, namespace="p", serializer=PickleSerializer(key=b"an attacker's key!")
        )
        reader: RedisCache[Any, Any] = RedisCache(
            redis_url, namespace="p", serializer=PickleSerializer(key=KEY)
        )
        writer.set("key", "injected")
        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            assert reader.lookup("key", "miss") == "miss"
        assert "bad signature" in caplog.text
        assert reader.stats()["rejected"] == 1
        writer.close()
        reader.close()


class TestCounting:
    def test_counts_are_cluster_wide(self, redis_url: str) -> None:
        """Counts recorded by one cache object are seen in another's stats()."""
        first: RedisCache[Any, Any] = RedisCache(redis_url, namespace="shared")
        second: RedisCache[Any, Any] = RedisCache(redis_url, namespace="shared")
        first.record(hits=3, misses=1)
        first.stats()
        second.record(hits=1)
        stats = second.stats()
        assert (stats["hits"], stats["misses"]) == (4, 1)
        first.close()
        second.close()

    def test_counts_publish_in_batches_on_lookups(self, redis_url: str) -> None:
        """A lookup publishes the local counts once there are enough of them, or a second passed."""
        clock = ManualClock()
        counted: RedisCache[Any, Any] = RedisCache(redis_url, namespace="c", clock=clock)
        other: RedisCache[Any, Any] = RedisCache(redis_url, namespace="c")
        counted.record(hits=1)
        counted.lookup("k", None)
        assert other.stats()["hits"] == 0
        clock.advance(1.0)
        counted.lookup("k", None)
        assert other.stats()["hits"] == 1
        counted.record(misses=FLUSH_COUNT)
        asyncio.run(self._alookup_and_close(counted))
        assert other.stats()["misses"] == FLUSH_COUNT
        counted.close()
        other.close()

    @staticmethod
    async def _alookup_and_close(store: RedisCache[Any, Any]) -> None:
        await store.alookup("k", None)
        await store.aclose()


class TestDecorators:
    def test_cache_threads_single_flight(self, store: RedisCache[Any, Any]) -> None:
        """20 threads asking for one key compute it once; the value is in Redis."""
        calls: list[int] = []

        @cache(store=store)
        def square(x: int) -> int:
            calls.append(x)
            return x * x

        assert raise_first(run_threads(20, lambda _: square(12))) == [144] * 20
        assert len(calls) == 1
        assert store.lookup(12, None) == 144
        assert square.cache_stats()["misses"] == 1
        assert square.cache_invalidate(12) is True
        assert store.lookup(12, None) is None

    def test_async_cache_tasks_single_flight(self, store: RedisCache[Any, Any]) -> None:
        """Many tasks awaiting one key compute it once, through the asyncio client."""
        calls: list[int] = []

        @async_cache(store=store)
        async def square(x: int) -> int:
            calls.append(x)
            await asyncio.sleep(0)
            return x * x

        async def main() -> list[int]:
            try:
                return await asyncio.gather(*(square(7) for _ in range(50)))
            finally:
                await store.aclose()

        assert asyncio.run(main()) == [49] * 50
        assert calls == [7]
        stats = square.cache_stats()
        assert (stats["hits"], stats["misses"]) == (49, 1)
        assert store.lookup(7, None) == 49

    def test_async_cache_does_not_block_the_loop(self, tmp_path: Path) -> None:
        """While a lookup waits on a server that does not answer, other tasks keep running."""
        path = tmp_path / "silent.sock"
        ticks: list[int] = []

        async def ticker() -> None:
            for tick in range(1000):
                ticks.append(tick)
                await asyncio.sleep(0)

        with socket.socket(socket.AF_UNIX) as silent:
            silent.bind(str(path))
            silent.listen()
            slow: RedisCache[Any, Any] = RedisCache(
                f"unix://{path}", namespace="s", socket_timeout=0.2
            )

            @async_cache(store=slow)
            async def ident(x: int) -> int:
                return x

            async def main() -> int:
                try:
                    counting = asyncio.ensure_future(ticker())
                    value = await ident(3)
                    counting.cancel()
                    return value
                finally:
                    await slow.aclose()

            assert asyncio.run(main()) == 3
            assert len(ticks) > 10  # the loop ran other tasks during the timeouts
            slow.close()


class TestTwoProcesses:
    SCRIPT = """
import json, sys
from python_mastery_portfolio.caching import cache
from python_mastery_portfolio.redis import RedisCache

url, namespace, action = sys.argv[1:]
store = RedisCache(url, namespace=namespace)
calls = []

@cache(store=store)
def load(user_id: int) -> dict:
    calls.append(user_id)
    return {"id": user_id, "by": "B"}

if action == "invalidate":
    print(json.dumps(load.cache_invalidate(7)))
else:
    print(json.dumps([load(7), len(calls)]))
store.close()
"""

    def run_b(self, url: str, space: str, action: str) -> Any:
        result = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", self.SCRIPT, url, space, action],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return json.loads(result.stdout)

    def test_a_value_set_in_one_process_is_a_hit_in_another(self, redis_url: str) -> None:
        """A sets, B hits; B invalidates, A misses and computes again."""
        space = namespace()
        store: RedisCache[Any, Any] = RedisCache(redis_url, namespace=space)
        calls: list[int] = []

        @cache(store=store)
        def load(user_id: int) -> dict[str, Any]:
            calls.append(user_id)
            return {"id": user_id, "by": "A"}

        assert load(7) == {"id": 7, "by": "A"}
        assert self.run_b(redis_url, space, "get") == [{"id": 7, "by": "A"}, 0]
        assert self.run_b(redis_url, space, "invalidate") is True
        assert load(7) == {"id": 7, "by": "A"}
        assert calls == [7, 7]
        load.cache_invalidate(7)
        assert self.run_b(redis_url, space, "get") == [{"id": 7, "by": "B"}, 1]
        store.close()


class TestFaults:
    def test_server_stopped_and_restarted_mid_loop(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Calls compute while Redis is down (WARNING, counted); hits resume after a restart."""
        server = RedisServer(tmp_path)
        server.start()
        store: RedisCache[Any, Any] = RedisCache(server.url, namespace="f", socket_timeout=1.0)
        calls: list[int] = []

        @cache(store=store)
        def double(x: int) -> int:
            calls.append(x)
            return 2 * x

        try:
            assert [double(x % 3) for x in range(6)] == [0, 2, 4] * 2
            assert len(calls) == 3
            server.stop()
            with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
                assert [double(x % 3) for x in range(6)] == [0, 2, 4] * 2
            assert len(calls) == 9
            assert "failing open" in caplog.text
            assert store.stats()["backend_errors"] >= 12
            with pytest.raises(RedisUnavailableError, match="clear failed"):
                store.clear()
            assert store.delete(1) is False
            server.start()
            double(1)
            double(1)
            before = len(calls)
            assert double(1) == 2
            assert len(calls) == before
        finally:
            store.close()
            server.stop()

    def test_async_side_fails_open(self, tmp_path: Path) -> None:
        """With no server, the asyncio methods miss, skip and count; aclear raises."""
        store: RedisCache[Any, Any] = RedisCache(
            f"unix://{tmp_path}/none.sock", namespace="f", clock=ManualClock()
        )

        async def main() -> tuple[object, bool]:
            try:
                await store.aset("k", 1)
                with pytest.raises(RedisUnavailableError):
                    await store.aclear()
                store.record(hits=FLUSH_COUNT)
                return await store.alookup("k", "miss"), await store.adelete("k")
            finally:
                await store.aclose()

        assert asyncio.run(main()) == ("miss", False)
        stats = store.stats()
        assert stats["backend_errors"] >= 6
        assert stats["hits"] == FLUSH_COUNT  # kept locally, not lost

    def test_a_slow_server_times_out(self, tmp_path: Path) -> None:
        """A server that never answers costs socket_timeout, then the call fails open."""
        path = tmp_path / "silent.sock"
        with socket.socket(socket.AF_UNIX) as silent:
            silent.bind(str(path))
            silent.listen()
            store: RedisCache[Any, Any] = RedisCache(
                f"unix://{path}", namespace="s", socket_timeout=0.05
            )
            assert store.lookup("k", "miss") == "miss"
            assert store.stats()["backend_errors"] >= 1
            store.close()

    def test_warnings_are_rate_limited(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """One WARNING per 5 seconds per cache, then one saying how many were suppressed."""
        clock = ManualClock()
        store: RedisCache[Any, Any] = RedisCache(
            f"unix://{tmp_path}/none.sock", namespace="w", clock=clock
        )
        with caplog.at_level(logging.WARNING, logger="python_mastery_portfolio.redis"):
            for _ in range(3):
                store.lookup("k", None)
            clock.advance(5)
            store.lookup("k", None)
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 3
        assert "2 similar warnings suppressed" in messages[2]
        store.close()


class TestConnections:
    def test_close_leaves_a_given_client_open(self, redis_client: redis_py.Redis) -> None:
        """Closing a cache made from the caller's client keeps that client's connection."""
        before = redis_client.client_id()
        given: RedisCache[Any, Any] = RedisCache(redis_client, namespace=namespace())
        given.set("k", 1)
        given.close()
        assert redis_client.client_id() == before  # the same connection: not closed

    def test_aclose_without_an_asyncio_client_is_harmless(
        self, redis_url: str, redis_client: redis_py.Redis
    ) -> None:
        """aclose() in a loop that made no asyncio client (or twice) does nothing."""
        stores: list[RedisCache[Any, Any]] = [
            RedisCache(redis_url, namespace=namespace()),
            RedisCache(redis_client, namespace=namespace()),
        ]

        async def main() -> None:
            for each in stores:
                await each.aclose()
                await each.aset("k", 1)
                await each.aclose()
                await each.aclose()
                assert await each.alookup("k", None) == 1
                await each.aclose()

        asyncio.run(main())
        for each in stores:
            each.close()


class TestOptions:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"namespace": 1}, TypeError, "namespace"),
            ({"namespace": "n", "ttl": 0}, ValueError, "ttl"),
            ({"namespace": "n", "ttl": "1"}, TypeError, "ttl"),
            ({"namespace": "n", "serializer": object()}, TypeError, "serializer"),
            ({"namespace": "n", "socket_timeout": float("inf")}, ValueError, "socket_timeout"),
        ],
        ids=["namespace-type", "ttl-zero", "ttl-type", "serializer", "timeout"],
    )
    def test_rejects(self, kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
        """Wrong options are refused at construction, naming the parameter."""
        with pytest.raises(error, match=match):
            RedisCache("unix:///nowhere.sock", **kwargs)

    def test_rejects_a_client_of_another_kind(self) -> None:
        """Only a URL or a redis.Redis is a client."""
        with pytest.raises(TypeError, match=r"Redis URL or a redis\.Redis"):
            RedisCache(42, namespace="n")


class TestMappingAPI:
    def test_item_access(self, store: RedisCache[Any, Any]) -> None:
        """[], []=, del, in and len behave as LRUCache's."""
        store["a"] = [1, 2]
        assert store["a"] == [1, 2]
        assert "a" in store
        assert "b" not in store
        assert len(store) == 1
        with pytest.raises(KeyError):
            store["b"]
        del store["a"]
        with pytest.raises(KeyError):
            del store["a"]
        assert len(store) == 0

    def test_get_counts(self, store: RedisCache[Any, Any]) -> None:
        """get returns the value or the default and counts a hit or a miss."""
        store.set("a", None)
        assert store.get("a", -1) is None
        assert store.get("b") is None
        assert store.get("b", -1) == -1
        stats = store.stats()
        assert (stats["hits"], stats["misses"]) == (1, 2)

    def test_pop_and_setdefault_are_atomic(self, store: RedisCache[Any, Any]) -> None:
        """pop takes the value away; setdefault keeps the first value stored."""
        assert store.setdefault("a", 1) == 1
        assert store.setdefault("a", 2) == 1
        assert store.pop("a") == 1
        assert store.pop("a", None) is None
        with pytest.raises(KeyError):
            store.pop("a")

    def test_mapping_fails_open(self, tmp_path: Path) -> None:
        """With no server: absent, not stored, counted; pop without a default raises KeyError."""
        store: RedisCache[Any, Any] = RedisCache(
            f"unix://{tmp_path}/none.sock", namespace="m", clock=ManualClock()
        )
        assert "a" not in store
        assert store.setdefault("a", 1) == 1
        assert store.pop("a", "d") == "d"
        with pytest.raises(KeyError):
            store.pop("a")
        assert store.stats()["backend_errors"] == 5
        store.close()
