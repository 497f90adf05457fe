"""Tests of CachedProperty."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from python_mastery_portfolio.caching._property import CachedProperty, _Guard
from tests.conftest import TIMEOUT, raise_first, run_threads

_GUARD_PREFIX = "__cached_property_lock_"


def _guards(obj: object) -> list[str]:
    """Return the names of the computation guards left in the instance __dict__."""
    return [key for key in vars(obj) if key.startswith(_GUARD_PREFIX)]


class Counted:
    """Each read of ``value`` that computes returns the number of computations so far."""

    def __init__(self) -> None:
        self.calls = 0

    @CachedProperty
    def value(self) -> int:
        """The number of computations."""
        self.calls += 1
        return self.calls


class TestCachedPropertyBasics:
    def test_seed_example(self) -> None:
        """The seed's example works (with a smaller range)."""

        class ExpensiveComputation:
            @CachedProperty
            def result(self) -> int:
                # Computed only once, then cached
                return sum(range(1000))

        job = ExpensiveComputation()
        assert job.result == 499500
        assert job.result == 499500

    def test_seed_data_processor(self) -> None:
        """The seed's section 8.2 example loads its model once."""
        loads: list[int] = []

        def load_large_ml_model() -> dict[str, int]:
            loads.append(1)
            return {"weights": 3}

        class DataProcessor:
            @CachedProperty
            def model(self) -> dict[str, int]:
                # Loaded only once, reused thereafter
                return load_large_ml_model()

        processor = DataProcessor()
        assert processor.model is processor.model
        assert loads == [1]

    def test_computed_once(self) -> None:
        """The getter runs on the first read only."""
        obj = Counted()
        assert [obj.value, obj.value, obj.value] == [1, 1, 1]
        assert obj.calls == 1

    def test_stored_in_instance_dict(self) -> None:
        """The value lives in the instance __dict__ under the attribute name; no guard remains."""
        obj = Counted()
        assert obj.value == 1
        assert vars(obj) == {"calls": 1, "value": 1}

    def test_per_instance(self) -> None:
        """Each instance computes its own value."""
        first, second = Counted(), Counted()
        first.calls = 10
        assert (first.value, second.value) == (11, 1)

    def test_class_access_returns_descriptor(self) -> None:
        """Reading the attribute on the class returns the descriptor itself."""
        descriptor = Counted.value
        assert isinstance(descriptor, CachedProperty)
        assert descriptor is Counted.__dict__["value"]
        assert descriptor.attrname == "value"
        assert descriptor.__doc__ == "The number of computations."
        assert descriptor.__module__ == __name__
        assert repr(descriptor) == "<CachedProperty 'value'>"

    def test_delete_recomputes(self) -> None:
        """del drops the cached value and the next read computes again."""
        obj = Counted()
        assert obj.value == 1
        del obj.value
        assert obj.value == 2
        assert obj.value == 2

    def test_delete_uncached(self) -> None:
        """Deleting a value never computed is an AttributeError, as for a plain attribute."""
        with pytest.raises(AttributeError):
            del Counted().value

    def test_assignment_overrides(self) -> None:
        """Assigning replaces the cached value without calling the getter."""
        obj = Counted()
        obj.value = 42
        assert obj.value == 42
        assert obj.calls == 0

    def test_exception_not_cached(self) -> None:
        """A raising getter propagates, caches nothing, leaves no guard, and is retried."""
        failures = [ValueError("first")]

        class Flaky:
            @CachedProperty
            def value(self) -> str:
                if failures:
                    raise failures.pop()
                return "ok"

        obj = Flaky()
        with pytest.raises(ValueError, match="first"):
            _ = obj.value
        assert vars(obj) == {}
        assert obj.value == "ok"

    def test_recursion_is_an_error(self) -> None:
        """A getter reading its own attribute raises RecursionError instead of deadlocking."""

        class Loop:
            @CachedProperty
            def value(self) -> int:
                return self.value + 1

        obj = Loop()
        with pytest.raises(RecursionError, match="'value' of 'Loop' read itself"):
            _ = obj.value
        assert vars(obj) == {}

    def test_name_mangled(self) -> None:
        """A private (name-mangled) attribute is cached under its mangled name."""

        class Secret:
            @CachedProperty
            def __token(self) -> str:
                return "t"

            def token(self) -> str:
                return self.__token

        obj = Secret()
        assert obj.token() == "t"
        assert vars(obj) == {"_Secret__token": "t"}

    def test_inherited(self) -> None:
        """Subclasses inherit the cached property and cache per instance."""

        class Child(Counted):
            pass

        obj = Child()
        assert (obj.value, obj.value) == (1, 1)

    def test_override_reads_parent_through_super(self) -> None:
        """A subclass's cached property may build on the parent's of the same name."""

        class Child(Counted):
            @CachedProperty
            def value(self) -> int:
                return super().value + 100

        obj = Child()
        assert obj.value == 101
        assert obj.value == 101
        assert obj.calls == 1
        assert _guards(obj) == []

    def test_direct_get_returns_cached(self) -> None:
        """Calling __get__ directly returns the cached value without computing again."""
        obj = Counted()
        assert obj.value == 1
        assert Counted.__dict__["value"].__get__(obj, Counted) == 1
        assert obj.calls == 1

    def test_generic_subscript(self) -> None:
        """CachedProperty can be subscripted at run time, as in annotations."""
        assert CachedProperty[int] is not None


class TestCachedPropertyErrors:
    def test_slots_without_dict(self) -> None:
        """An instance without __dict__ gets a clear TypeError on access."""

        class Slotted:
            __slots__ = ("x",)

            @CachedProperty
            def value(self) -> int:
                return 1

        with pytest.raises(TypeError, match=r"No '__dict__' attribute on 'Slotted' instance"):
            _ = Slotted().value

    def test_slots_mixin_with_dict_subclass(self) -> None:
        """A __slots__ = () mixin may define one for subclasses that have a __dict__."""

        class Mixin:
            __slots__ = ()

            @CachedProperty
            def value(self) -> str:
                return type(self).__name__

        class Concrete(Mixin):
            pass

        assert Concrete().value == "Concrete"

    def test_slots_with_dict(self) -> None:
        """A class listing __dict__ in its __slots__ works."""

        class Slotted:
            __slots__ = ("__dict__", "x")

            @CachedProperty
            def value(self) -> int:
                return 5

        assert Slotted().value == 5

    def test_without_set_name(self) -> None:
        """A descriptor never bound to a name refuses to work."""

        def getter(self: object) -> int:
            return 1

        prop = CachedProperty(getter)
        assert repr(prop) == "<CachedProperty 'getter'>"
        with pytest.raises(TypeError, match="without calling __set_name__"):
            prop.__get__(Counted(), Counted)

    def test_two_names(self) -> None:
        """One descriptor cannot serve two names; re-binding the same name is fine."""
        prop = CachedProperty(lambda self: 1)
        prop.__set_name__(Counted, "a")
        prop.__set_name__(Counted, "a")
        with pytest.raises(TypeError, match="two different names"):
            prop.__set_name__(Counted, "b")

    @pytest.mark.parametrize("func", [3, None], ids=["int", "none"])
    def test_not_callable(self, func: Any) -> None:
        """A getter that is not callable is a TypeError naming func."""
        with pytest.raises(TypeError, match=r"^func must be callable"):
            CachedProperty(func)

    def test_coroutine_function_refused(self) -> None:
        """A coroutine function is refused: its coroutine could be awaited only once."""

        async def getter(self: object) -> int:
            return 1

        with pytest.raises(TypeError, match="cannot cache coroutine function"):
            CachedProperty(getter)


class TestCachedPropertyConcurrency:
    def test_threads_compute_once(self) -> None:
        """Fifty threads reading the attribute together compute it once and agree."""
        workers = 50
        entered = threading.Event()
        release = threading.Event()
        calls: list[int] = []

        class Slow:
            @CachedProperty
            def value(self) -> object:
                calls.append(1)
                entered.set()
                release.wait(TIMEOUT)
                return object()

        obj = Slow()
        results: list[object] = []

        def read(index: int) -> None:
            if index == workers:
                # The last thread drives: it lets the computation finish once one has begun.
                entered.wait(TIMEOUT)
                release.set()
                return
            results.append(obj.value)

        raise_first(run_threads(workers + 1, read))
        assert len(calls) == 1
        assert len(results) == workers
        assert all(result is results[0] for result in results)
        assert _guards(obj) == []

    def test_threads_with_delete(self) -> None:
        """Rounds of reads and deletes from 32 threads compute once per round."""
        obj = Counted()
        for round_number in range(1, 11):
            seen: set[int] = set()

            def read(seen: set[int] = seen) -> None:
                seen.add(obj.value)

            raise_first(run_threads(32, lambda _: read()))
            assert seen == {round_number}
            del obj.value
        assert obj.calls == 10

    def test_failure_then_success(self) -> None:
        """When the first computation fails under contention, one other thread computes."""
        workers = 32
        calls: list[int] = []
        errors: list[BaseException] = []
        values: list[str] = []

        class Flaky:
            @CachedProperty
            def value(self) -> str:
                calls.append(1)
                if len(calls) == 1:
                    raise OSError("first")
                return "ok"

        obj = Flaky()

        def read() -> None:
            try:
                values.append(obj.value)
            except OSError as error:
                errors.append(error)

        raise_first(run_threads(workers, lambda _: read()))
        assert len(calls) == 2
        assert len(errors) == 1
        assert values == ["ok"] * (workers - 1)
        assert vars(obj) == {"value": "ok"}

    def test_instances_do_not_block_each_other(self) -> None:
        """While instance A's computation is blocked, instance B computes and returns."""
        a_started = threading.Event()
        release_a = threading.Event()

        class Service:
            def __init__(self, name: str) -> None:
                self.name = name

            @CachedProperty
            def value(self) -> str:
                if self.name == "a":
                    a_started.set()
                    release_a.wait(TIMEOUT)
                return self.name

        a, b = Service("a"), Service("b")
        a_result: list[str] = []
        reader_a = threading.Thread(target=lambda: a_result.append(a.value))
        reader_a.start()
        try:
            assert a_started.wait(TIMEOUT)
            b_result: list[str] = []
            reader_b = threading.Thread(target=lambda: b_result.append(b.value))
            reader_b.start()
            reader_b.join(timeout=5)  # far below TIMEOUT: B must not wait for A at all
            assert not reader_b.is_alive(), "instance B waited for instance A"
            assert b_result == ["b"]
            assert a_result == []
        finally:
            release_a.set()
            reader_a.join(TIMEOUT)
        assert not reader_a.is_alive()
        assert a_result == ["a"]

    def test_attributes_do_not_block_each_other(self) -> None:
        """While one attribute's computation is blocked, another of the same instance computes."""
        first_started = threading.Event()
        release_first = threading.Event()

        class Service:
            @CachedProperty
            def first(self) -> int:
                first_started.set()
                release_first.wait(TIMEOUT)
                return 1

            @CachedProperty
            def second(self) -> int:
                return 2

        obj = Service()
        reader = threading.Thread(target=lambda: obj.first)
        reader.start()
        try:
            assert first_started.wait(TIMEOUT)
            other = threading.Thread(target=lambda: obj.second)
            other.start()
            other.join(timeout=5)
            assert not other.is_alive(), "attribute 'second' waited for 'first'"
            assert obj.second == 2
            [guard] = _guards(obj)
            assert guard.startswith(_GUARD_PREFIX + "first_")
        finally:
            release_first.set()
            reader.join(TIMEOUT)
        assert not reader.is_alive()
        assert vars(obj) == {"first": 1, "second": 2}

    def test_stale_guard_is_replaced(self) -> None:
        """A reader that waited on a guard retired meanwhile starts over with a new guard."""

        class SignallingLock:
            """A lock that tells when a thread starts waiting on it."""

            def __init__(self) -> None:
                self.lock = threading.Lock()
                self.waiting = threading.Event()

            def __enter__(self) -> None:
                self.waiting.set()
                self.lock.acquire()

            def __exit__(self, *exc_info: object) -> None:
                self.lock.release()

        obj = Counted()
        key = Counted.__dict__["value"]._guard_key
        stale = _Guard()
        signalling = SignallingLock()
        stale.lock = signalling  # type: ignore[assignment]  # a stand-in that reports waiting
        vars(obj)[key] = stale
        signalling.lock.acquire()  # as if another thread were computing
        result: list[int] = []
        reader = threading.Thread(target=lambda: result.append(obj.value))
        reader.start()
        assert signalling.waiting.wait(TIMEOUT)
        del vars(obj)[key]  # the computation failed and retired its guard
        signalling.lock.release()
        reader.join(TIMEOUT)
        assert not reader.is_alive()
        assert result == [1]
        assert obj.calls == 1
        assert _guards(obj) == []


class TestCachedPropertyMemory:
    def test_instance_collectable_after_access(self) -> None:
        """Reading the property keeps no reference to the instance."""
        obj = Counted()
        assert obj.value == 1
        ref = weakref.ref(obj)
        del obj
        gc.collect()
        assert ref() is None

    def test_instance_collectable_after_failure(self) -> None:
        """A failed computation keeps no reference to the instance either."""

        class Failing:
            @CachedProperty
            def value(self) -> int:
                raise LookupError

        obj = Failing()
        with pytest.raises(LookupError):
            _ = obj.value
        ref = weakref.ref(obj)
        del obj
        gc.collect()
        assert ref() is None

    def test_no_guard_left_after_contention(self) -> None:
        """After many threads raced, no guard stays in the instance __dict__."""
        obj = Counted()

        def read() -> None:
            _ = obj.value

        raise_first(run_threads(32, lambda _: read()))
        assert _guards(obj) == []


class CachedPropertyMachine(RuleBasedStateMachine):
    """Reads, deletes and assignments behave like a lazily filled attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.obj = Counted()
        self.cached: int | None = None
        self.computations = 0

    @rule()
    def read(self) -> None:
        if self.cached is None:
            self.computations += 1
            self.cached = self.computations
        assert self.obj.value == self.cached

    @rule()
    def delete(self) -> None:
        if self.cached is None:
            with pytest.raises(AttributeError):
                del self.obj.value
        else:
            del self.obj.value
            self.cached = None

    @rule(value=st.integers(min_value=-100, max_value=-1))
    def assign(self, value: int) -> None:
        self.obj.value = value
        self.cached = value

    @invariant()
    def computed_only_when_needed(self) -> None:
        assert self.obj.calls == self.computations
        assert _guards(self.obj) == []


TestCachedPropertyStateful = CachedPropertyMachine.TestCase
TestCachedPropertyStateful.settings = settings(max_examples=50, deadline=None)
