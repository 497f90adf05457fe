"""Tests of python_mastery_portfolio.caching: LRUCache, cache and async_cache."""

from __future__ import annotations

import asyncio
import gc
import inspect
import math
import random
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from python_mastery_portfolio.caching import LRUCache, async_cache, cache
from python_mastery_portfolio.clock import SYSTEM_CLOCK
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.testing.contracts.cache import CacheContract
from tests.conftest import TIMEOUT, run_threads, wait_until

THREADS = 100


# -- LRUCache ------------------------------------------------------------------------------


class TestLRUCacheContract(CacheContract):
    def make_cache(
        self, maxsize: int | None = 128, ttl: float | None = None, clock: ManualClock | None = None
    ) -> LRUCache[Any, Any]:
        return LRUCache(maxsize, ttl, clock=clock or ManualClock())


class TestLRUCache:
    def test_defaults(self) -> None:
        """maxsize defaults to 128, ttl to None and the clock to the system clock."""
        cache: LRUCache[str, int] = LRUCache()
        assert (cache.maxsize, cache.ttl) == (128, None)
        cache.set("a", 1)
        assert cache.get("a") == 1

    def test_repr(self) -> None:
        """repr shows the configuration and the size."""
        cache: LRUCache[str, int] = LRUCache(4, 2.5)
        cache.set("a", 1)
        assert repr(cache) == "LRUCache(maxsize=4, ttl=2.5, size=1)"

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"maxsize": 1.5}, TypeError, "maxsize"),
            ({"maxsize": True}, TypeError, "maxsize"),
            ({"maxsize": "3"}, TypeError, "maxsize"),
            ({"ttl": "3"}, TypeError, "ttl"),
            ({"clock": object()}, TypeError, "clock"),
        ],
        ids=["float-maxsize", "bool-maxsize", "str-maxsize", "str-ttl", "not-a-clock"],
    )
    def test_rejects_wrong_types(
        self, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        """Arguments of the wrong type are a TypeError naming them."""
        with pytest.raises(error, match=match):
            LRUCache(**kwargs)

    def test_infinite_ttl_means_none(self) -> None:
        """ttl=inf is the same as no ttl."""
        clock = ManualClock()
        cache: LRUCache[str, int] = LRUCache(ttl=math.inf, clock=clock)
        cache.set("a", 1)
        cache.set("b", 2, ttl=math.inf)
        clock.advance(1e12)
        assert (cache.ttl, cache.get("a"), cache.get("b")) == (None, 1, 2)

    def test_system_clock(self) -> None:
        """With the system clock, a long ttl keeps entries."""
        cache: LRUCache[str, int] = LRUCache(ttl=3600, clock=SYSTEM_CLOCK)
        cache.set("a", 1)
        assert cache.get("a") == 1
        assert "a" in cache

    def test_per_entry_ttls_expire_in_order(self) -> None:
        """Entries with their own ttls expire each at its time, in whatever order set."""
        clock = ManualClock()
        cache: LRUCache[int, int] = LRUCache(maxsize=10, clock=clock)
        for ttl in [5, 1, 3, 2, 4]:
            cache.set(ttl, ttl, ttl=ttl)
        for alive in [4, 3, 2, 1, 0]:
            clock.advance(1)
            assert len(cache) == alive
        assert cache.stats()["expirations"] == 5

    def test_overwrite_of_expired_counts_expiration(self) -> None:
        """Setting a key whose entry has expired counts that entry as expired."""
        clock = ManualClock()
        cache: LRUCache[str, int] = LRUCache(ttl=1, clock=clock)
        cache.set("a", 1)
        clock.advance(1)
        cache.set("a", 2)
        assert cache.get("a") == 2
        assert cache.stats()["expirations"] == 1

    def test_overwrite_of_expired_entry_ttl_counts_expiration(self) -> None:
        """Setting a key whose entry, stored with its own ttl, has expired counts it expired."""
        clock = ManualClock()
        cache: LRUCache[str, int] = LRUCache(clock=clock)
        cache.set("a", 1, ttl=1)
        clock.advance(1)
        cache.set("a", 2, ttl=1)
        assert cache.get("a") == 2
        assert cache.stats()["expirations"] == 1

    def test_many_overwrites_beside_an_entry_ttl(self) -> None:
        """Overwrites with the cache's ttl stay correct while another entry has its own."""
        clock = ManualClock()
        cache: LRUCache[str, int] = LRUCache(maxsize=2, ttl=10, clock=clock)
        cache.set("own", -1, ttl=100)
        for number in range(200):
            cache.set("key", number)
            clock.advance(0.01)
        assert (cache.get("key"), cache.get("own")) == (199, -1)
        clock.advance(10)
        assert len(cache) == 1
        assert cache.stats()["expirations"] == 1

    def test_clear_counts_expired_and_keeps_stats(self) -> None:
        """clear() keeps the statistics, counting entries that had expired."""
        clock = ManualClock()
        cache: LRUCache[str, int] = LRUCache(ttl=1, clock=clock)
        cache.set("a", 1)
        cache.set("b", 2, ttl=5)
        cache.get("a")
        clock.advance(1)
        cache.clear()
        stats = cache.stats()
        assert (stats["hits"], stats["expirations"], stats["size"]) == (1, 1, 0)

    @pytest.mark.parametrize("per_entry", [False, True], ids=["cache-ttl", "entry-ttl"])
    def test_many_overwrites_stay_correct(self, per_entry: bool) -> None:
        """Overwriting one key many times (which compacts the expiry index) stays correct."""
        clock = ManualClock()
        cache: LRUCache[str, int] = LRUCache(maxsize=2, ttl=10, clock=clock)
        for number in range(200):
            cache.set("key", number, ttl=7 if per_entry else None)
            clock.advance(0.01)
        assert cache.get("key") == 199
        clock.advance(10)
        assert len(cache) == 0
        assert cache.stats()["expirations"] == 1

    def test_expired_entries_make_room_before_eviction(self) -> None:
        """A full cache whose entries have expired drops them instead of evicting."""
        clock = ManualClock()
        cache: LRUCache[str, int] = LRUCache(maxsize=2, ttl=10, clock=clock)
        cache.set("a", 1)
        cache.set("b", 2)
        clock.advance(10)
        cache.set("c", 3)
        stats = cache.stats()
        assert (stats["evictions"], stats["expirations"], stats["size"]) == (0, 2, 1)

    def test_eviction_without_ttl(self) -> None:
        """Without ttl the cache is a plain LRU."""
        cache: LRUCache[int, int] = LRUCache(maxsize=2)
        for number in range(4):
            cache.set(number, number)
        assert (2 in cache, 3 in cache, len(cache)) == (True, True, 2)
        assert cache.stats()["evictions"] == 2

    def test_threads_keep_invariants(self) -> None:
        """Under many threads, len() <= maxsize and hits + misses equals the number of gets."""
        cache: LRUCache[int, int] = LRUCache(maxsize=16, ttl=3600)
        barrier = threading.Barrier(32)
        gets_per_thread = 300

        def work(index: int) -> int:
            rng = random.Random(index)
            barrier.wait(TIMEOUT)
            for _ in range(gets_per_thread):
                key = rng.randrange(40)
                if cache.get(key) is None:
                    cache.set(key, key, ttl=rng.choice([None, 3600.0]))
                if rng.random() < 0.05:
                    cache.delete(key)
                assert len(cache) <= 16
            return gets_per_thread

        results = run_threads(32, work)
        assert results == [gets_per_thread] * 32
        stats = cache.stats()
        assert stats["hits"] + stats["misses"] == 32 * gets_per_thread
        assert stats["size"] <= 16


class LRUCacheMachine(RuleBasedStateMachine):
    """LRUCache against a model: a list of [key, value, expiry] in recency order."""

    MAXSIZE = 4

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.cache: LRUCache[int, int] = LRUCache(self.MAXSIZE, ttl=10, clock=self.clock)
        self.model: list[list[Any]] = []  # least recently used first
        self.hits = self.misses = self.evictions = self.expirations = 0

    def _find(self, key: int) -> list[Any] | None:
        return next((item for item in self.model if item[0] == key), None)

    def _expire(self) -> None:
        now = self.clock.now()
        expired = [item for item in self.model if item[2] <= now]
        self.expirations += len(expired)
        self.model = [item for item in self.model if item[2] > now]

    @rule(
        key=st.integers(0, 6),
        value=st.integers(),
        ttl=st.none() | st.sampled_from([1, 2.5, 10, 30]),
    )
    def set(self, key: int, value: int, ttl: float | None) -> None:
        self.cache.set(key, value, ttl=ttl)
        now = self.clock.now()
        expiry = now + (10 if ttl is None else ttl)
        item = self._find(key)
        if item is not None:
            self.model.remove(item)
            if item[2] <= now:
                self.expirations += 1
        elif len(self.model) >= self.MAXSIZE:
            self._expire()
            if len(self.model) >= self.MAXSIZE:
                self.model.pop(0)
                self.evictions += 1
        self.model.append([key, value, expiry])

    @rule(key=st.integers(0, 6))
    def get(self, key: int) -> None:
        got = self.cache.get(key, None)
        item = self._find(key)
        if item is not None and item[2] > self.clock.now():
            self.hits += 1
            self.model.remove(item)
            self.model.append(item)
            assert got == item[1]
            return
        if item is not None:
            self.model.remove(item)
            self.expirations += 1
        self.misses += 1
        assert got is None

    @rule(key=st.integers(0, 6))
    def delete(self, key: int) -> None:
        item = self._find(key)
        live = item is not None and item[2] > self.clock.now()
        if item is not None:
            self.model.remove(item)
            if not live:
                self.expirations += 1
        assert self.cache.delete(key) is live

    @rule(seconds=st.sampled_from([0.5, 1, 2.5, 4, 10]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: len(self.model) > 0)
    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self._expire()
        self.model.clear()

    @invariant()
    def same_live_keys(self) -> None:
        now = self.clock.now()
        live = {item[0] for item in self.model if item[2] > now}
        assert {key for key in range(7) if key in self.cache} == live

    @rule()
    def check_len(self) -> None:
        # len() and stats() drop expired entries, so only some steps call them.
        self._expire()
        assert len(self.cache) == len(self.model) <= self.MAXSIZE

    @rule()
    def check_stats(self) -> None:
        self._expire()
        stats = self.cache.stats()
        expected = (self.hits, self.misses, self.evictions, self.expirations, len(self.model))
        observed = (
            stats["hits"],
            stats["misses"],
            stats["evictions"],
            stats["expirations"],
            stats["size"],
        )
        assert observed == expected


TestLRUCacheStateful = LRUCacheMachine.TestCase
TestLRUCacheStateful.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


# -- cache: keys and options ---------------------------------------------------------------


class Recorder:
    """A function that records its calls, to count computations."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return (args, kwargs)


class TestCacheKeys:
    def test_positional_keyword_and_default_share_an_entry(self) -> None:
        """f(1), f(a=1) and f() (a defaults to 1) are one entry."""
        calls: list[int] = []

        @cache
        def f(a: int = 1) -> int:
            calls.append(a)
            return a * 10

        assert (f(1), f(a=1), f()) == (10, 10, 10)
        assert calls == [1]
        assert f.cache_stats()["hits"] == 2

    def test_keyword_order_does_not_matter(self) -> None:
        """Keyword arguments in any order share an entry."""
        calls: list[Any] = []

        @cache()
        def f(a: int, b: int, *, c: int = 0, d: int = 0) -> int:
            calls.append((a, b, c, d))
            return a + b + c + d

        assert f(1, 2, c=3, d=4) == f(d=4, c=3, b=2, a=1) == f(1, b=2, d=4, c=3) == 10
        assert len(calls) == 1

    @pytest.mark.parametrize(("typed", "misses"), [(False, 1), (True, 3)], ids=["untyped", "typed"])
    def test_typed(self, typed: bool, misses: int) -> None:
        """typed=True caches 1, 1.0 and True apart."""

        @cache(typed=typed)
        def f(x: float) -> float:
            return x

        for value in (1, 1.0, True):
            f(value)
        assert f.cache_stats()["misses"] == misses

    def test_typed_varargs(self) -> None:
        """typed=True also separates *args and **kwargs by type."""

        @cache(typed=True)
        def f(*args: Any, **kwargs: Any) -> int:
            return len(args) + len(kwargs)

        f(1, x=1)
        f(1.0, x=1)
        f(1, x=1.0)
        f(1, x=1)
        assert f.cache_stats()["misses"] == 3

    def test_varargs_and_kwargs(self) -> None:
        """*args and **kwargs are part of the key; keyword order is irrelevant."""
        record = Recorder()
        f = cache(maxsize=8)(record)
        f(1, 2, x=1, y=2)
        f(1, 2, y=2, x=1)
        f(1, 2)
        f(1, 2, 3)
        assert len(record.calls) == 3

    def test_positional_only_and_keyword_only(self) -> None:
        """Positional-only and keyword-only parameters are bound and passed correctly."""

        @cache
        def f(a: int, /, b: int = 2, *rest: int, c: int, d: int = 4, **extra: int) -> Any:
            return (a, b, rest, c, d, extra)

        assert f(1, c=3) == (1, 2, (), 3, 4, {})
        assert f(1, 2, c=3, d=4) == (1, 2, (), 3, 4, {})
        assert f(1, 2, 5, c=3, z=9) == (1, 2, (5,), 3, 4, {"z": 9})
        assert f.cache_stats()["misses"] == 2

    def test_signature_errors_are_python_errors(self) -> None:
        """A call that does not fit the signature fails as the function itself would."""

        @cache
        def f(a: int) -> int:
            return a

        with pytest.raises(TypeError, match="missing 1 required positional argument: 'a'"):
            f()  # type: ignore[call-arg]
        assert f.cache_stats()["misses"] == 0

    def test_custom_key(self) -> None:
        """key= builds the key from the bound arguments, defaults applied."""
        seen: list[Any] = []

        def user_key(user: dict[str, Any], verbose: bool = False) -> Any:
            seen.append(verbose)
            return user["id"]

        @cache(key=user_key)
        def describe(user: dict[str, Any], verbose: bool = False) -> str:
            return f"user {user['id']}"

        assert describe({"id": 1, "tags": []}) == "user 1"
        assert describe({"id": 1, "tags": ["other"]}, verbose=False) == "user 1"
        assert describe.cache_stats()["misses"] == 1
        assert seen == [False, False]
        assert describe.cache_invalidate({"id": 1}) is True

    def test_custom_key_unhashable(self) -> None:
        """A key function returning something unhashable is a TypeError saying so."""

        def listed(x: int) -> Any:
            return [x]

        @cache(key=listed)
        def f(x: int) -> int:
            return x

        with pytest.raises(TypeError, match="the cache key is unhashable"):
            f(1)

    @pytest.mark.parametrize(
        ("call", "name"),
        [
            (lambda f: f([1]), "'a'"),
            (lambda f: f(1, b={}), "'b'"),
            (lambda f: f(1, 2, 3, [4]), r"\*rest\[1\]"),
            (lambda f: f(1, extra=set()), "'extra'"),
        ],
        ids=["positional", "keyword", "varargs", "varkw"],
    )
    def test_unhashable_argument(self, call: Callable[[Any], Any], name: str) -> None:
        """An unhashable argument raises TypeError naming it, and leaves no state behind."""
        calls: list[Any] = []

        @cache
        def f(a: Any, b: Any = 0, *rest: Any, **kwargs: Any) -> None:
            calls.append(a)

        with pytest.raises(TypeError, match=f"argument {name} is unhashable") as info:
            call(f)
        assert isinstance(info.value.__cause__, TypeError)
        assert calls == []
        stats = f.cache_stats()
        assert (stats["hits"], stats["misses"], stats["size"]) == (0, 0, 0)
        assert f(1) is None  # nothing stuck in flight

    def test_unhashable_invalidate(self) -> None:
        """cache_invalidate names an unhashable argument too."""

        @cache
        def f(a: Any) -> Any:
            return a

        with pytest.raises(TypeError, match="argument 'a' is unhashable"):
            f.cache_invalidate([1])

    def test_hash_error_other_than_unhashable(self) -> None:
        """A TypeError raised by comparing keys propagates unchanged."""

        class Fussy:
            def __hash__(self) -> int:
                return 1

            def __eq__(self, other: object) -> bool:
                raise TypeError("cannot compare")

        @cache
        def f(a: Any, b: int = 0) -> int:
            return b

        f(Fussy())
        with pytest.raises(TypeError, match="cannot compare"):
            f(Fussy())

    def test_parameter_names_do_not_clash(self) -> None:
        """Parameters named like builtins or the wrapper's internals work."""

        @cache
        def f(_pmp_key: int, hash: int = 0, TypeError: int = 0, KeyError: int = 0) -> int:
            return _pmp_key + hash + TypeError + KeyError

        assert f(1, 2, 3, 4) == f(1, 2, 3, 4) == 10
        assert f.cache_stats()["hits"] == 1
        assert f.cache_invalidate(1, 2, 3, 4) is True

    def test_builtin_without_signature(self) -> None:
        """A callable without a signature is keyed on its raw arguments."""
        cached_max = cache(max)
        assert cached_max(1, 5, 3) == cached_max(1, 5, 3) == 5
        assert cached_max.cache_stats()["hits"] == 1

    def test_no_parameters(self) -> None:
        """A function without parameters caches its one result."""
        record = Recorder()

        @cache
        def f() -> Any:
            return record()

        assert f() == f()
        assert len(record.calls) == 1


class TestCacheBehaviour:
    def test_metadata_and_signature(self) -> None:
        """The wrapper keeps the name, docstring, __wrapped__ and signature."""

        def documented(a: int, b: str = "x") -> str:
            """Describe."""
            return b * a

        wrapped = cache(documented)
        assert wrapped.__name__ == "documented"
        assert wrapped.__doc__ == "Describe."
        assert wrapped.__wrapped__ is documented
        assert inspect.signature(wrapped) == inspect.signature(documented)

    def test_ttl_with_manual_clock(self) -> None:
        """A result is recomputed once its ttl has passed."""
        clock = ManualClock()
        record = Recorder()

        @cache(maxsize=4, ttl=10, clock=clock)
        def f(x: int) -> Any:
            return record(x)

        f(1)
        clock.advance(9.5)
        f(1)
        clock.advance(0.5)
        f(1)
        assert len(record.calls) == 2
        stats = f.cache_stats()
        assert (stats["hits"], stats["misses"], stats["expirations"]) == (1, 2, 1)

    def test_eviction(self) -> None:
        """maxsize bounds the entries; the least recently used goes."""
        record = Recorder()

        @cache(maxsize=2)
        def f(x: int) -> Any:
            return record(x)

        for x in (1, 2, 1, 3, 1, 2):
            f(x)
        assert [call[0][0] for call in record.calls] == [1, 2, 3, 2]
        assert f.cache_stats()["evictions"] == 2

    @pytest.mark.parametrize("value", [None, 0, "", False], ids=repr)
    def test_falsy_results_are_cached(self, value: object) -> None:
        """None and other falsy results are cached like any other."""
        calls: list[int] = []

        @cache
        def f() -> object:
            calls.append(1)
            return value

        assert f() == value
        assert f() == value
        assert calls == [1]

    def test_exceptions_are_not_cached(self) -> None:
        """A call that raises caches nothing: the next call computes again."""
        attempts: list[int] = []

        @cache
        def flaky(x: int) -> int:
            attempts.append(x)
            if len(attempts) == 1:
                raise ValueError("first time")
            return x

        with pytest.raises(ValueError, match="first time"):
            flaky(1)
        assert flaky(1) == 1
        assert attempts == [1, 1]
        assert flaky.cache_stats()["size"] == 1

    def test_exception_recomputing_an_expired_entry(self) -> None:
        """Recomputing an expired entry that raises caches nothing either."""
        clock = ManualClock()
        attempts: list[int] = []

        @cache(ttl=10, clock=clock)
        def flaky(x: int) -> int:
            attempts.append(x)
            if len(attempts) == 2:
                raise ValueError("second time")
            return x

        flaky(1)
        clock.advance(10)
        with pytest.raises(ValueError, match="second time"):
            flaky(1)
        assert flaky(1) == 1
        assert attempts == [1, 1, 1]
        stats = flaky.cache_stats()
        assert (stats["misses"], stats["expirations"], stats["size"]) == (3, 1, 1)

    def test_cache_clear(self) -> None:
        """cache_clear() drops every result, keeping the statistics."""
        record = Recorder()

        @cache
        def f(x: int) -> Any:
            return record(x)

        f(1)
        f(2)
        f.cache_clear()
        f(1)
        assert len(record.calls) == 3
        assert f.cache_stats()["misses"] == 3

    @pytest.mark.parametrize(
        "args_kwargs",
        [((1,), {}), ((), {"a": 1}), ((), {})],
        ids=["positional", "keyword", "default"],
    )
    def test_cache_invalidate(self, args_kwargs: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
        """cache_invalidate(*args, **kwargs) drops the entry those arguments map to."""
        record = Recorder()

        @cache
        def f(a: int = 1) -> Any:
            return record(a)

        f(1)
        f(2)
        args, kwargs = args_kwargs
        assert f.cache_invalidate(*args, **kwargs) is True
        assert f.cache_invalidate(*args, **kwargs) is False
        f(2)
        f(1)
        assert len(record.calls) == 3

    def test_bare_and_called_forms(self) -> None:
        """@cache, @cache() and @cache(maxsize, ttl) all decorate."""

        @cache
        def a(x: int) -> int:
            return x

        @cache()
        def b(x: int) -> int:
            return x

        @cache(16, 60)
        def c(x: int) -> int:
            return x

        assert (a(1), b(1), c(1)) == (1, 1, 1)
        assert c.cache_stats()["maxsize"] == 16

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"maxsize": -1}, ValueError, "maxsize"),
            ({"maxsize": 2.5}, TypeError, "maxsize"),
            ({"ttl": 0}, ValueError, "ttl"),
            ({"ttl": -1}, ValueError, "ttl"),
            ({"clock": "now"}, TypeError, "clock"),
            ({"typed": 1}, TypeError, "typed"),
            ({"key": "id"}, TypeError, "key"),
            ({"typed": True, "key": hash}, ValueError, "typed"),
        ],
        ids=[
            "maxsize-negative",
            "maxsize-float",
            "ttl-zero",
            "ttl-negative",
            "clock",
            "typed",
            "key",
            "typed-with-key",
        ],
    )
    @pytest.mark.parametrize("decorator", [cache, async_cache], ids=["cache", "async_cache"])
    def test_rejects_options(
        self,
        decorator: Callable[..., Any],
        kwargs: dict[str, Any],
        error: type[Exception],
        match: str,
    ) -> None:
        """Wrong options fail when decorating, naming the option."""
        with pytest.raises(error, match=match):
            decorator(**kwargs)

    def test_rejects_generators(self) -> None:
        """Generator functions cannot be cached."""

        def numbers() -> Iterator[int]:
            yield 1

        with pytest.raises(TypeError, match="generator"):
            cache(numbers)

    def test_rejects_non_callables(self) -> None:
        """Only callables can be decorated."""
        with pytest.raises(TypeError, match="callable"):
            cache()(42)  # type: ignore[arg-type]

    @pytest.mark.parametrize("kind", [staticmethod, classmethod], ids=["static", "class"])
    def test_rejects_method_objects(self, kind: Callable[[Any], Any]) -> None:
        """@staticmethod/@classmethod must go above @cache, and the error says so."""
        with pytest.raises(TypeError, match=f"@{kind.__name__} above @cache"):
            cache(kind(lambda x: x))

    def test_async_cache_rejects_sync(self) -> None:
        """async_cache refuses a function that is not a coroutine function."""

        def sync(x: int) -> int:
            return x

        with pytest.raises(TypeError, match="coroutine functions"):
            async_cache()(sync)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="coroutine functions"):
            async_cache(sync)  # type: ignore[arg-type]


# -- cache: single-flight with threads -----------------------------------------------------


class SteppingBackClock(ManualClock):
    """A clock replaying scripted readings (then 0.0), to stage races deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self.readings: list[float] = []

    def now(self) -> float:
        return self.readings.pop(0) if self.readings else 0.0


class SlowFunction:
    """A function blocked on an Event, counting its runs, to line up real threads."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.runs = 0
        self.error = error

    def __call__(self, x: int) -> int:
        self.runs += 1
        self.started.set()
        assert self.release.wait(TIMEOUT)
        if self.error is not None:
            raise self.error
        return x * 2


class TestCacheThreads:
    def test_hundred_threads_one_run(self) -> None:
        """100 threads calling a slow f(1) at once: f runs once; 99 hits and 1 miss."""
        slow = SlowFunction()
        f = cache(slow)
        barrier = threading.Barrier(THREADS)

        def call(_: int) -> int:
            barrier.wait(TIMEOUT)
            return f(1)

        def release_when_all_joined() -> None:
            wait_until(lambda: f.cache_stats()["hits"] == THREADS - 1)
            slow.release.set()

        threading.Thread(target=release_when_all_joined).start()
        assert run_threads(THREADS, call) == [2] * THREADS
        assert slow.runs == 1
        stats = f.cache_stats()
        assert (stats["hits"], stats["misses"], stats["size"]) == (THREADS - 1, 1, 1)

    def test_different_keys_run_in_parallel(self) -> None:
        """Computations of different keys overlap: no lock is held while one runs."""
        barrier = threading.Barrier(8)

        @cache
        def f(x: int) -> int:
            barrier.wait(TIMEOUT)  # only passes if all 8 computations run at once
            return x

        assert run_threads(8, f) == list(range(8))

    def test_exception_reaches_every_waiter(self) -> None:
        """When the computation raises, every waiter gets the exception; nothing is cached."""
        slow = SlowFunction(error=LookupError("backend down"))
        f = cache(slow)
        barrier = threading.Barrier(20)

        def call(_: int) -> int:
            barrier.wait(TIMEOUT)
            return f(1)

        def release_when_all_joined() -> None:
            wait_until(lambda: f.cache_stats()["hits"] == 19)
            slow.release.set()

        threading.Thread(target=release_when_all_joined).start()
        results = run_threads(20, call)
        assert all(isinstance(result, LookupError) for result in results)
        assert slow.runs == 1
        slow.error = None
        assert f(1) == 2
        assert slow.runs == 2

    def test_interrupted_owner_lets_waiters_compute(self) -> None:
        """If the owner is interrupted (KeyboardInterrupt), a waiter computes instead."""
        release = threading.Event()
        runs: list[int] = []

        @cache
        def f(x: int) -> int:
            runs.append(x)
            if len(runs) == 1:
                assert release.wait(TIMEOUT)
                raise KeyboardInterrupt
            return x * 2

        outcomes: list[Any] = []

        def owner() -> None:
            try:
                f(1)
            except KeyboardInterrupt as interrupt:
                outcomes.append(interrupt)

        owner_thread = threading.Thread(target=owner)
        owner_thread.start()
        wait_until(lambda: runs == [1])
        waiter = threading.Thread(target=lambda: outcomes.append(f(1)))
        waiter.start()
        wait_until(lambda: f.cache_stats()["hits"] == 1)
        release.set()
        owner_thread.join(TIMEOUT)
        waiter.join(TIMEOUT)
        assert isinstance(outcomes[0], KeyboardInterrupt)
        assert outcomes[1:] == [2]
        assert runs == [1, 1]
        stats = f.cache_stats()  # the waiter joined (a hit), then computed (a miss)
        assert (stats["hits"], stats["misses"], stats["size"]) == (1, 2, 1)

    def test_value_stored_while_looking(self) -> None:
        """A value that turns up between the lock-free look and the locked one is a hit."""
        clock = SteppingBackClock()
        runs: list[int] = []

        @cache(ttl=5, clock=clock)
        def f(x: int) -> int:
            runs.append(x)
            return x

        f(1)  # stored at 0.0, expires at 5.0
        clock.readings = [6.0, 0.0]  # the wrapper sees it expired, the locked look does not
        assert f(1) == 1
        assert runs == [1]
        assert f.cache_stats()["hits"] == 1

    def test_value_landed_before_registering(self) -> None:
        """A computation that lands between a call's lookup and its registration is a hit."""
        slow = SlowFunction()
        f = cache(slow)
        registering = threading.Event()
        landed = threading.Event()

        class PausingKey(int):
            """An int key that pauses its caller at its second hash: the registration."""

            hashes = 0

            def __hash__(self) -> int:
                PausingKey.hashes += 1
                if PausingKey.hashes == 2:
                    registering.set()
                    assert landed.wait(TIMEOUT)
                return int.__hash__(self)

        owner = threading.Thread(target=f, args=(1,))
        owner.start()
        assert slow.started.wait(TIMEOUT)
        results: list[int] = []
        late = threading.Thread(target=lambda: results.append(f(PausingKey(1))))
        late.start()
        assert registering.wait(TIMEOUT)  # the late call looked and missed
        slow.release.set()
        owner.join(TIMEOUT)
        landed.set()
        late.join(TIMEOUT)
        assert results == [2]
        assert slow.runs == 1
        stats = f.cache_stats()
        assert (stats["hits"], stats["misses"], stats["size"]) == (1, 1, 1)

    def test_entry_removed_during_a_hit(self) -> None:
        """An entry removed between the lock-free lookup and the recency update is a miss."""
        runs: list[int] = []

        class InvalidatingClock(ManualClock):
            armed = False

            def now(self) -> float:
                if self.armed:  # runs between the wrapper's lookup and its move_to_end
                    self.armed = False
                    f.cache_invalidate(1)
                return 0.0

        clock = InvalidatingClock()

        @cache(ttl=5, clock=clock)
        def f(x: int) -> int:
            runs.append(x)
            return x

        f(1)
        clock.armed = True
        assert f(1) == 1
        assert runs == [1, 1]
        stats = f.cache_stats()
        assert (stats["hits"], stats["misses"]) == (0, 2)

    def test_reentering_the_same_key_raises(self) -> None:
        """A computation calling itself with the same key raises instead of deadlocking."""

        @cache
        def f(x: int) -> int:
            return f(x)

        with pytest.raises(RuntimeError, match="same arguments from inside its own"):
            f(1)
        assert f.cache_stats()["size"] == 0

    def test_recursion_over_other_keys(self) -> None:
        """A cached Fibonacci recurses over other keys, computing each once."""
        runs: list[int] = []

        @cache(maxsize=256)
        def fib(n: int) -> int:
            runs.append(n)
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        assert fib(90) == 2880067194370816120
        assert sorted(runs) == list(range(91))

    def test_cycle_between_threads_raises(self) -> None:
        """Two computations waiting for each other raise instead of deadlocking."""
        barrier = threading.Barrier(2)

        @cache
        def f(x: int) -> int:
            barrier.wait(TIMEOUT)  # both computations are under way
            return f(1 - x) + 1

        results = run_threads(2, f)
        assert all(isinstance(result, RuntimeError) for result in results)
        assert any("would deadlock" in str(result) for result in results)
        assert f.cache_stats()["size"] == 0

    @pytest.mark.parametrize("action", ["invalidate", "clear"])
    def test_invalidation_during_computation(self, action: str) -> None:
        """A result computed before cache_invalidate/cache_clear is returned but not stored."""
        slow = SlowFunction()
        f = cache(slow)
        caller = threading.Thread(target=f, args=(1,))
        caller.start()
        assert slow.started.wait(TIMEOUT)
        joined: list[int] = []
        waiter = threading.Thread(target=lambda: joined.append(f(1)))
        waiter.start()
        wait_until(lambda: f.cache_stats()["hits"] == 1)
        if action == "invalidate":
            assert f.cache_invalidate(1) is False  # nothing was cached yet
        else:
            f.cache_clear()
        slow.release.set()
        caller.join(TIMEOUT)
        waiter.join(TIMEOUT)
        assert joined == [2]
        assert f.cache_stats()["size"] == 0

    def test_invalidation_of_uncontended_computation(self) -> None:
        """Invalidating a computation nobody waits for also keeps its result out."""
        slow = SlowFunction()
        f = cache(slow)
        caller = threading.Thread(target=f, args=(1,))
        caller.start()
        assert slow.started.wait(TIMEOUT)
        f.cache_invalidate(1)
        slow.release.set()
        caller.join(TIMEOUT)
        assert f.cache_stats()["size"] == 0

    @pytest.mark.usefixtures("fast_switching")
    def test_clear_and_invalidate_during_lock_free_hits(self) -> None:
        """cache_clear/cache_invalidate while other threads hit never break a call."""

        @cache(maxsize=64, ttl=60)
        def f(x: int) -> int:
            return -x

        stop = threading.Event()
        barrier = threading.Barrier(9)

        def hit(index: int) -> int:
            barrier.wait(TIMEOUT)
            calls = 0
            while not stop.is_set() or calls < 100:
                assert f(calls % 50) == -(calls % 50)
                calls += 1
            return calls

        def disrupt(_: int) -> int:
            barrier.wait(TIMEOUT)
            for round_ in range(1000):
                if round_ % 20:
                    f.cache_invalidate(round_ % 50)
                else:
                    f.cache_clear()
            stop.set()
            return 0

        results = run_threads(9, lambda index: disrupt(index) if index == 8 else hit(index))
        assert not any(isinstance(result, BaseException) for result in results)

    def test_threads_hammering_keep_invariants(self) -> None:
        """Many threads over few keys: hits + misses equals calls; size stays bounded."""
        runs: dict[int, int] = {}
        clock = ManualClock()

        @cache(maxsize=8, ttl=5, clock=clock)
        def f(x: int) -> int:
            runs[x] = runs.get(x, 0) + 1
            return -x

        barrier = threading.Barrier(32)

        def work(index: int) -> int:
            rng = random.Random(index)
            barrier.wait(TIMEOUT)
            for step in range(200):
                x = rng.randrange(12)
                assert f(x) == -x
                if step % 50 == 0 and index == 0:
                    clock.advance(1)
            return 200

        assert run_threads(32, work) == [200] * 32
        stats = f.cache_stats()
        assert stats["hits"] + stats["misses"] == 32 * 200
        assert stats["misses"] == sum(runs.values())
        assert stats["size"] <= 8


# -- async: single-flight with tasks -------------------------------------------------------


class SlowCoroutine:
    """A coroutine function blocked on an asyncio.Event, counting its runs."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.release = asyncio.Event()
        self.runs = 0
        self.cancelled = 0
        self.error = error

    async def __call__(self, x: int) -> int:
        self.runs += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return x * 2


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(5):
        await asyncio.sleep(0)


class TestAsyncCache:
    @pytest.mark.parametrize("decorator", [cache, async_cache], ids=["cache", "async_cache"])
    def test_stays_a_coroutine_function(self, decorator: Callable[..., Any]) -> None:
        """The wrapper of an async def is a coroutine function with the same signature."""

        async def fetch(user_id: int, *, fresh: bool = False) -> int:
            return user_id

        wrapped = decorator(fetch)
        assert inspect.iscoroutinefunction(wrapped)
        assert inspect.signature(wrapped) == inspect.signature(fetch)

    async def test_many_tasks_one_run(self) -> None:
        """100 tasks awaiting f(1) at once: it runs once; 99 hits and 1 miss."""
        slow = SlowCoroutine()
        f = async_cache(slow)
        tasks = [asyncio.create_task(f(1)) for _ in range(THREADS)]
        await settle()
        slow.release.set()
        assert await asyncio.gather(*tasks) == [2] * THREADS
        assert slow.runs == 1
        stats = f.cache_stats()
        assert (stats["hits"], stats["misses"]) == (THREADS - 1, 1)
        assert await f(1) == 2

    async def test_cache_decorates_async_def(self) -> None:
        """@cache on an async def has the same single-flight behaviour."""
        slow = SlowCoroutine()
        f = cache(maxsize=4, ttl=60)(slow)
        tasks = [asyncio.create_task(f(3)) for _ in range(10)]
        await settle()
        slow.release.set()
        assert await asyncio.gather(*tasks) == [6] * 10
        assert slow.runs == 1

    async def test_different_keys_run_in_parallel(self) -> None:
        """Computations of different keys overlap."""
        barrier = asyncio.Barrier(5)

        @async_cache
        async def f(x: int) -> int:
            await barrier.wait()
            return x

        assert await asyncio.wait_for(asyncio.gather(*(f(x) for x in range(5))), TIMEOUT) == [
            0,
            1,
            2,
            3,
            4,
        ]

    async def test_exception_reaches_every_waiter(self) -> None:
        """Every waiter gets the computation's exception; nothing is cached."""
        slow = SlowCoroutine(error=LookupError("down"))
        f = async_cache(slow)
        tasks = [asyncio.create_task(f(1)) for _ in range(10)]
        await settle()
        slow.release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(result, LookupError) for result in results)
        slow.error = None
        assert await f(1) == 2
        assert slow.runs == 2

    async def test_cancelling_one_waiter_keeps_the_computation(self) -> None:
        """Cancelling a waiting task does not cancel the computation others wait for."""
        slow = SlowCoroutine()
        f = async_cache(slow)
        first = asyncio.create_task(f(1))
        second = asyncio.create_task(f(1))
        await settle()
        first.cancel()
        await settle()
        assert first.cancelled()
        slow.release.set()
        assert await second == 2
        assert (slow.runs, slow.cancelled) == (1, 0)
        assert f.cache_stats()["size"] == 1

    async def test_cancelling_every_waiter_cancels_and_caches_nothing(self) -> None:
        """When the last waiter is cancelled the computation is cancelled and not cached."""
        slow = SlowCoroutine()
        f = async_cache(slow)
        tasks = [asyncio.create_task(f(1)) for _ in range(3)]
        await settle()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await settle()
        assert slow.cancelled == 1
        assert f.cache_stats()["size"] == 0
        slow.release.set()
        assert await f(1) == 2
        assert slow.runs == 2

    async def test_cancelled_computation_is_not_cached(self) -> None:
        """A computation that is itself cancelled propagates the cancellation, uncached."""

        @async_cache
        async def f(x: int) -> int:
            raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(f(1))
        assert f.cache_stats()["size"] == 0

    async def test_value_stored_while_looking(self) -> None:
        """A value that turns up between the lock-free look and the locked one is a hit."""
        clock = SteppingBackClock()

        @async_cache(ttl=5, clock=clock)
        async def f(x: int) -> int:
            return x

        await f(1)
        clock.readings = [6.0, 0.0]
        assert await f(1) == 1
        stats = f.cache_stats()
        assert (stats["hits"], stats["misses"]) == (1, 1)

    async def test_reentering_the_same_key_raises(self) -> None:
        """A coroutine awaiting itself with the same key raises instead of deadlocking."""

        @async_cache
        async def f(x: int) -> int:
            return await f(x)

        with pytest.raises(RuntimeError, match="same arguments from inside its own"):
            await f(1)

    async def test_recursion_over_other_keys(self) -> None:
        """An async cached Fibonacci works, computing each key once."""
        runs: list[int] = []

        @async_cache(maxsize=128)
        async def fib(n: int) -> int:
            runs.append(n)
            return n if n < 2 else await fib(n - 1) + await fib(n - 2)

        assert await fib(60) == 1548008755920
        assert sorted(runs) == list(range(61))

    async def test_cycle_between_tasks_raises(self) -> None:
        """Two computations awaiting each other raise instead of deadlocking."""
        barrier = asyncio.Barrier(2)

        @async_cache
        async def f(x: int) -> int:
            await barrier.wait()
            return await f(1 - x) + 1

        results = await asyncio.wait_for(
            asyncio.gather(f(0), f(1), return_exceptions=True), TIMEOUT
        )
        assert all(isinstance(result, RuntimeError) for result in results)

    async def test_ttl_and_invalidate(self) -> None:
        """ttl, cache_invalidate and cache_clear work for coroutine functions."""
        clock = ManualClock()
        runs: list[int] = []

        @async_cache(ttl=5, clock=clock)
        async def f(x: int) -> int:
            runs.append(x)
            return x

        await f(1)
        await f(1)
        clock.advance(5)
        await f(1)
        assert f.cache_invalidate(1) is True
        await f(1)
        f.cache_clear()
        await f(1)
        assert runs == [1, 1, 1, 1]

    async def test_invalidation_during_computation(self) -> None:
        """A result computed before cache_clear is delivered but not stored."""
        slow = SlowCoroutine()
        f = async_cache(slow)
        task = asyncio.create_task(f(1))
        await settle()
        f.cache_clear()
        slow.release.set()
        assert await task == 2
        assert f.cache_stats()["size"] == 0

    def test_works_across_event_loops(self) -> None:
        """Successive asyncio.run calls share the cache and compute anew after a clear."""
        runs: list[int] = []

        @async_cache
        async def f(x: int) -> int:
            await asyncio.sleep(0)
            runs.append(x)
            return x

        assert asyncio.run(f(1)) == 1
        assert asyncio.run(f(1)) == 1
        f.cache_clear()
        assert asyncio.run(f(1)) == 1
        assert runs == [1, 1]

    def test_computation_left_on_a_closed_loop(self, caplog: pytest.LogCaptureFixture) -> None:
        """A computation stranded on a closed loop does not block the next loop."""
        # caplog keeps asyncio's "Task was destroyed but it is pending!" out of the output.
        started = threading.Event()

        @async_cache
        async def f(x: int) -> int:
            if not started.is_set():
                started.set()
                await asyncio.Event().wait()  # never finishes on the first loop
            return x

        old_loop = asyncio.new_event_loop()
        stranded = old_loop.create_task(f(1))
        old_loop.run_until_complete(asyncio.sleep(0.0))
        assert started.is_set()
        old_loop.close()
        assert asyncio.run(f(1)) == 1
        assert f.cache_stats()["misses"] == 2
        del stranded
        gc.collect()

    def test_computation_running_on_another_loop(self) -> None:
        """A loop in another thread computing the key does not block this loop's call."""
        release = threading.Event()
        started = threading.Event()

        @async_cache
        async def f(x: int) -> int:
            if not started.is_set():
                started.set()
                await asyncio.to_thread(release.wait, TIMEOUT)
            return x

        other = threading.Thread(target=lambda: asyncio.run(f(1)))
        other.start()
        assert started.wait(TIMEOUT)
        assert asyncio.run(f(1)) == 1
        release.set()
        other.join(TIMEOUT)
        assert f.cache_stats()["misses"] == 2


# -- methods -------------------------------------------------------------------------------


class Repository:
    """A class with cached methods, counting computations."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.runs = 0

    @cache(maxsize=4)
    def lookup(self, user_id: int, verbose: bool = False) -> str:
        """Look a user up."""
        self.runs += 1
        return f"{self.name}:{user_id}"

    @async_cache
    async def fetch(self, user_id: int) -> str:
        self.runs += 1
        await asyncio.sleep(0)
        return f"{self.name}:{user_id}"

    @classmethod
    @cache
    def create(cls, name: str) -> Repository:
        return cls(name)

    @staticmethod
    @cache
    def double(x: int) -> int:
        return x * 2


class Slotted:
    """Neither weakly referable (slots without __weakref__) nor hashable (eq without hash)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slotted)

    __hash__ = None  # type: ignore[assignment]  # unhashable, as a mutable value class is

    @cache
    def value(self) -> int:
        return 1


class TestCachedMethods:
    def test_caches_per_instance(self) -> None:
        """Each instance has its own cache; arguments bind as for functions."""
        first, second = Repository("a"), Repository("b")
        assert first.lookup(1) == first.lookup(user_id=1) == "a:1"
        assert second.lookup(1) == "b:1"
        assert (first.runs, second.runs) == (1, 1)
        assert first.lookup.cache_stats()["hits"] == 1
        assert second.lookup.cache_stats()["hits"] == 0

    def test_does_not_keep_instances_alive(self) -> None:
        """del obj; gc.collect() frees an instance whose method was cached."""
        repo = Repository("gone")
        repo.lookup(1)
        ref = weakref.ref(repo)
        del repo
        gc.collect()
        assert ref() is None
        assert Repository.lookup.cache_stats()["size"] == 0

    async def test_async_method_does_not_keep_instances_alive(self) -> None:
        """The same holds for async methods."""
        repo = Repository("gone")
        assert await repo.fetch(1) == "gone:1"
        assert await repo.fetch(1) == "gone:1"
        assert repo.runs == 1
        ref = weakref.ref(repo)
        del repo
        gc.collect()
        assert ref() is None

    def test_bound_method_metadata(self) -> None:
        """A bound cached method looks like a method of the original function."""
        repo = Repository("m")
        assert repo.lookup.__name__ == "lookup"
        assert repo.lookup.__doc__ == "Look a user up."
        assert list(inspect.signature(repo.lookup).parameters) == ["user_id", "verbose"]
        assert inspect.iscoroutinefunction(repo.fetch)
        assert inspect.iscoroutinefunction(Repository.fetch)
        assert repr(Repository.lookup) == f"<cached method {__name__}.Repository.lookup>"

    def test_instance_invalidate_and_clear(self) -> None:
        """obj.method.cache_invalidate/cache_clear act on that instance only."""
        first, second = Repository("a"), Repository("b")
        first.lookup(1)
        second.lookup(1)
        assert first.lookup.cache_invalidate(1) is True
        assert first.lookup.cache_invalidate(user_id=1) is False
        first.lookup.cache_clear()
        assert second.lookup.cache_stats()["size"] == 1

    def test_class_level_control(self) -> None:
        """Through the class, stats sum every instance, and clear/invalidate reach them."""
        first, second = Repository("a"), Repository("b")
        first.lookup(1)
        first.lookup(1)
        second.lookup(2)
        stats = Repository.lookup.cache_stats()
        assert (stats["hits"], stats["misses"], stats["size"]) >= (1, 2, 2)
        assert Repository.lookup.cache_invalidate(first, 1) is True
        assert Repository.lookup.cache_invalidate(first, 1) is False
        Repository.lookup.cache_clear()
        assert second.lookup.cache_stats()["size"] == 0

    def test_call_through_the_class(self) -> None:
        """Repository.lookup(obj, x) works, using a cache shared by the class."""
        repo = Repository("c")
        assert Repository.lookup(repo, 5) == Repository.lookup(repo, 5) == "c:5"
        assert repo.runs == 1
        assert Repository.lookup.cache_invalidate(repo, 5) is True

    def test_classmethod_and_staticmethod(self) -> None:
        """@classmethod and @staticmethod above @cache work."""
        # mypy does not apply @classmethod/@staticmethod to a callable protocol, so it
        # misreads these calls; they are fine at run time.
        assert Repository.create("x") is Repository.create("x")  # type: ignore[call-arg, arg-type]
        assert Repository.double(2) == 4
        assert Repository("d").double(2) == 4  # type: ignore[call-arg]

    def test_instance_without_weakref_support(self) -> None:
        """Instances neither weakly referable nor hashable get a TypeError saying how to fix it."""
        with pytest.raises(TypeError, match="__weakref__"):
            Slotted().value()

    def test_threads_share_one_instance_cache(self) -> None:
        """Many threads binding the same instance's method at once use one cache."""
        repo = Repository("t")
        barrier = threading.Barrier(16)

        def call(_: int) -> str:
            barrier.wait(TIMEOUT)
            return repo.lookup(7)

        assert run_threads(16, call) == ["t:7"] * 16
        assert repo.runs == 1
        stats = repo.lookup.cache_stats()
        assert (stats["hits"], stats["misses"]) == (15, 1)
