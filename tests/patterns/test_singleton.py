"""Tests of @singleton and reset_singleton."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import threading
from typing import Any, ClassVar

import pytest

from python_mastery_portfolio.patterns import _singleton as _singleton_module
from python_mastery_portfolio.patterns import reset_singleton, singleton
from tests.conftest import TIMEOUT, raise_first, run_threads, wait_until


@singleton
class Database:
    """The seed's singleton database connection."""

    created: ClassVar[int] = 0

    def __init__(self, url: str, *, pool: int = 5) -> None:
        type(self).created += 1
        self.url = url
        self.pool = pool


@pytest.fixture(autouse=True)
def _fresh() -> None:
    reset_singleton(Database)
    Database.created = 0


class TestClassStaysAClass:
    def test_decorator_returns_the_class(self) -> None:
        """The decorator returns the same class object, not a function."""

        class Plain:
            pass

        assert singleton(Plain) is Plain
        assert isinstance(Database, type)

    def test_isinstance_and_class_attributes(self) -> None:
        """isinstance and class attributes work on the decorated class."""
        db = Database("sqlite://")
        assert isinstance(db, Database)
        assert Database.created == 1
        assert Database.__name__ == "Database"

    def test_decorating_twice_is_harmless(self) -> None:
        """Decorating a singleton class again returns it unchanged."""
        assert singleton(Database) is Database
        assert Database("a") is Database()  # type: ignore[call-arg]  # bare call
        assert Database.created == 1

    def test_refuses_non_class(self) -> None:
        """Decorating something that is not a class is a TypeError."""
        with pytest.raises(TypeError, match="decorates a class"):
            singleton(len)  # type: ignore[arg-type]


class TestOneInstance:
    def test_same_instance_every_call(self) -> None:
        """Every call returns the first instance; __init__ ran once."""
        first = Database("sqlite://")
        assert Database() is first  # type: ignore[call-arg]  # bare call
        assert Database("sqlite://") is first
        assert Database(url="sqlite://", pool=5) is first
        assert first.url == "sqlite://"
        assert Database.created == 1

    def test_different_arguments_raise(self) -> None:
        """A later call with other arguments raises a TypeError naming the class."""
        Database("sqlite://")
        with pytest.raises(TypeError, match=r"singleton Database .*different arguments.*'pg://'"):
            Database("pg://")
        with pytest.raises(TypeError, match="pool=9"):
            Database("sqlite://", pool=9)

    def test_failed_init_builds_nothing(self) -> None:
        """When __init__ raises, no instance is kept and the next call tries again."""
        attempts: list[int] = []

        @singleton
        class Flaky:
            def __init__(self) -> None:
                attempts.append(1)
                if len(attempts) == 1:
                    raise OSError("first try fails")

        with pytest.raises(OSError, match="first try"):
            Flaky()
        assert isinstance(Flaky(), Flaky)
        assert len(attempts) == 2

    def test_recursive_construction_raises(self) -> None:
        """__init__ asking for its own instance is a RuntimeError, not a deadlock."""

        @singleton
        class Loop:
            def __init__(self) -> None:
                Loop()

        with pytest.raises(RuntimeError, match="asked for itself"):
            Loop()

    def test_wrong_arguments_to_first_call(self) -> None:
        """Arguments __init__ does not accept fail as they would without the decorator."""

        @singleton
        class NoArgs:
            pass

        with pytest.raises(TypeError):
            NoArgs(1)  # type: ignore[call-arg]  # on purpose
        assert isinstance(NoArgs(), NoArgs)

    def test_custom_new_receives_arguments(self) -> None:
        """A __new__ of the class's own gets the first call's arguments."""

        @singleton
        class Tagged:
            def __new__(cls, tag: str) -> Tagged:
                instance = super().__new__(cls)
                instance.tag = tag  # type: ignore[attr-defined]  # set before __init__
                return instance

            def __init__(self, tag: str) -> None:
                self.seen = tag

        made = Tagged("x")
        assert made.tag == made.seen == "x"  # type: ignore[attr-defined]  # set in __new__
        assert Tagged() is made  # type: ignore[call-arg]  # bare call


class TestThreads:
    def test_hundred_threads_one_instance(self, fast_switching: None) -> None:
        """100 threads asking at once get one instance, and __init__ runs once."""
        inits: list[int] = []
        lock = threading.Lock()

        @singleton
        class Service:
            def __init__(self, name: str) -> None:
                with lock:
                    inits.append(1)
                for _ in range(1000):  # a long __init__ widens the race window
                    pass
                self.name = name

        results = raise_first(run_threads(100, lambda _: Service("svc")))
        assert len({id(result) for result in results}) == 1
        assert len(inits) == 1
        assert all(result.name == "svc" for result in results)

    def test_waiter_gets_the_instance_built_meanwhile(self) -> None:
        """A thread that waited on the lock while another built returns that instance."""
        started = threading.Event()
        release = threading.Event()

        @singleton
        class Slow:
            def __init__(self) -> None:
                started.set()
                assert release.wait(TIMEOUT)

        source = inspect.getsource(_singleton_module)
        lock_line = next(
            number
            for number, line in enumerate(source.splitlines(), 1)
            if line.strip() == "with record.lock:" and "built" in source.splitlines()[number]
        )
        builder = threading.Thread(target=Slow)
        builder.start()
        assert started.wait(TIMEOUT)
        results: list[Slow] = []
        waiter = threading.Thread(target=lambda: results.append(Slow()))
        waiter.start()

        def waiting_on_lock() -> bool:
            frame = sys._current_frames().get(waiter.ident or 0)
            return frame is not None and frame.f_lineno == lock_line

        wait_until(waiting_on_lock)
        release.set()
        builder.join(TIMEOUT)
        waiter.join(TIMEOUT)
        assert results == [Slow()]


class TestSubclasses:
    def test_subclass_has_its_own_instance(self) -> None:
        """A subclass builds and keeps an instance of its own."""

        class ReadReplica(Database):
            pass

        primary = Database("pg://primary")
        replica = ReadReplica("pg://replica")
        assert replica is not primary
        assert isinstance(replica, Database)
        assert ReadReplica() is replica  # type: ignore[call-arg]  # bare call
        assert Database() is primary  # type: ignore[call-arg]  # bare call
        reset_singleton(ReadReplica)

    def test_subclass_init_runs_once(self) -> None:
        """A subclass's own __init__, calling super().__init__, runs once."""
        calls: list[str] = []

        @singleton
        class Base:
            def __init__(self, name: str) -> None:
                calls.append("base")
                self.name = name

        class Child(Base):
            def __init__(self, name: str) -> None:
                calls.append("child")
                super().__init__(name)

        child = Child("c")
        assert Child("c") is child
        assert Child() is child  # type: ignore[call-arg]  # bare call
        assert calls == ["child", "base"]

    def test_own_init_subclass_is_kept(self) -> None:
        """A class's own __init_subclass__ still runs for its subclasses."""
        seen: list[str] = []

        @singleton
        class Base:
            def __init_subclass__(cls, **kwargs: Any) -> None:
                super().__init_subclass__(**kwargs)
                seen.append(cls.__name__)

        class Child(Base):
            pass

        assert seen == ["Child"]
        assert Child() is Child()

    def test_subclass_new_refused(self) -> None:
        """A subclass defining __new__ is refused at class creation."""

        @singleton
        class Base:
            pass

        with pytest.raises(TypeError, match="may not define __new__"):

            class Child(Base):
                def __new__(cls) -> Child:
                    return super().__new__(cls)


class TestShapes:
    def test_slots_class(self) -> None:
        """A __slots__ class works: the instance is kept outside it."""

        @singleton
        class Slotted:
            __slots__ = ("value",)

            def __init__(self, value: int) -> None:
                self.value = value

        assert Slotted(1) is Slotted()  # type: ignore[call-arg]  # bare call
        assert Slotted().value == 1  # type: ignore[call-arg]  # bare call

    def test_dataclass_below_singleton(self) -> None:
        """@singleton above @dataclass keeps the generated __init__ guarded."""

        @singleton
        @dataclasses.dataclass
        class Settings:
            debug: bool = False

        settings = Settings(debug=True)
        assert Settings() is settings
        assert Settings(True) is settings
        assert settings.debug is True


class TestReset:
    def test_reset_builds_a_new_instance(self) -> None:
        """After reset_singleton the next call builds anew, with new arguments."""
        first = Database("a")
        reset_singleton(Database)
        second = Database("b")
        assert second is not first
        assert second.url == "b"
        assert Database.created == 2

    def test_reset_before_first_use(self) -> None:
        """Resetting a singleton never built is allowed."""

        @singleton
        class Lazy:
            pass

        reset_singleton(Lazy)
        assert Lazy() is Lazy()

    @pytest.mark.parametrize("value", [int, object(), "Database"], ids=["class", "object", "str"])
    def test_reset_refuses_non_singletons(self, value: Any) -> None:
        """reset_singleton of anything but a singleton class is a TypeError."""
        with pytest.raises(TypeError, match="decorated with @singleton"):
            reset_singleton(value)
