"""Cached methods on every kind of instance, and copying or pickling them (issue 16).

In the style of CPython's ``test_functools`` (``test_lru_method``, ``test_pickle``,
``test_copy``, ``test_deepcopy``): bug 1 (instances without weak references), bug 2 (a
cached method read from its class copies and pickles as itself) and bug 3 (a deep-copied
bound method uses the copy's own instance).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import pickle
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest

from python_mastery_portfolio.caching import async_cache, cache
from tests.conftest import TIMEOUT, raise_first, run_threads

# -- bug 1: instances without weak references ----------------------------------------------


class Point(NamedTuple):
    x: int

    @cache
    def double(self) -> int:
        """Twice x."""
        RUNS.append(("Point", self.x))
        return self.x * 2

    @async_cache
    async def adouble(self) -> int:
        RUNS.append(("Point.async", self.x))
        await asyncio.sleep(0)
        return self.x * 2


class Meters(int):
    @cache
    def double(self) -> int:
        RUNS.append(("Meters", int(self)))
        return int(self) * 2


class Name(str):
    __slots__ = ()  # without it, a str subclass has __weakref__ and caches per instance

    @cache
    def double(self) -> str:
        RUNS.append(("Name", str(self)))
        return str(self) * 2


class Pair(tuple[int, int]):
    @cache
    def double(self) -> int:
        RUNS.append(("Pair", self[0]))
        return self[0] * 2


@dataclass(slots=True, frozen=True)
class Frozen:
    x: int

    @cache
    def double(self) -> int:
        RUNS.append(("Frozen", self.x))
        return self.x * 2


@dataclass(slots=True, eq=False)
class Identity:
    x: int

    @cache
    def double(self) -> int:
        RUNS.append(("Identity", self.x))
        return self.x * 2


@dataclass(slots=True)
class Mutable:
    x: int

    @cache
    def double(self) -> int:
        return self.x * 2


RUNS: list[tuple[str, Any]] = []

KINDS: list[Any] = [Point(3), Meters(3), Name("3"), Pair((3, 0)), Frozen(3), Identity(3)]
KIND_IDS = [
    "NamedTuple",
    "int-subclass",
    "str-subclass",
    "tuple-subclass",
    "frozen-slots",
    "eq-false",
]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    RUNS.clear()
    for cls in (Point, Meters, Name, Pair, Frozen, Identity):
        cls.double.cache_clear()
    Point.adouble.cache_clear()


class TestInstancesWithoutWeakReferences:
    @pytest.mark.parametrize("instance", KINDS, ids=KIND_IDS)
    def test_cached_once(self, instance: Any) -> None:
        """The method computes once per instance, like lru_cache on the same class."""
        first, second = instance.double(), instance.double()
        assert first == second == instance.double.__wrapped__(instance)
        assert len(RUNS) == 2  # one by the cache, one by the direct __wrapped__ call above
        stats = type(instance).double.cache_stats()
        assert (stats["hits"], stats["misses"], stats["size"]) == (1, 1, 1)

    @pytest.mark.parametrize("instance", KINDS, ids=KIND_IDS)
    def test_call_through_the_class_shares_the_entry(self, instance: Any) -> None:
        """Class.method(obj) and obj.method() use one entry, keyed by the instance."""
        assert instance.double() == type(instance).double(instance)
        assert len(RUNS) == 1

    def test_equal_instances_share_an_entry(self) -> None:
        """Keyed by value, as lru_cache keys self: equal instances share one result."""
        assert Point(5).double() == Point(5).double() == 10
        assert RUNS == [("Point", 5)]

    def test_identity_hashed_instances_do_not(self) -> None:
        """Instances hashed by identity (eq=False) each get their own entry."""
        assert Identity(5).double() == Identity(5).double() == 10
        assert RUNS == [("Identity", 5), ("Identity", 5)]

    def test_bound_control_methods(self) -> None:
        """obj.method.cache_invalidate() drops that instance's entry; stats are shared."""
        point, other = Point(1), Point(2)
        point.double()
        other.double()
        assert point.double.cache_invalidate() is True
        assert point.double.cache_invalidate() is False
        assert other.double.cache_stats()["size"] == 1
        point.double.cache_clear()
        assert Point.double.cache_stats()["size"] == 0

    def test_bound_metadata(self) -> None:
        """The bound method looks like a method: name, signature, __self__, __wrapped__."""
        point = Point(4)
        method: Any = point.double
        assert (method.__name__, method.__self__) == ("double", point)
        assert method.__wrapped__ is Point.double.__wrapped__
        assert list(inspect.signature(method).parameters) == []
        assert repr(method).startswith("<bound cached method ")
        assert inspect.iscoroutinefunction(point.adouble)

    async def test_async_method(self) -> None:
        """async_cache methods work on a NamedTuple, one computation for concurrent awaits."""
        point = Point(6)
        results = await asyncio.gather(*(point.adouble() for _ in range(10)))
        assert results == [12] * 10
        assert RUNS == [("Point.async", 6)]

    def test_unhashable_instance_without_weak_references(self) -> None:
        """A @dataclass(slots=True) is unhashable and not weakly referable: told how to fix it."""
        with pytest.raises(TypeError, match=r"__weakref__.*weakref_slot=True.*frozen=True"):
            Mutable(1).double()

    def test_threads_compute_once(self) -> None:
        """Many threads calling the method of one value-cached instance compute it once."""
        point = Point(7)
        barrier = threading.Barrier(32)

        def call(_: int) -> int:
            barrier.wait(TIMEOUT)
            return point.double()

        assert raise_first(run_threads(32, call)) == [14] * 32
        assert RUNS == [("Point", 7)]


# -- bug 2: a cached method read from its class copies and pickles as itself ---------------


class Service:
    """Module-level, so that pickle finds its methods by qualified name."""

    def __init__(self, name: str) -> None:
        self.name = name

    @cache
    def lookup(self, key: str) -> str:
        return f"{self.name}:{key}"

    @staticmethod
    @cache
    def helper(x: int) -> int:
        return x + 1

    @classmethod
    @cache
    def create(cls, name: str) -> Service:
        return cls(name)

    @async_cache
    async def fetch(self, key: str) -> str:
        return key


CLASS_LEVEL = [
    pytest.param(lambda: Service.lookup, id="method"),
    pytest.param(lambda: Service.helper, id="staticmethod"),
    pytest.param(lambda: Service.fetch, id="async-method"),
]


class TestCopyAndPickleThroughTheClass:
    @pytest.mark.parametrize("read", CLASS_LEVEL)
    @pytest.mark.parametrize(
        "duplicate",
        [
            pytest.param(copy.copy, id="copy"),
            pytest.param(copy.deepcopy, id="deepcopy"),
            pytest.param(
                lambda obj: pickle.loads(pickle.dumps(obj)),
                id="pickle",
            ),
            *(
                pytest.param(
                    lambda obj, proto=proto: pickle.loads(pickle.dumps(obj, proto)),
                    id=f"pickle-protocol-{proto}",
                )
                for proto in range(pickle.HIGHEST_PROTOCOL + 1)
            ),
        ],
    )
    def test_returns_the_same_object(self, read: Any, duplicate: Any) -> None:
        """copy, deepcopy and a pickle round trip return the method itself, as functools."""
        method = read()
        assert duplicate(method) is method

    def test_copies_share_the_cache(self) -> None:
        """The copy is the method: its cache is the one the class already had."""
        assert Service.helper(1) == 2
        clone: Any = copy.deepcopy(Service.helper)
        assert clone(1) == 2
        assert clone.cache_stats()["hits"] >= 1

    def test_classmethod_pickles_by_reference(self) -> None:
        """A cached classmethod, bound to its class, round-trips through pickle too."""
        create: Any = Service.create  # mypy does not apply @classmethod to a callable protocol
        method = pickle.loads(pickle.dumps(create))
        assert method("x") is create("x")

    def test_bound_method_pickles_with_its_instance(self) -> None:
        """obj.method pickles as getattr(copy of obj, name), its own cache."""
        clone = pickle.loads(pickle.dumps(Service("ann").lookup))
        assert clone("k") == "ann:k"
        assert clone.__self__.name == "ann"


# -- bug 3: a deep-copied bound method uses the copy's own instance and cache ---------------


class Account:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.runs = 0

    @cache
    def greeting(self, punctuation: str = "") -> str:
        self.runs += 1
        return f"hello {self.owner}{punctuation}"

    @async_cache
    async def agreeting(self) -> str:
        self.runs += 1
        await asyncio.sleep(0)
        return f"hello {self.owner}"


class TestDeepCopiedBoundMethods:
    def test_reproduction(self) -> None:
        """The issue's reproduction: the clone greets its own owner."""
        callbacks = {"greet": Account("ann").greeting}
        assert callbacks["greet"]() == "hello ann"
        clone = copy.deepcopy(callbacks)
        clone["greet"].__self__.owner = "bob"  # type: ignore[attr-defined]
        assert clone["greet"]() == "hello bob"
        assert callbacks["greet"]() == "hello ann"

    def test_clone_caches_in_its_own_cache(self) -> None:
        """Calls through the copied method compute once on the copy, not on the original."""
        original = Account("ann")
        method: Any = original.greeting
        assert method("!") == "hello ann!"
        cloned: Any = copy.deepcopy(method)
        twin = cloned.__self__
        assert twin is not original
        twin.owner = "bob"
        assert [cloned("!"), cloned("!"), cloned(punctuation="!")] == ["hello bob!"] * 3
        assert (original.runs, twin.runs) == (1, 2)  # the twin copied runs=1, then ran once
        assert twin.greeting.cache_stats()["hits"] == 2
        assert original.greeting.cache_stats()["hits"] == 0

    def test_clone_outlives_the_original(self) -> None:
        """The copied method keeps working after the original instance is gone."""
        method: Any = Account("ann").greeting
        method()
        cloned: Any = copy.deepcopy(method)
        del method
        cloned.__self__.owner = "bob"
        assert cloned() == "hello bob"

    def test_shallow_copy_keeps_the_instance(self) -> None:
        """copy.copy of a bound method is bound to the same instance and cache."""
        account = Account("ann")
        method: Any = account.greeting
        method()
        assert copy.copy(method)() == "hello ann"
        assert copy.copy(method).__self__ is account
        assert account.runs == 1

    async def test_async_method(self) -> None:
        """The same holds for async_cache methods."""
        callbacks: dict[str, Any] = {"greet": Account("ann").agreeting}
        assert await callbacks["greet"]() == "hello ann"
        clone = copy.deepcopy(callbacks)
        clone["greet"].__self__.owner = "bob"
        assert await clone["greet"]() == "hello bob"
        assert await callbacks["greet"]() == "hello ann"

    def test_value_cached_instance(self) -> None:
        """A method cached by value deep-copies with its instance too."""
        method: Any = Point(2).double
        assert copy.deepcopy(method)() == 4
        assert copy.deepcopy(method).__self__ == Point(2)
