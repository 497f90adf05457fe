"""The contract suites of cache stores: :class:`CacheStoreContract` and :class:`CacheContract`.

:class:`CacheStoreContract` is what every
:class:`~python_mastery_portfolio.caching.CacheStore` passes -- our ``LRUCache``, the Redis
store, your own: the protocol's operations, ``None`` told apart from a missing key, counting,
statistics and thread safety. :class:`AsyncCacheStoreContract` checks the awaitable side of
a store that also implements :class:`~python_mastery_portfolio.caching.AsyncCacheStore`.
:class:`CacheContract` adds the behaviour of a bounded cache with a time to live (LRU
eviction, expiry through an injectable clock, the mapping-like API
``get``/``set``/``delete``/``clear``/``len``/``in``/``stats``), as ``LRUCache`` shows it.

Subclass one in a ``test_*.py`` module under a ``Test`` name and implement its factory; the
suites drive time through a :class:`~python_mastery_portfolio.testing.ManualClock` and never
sleep. They need pytest.

Example:
    >>> from python_mastery_portfolio.caching import LRUCache
    >>> class TestMyStore(CacheStoreContract):
    ...     def make_store(self) -> LRUCache[Any, Any]:
    ...         return LRUCache(maxsize=1000)
    >>> TestMyStore().make_store().lookup("missing", "default")
    'default'
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar, get_type_hints

import pytest

from python_mastery_portfolio.caching import AsyncCacheStore, CacheStats, CacheStore
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts._loops import EventLoopChecks
from python_mastery_portfolio.testing.contracts._threads import THREADS, run_together

__all__ = ["STAT_KEYS", "AsyncCacheStoreContract", "CacheContract", "CacheStoreContract"]

T = TypeVar("T")

STAT_KEYS = frozenset(get_type_hints(CacheStats))
"""The keys of :class:`~python_mastery_portfolio.caching.CacheStats`."""


class CacheStoreContract:
    """Behaviour every :class:`CacheStore` shows; subclass it and implement :meth:`make_store`.

    Not collected on its own (no ``Test`` prefix). Keys are strings, ints and tuples of
    them; values are ``None``, falsy values, strings, numbers, lists and dicts, so that a
    serialising store passes too.
    """

    extra_stat_keys: frozenset[str] = frozenset()
    """Keys ``stats()`` reports beyond :class:`CacheStats`' (a TypedDict extending it)."""

    def make_store(self) -> CacheStore[Any, Any]:
        """Return a new, empty store under test, holding at least 100 entries."""
        raise NotImplementedError

    def test_implements_the_protocol(self) -> None:
        """The store is a CacheStore at run time."""
        assert isinstance(self.make_store(), CacheStore)

    def test_lookup_missing_returns_default(self) -> None:
        """A missing key reads as the very default given."""
        default = object()
        assert self.make_store().lookup("missing", default) is default

    def test_set_then_lookup(self) -> None:
        """A stored value reads back."""
        store = self.make_store()
        store.set("user:123", 42)
        assert store.lookup("user:123", None) == 42

    @pytest.mark.parametrize(
        "value",
        [None, 0, "", False, 0.0, [], {}, "text", 2.5, [1, "two"], {"id": 7, "tags": ["a"]}],
        ids=repr,
    )
    def test_values_round_trip(self, value: object) -> None:
        """Values, None and falsy ones included, read back equal and told apart from absence."""
        store = self.make_store()
        store.set("key", value)
        default = object()
        found = store.lookup("key", default)
        assert found is not default
        assert found == value
        assert type(found) is type(value)

    def test_keys_are_kept_apart(self) -> None:
        """Keys of different types or shapes are different keys."""
        store = self.make_store()
        keys: list[object] = [1, "1", (1,), (1, 2), ("1", 2), "a", ("a",)]
        for index, key in enumerate(keys):
            store.set(key, index)
        assert [store.lookup(key, None) for key in keys] == list(range(len(keys)))

    def test_set_overwrites(self) -> None:
        """Setting a key again replaces its value."""
        store = self.make_store()
        store.set("key", 1)
        store.set("key", 2)
        assert store.lookup("key", None) == 2
        assert store.stats()["size"] == 1

    def test_delete(self) -> None:
        """delete() removes a stored key and says so; a missing key returns False."""
        store = self.make_store()
        store.set("key", None)
        assert store.delete("key") is True
        assert store.lookup("key", "gone") == "gone"
        assert store.delete("key") is False
        assert store.delete("never") is False

    def test_clear_keeps_the_counters(self) -> None:
        """clear() removes every entry; hits and misses stay."""
        store = self.make_store()
        for number in range(5):
            store.set(number, number)
        store.record(hits=2, misses=1)
        store.clear()
        assert all(store.lookup(number, None) is None for number in range(5))
        stats = store.stats()
        assert (stats["size"], stats["hits"], stats["misses"]) == (0, 2, 1)

    def test_lookup_counts_nothing(self) -> None:
        """lookup() counts neither hits nor misses."""
        store = self.make_store()
        store.set("here", 1)
        store.lookup("here", None)
        store.lookup("absent", None)
        stats = store.stats()
        assert (stats["hits"], stats["misses"]) == (0, 0)

    def test_record_counts(self) -> None:
        """record() adds to the counters; the hit rate is hits / (hits + misses)."""
        store = self.make_store()
        store.record(hits=3)
        store.record(misses=1)
        store.record()
        stats = store.stats()
        assert (stats["hits"], stats["misses"]) == (3, 1)
        assert stats["hit_rate"] == pytest.approx(0.75)

    def test_stats_shape(self) -> None:
        """stats() has the CacheStats keys and the extra ones: ints (maxsize may be None)."""
        store = self.make_store()
        stats = store.stats()
        assert set(stats) == STAT_KEYS | self.extra_stat_keys
        assert stats["hit_rate"] == 0.0
        assert isinstance(stats["hit_rate"], float)
        values: dict[str, object] = dict(stats)
        for name in (STAT_KEYS | self.extra_stat_keys) - {"hit_rate", "maxsize"}:
            assert type(values[name]) is int, name
        # None: no bound of the store's own (an unbounded cache, a Redis namespace).
        assert values["maxsize"] is None or type(values["maxsize"]) is int
        assert (stats["hits"], stats["misses"], stats["size"]) == (0, 0, 0)

    def test_stats_size_counts_entries(self) -> None:
        """size is the number of live entries."""
        store = self.make_store()
        for number in range(3):
            store.set(number, str(number))
        store.delete(0)
        assert store.stats()["size"] == 2

    def test_threads_set_and_read_their_keys(self) -> None:
        """Many threads storing, reading and deleting their own keys at once lose nothing."""
        store = self.make_store()

        def work(index: int) -> None:
            for step in range(5):
                store.set((index, step), [index, step])
            assert [store.lookup((index, step), None) for step in range(5)] == [
                [index, step] for step in range(5)
            ]
            assert store.delete((index, 0)) is True

        run_together(work)
        assert store.stats()["size"] == THREADS * 4

    def test_threads_count_exactly(self) -> None:
        """Counts recorded from many threads at once all arrive."""
        store = self.make_store()

        def work(index: int) -> None:
            for _ in range(50):
                store.record(hits=1)
                store.record(misses=1)

        run_together(work)
        stats = store.stats()
        assert (stats["hits"], stats["misses"]) == (THREADS * 50, THREADS * 50)


class CacheContract(CacheStoreContract):
    """Behaviour of a bounded cache with a time to live, :class:`CacheStoreContract` included.

    Subclass it and implement :meth:`make_cache`; not collected on its own (no ``Test``
    prefix). The cache has ``LRUCache``'s mapping-like API: ``get(key, default=None)``
    (counted), ``set(key, value, ttl=None)``, ``delete``, ``clear``, ``len``, ``in`` (not
    counted) and ``stats()``.
    """

    def make_cache(
        self, maxsize: int | None = 128, ttl: float | None = None, clock: ManualClock | None = None
    ) -> Any:
        """Return a new, empty cache under test.

        ``maxsize=None`` is unbounded and ``maxsize=0`` holds nothing; a ``maxsize < 0`` or
        ``ttl <= 0`` raises ``ValueError``.
        """
        raise NotImplementedError

    def make_store(self) -> CacheStore[Any, Any]:
        """Return :meth:`make_cache`'s cache with the defaults, for the store contract."""
        store: CacheStore[Any, Any] = self.make_cache()
        return store

    @pytest.fixture
    def clock(self) -> ManualClock:
        """A manual clock for the tests to drive."""
        return ManualClock(start=1000.0)

    # -- storage ---------------------------------------------------------------------------

    def test_get_missing_returns_none(self) -> None:
        """A missing key reads as None."""
        assert self.make_cache().get("missing") is None

    def test_get_missing_returns_default(self) -> None:
        """A missing key reads as the given default."""
        assert self.make_cache().get("missing", "fallback") == "fallback"

    def test_set_then_get(self) -> None:
        """A stored value reads back."""
        cache = self.make_cache()
        cache.set("user:123", 42)
        assert cache.get("user:123") == 42

    @pytest.mark.parametrize("value", [None, 0, "", False, 0.0, ()], ids=repr)
    def test_falsy_values_are_values(self, value: object) -> None:
        """None, 0, "", False... are stored and told apart from a missing key."""
        cache = self.make_cache()
        cache.set("key", value)
        sentinel = object()
        assert cache.get("key", sentinel) == value
        assert cache.get("key", sentinel) is not sentinel
        assert "key" in cache
        assert cache.stats()["hits"] == 2

    def test_set_overwrites(self) -> None:
        """Setting a key again replaces its value without growing the cache."""
        cache = self.make_cache()
        cache.set("key", 1)
        cache.set("key", 2)
        assert cache.get("key") == 2
        assert len(cache) == 1

    def test_delete_existing(self) -> None:
        """Deleting a stored key returns True and removes it."""
        cache = self.make_cache()
        cache.set("key", 1)
        assert cache.delete("key") is True
        assert "key" not in cache
        assert cache.get("key") is None

    def test_delete_missing(self) -> None:
        """Deleting a missing key returns False."""
        assert self.make_cache().delete("missing") is False

    def test_clear(self) -> None:
        """clear() removes every entry."""
        cache = self.make_cache()
        for number in range(5):
            cache.set(number, number)
        cache.clear()
        assert len(cache) == 0
        assert all(number not in cache for number in range(5))

    def test_len_counts_entries(self) -> None:
        """len() is the number of stored entries."""
        cache = self.make_cache()
        for number in range(3):
            cache.set(number, str(number))
        assert len(cache) == 3

    def test_contains(self) -> None:
        """`in` is True for stored keys only."""
        cache = self.make_cache()
        cache.set("here", 1)
        assert "here" in cache
        assert "absent" not in cache

    def test_contains_does_not_count(self) -> None:
        """`in` counts neither hits nor misses."""
        cache = self.make_cache()
        cache.set("here", 1)
        assert "here" in cache
        assert "absent" not in cache
        stats = cache.stats()
        assert (stats["hits"], stats["misses"]) == (0, 0)

    # -- LRU -------------------------------------------------------------------------------

    def test_evicts_least_recently_used(self) -> None:
        """When full, the least recently used entry goes."""
        cache = self.make_cache(maxsize=2)
        cache.set("a", 1)
        cache.set("b", 2)
        cache.set("c", 3)
        assert "a" not in cache
        assert ("b" in cache, "c" in cache) == (True, True)

    def test_read_refreshes_recency(self) -> None:
        """A read makes an entry the most recently used."""
        cache = self.make_cache(maxsize=2)
        cache.set("a", 1)
        cache.set("b", 2)
        assert cache.get("a") == 1
        cache.set("c", 3)
        assert "a" in cache
        assert "b" not in cache

    def test_set_refreshes_recency(self) -> None:
        """Setting an existing key makes it the most recently used."""
        cache = self.make_cache(maxsize=2)
        cache.set("a", 1)
        cache.set("b", 2)
        cache.set("a", 10)
        cache.set("c", 3)
        assert cache.get("a") == 10
        assert "b" not in cache

    def test_size_never_exceeds_maxsize(self) -> None:
        """len() stays within maxsize however many keys are set."""
        cache = self.make_cache(maxsize=3)
        for number in range(50):
            cache.set(number, number)
            assert len(cache) <= 3
        assert cache.stats()["evictions"] == 47

    # -- TTL -------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("elapsed", "hit"),
        [(0.0, True), (9.999, True), (10.0, False), (10.001, False), (1e6, False)],
        ids=["fresh", "just-before", "at-expiry", "just-after", "long-after"],
    )
    def test_ttl_boundary(self, clock: ManualClock, elapsed: float, hit: bool) -> None:
        """An entry is a hit while t < expiry and a miss from t >= expiry on."""
        cache = self.make_cache(ttl=10, clock=clock)
        cache.set("key", "value")
        clock.advance(elapsed)
        assert (cache.get("key") == "value") is hit
        assert ("key" in cache) is hit

    def test_expired_entry_counts_as_miss(self, clock: ManualClock) -> None:
        """Reading an expired entry is a miss and an expiration."""
        cache = self.make_cache(ttl=5, clock=clock)
        cache.set("key", 1)
        clock.advance(5)
        assert cache.get("key", "gone") == "gone"
        stats = cache.stats()
        assert (stats["hits"], stats["misses"], stats["expirations"]) == (0, 1, 1)

    def test_expired_entries_leave_len(self, clock: ManualClock) -> None:
        """Expired entries are not counted by len() or stats()['size']."""
        cache = self.make_cache(ttl=5, clock=clock)
        cache.set("old", 1)
        clock.advance(3)
        cache.set("new", 2)
        clock.advance(2)
        assert len(cache) == 1
        assert cache.stats()["size"] == 1

    def test_read_does_not_refresh_ttl(self, clock: ManualClock) -> None:
        """A read refreshes recency, never the time to live."""
        cache = self.make_cache(ttl=10, clock=clock)
        cache.set("key", 1)
        clock.advance(9)
        assert cache.get("key") == 1
        clock.advance(1)
        assert cache.get("key") is None

    def test_set_refreshes_ttl(self, clock: ManualClock) -> None:
        """Setting a key again starts its time to live anew."""
        cache = self.make_cache(ttl=10, clock=clock)
        cache.set("key", 1)
        clock.advance(9)
        cache.set("key", 2)
        clock.advance(9)
        assert cache.get("key") == 2

    @pytest.mark.parametrize(
        ("default_ttl", "entry_ttl"),
        [(None, 5), (100, 5), (5, 100)],
        ids=["no-default", "shorter", "longer"],
    )
    def test_per_entry_ttl_overrides(
        self, clock: ManualClock, default_ttl: float | None, entry_ttl: float
    ) -> None:
        """A ttl given to set() overrides the cache's own."""
        cache = self.make_cache(ttl=default_ttl, clock=clock)
        cache.set("key", 1, ttl=entry_ttl)
        clock.advance(entry_ttl - 0.5)
        assert cache.get("key") == 1
        clock.advance(0.5)
        assert cache.get("key") is None

    def test_expired_go_before_live_are_evicted(self, clock: ManualClock) -> None:
        """When full, expired entries are dropped rather than the least recently used live one."""
        cache = self.make_cache(maxsize=3, ttl=100, clock=clock)
        cache.set("live-lru", 1)
        cache.set("short", 2, ttl=1)
        cache.set("live", 3)
        assert cache.get("short") == 2  # now the most recently used
        clock.advance(1)
        cache.set("new", 4)
        assert ("live-lru" in cache, "live" in cache, "new" in cache) == (True, True, True)
        stats = cache.stats()
        assert (stats["evictions"], stats["expirations"]) == (0, 1)

    def test_delete_expired_returns_false(self, clock: ManualClock) -> None:
        """Deleting an entry that has expired reports that nothing live was removed."""
        cache = self.make_cache(ttl=1, clock=clock)
        cache.set("key", 1)
        clock.advance(1)
        assert cache.delete("key") is False

    # -- statistics ------------------------------------------------------------------------

    def test_stats_keys(self) -> None:
        """stats() has the documented keys."""
        assert set(self.make_cache().stats()) >= STAT_KEYS

    def test_stats_before_any_lookup(self) -> None:
        """Before any lookup, the hit rate is 0.0 and every counter is zero."""
        stats = self.make_cache(maxsize=7).stats()
        assert stats["hit_rate"] == 0.0
        assert (stats["hits"], stats["misses"], stats["size"], stats["maxsize"]) == (0, 0, 0, 7)

    def test_stats_count_lookups(self) -> None:
        """Hits and misses count get() calls; the hit rate is their ratio."""
        cache = self.make_cache()
        cache.set("a", 1)
        for key in ["a", "a", "a", "missing"]:
            cache.get(key)
        stats = cache.stats()
        assert (stats["hits"], stats["misses"]) == (3, 1)
        assert stats["hit_rate"] == pytest.approx(0.75)

    # -- validation ------------------------------------------------------------------------

    @pytest.mark.parametrize("maxsize", [-1, -100], ids=["minus-one", "negative"])
    def test_rejects_maxsize(self, maxsize: int) -> None:
        """maxsize must be None or at least 0."""
        with pytest.raises(ValueError, match="maxsize"):
            self.make_cache(maxsize=maxsize)

    @pytest.mark.parametrize("ttl", [None, 10.0], ids=["no-ttl", "ttl"])
    def test_maxsize_zero_holds_nothing(self, ttl: float | None) -> None:
        """maxsize=0 keeps nothing (as lru_cache(maxsize=0)): every lookup is a miss."""
        cache = self.make_cache(maxsize=0, ttl=ttl)
        cache.set("a", 1)
        cache.set("b", 2, ttl=5)
        assert ("a" in cache, cache.get("a", -1), cache.get("b", -1), len(cache)) == (
            False,
            -1,
            -1,
            0,
        )
        stats = cache.stats()
        assert (stats["misses"], stats["size"], stats["maxsize"], stats["evictions"]) == (
            2,
            0,
            0,
            0,
        )

    def test_maxsize_none_is_unbounded(self) -> None:
        """maxsize=None never evicts; stats report maxsize None."""
        cache = self.make_cache(maxsize=None)
        for key in range(1000):
            cache.set(key, key)
        assert (len(cache), cache.get(0), cache.get(999)) == (1000, 0, 999)
        stats = cache.stats()
        assert (stats["evictions"], stats["size"], stats["maxsize"]) == (0, 1000, None)

    @pytest.mark.parametrize("ttl", [0, -1, float("nan")], ids=["zero", "negative", "nan"])
    def test_rejects_ttl(self, ttl: float) -> None:
        """ttl must be None or positive."""
        with pytest.raises(ValueError, match="ttl"):
            self.make_cache(ttl=ttl)

    @pytest.mark.parametrize("ttl", [0, -5], ids=["zero", "negative"])
    def test_rejects_entry_ttl(self, ttl: float) -> None:
        """A per-entry ttl must be positive too, and nothing is stored."""
        cache = self.make_cache()
        with pytest.raises(ValueError, match="ttl"):
            cache.set("key", 1, ttl=ttl)
        assert "key" not in cache


class AsyncCacheStoreContract(EventLoopChecks):
    """Behaviour of a store that is both a :class:`CacheStore` and an :class:`AsyncCacheStore`.

    Subclass it and implement :meth:`make_store`; not collected on its own (no ``Test``
    prefix). Each check runs its own event loop (``asyncio.run``), many tasks at once where
    it checks concurrency, and calls :meth:`aclose_store` before the loop ends. The async and
    sync sides must see the same entries.
    """

    def make_store(self) -> Any:
        """Return a new, empty store implementing both protocols."""
        raise NotImplementedError

    def test_implements_both_protocols(self) -> None:
        """The store is an AsyncCacheStore and a CacheStore at run time."""
        store = self.make_store()
        assert isinstance(store, AsyncCacheStore)
        assert isinstance(store, CacheStore)

    def test_alookup_missing_returns_default(self) -> None:
        """A missing key reads as the very default given."""
        store = self.make_store()
        default = object()
        assert self.run(store, lambda: store.alookup("missing", default)) is default

    @pytest.mark.parametrize(
        "value",
        [None, 0, "", False, 0.0, [], {}, "text", 2.5, [1, "two"], {"id": 7, "tags": ["a"]}],
        ids=repr,
    )
    def test_values_round_trip(self, value: object) -> None:
        """Values set with aset read back equal, of the same type, told apart from absence."""
        store = self.make_store()
        default = object()

        async def check() -> object:
            await store.aset("key", value)
            return await store.alookup("key", default)

        found = self.run(store, check)
        assert found is not default
        assert found == value
        assert type(found) is type(value)

    def test_sync_and_async_sides_agree(self) -> None:
        """An entry set on one side reads on the other; deletes and clears reach both."""
        store = self.make_store()
        store.set("sync", 1)

        async def check() -> tuple[object, ...]:
            await store.aset("async", 2)
            seen = (await store.alookup("sync", None), store.lookup("async", None))
            deleted = (await store.adelete("sync"), await store.adelete("sync"))
            await store.aclear()
            return (*seen, *deleted, await store.alookup("async", None))

        assert self.run(store, check) == (1, 2, True, False, None)

    def test_aclear_keeps_the_counters(self) -> None:
        """aclear() removes every entry; hits and misses stay."""
        store = self.make_store()
        store.record(hits=2, misses=1)

        async def check() -> None:
            for number in range(5):
                await store.aset(number, number)
            await store.aclear()

        self.run(store, check)
        stats = store.stats()
        assert (stats["size"], stats["hits"], stats["misses"]) == (0, 2, 1)

    def test_alookup_counts_nothing(self) -> None:
        """alookup() counts neither hits nor misses."""
        store = self.make_store()

        async def check() -> None:
            await store.aset("here", 1)
            await store.alookup("here", None)
            await store.alookup("absent", None)

        self.run(store, check)
        stats = store.stats()
        assert (stats["hits"], stats["misses"]) == (0, 0)

    def test_tasks_set_and_read_their_keys(self) -> None:
        """Many tasks storing, reading and deleting their own keys at once lose nothing."""
        store = self.make_store()

        async def work(index: int) -> None:
            for step in range(5):
                await store.aset((index, step), [index, step])
            found = [await store.alookup((index, step), None) for step in range(5)]
            assert found == [[index, step] for step in range(5)]
            assert await store.adelete((index, 0)) is True

        async def check() -> None:
            await asyncio.gather(*(work(index) for index in range(THREADS)))

        self.run(store, check)
        assert store.stats()["size"] == THREADS * 4
