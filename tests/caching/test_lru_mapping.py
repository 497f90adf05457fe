"""LRUCache as a MutableMapping (issue 16, feature 2), in the style of cachetools' tests.

cachetools' ``CacheTestMixin`` (``test_defaults``, ``test_insert``, ``test_update``,
``test_delete``, ``test_pop``, ``test_popitem``, ``test_setdefault``) and its TTL tests
(``test_ttl_expire``), translated to :class:`LRUCache`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

import pytest

from python_mastery_portfolio.caching import CacheStore, LRUCache
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import TIMEOUT, raise_first, run_threads


def make(
    maxsize: int | None = 2, ttl: float | None = None
) -> tuple[LRUCache[Any, Any], ManualClock]:
    clock = ManualClock()
    return LRUCache(maxsize, ttl, clock=clock), clock


class TestMutableMapping:
    def test_is_a_mutable_mapping_and_a_store(self) -> None:
        """It is a MutableMapping, and still a CacheStore."""
        cache, _ = make()
        assert isinstance(cache, MutableMapping)
        assert isinstance(cache, CacheStore)

    def test_defaults(self) -> None:
        """An empty cache: len 0, no keys, nothing found."""
        cache, _ = make()
        assert (len(cache), list(cache), dict(cache)) == (0, [], {})
        assert cache.get(1) is None
        with pytest.raises(KeyError):
            cache[1]

    def test_insert(self) -> None:
        """c[k] = v stores; the least recently used goes when full."""
        cache, _ = make()
        cache[1] = 1
        cache[2] = 2
        assert (cache[1], cache[2]) == (1, 2)
        cache[3] = 3  # evicts 1: reading 2 made it the most recently used
        assert (1 in cache, cache[2], cache[3]) == (False, 2, 3)
        cache[4] = 4
        assert (2 in cache, 3 in cache, 4 in cache) == (False, True, True)

    def test_update(self) -> None:
        """update() from a mapping, pairs and keywords, as a dict."""
        cache, _ = make(maxsize=None)
        cache.update({1: "a"})
        cache.update([(2, "b")])
        cache.update(three="c")
        assert dict(cache) == {1: "a", 2: "b", "three": "c"}

    def test_delete(self) -> None:
        """del c[k] removes; KeyError if absent."""
        cache, _ = make()
        cache[1] = 1
        del cache[1]
        assert 1 not in cache
        with pytest.raises(KeyError):
            del cache[1]

    def test_delete_expired(self) -> None:
        """An expired entry is absent: KeyError, and it is dropped (counted as expired)."""
        cache, clock = make(ttl=1)
        cache[1] = 1
        clock.advance(1)
        with pytest.raises(KeyError):
            del cache[1]
        assert cache.stats()["expirations"] == 1

    def test_pop(self) -> None:
        """pop returns and removes; default when absent; KeyError without one."""
        cache, _ = make()
        cache.update({1: 1, 2: 2})
        assert (cache.pop(1), cache.pop(2, None), cache.pop(3, "x")) == (1, 2, "x")
        assert len(cache) == 0
        with pytest.raises(KeyError):
            cache.pop(1)
        assert (cache.stats()["hits"], cache.stats()["misses"]) == (0, 0)

    def test_pop_expired(self) -> None:
        """pop of an expired entry is absent, and drops it."""
        cache, clock = make(ttl=1)
        cache[1] = 1
        clock.advance(1)
        assert cache.pop(1, None) is None
        assert cache.stats()["expirations"] == 1

    def test_popitem(self) -> None:
        """popitem removes the least recently used first, then KeyError when empty."""
        cache, _ = make()
        cache.update({1: "a", 2: "b"})
        assert (cache.popitem(), cache.popitem()) == ((1, "a"), (2, "b"))
        with pytest.raises(KeyError):
            cache.popitem()

    def test_setdefault(self) -> None:
        """setdefault returns the live value or stores the default; counted as get."""
        cache, clock = make(ttl=5)
        assert cache.setdefault(1, "a") == "a"
        assert cache.setdefault(1, "b") == "a"
        assert cache.setdefault(2) is None
        assert 2 in cache
        clock.advance(5)
        assert cache.setdefault(1, "c") == "c"
        stats = cache.stats()
        assert (stats["hits"], stats["misses"], stats["expirations"]) == (1, 3, 2)  # 1 and 2

    def test_setdefault_with_entry_ttls(self) -> None:
        """setdefault stores with the cache's ttl beside entries with their own."""
        cache, clock = make(maxsize=4, ttl=10)
        cache.set("own", 1, ttl=1)
        cache.setdefault("default", 2)
        clock.advance(1)
        assert list(cache) == ["default"]

    def test_iteration_is_live_and_uncounted(self) -> None:
        """Iteration, keys(), items() and values() see live entries only and count nothing."""
        cache, clock = make(maxsize=None, ttl=10)
        cache[1] = "a"
        clock.advance(5)
        cache[2] = "b"
        cache.set(3, "c", ttl=1)
        clock.advance(5)  # 1 and 3 have expired; 2 lives
        assert (list(cache), list(cache.keys()), list(cache.items()), list(cache.values())) == (
            [2],
            [2],
            [(2, "b")],
            ["b"],
        )
        assert ((2, "b") in cache.items(), "b" in cache.values(), len(cache.items())) == (
            True,
            True,
            1,
        )
        assert (cache.stats()["hits"], cache.stats()["misses"]) == (0, 0)

    def test_iteration_order_is_recency(self) -> None:
        """Keys come least recently used first; a read moves a key last."""
        cache, _ = make(maxsize=None)
        cache.update({1: 1, 2: 2, 3: 3})
        cache.get(1)
        assert list(cache) == [2, 3, 1]

    def test_mutation_while_iterating(self) -> None:
        """Iteration works over a snapshot: the cache may change meanwhile."""
        cache, _ = make(maxsize=None)
        cache.update({1: 1, 2: 2, 3: 3})
        for key in cache:
            del cache[key]
        assert len(cache) == 0

    def test_getitem_counts_like_get(self) -> None:
        """c[k] is a lookup: counted, and refreshes recency."""
        cache, _ = make()
        cache[1] = 1
        assert cache[1] == 1
        with pytest.raises(KeyError):
            cache[2]
        assert (cache.stats()["hits"], cache.stats()["misses"]) == (1, 1)

    def test_identity_equality(self) -> None:
        """Caches compare and hash by identity, as before (contents come and go)."""
        first, _ = make()
        second, _ = make()
        assert first != second
        assert first == first  # noqa: PLR0124 - the point of the test
        assert len({first, second}) == 2
        assert first != {}
        assert isinstance(first, Mapping)

    def test_maxsize_zero(self) -> None:
        """A cache holding nothing is an empty mapping."""
        cache, _ = make(maxsize=0)
        cache["a"] = 1
        assert (dict(cache), cache.setdefault("a", 2), len(cache)) == ({}, 2, 0)


class TestExpire:
    def test_expire_returns_the_dropped_pairs(self) -> None:
        """expire() drops every expired entry now and returns them, oldest expiry first."""
        cache, clock = make(maxsize=None, ttl=10)
        cache[1] = "a"
        cache.set(2, "b", ttl=3)
        cache[3] = "c"
        clock.advance(3)
        assert cache.expire() == [(2, "b")]
        clock.advance(7)
        assert cache.expire() == [(1, "a"), (3, "c")]
        assert cache.expire() == []
        stats = cache.stats()
        assert (stats["expirations"], stats["size"]) == (3, 0)

    def test_expire_without_ttl(self) -> None:
        """Nothing expires without a ttl."""
        cache, _ = make()
        cache[1] = 1
        assert cache.expire() == []
        assert len(cache) == 1

    def test_expire_keeps_the_live(self) -> None:
        """Live entries stay, in their order."""
        cache, clock = make(maxsize=None, ttl=10)
        cache.update({1: 1, 2: 2})
        clock.advance(9)
        assert (cache.expire(), list(cache)) == ([], [1, 2])


class TestMappingThreads:
    def test_iteration_during_lock_free_hits(self) -> None:
        """Iterating while other threads hit (and reorder) the cache never fails."""
        cache: LRUCache[int, int] = LRUCache(maxsize=None)
        cache.update({key: key for key in range(200)})
        stop = threading.Event()

        def hammer(index: int) -> int:
            if index == 0:
                try:
                    for _ in range(200):
                        assert sorted(cache) == list(range(200))
                        assert sum(cache.values()) == sum(range(200))
                finally:
                    stop.set()
                return 0
            count = 0
            while not stop.is_set():
                cache.get(count % 200)
                count += 1
            return count

        assert len(raise_first(run_threads(8, hammer))) == 8
        assert stop.wait(TIMEOUT)

    def test_setdefault_is_atomic(self) -> None:
        """Threads racing setdefault on one key all get the one value stored."""
        cache: LRUCache[str, object] = LRUCache()
        values = raise_first(run_threads(32, lambda _: cache.setdefault("k", object())))
        assert len({id(value) for value in values}) == 1
