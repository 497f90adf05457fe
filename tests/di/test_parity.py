"""Behaviour a user switching from svcs, punq or lagom relies on (issue 16, feature 7).

Translated from the peers' own suites: ``None`` as a registered value (svcs' ``register_value``
and punq's ``instance=``), factories returning context managers (svcs), and several
implementations of one service type (punq's ``resolve_all``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import typing
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from python_mastery_portfolio.di import _build as _di_build
from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
from python_mastery_portfolio.exceptions import (
    CircularDependencyError,
    DependencyError,
    LifetimeError,
    ResolutionError,
    ServiceNotRegisteredError,
)
from tests.conftest import run_threads

SINGLETON = LifecycleScope.SINGLETON
TRANSIENT = LifecycleScope.TRANSIENT
SCOPED = LifecycleScope.SCOPED


class Config:
    def __init__(self, debug: bool = False) -> None:
        self.debug = debug


class Service:
    def __init__(self, config: Config | None) -> None:
        self.config = config


# -- None as an instance --------------------------------------------------------------------


class TestNoneInstance:
    def test_none_is_registered_and_resolved(self) -> None:
        container = DIContainer().register(Config, instance=None)
        assert Config in container
        assert container.resolve(Config) is None
        assert container.resolve(Config) is None  # the built-singleton path

    def test_none_is_injected(self) -> None:
        container = DIContainer().register(Config, instance=None).register(Service)
        assert container.resolve(Service).config is None

    def test_none_in_a_scope_and_async(self) -> None:
        container = DIContainer().register(Config, instance=None).register(Service, scope=SCOPED)
        with container.scope() as scope:
            assert scope.resolve(Config) is None
            assert scope.resolve(Service).config is None
        assert asyncio.run(container.aresolve(Config)) is None

    def test_not_giving_an_instance_is_not_none(self) -> None:
        # Without instance=, the class itself is built, as before.
        assert isinstance(DIContainer().register(Config).resolve(Config), Config)

    def test_none_counts_as_given(self) -> None:
        with pytest.raises(ValueError, match=r"\['implementation', 'instance'\]"):
            DIContainer().register(Config, Config, instance=None)
        with pytest.raises(ValueError, match=r"\['factory', 'instance'\]"):
            DIContainer().register(Config, factory=Config, instance=None)

    def test_none_instance_cannot_be_scoped(self) -> None:
        with pytest.raises(ValueError, match="SCOPED"):
            DIContainer().register(Config, instance=None, scope=SCOPED)

    def test_none_replaces_a_registration(self) -> None:
        container = DIContainer().register(Config)
        container.resolve(Config)
        container.register(Config, instance=None)
        assert container.resolve(Config) is None

    def test_override_with_none(self) -> None:
        container = DIContainer().register(Config, scope=SCOPED).register(Service)
        with container.override(Config, None):
            assert container.resolve(Config) is None
            assert container.resolve(Service).config is None
        with container.scope() as scope:
            assert isinstance(scope.resolve(Config), Config)

    def test_none_survives_close(self) -> None:
        container = DIContainer().register(Config, instance=None)
        container.close()
        assert container.resolve(Config) is None

    def test_none_validates(self) -> None:
        DIContainer().register(Config, instance=None).register(Service).validate()

    def test_a_missing_service_is_still_an_error(self) -> None:
        with pytest.raises(ServiceNotRegisteredError):
            DIContainer().register(Service).resolve(Service)


# -- factories returning context managers (svcs) --------------------------------------------


class Connection:
    """A context manager whose ``__enter__`` returns something else, and logs its life."""

    def __init__(self, log: list[str], name: str = "conn", *, swallow: bool = False) -> None:
        self.log, self.name, self.swallow = log, name, swallow

    def __enter__(self) -> str:
        self.log.append(f"enter {self.name}")
        return f"entered {self.name}"

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        self.log.append(f"exit {self.name} {type(exc).__name__ if exc else None}")
        return self.swallow


class AsyncConnection:
    def __init__(self, log: list[str], name: str = "aconn") -> None:
        self.log, self.name = log, name

    async def __aenter__(self) -> str:
        self.log.append(f"aenter {self.name}")
        return f"aentered {self.name}"

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.log.append(f"aexit {self.name} {type(exc).__name__ if exc else None}")


class BothConnection(Connection, AsyncConnection):
    async def __aenter__(self) -> str:
        self.log.append(f"aenter {self.name}")
        return f"aentered {self.name}"


class TestContextManagerFactories:
    def test_entered_on_creation_and_exited_with_the_scope(self) -> None:
        log: list[str] = []
        container = DIContainer().register(str, factory=lambda: Connection(log), scope=SCOPED)
        with container.scope() as scope:
            assert scope.resolve(str) == "entered conn"
            assert scope.resolve(str) == "entered conn"  # scoped: entered once
            assert log == ["enter conn"]
        assert log == ["enter conn", "exit conn None"]

    def test_exited_in_reverse_order_with_generators(self) -> None:
        log: list[str] = []

        class A: ...

        class B: ...

        def gen_b() -> Iterator[B]:
            log.append("open b")
            yield B()
            log.append("close b")

        container = (
            DIContainer()
            .register(str, factory=lambda: Connection(log, "first"), scope=SCOPED)
            .register(B, factory=gen_b, scope=SCOPED)
            .register(bytes, factory=lambda: Connection(log, "last"), scope=SCOPED)
        )
        with container.scope() as scope:
            scope.resolve(str)
            scope.resolve(B)
            scope.resolve(bytes)
        assert log == [
            "enter first",
            "open b",
            "enter last",
            "exit last None",
            "close b",
            "exit first None",
        ]

    def test_contextmanager_function_as_factory(self) -> None:
        log: list[str] = []

        @contextlib.contextmanager
        def session() -> Iterator[Config]:
            log.append("begin")
            yield Config(debug=True)
            log.append("end")

        container = DIContainer().register(Config, factory=session, scope=SCOPED)
        with container.scope() as scope:
            assert scope.resolve(Config).debug is True
        assert log == ["begin", "end"]

    def test_singleton_exited_by_close_and_rebuilt_after(self) -> None:
        log: list[str] = []
        container = DIContainer().register(str, factory=lambda: Connection(log), scope=SINGLETON)
        with container:
            assert container.resolve(str) == "entered conn"
            assert container.resolve(str) == "entered conn"
        assert log == ["enter conn", "exit conn None"]
        container.resolve(str)
        container.close()
        assert log == ["enter conn", "exit conn None", "enter conn", "exit conn None"]

    def test_transient_outside_a_scope_belongs_to_the_container(self) -> None:
        log: list[str] = []
        container = DIContainer().register(str, factory=lambda: Connection(log))
        container.resolve(str)
        container.resolve(str)
        assert log == ["enter conn", "enter conn"]
        container.close()
        assert log == ["enter conn", "enter conn", "exit conn None", "exit conn None"]

    def test_injected_into_dependants(self) -> None:
        log: list[str] = []

        class Repo:
            def __init__(self, conn: str) -> None:
                self.conn = conn

        container = (
            DIContainer()
            .register(str, factory=lambda: Connection(log), scope=SCOPED)
            .register(Repo)
        )
        with container.scope() as scope:
            assert scope.resolve(Repo).conn == "entered conn"

        async def main() -> str:
            async with container.scope() as ascope:
                return (await ascope.aresolve(Repo)).conn

        assert asyncio.run(main()) == "entered conn"
        assert log.count("exit conn None") == 2

    def test_enter_false_returns_the_manager_untouched(self) -> None:
        log: list[str] = []
        manager = Connection(log)
        container = DIContainer().register(
            Connection, factory=lambda: manager, scope=SCOPED, enter=False
        )
        with container.scope() as scope:
            assert scope.resolve(Connection) is manager
        assert log == []

    def test_enter_false_with_a_lock(self) -> None:
        container = DIContainer().register(
            threading.Lock, factory=threading.Lock, scope=SINGLETON, enter=False
        )
        lock = container.resolve(threading.Lock)
        assert not lock.locked()  # not entered: a lock would be held
        container.close()

    def test_classes_and_instances_are_never_entered(self) -> None:
        class Managed:
            entered = 0

            def __enter__(self) -> Managed:
                type(self).entered += 1
                return self

            def __exit__(self, *exc: object) -> None:
                type(self).entered -= 1

        container = DIContainer().register(Managed).register(object, instance=Managed())
        with container:
            assert isinstance(container.resolve(Managed), Managed)
            container.resolve(object)
            assert Managed.entered == 0
        container.register(Managed, factory=Managed)  # given as a factory: entered
        with container:
            container.resolve(Managed)
            assert Managed.entered == 1
        assert Managed.entered == 0

    def test_enter_must_be_a_bool(self) -> None:
        with pytest.raises(TypeError, match="enter must be a bool"):
            DIContainer().register(Config, factory=Config, enter="yes")  # type: ignore[call-overload]

    def test_the_body_exception_reaches_exit_and_propagates(self) -> None:
        log: list[str] = []
        container = DIContainer().register(
            str, factory=lambda: Connection(log, swallow=True), scope=SCOPED
        )
        with pytest.raises(KeyError), container.scope() as scope:
            scope.resolve(str)
            raise KeyError("boom")
        assert log == ["enter conn", "exit conn KeyError"]

    def test_a_failing_exit_is_raised_at_close(self) -> None:
        class Broken(Connection):
            def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
                super().__exit__(exc_type, exc, tb)
                raise OSError(f"cannot close {self.name}")

        log: list[str] = []
        container = (
            DIContainer()
            .register(str, factory=lambda: Broken(log, "a"), scope=SCOPED)
            .register(bytes, factory=lambda: Broken(log, "b"), scope=SCOPED)
            .register(int, factory=lambda: Connection(log, "c"), scope=SCOPED)
        )
        with pytest.raises(ExceptionGroup) as caught, container.scope() as scope:
            scope.resolve(str)
            scope.resolve(bytes)
            scope.resolve(int)
        assert [str(e) for e in caught.value.exceptions] == ["cannot close b", "cannot close a"]
        assert log[-3:] == ["exit c None", "exit b None", "exit a None"]

    def test_a_failing_enter_is_a_resolution_error(self) -> None:
        class Refusing(Connection):
            def __enter__(self) -> str:
                raise ConnectionError("refused")

        def connect() -> Refusing:
            return Refusing([])

        container = DIContainer().register(Refusing, factory=connect, scope=SCOPED)
        with container.scope() as scope, pytest.raises(ResolutionError) as caught:
            scope.resolve(Refusing)
        assert "connect raised ConnectionError: refused" in str(caught.value)
        assert isinstance(caught.value.__cause__, ConnectionError)

    def test_a_closed_scope_refuses_and_exits_the_manager(self) -> None:
        log: list[str] = []
        container = DIContainer().register(str, factory=lambda: Connection(log))
        with container.scope() as scope:
            pass
        with pytest.raises(LifetimeError, match="already closed"):
            scope.resolve(str)
        assert log == ["enter conn", "exit conn GeneratorExit"]

    def test_override_with_a_context_manager_factory(self) -> None:
        log: list[str] = []
        container = DIContainer().register(str, instance="real")
        with container.override(str, lambda: Connection(log, "fake")):
            assert container.resolve(str) == "entered fake"
        assert log == ["enter fake", "exit fake None"]
        assert container.resolve(str) == "real"

    def test_singleton_entered_once_under_threads(self) -> None:
        log: list[str] = []
        container = DIContainer().register(str, factory=lambda: Connection(log), scope=SINGLETON)
        results = run_threads(32, lambda _: container.resolve(str))
        assert results == ["entered conn"] * 32
        container.close()
        assert log == ["enter conn", "exit conn None"]

    def test_async_manager_entered_with_await(self) -> None:
        log: list[str] = []
        container = DIContainer().register(str, factory=lambda: AsyncConnection(log), scope=SCOPED)

        async def main() -> None:
            async with container.scope() as scope:
                assert await scope.aresolve(str) == "aentered aconn"
                assert log == ["aenter aconn"]
            assert log == ["aenter aconn", "aexit aconn None"]
            with pytest.raises(KeyError):
                async with container.scope() as scope:
                    await scope.aresolve(str)
                    raise KeyError("boom")
            assert log[-1] == "aexit aconn KeyError"

        asyncio.run(main())

    def test_async_def_factory_returning_managers(self) -> None:
        log: list[str] = []

        async def open_async() -> AsyncConnection:
            return AsyncConnection(log)

        async def open_sync() -> Connection:
            return Connection(log)

        async def plain() -> int:
            return 7

        container = (
            DIContainer()
            .register(str, factory=open_async, scope=SINGLETON)
            .register(bytes, factory=open_sync, scope=SINGLETON)
            .register(int, factory=plain)
        )

        async def main() -> None:
            assert await container.aresolve(str) == "aentered aconn"
            entered: object = await container.aresolve(bytes)  # the manager's __enter__ value
            assert entered == "entered conn"
            assert await container.aresolve(int) == 7
            await container.aclose()

        asyncio.run(main())
        assert log == ["aenter aconn", "enter conn", "exit conn None", "aexit aconn None"]

    def test_sync_resolve_refuses_an_async_manager(self) -> None:
        container = DIContainer().register(str, factory=lambda: AsyncConnection([]))
        with pytest.raises(TypeError, match=r"async context manager.*aresolve"):
            container.resolve(str)

    def test_sync_close_of_an_async_manager_says_what_to_use(self) -> None:
        log: list[str] = []
        container = DIContainer().register(
            str, factory=lambda: AsyncConnection(log), scope=SINGLETON
        )
        asyncio.run(container.aresolve(str))
        with pytest.raises(TypeError, match=r"async context manager.*async with"):
            container.close()

    def test_both_kinds_follow_the_resolve_used(self) -> None:
        log: list[str] = []
        container = DIContainer().register(str, factory=lambda: BothConnection(log))
        with container.scope() as scope:
            assert scope.resolve(str) == "entered conn"

        async def main() -> str:
            async with container.scope() as scope:
                return await scope.aresolve(str)

        assert asyncio.run(main()) == "aentered conn"
        assert log == ["enter conn", "exit conn None", "aenter conn", "aexit conn None"]

    def test_plain_factory_values_pass_through(self) -> None:
        container = DIContainer().register(Config, factory=lambda: Config(debug=True))
        assert container.resolve(Config).debug is True
        assert asyncio.run(container.aresolve(Config)).debug is True

    def test_a_return_hint_naming_a_class_is_trusted(self) -> None:
        log: list[str] = []

        def annotated() -> Config:  # says Config, returns a manager: taken at its word
            return Connection(log)  # type: ignore[return-value]  # the point of the test

        def unannotated():  # type: ignore[no-untyped-def]  # no hint: looked at each time
            return Connection(log)

        container = (
            DIContainer().register(Config, factory=annotated).register(str, factory=unannotated)
        )
        assert isinstance(container.resolve(Config), Connection)
        assert container.resolve(str) == "entered conn"
        assert log == ["enter conn"]

    def test_unusable_return_hints_mean_unknown(self) -> None:
        log: list[str] = []

        def undefined() -> Nowhere:  # type: ignore[name-defined]  # noqa: F821 - the point of the test
            return Connection(log)

        container = (
            DIContainer()
            .register(str, factory=undefined)
            .register(int, factory=functools.partial(int, "5"))  # no signature at all
        )
        assert container.resolve(str) == "entered conn"
        assert container.resolve(int) == 5

    def test_the_type_cache_stays_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        kinds: dict[type, int] = {type(f"T{i}", (), {}): 0 for i in range(512)}
        monkeypatch.setattr(_di_build, "_manager_kinds", kinds)
        DIContainer().register(Config, factory=Config).resolve(Config)
        assert list(kinds) == [Config]


class Dep:
    pass


class Failing:
    def __init__(self) -> None:
        raise ValueError("no dep")


def arity(count: int, *, keyword: bool) -> Any:
    """Return a factory of ``count`` Dep parameters (the last keyword-only if asked)."""
    names = [f"d{i}" for i in range(count)]
    params = ", ".join(names[:-1] + (["*", names[-1]] if keyword and names else names[-1:]))
    namespace: dict[str, Any] = {"Dep": Dep}
    exec(f"def factory({params}): return ({', '.join(names)}{',' if names else ''})", namespace)  # noqa: S102 - builds signatures of each arity
    factory = namespace["factory"]
    factory.__annotations__ = dict.fromkeys(names, Dep)
    return factory


SHAPES = [(count, False) for count in range(5)] + [(2, True)]


class TestFactoryShapes:
    """Every compiled call shape, entering or not, builds, and reports errors with the chain."""

    @pytest.mark.parametrize("enter", [True, False])
    @pytest.mark.parametrize(("count", "keyword"), SHAPES)
    def test_builds(self, count: int, keyword: bool, enter: bool) -> None:
        container = (
            DIContainer()
            .register(Dep)
            .register(tuple, factory=arity(count, keyword=keyword), enter=enter)
        )
        built = container.resolve(tuple)
        assert len(built) == count
        assert all(isinstance(item, Dep) for item in built)

    @pytest.mark.parametrize("enter", [True, False])
    @pytest.mark.parametrize(("count", "keyword"), SHAPES)
    def test_factory_error(self, count: int, keyword: bool, enter: bool) -> None:
        def broken(*args: object, **kwargs: object) -> tuple[object, ...]:
            raise ValueError("broken")

        factory = arity(count, keyword=keyword)
        container = (
            DIContainer()
            .register(Dep)
            .register(tuple, factory=functools.wraps(factory)(broken), enter=enter)
        )
        with pytest.raises(ResolutionError, match="raised ValueError: broken"):
            container.resolve(tuple)

    @pytest.mark.parametrize("enter", [True, False])
    @pytest.mark.parametrize(("count", "keyword"), [s for s in SHAPES if s[0]])
    def test_dependency_error(self, count: int, keyword: bool, enter: bool) -> None:
        container = (
            DIContainer()
            .register(Dep, factory=Failing)
            .register(tuple, factory=arity(count, keyword=keyword), enter=enter)
        )
        with pytest.raises(ResolutionError, match=r"^tuple -> Dep: constructor"):
            container.resolve(tuple)

    @pytest.mark.parametrize("enter", [True, False])
    def test_a_dependency_error_raised_inside_the_factory_is_chained(self, enter: bool) -> None:
        container = DIContainer()

        def lookup() -> tuple[object, ...]:
            return (container.resolve(Dep),)  # a service locator call that misses

        container.register(tuple, factory=lookup, enter=enter)
        with pytest.raises(ServiceNotRegisteredError, match=r"^tuple -> Dep \(not registered\)"):
            container.resolve(tuple)


# -- several implementations of one service type (punq's resolve_all) ------------------------


class Plugin:
    name = "base"


class EmailPlugin(Plugin):
    name = "email"


class SmsPlugin(Plugin):
    name = "sms"


class Missing:
    pass


class NeedsMissing(Plugin):
    name = "needs"

    def __init__(self, missing: Missing) -> None:
        self.missing = missing


class Notifier:
    def __init__(self, plugins: list[Plugin]) -> None:
        self.plugins = plugins


class SequenceNotifier:
    def __init__(self, plugins: Sequence[Plugin], legacy: typing.Sequence[Plugin]) -> None:
        self.plugins, self.legacy = plugins, legacy


class OptionalNotifier:
    def __init__(self, plugins: Sequence[Plugin] = ()) -> None:
        self.plugins = plugins


def names(plugins: Sequence[Plugin]) -> list[str]:
    return [plugin.name for plugin in plugins]


def plugins() -> DIContainer:
    return (
        DIContainer()
        .register(Plugin, EmailPlugin, multiple=True)
        .register(Plugin, SmsPlugin, multiple=True)
    )


class TestMultiBinding:
    def test_resolve_all_in_registration_order(self) -> None:
        container = plugins()
        assert names(container.resolve_all(Plugin)) == ["email", "sms"]
        assert [type(p) for p in container.resolve_all(Plugin)] == [EmailPlugin, SmsPlugin]

    def test_each_keeps_its_lifetime_and_the_list_is_new(self) -> None:
        container = (
            DIContainer()
            .register(Plugin, EmailPlugin, multiple=True, scope=SINGLETON)
            .register(Plugin, SmsPlugin, multiple=True)
        )
        first, second = container.resolve_all(Plugin), container.resolve_all(Plugin)
        assert first is not second
        assert first[0] is second[0]
        assert first[1] is not second[1]

    def test_nothing_registered_is_an_empty_list(self) -> None:
        assert DIContainer().resolve_all(Plugin) == []
        assert DIContainer().register(Plugin).resolve_all(Plugin) == []

    def test_the_same_class_twice(self) -> None:
        container = DIContainer().register(Plugin, multiple=True).register(Plugin, multiple=True)
        assert [type(p) for p in container.resolve_all(Plugin)] == [Plugin, Plugin]

    def test_apart_from_the_plain_registration(self) -> None:
        container = plugins()
        with pytest.raises(ServiceNotRegisteredError, match="resolve_all returns"):
            container.resolve(Plugin)
        assert Plugin not in container
        assert Plugin in container.registered_types()
        container.register(Plugin, SmsPlugin)
        assert container.resolve(Plugin).name == "sms"
        assert names(container.resolve_all(Plugin)) == ["email", "sms"]
        assert container.registered_types() == (Plugin,)

    def test_factories_instances_and_none(self) -> None:
        marker = EmailPlugin()
        container = (
            DIContainer()
            .register(Plugin, factory=SmsPlugin, multiple=True)
            .register(Plugin, instance=marker, multiple=True)
            .register(Plugin, instance=None, multiple=True)
        )
        built = container.resolve_all(Plugin)
        assert isinstance(built[0], SmsPlugin)
        assert built[1:] == [marker, None]

    def test_list_and_sequence_parameters_receive_them_all(self) -> None:
        container = plugins().register(Notifier).register(SequenceNotifier)
        assert names(container.resolve(Notifier).plugins) == ["email", "sms"]
        notifier = container.resolve(SequenceNotifier)
        assert names(notifier.plugins) == names(notifier.legacy) == ["email", "sms"]

    def test_a_default_is_kept_when_none_are_registered(self) -> None:
        container = DIContainer().register(OptionalNotifier)
        assert container.resolve(OptionalNotifier).plugins == ()
        container.validate()
        container.register(Plugin, EmailPlugin, multiple=True)
        assert names(container.resolve(OptionalNotifier).plugins) == ["email"]

    def test_no_members_and_no_default_is_not_registered(self) -> None:
        container = DIContainer().register(Notifier)
        with pytest.raises(ServiceNotRegisteredError, match=r"Notifier -> list\[Plugin\]"):
            container.resolve(Notifier)
        with pytest.raises(DependencyError, match=r"Notifier -> list\[Plugin\] \(not registered\)"):
            container.validate()

    def test_an_explicit_list_registration_wins(self) -> None:
        mine = [SmsPlugin()]
        container = plugins().register(list[Plugin], instance=mine).register(Notifier)
        assert container.resolve(Notifier).plugins is mine

    def test_members_registered_later_are_seen(self) -> None:
        container = plugins().register(Notifier)
        assert len(container.resolve(Notifier).plugins) == 2
        container.register(Plugin, EmailPlugin, multiple=True)
        assert names(container.resolve(Notifier).plugins) == ["email", "sms", "email"]
        assert len(container.resolve_all(Plugin)) == 3

    def test_local_classes_in_hints(self) -> None:
        class Check:
            pass

        class Runner:
            def __init__(self, checks: list[Check]) -> None:
                self.checks = checks

        container = DIContainer().register(Check, multiple=True).register(Runner)
        assert len(container.resolve(Runner).checks) == 1
        container.validate()

    def test_scoped_members(self) -> None:
        container = (
            DIContainer()
            .register(Plugin, EmailPlugin, multiple=True, scope=SCOPED)
            .register(Plugin, SmsPlugin, multiple=True)
            .register(Notifier)
        )
        with pytest.raises(LifetimeError, match=r"Plugin\[0\] is scoped"):
            container.resolve_all(Plugin)
        with container.scope() as scope:
            first = scope.resolve_all(Plugin)
            assert scope.resolve_all(Plugin)[0] is first[0]
            assert scope.resolve(Notifier).plugins[0] is first[0]
        with container.scope() as other:
            assert other.resolve_all(Plugin)[0] is not first[0]

    def test_a_singleton_cannot_collect_scoped_members(self) -> None:
        container = (
            DIContainer()
            .register(Plugin, EmailPlugin, multiple=True)
            .register(Plugin, SmsPlugin, multiple=True, scope=SCOPED)
            .register(Notifier, scope=SINGLETON)
        )
        message = r"Notifier -> Plugin\[1\]: singleton Notifier cannot depend on scoped Plugin\[1\]"
        with container.scope() as scope, pytest.raises(LifetimeError, match=message):
            scope.resolve(Notifier)
        with pytest.raises(DependencyError) as caught:
            container.validate()
        assert [str(p) for p in caught.value.context["problems"]] == [
            (
                "Notifier -> list[Plugin] -> Plugin[1]: "
                "singleton Notifier cannot depend on scoped Plugin[1]"
            )
        ]

    def test_validate_covers_every_member(self) -> None:
        container = plugins().register(Plugin, NeedsMissing, multiple=True).register(Notifier)
        with pytest.raises(DependencyError) as caught:
            container.validate()
        assert [str(p) for p in caught.value.context["problems"]] == [
            "Plugin[2] -> Missing (not registered)"
        ]
        with pytest.raises(ServiceNotRegisteredError, match=r"^Notifier -> Plugin\[2\] -> Missing"):
            container.resolve(Notifier)
        with pytest.raises(ServiceNotRegisteredError, match=r"^Plugin\[2\] -> Missing"):
            container.resolve_all(Plugin)

    def test_a_cycle_through_the_list(self) -> None:
        class Loop(Plugin):
            def __init__(self, others: list[Plugin]) -> None:
                self.others = others

        container = DIContainer().register(Plugin, Loop, multiple=True)
        with pytest.raises(CircularDependencyError):
            container.resolve_all(Plugin)
        with pytest.raises(DependencyError, match="circular"):
            container.validate()

    def test_generator_members_are_finalised(self) -> None:
        log: list[str] = []

        def opened(name: str) -> Any:
            def factory() -> Iterator[Plugin]:
                log.append(f"open {name}")
                yield Plugin()
                log.append(f"close {name}")

            return factory

        container = (
            DIContainer()
            .register(Plugin, factory=opened("a"), multiple=True, scope=SCOPED)
            .register(Plugin, factory=opened("b"), multiple=True, scope=SCOPED)
        )
        with container.scope() as scope:
            scope.resolve_all(Plugin)
        assert log == ["open a", "open b", "close b", "close a"]

    def test_close_forgets_singleton_members(self) -> None:
        container = DIContainer().register(Plugin, multiple=True, scope=SINGLETON)
        first = container.resolve_all(Plugin)[0]
        assert container.stats()["singletons"] == 1
        container.close()
        assert container.resolve_all(Plugin)[0] is not first

    def test_async_members(self) -> None:
        async def make_sms() -> Plugin:
            return SmsPlugin()

        container = (
            DIContainer()
            .register(Plugin, EmailPlugin, multiple=True)
            .register(Plugin, factory=make_sms, multiple=True)
            .register(Notifier)
        )

        async def main() -> None:
            assert names(await container.aresolve_all(Plugin)) == ["email", "sms"]
            assert names((await container.aresolve(Notifier)).plugins) == ["email", "sms"]
            async with container.scope() as scope:
                assert names(await scope.aresolve_all(Plugin)) == ["email", "sms"]
            assert names(await plugins().aresolve_all(Plugin)) == ["email", "sms"]
            async with plugins().scope() as scope:
                assert names(await scope.aresolve_all(Plugin)) == ["email", "sms"]

        asyncio.run(main())
        with pytest.raises(TypeError, match="aresolve"):
            container.resolve_all(Plugin)

    def test_override_replaces_them_all_for_the_block(self) -> None:
        container = plugins().register(Notifier)
        fake = Plugin()
        with container.override(Plugin, fake):
            assert container.resolve_all(Plugin) == [fake]
            assert container.resolve(Notifier).plugins == [fake]
            assert container.resolve(Plugin) is fake
        assert names(container.resolve_all(Plugin)) == ["email", "sms"]
        assert names(container.resolve(Notifier).plugins) == ["email", "sms"]
        with pytest.raises(ServiceNotRegisteredError):
            container.resolve(Plugin)

    def test_override_of_a_plain_registration_is_collected_too(self) -> None:
        container = DIContainer().register(Plugin).register(OptionalNotifier)
        with container.override(Plugin, SmsPlugin):
            assert names(container.resolve_all(Plugin)) == ["sms"]
            assert names(container.resolve(OptionalNotifier).plugins) == ["sms"]
        assert container.resolve(OptionalNotifier).plugins == ()

    def test_argument_checks(self) -> None:
        with pytest.raises(TypeError, match="not a subclass"):
            DIContainer().register(Plugin, Missing, multiple=True)
        with pytest.raises(TypeError, match="multiple must be a bool"):
            DIContainer().register(Plugin, multiple="yes")  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="hashable"):
            DIContainer().register([], factory=list, multiple=True)  # type: ignore[call-overload]

    def test_stats_count_each_registration(self) -> None:
        assert plugins().stats()["registrations"] == 2

    def test_unhashable_or_bare_hints_are_not_collections(self) -> None:
        class Odd:
            def __init__(self, bare: Sequence = (), nested: list[list[int]] | None = None) -> None:  # type: ignore[type-arg]  # a bare hint is the point
                self.bare, self.nested = bare, nested

        def unhashable(items: Any = None) -> int:
            return 0

        # A hint whose argument is unhashable (``list[[int]]``) cannot name a service.
        unhashable.__annotations__ = {"items": list[[int]], "return": int}  # type: ignore[misc, valid-type]  # the point
        container = DIContainer().register(Odd).register(int, factory=unhashable)
        assert container.resolve(Odd).bare == ()
        assert container.resolve(int) == 0
        container.validate()

    def test_concurrent_registrations_keep_every_member(self) -> None:
        container = DIContainer()
        run_threads(32, lambda _: container.register(Plugin, EmailPlugin, multiple=True))
        assert len(container.resolve_all(Plugin)) == 32
        container.validate()
