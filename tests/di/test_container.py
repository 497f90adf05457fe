"""Tests of the dependency-injection container, its scopes, overrides and ServiceProvider."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Optional, Protocol

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.di import _cells as _di_cells
from python_mastery_portfolio.di import _graph as _di_graph
from python_mastery_portfolio.di_container import (
    DIContainer,
    LifecycleScope,
    Scope,
    ServiceProvider,
)
from python_mastery_portfolio.exceptions import (
    CircularDependencyError,
    DependencyError,
    LifetimeError,
    PortfolioError,
    ResolutionError,
    ServiceNotRegisteredError,
)
from tests.conftest import raise_first, run_threads

SINGLETON = LifecycleScope.SINGLETON
TRANSIENT = LifecycleScope.TRANSIENT
SCOPED = LifecycleScope.SCOPED

THREADS = 32
TIMEOUT = 10.0  # bound on waits for other threads; never reached when tests pass


# -- the seed's section 5 services ----------------------------------------------------------


class DatabaseService:
    def __init__(self, connection_string: str = "sqlite://") -> None:
        self.connection_string = connection_string

    def query(self) -> list[str]:
        return [f"row from {self.connection_string}"]


class RequestService:
    def __init__(self, db: DatabaseService) -> None:
        self.db = db


class Config:
    def __init__(self) -> None:
        self.debug = True


class Service:
    def __init__(self, config: Config) -> None:
        self.config = config


class EarlyService:
    """Its hint names a class defined further down this module."""

    def __init__(self, late: LateService) -> None:
        self.late = late


class TestSeedExamples:
    def test_registration_and_resolution(self) -> None:
        """5.1: a singleton is the same instance every time, a transient is new each time."""
        container = DIContainer()
        container.register(DatabaseService, scope=LifecycleScope.SINGLETON)
        container.register(RequestService, scope=LifecycleScope.TRANSIENT)
        db = container.resolve(DatabaseService)
        req = container.resolve(RequestService)
        assert db is container.resolve(DatabaseService)
        assert req is not container.resolve(RequestService)
        assert req.db is db

    def test_factory_functions(self) -> None:
        """5.2: factories are called, and their parameters are resolved like a constructor's."""
        container = DIContainer()

        def database_factory() -> DatabaseService:
            return DatabaseService(connection_string="postgresql://...")

        container.register(DatabaseService, factory=database_factory)

        def config_aware_factory(config: Config) -> Service:
            return Service(config)

        container.register(Config, scope=LifecycleScope.SINGLETON)
        container.register(Service, factory=config_aware_factory)
        assert container.resolve(DatabaseService).connection_string == "postgresql://..."
        assert container.resolve(Service).config is container.resolve(Config)

    def test_service_provider_decorator(self) -> None:
        """5.3: @provider.inject(DatabaseService) injects the annotated parameter."""
        container = DIContainer().register(DatabaseService, scope=LifecycleScope.SINGLETON)
        provider = ServiceProvider(container)

        @provider.inject(DatabaseService)
        def process_data(db: DatabaseService) -> list[str]:
            return db.query()

        assert process_data() == ["row from sqlite://"]

    def test_registration_chains(self) -> None:
        """register returns the container, so calls chain."""
        container = DIContainer()
        assert container.register(Config).register(Service) is container
        assert isinstance(container.resolve(Service).config, Config)


class TestRegistration:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"implementation": DatabaseService, "factory": DatabaseService},
            {"implementation": DatabaseService, "instance": DatabaseService()},
            {"factory": DatabaseService, "instance": DatabaseService()},
        ],
        ids=["implementation+factory", "implementation+instance", "factory+instance"],
    )
    def test_more_than_one_source(self, kwargs: dict[str, Any]) -> None:
        """Giving more than one of implementation, factory and instance is a ValueError."""
        with pytest.raises(ValueError, match="at most one"):
            DIContainer().register(DatabaseService, **kwargs)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"scope": "singleton"}, "scope must be a LifecycleScope"),
            ({"factory": 3}, "factory must be callable"),
            ({"implementation": 3}, "implementation must be a class"),
            ({"implementation": Config}, "not a subclass of DatabaseService"),
        ],
        ids=["scope", "factory", "implementation-not-class", "implementation-unrelated"],
    )
    def test_wrong_arguments(self, kwargs: dict[str, Any], match: str) -> None:
        """Wrong arguments are a TypeError naming the parameter, at registration."""
        with pytest.raises(TypeError, match=match):
            DIContainer().register(DatabaseService, **kwargs)

    def test_unhashable_key(self) -> None:
        """A service type must be hashable."""
        with pytest.raises(TypeError, match="service_type must be hashable"):
            DIContainer().register([], factory=list)  # type: ignore[call-overload]

    def test_instance_cannot_be_scoped(self) -> None:
        """An instance is shared by the container, so it cannot be scoped."""
        with pytest.raises(ValueError, match="SCOPED"):
            DIContainer().register(Config, instance=Config(), scope=SCOPED)

    def test_instance_is_a_singleton(self) -> None:
        """A registered instance is returned as is."""
        config = Config()
        container = DIContainer().register(Config, instance=config)
        assert container.resolve(Config) is config
        assert container.resolve(Config) is config

    def test_abstract_service_needs_implementation(self) -> None:
        """An abstract class or Protocol cannot be built without an implementation."""

        class Base(ABC):
            @abstractmethod
            def run(self) -> None: ...

        class Greeter(Protocol):
            def greet(self) -> str: ...

        with pytest.raises(TypeError, match="Base is abstract"):
            DIContainer().register(Base)
        with pytest.raises(TypeError, match="Greeter is abstract"):
            DIContainer().register(Greeter)

    def test_key_that_is_not_a_class_needs_a_source(self) -> None:
        """A non-class key without factory or instance is a TypeError."""
        with pytest.raises(TypeError, match="service_type must be a class"):
            DIContainer().register(list[int])

    def test_abstract_binding(self) -> None:
        """implementation binds an abstract class to a concrete one."""

        class Base(ABC):
            @abstractmethod
            def run(self) -> str: ...

        class Impl(Base):
            def run(self) -> str:
                return "ran"

        assert DIContainer().register(Base, Impl).resolve(Base).run() == "ran"

    def test_protocol_binding(self) -> None:
        """A Protocol binds to any class; it is not checked for subclassing."""

        class Greeter(Protocol):
            def greet(self) -> str: ...

        class English:
            def greet(self) -> str:
                return "hello"

        container = DIContainer().register(Greeter, English)
        assert container.resolve(Greeter).greet() == "hello"

    def test_generic_alias_key(self) -> None:
        """Any hashable key works with a factory, such as list[int]."""
        container = DIContainer().register(list[int], factory=lambda: [1, 2])
        assert container.resolve(list[int]) == [1, 2]

    def test_reregistration_replaces_and_drops_singleton(self) -> None:
        """Registering again replaces the registration and drops a built singleton."""
        container = DIContainer().register(Config, scope=SINGLETON)
        first = container.resolve(Config)
        container.register(Config, scope=SINGLETON)
        second = container.resolve(Config)
        assert second is not first
        assert container.resolve(Config) is second

    def test_reregistration_reaches_dependents(self) -> None:
        """Services compiled before a re-registration use the new registration."""
        container = DIContainer().register(Config).register(Service)
        container.resolve(Service)
        special = Config()
        container.register(Config, instance=special)
        assert container.resolve(Service).config is special

    def test_subclass_resolve_is_honoured(self) -> None:
        """A subclass overriding resolve is called; the unbound method works too."""
        calls: list[object] = []

        class Logging(DIContainer):
            def resolve(self, service_type: Any) -> Any:
                calls.append(service_type)
                return super().resolve(service_type)

        container = Logging().register(Config, scope=SINGLETON)
        assert container.resolve(Config) is container.resolve(Config)
        assert calls == [Config, Config]
        plain = DIContainer().register(Config, scope=SINGLETON)
        assert DIContainer.resolve(plain, Config) is plain.resolve(Config)

    def test_kept_resolve_sees_later_registrations(self) -> None:
        """A `container.resolve` kept from before a re-registration resolves the new one."""
        container = DIContainer().register(Config, scope=SINGLETON)
        resolve = container.resolve
        first = resolve(Config)
        container.register(Config, scope=SINGLETON)
        second = resolve(Config)
        assert second is not first
        assert resolve(Config) is second is container.resolve(Config)

    def test_contains_and_repr(self) -> None:
        """`in` tells whether a type is registered; repr counts registrations."""
        container = DIContainer().register(Config)
        assert Config in container
        assert Service not in container
        assert [] not in container
        assert repr(container) == "<DIContainer with 1 registrations>"

    def test_stats(self) -> None:
        """stats() counts registrations, compiled services, built singletons and overrides."""
        container = DIContainer().register(Config, scope=SINGLETON).register(Service)
        assert container.stats() == {
            "registrations": 2,
            "compiled": 0,
            "singletons": 0,
            "overrides": 0,
        }
        container.resolve(Service)
        with container.override(Service, Service(Config())):
            assert container.stats()["overrides"] == 1
        assert container.stats() == {
            "registrations": 2,
            "compiled": 0,
            "singletons": 1,
            "overrides": 0,
        }


class TestAutowiring:
    def test_future_annotations_and_late_class(self) -> None:
        """String hints are read at the first resolve, so a class may be defined later."""
        container = DIContainer().register(EarlyService).register(LateService)
        assert isinstance(container.resolve(EarlyService).late, LateService)

    def test_local_classes_defined_after_registration(self) -> None:
        """Hints naming local classes resolve through the registered classes."""
        container = DIContainer()

        class Root:
            def __init__(self, leaf: Leaf) -> None:
                self.leaf = leaf

        container.register(Root)

        class Leaf: ...

        container.register(Leaf)
        assert isinstance(container.resolve(Root).leaf, Leaf)

    def test_hints_read_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Signatures are read at the first resolve and cached, even across re-compiles."""
        calls: list[Any] = []
        original = _di_graph.read_params

        def counting(target: Any, localns: Any) -> Any:
            calls.append(target)
            return original(target, localns)

        monkeypatch.setattr("python_mastery_portfolio.di._compile.read_params", counting)
        container = DIContainer().register(Config).register(Service)
        assert calls == []
        for _ in range(3):
            container.resolve(Service)
        container.register(RequestService)  # forces a re-compile
        container.resolve(Service)
        assert calls == [Service, Config]

    def test_defaults_kept_for_unregistered_types(self) -> None:
        """An unregistered type keeps its default: None for an optional, 0 for an int."""

        class Cache: ...

        class Client:
            def __init__(self, cache: Cache | None = None, retries: int = 0) -> None:
                self.cache, self.retries = cache, retries

        client = DIContainer().register(Client).resolve(Client)
        assert client.cache is None
        assert client.retries == 0

    @pytest.mark.parametrize(
        "hint",
        ["Config | None", "Optional[Config]", "Annotated[Config, 'meta']"],
        ids=["union", "optional", "annotated"],
    )
    def test_wrapped_hints_are_injected(self, hint: str) -> None:
        """X | None, Optional[X] and Annotated[X, ...] inject X when it is registered."""
        namespace: dict[str, Any] = {}
        exec(  # noqa: S102 - builds a function with the hint under test
            f"def make(config: {hint} = None):\n    return config",
            {"Config": Config, "Optional": Optional, "Annotated": Annotated},
            namespace,
        )
        container = DIContainer().register(Config).register(object, factory=namespace["make"])
        assert isinstance(container.resolve(object), Config)

    def test_missing_without_default(self) -> None:
        """A parameter whose type is not registered and has no default is an error."""

        class Client:
            def __init__(self, config: Config) -> None: ...

        with pytest.raises(
            ServiceNotRegisteredError,
            match=r"^Client -> Config \(not registered\); register it: "
            r"container\.register\(Config, \.\.\.\)$",
        ):
            DIContainer().register(Client).resolve(Client)

    def test_parameter_without_hint(self) -> None:
        """A parameter without a hint or default cannot be injected."""

        class Client:
            def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
                self.config = config

        with pytest.raises(DependencyError, match="parameter 'config' cannot be injected"):
            DIContainer().register(Client).resolve(Client)

    def test_ambiguous_union(self) -> None:
        """A union of several services needs a default."""

        class Client:
            def __init__(self, source: Config | Service) -> None: ...

        container = DIContainer().register(Client).register(Config).register(Service)
        with pytest.raises(DependencyError, match="names several types"):
            container.resolve(Client)

    def test_unevaluable_hint_with_default(self) -> None:
        """A hint that cannot be evaluated leaves the default in place."""

        def make(size: int = 3, extra: list[int] | None = None) -> list[int]:
            return [size]

        make.__annotations__["extra"] = "1 +"
        assert DIContainer().register(list, factory=make).resolve(list) == [3]

    def test_variadic_parameters_are_skipped(self) -> None:
        """*args and **kwargs are left alone."""

        class Flexible:
            def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
                self.config, self.args, self.kwargs = config, args, kwargs

        flexible = DIContainer().register(Config).register(Flexible).resolve(Flexible)
        assert isinstance(flexible.config, Config)
        assert (flexible.args, flexible.kwargs) == ((), {})

    def test_keyword_only_and_skipped_parameters(self) -> None:
        """Parameters after a kept default and keyword-only ones are passed by keyword."""

        class Client:
            def __init__(self, retries: int = 2, config: Config = None, *, svc: Service) -> None:  # type: ignore[assignment]
                self.retries, self.config, self.svc = retries, config, svc

        container = DIContainer().register(Config).register(Service).register(Client)
        client = container.resolve(Client)
        assert client.retries == 2
        assert isinstance(client.config, Config)
        assert isinstance(client.svc, Service)

    def test_positional_only_parameters(self) -> None:
        """Positional-only parameters are passed positionally, defaults included."""

        def make(size: int = 7, config: Config = None, /) -> tuple[int, Config]:  # type: ignore[assignment]
            return size, config

        container = DIContainer().register(Config).register(tuple, factory=make)
        size, config = container.resolve(tuple)
        assert size == 7
        assert isinstance(config, Config)

    def test_many_dependencies(self) -> None:
        """Four or more dependencies go through the general call path."""

        def make(a: Config, b: Config, c: Config, d: Config) -> list[Config]:
            return [a, b, c, d]

        container = DIContainer().register(Config).register(list, factory=make)
        assert len({id(item) for item in container.resolve(list)}) == 4

    @pytest.mark.parametrize("count", [0, 1, 2, 3], ids=str)
    def test_few_dependencies(self, count: int) -> None:
        """The specialised paths for up to three dependencies pass each of them."""
        names = ", ".join(f"a{i}: Config" for i in range(count))
        namespace: dict[str, Any] = {}
        exec(  # noqa: S102 - builds a factory with the number of parameters under test
            f"def make({names}):\n    return [{', '.join(f'a{i}' for i in range(count))}]",
            {"Config": Config},
            namespace,
        )
        container = DIContainer().register(Config).register(list, factory=namespace["make"])
        result = container.resolve(list)
        assert len(result) == count
        assert all(isinstance(item, Config) for item in result)

    def test_dataclass_service(self) -> None:
        """Dataclasses are autowired from their fields."""

        @dataclasses.dataclass
        class Holder:
            config: Config
            name: str = "holder"

        holder = DIContainer().register(Config).register(Holder).resolve(Holder)
        assert isinstance(holder.config, Config)
        assert holder.name == "holder"

    def test_factory_kinds(self) -> None:
        """A partial and a callable object are factories too."""

        class Maker:
            def __call__(self, config: Config) -> Service:
                return Service(config)

        def make(config: Config, label: str) -> Service:
            return Service(config)

        container = DIContainer().register(Config).register(Service, factory=Maker())
        assert isinstance(container.resolve(Service).config, Config)
        container.register(Service, factory=functools.partial(make, label="x"))
        assert isinstance(container.resolve(Service).config, Config)

    def test_ambiguous_local_names_are_not_guessed(self) -> None:
        """Two registered classes with one name do not stand in for a hint naming it."""

        def make_dup(tag: str) -> type:
            class Dup:
                label = tag

            return Dup

        first, second = make_dup("first"), make_dup("second")

        class Root:
            def __init__(self, dup: Dup) -> None:  # type: ignore[name-defined]  # noqa: F821 - resolved only through registered names
                ...

        container = DIContainer().register(first).register(second).register(Root)
        with pytest.raises(
            ServiceNotRegisteredError,
            match=r"^Root -> Dup \(not registered\); register it: "
            r"container\.register\(Dup, \.\.\.\)$",
        ):
            container.resolve(Root)

    def test_hints_of_inherited_c_constructors(self) -> None:
        """A class whose constructors are inherited from C reads hints in its own module."""

        class Settings(dict[str, Any]):
            __signature__ = inspect.Signature(
                [inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation="Config")]
            )

        settings_ = DIContainer().register(Config).register(Settings).resolve(Settings)
        assert isinstance(settings_["config"], Config)

    def test_hints_of_a_python_new(self) -> None:
        """A class built by __new__ is autowired from __new__'s hints."""

        class Made:
            config: Config

            def __new__(cls, config: Config) -> Made:
                made = super().__new__(cls)
                made.config = config
                return made

        assert isinstance(
            DIContainer().register(Config).register(Made).resolve(Made).config, Config
        )

    def test_undefined_hint_without_registered_classes(self) -> None:
        """With no class registered, an undefined hint still reads as not registered."""

        def make(thing: Nowhere) -> list[int]:  # type: ignore[name-defined]  # noqa: F821 - the point of the test
            return []

        container = DIContainer().register(list[int], factory=make)
        with pytest.raises(
            ServiceNotRegisteredError,
            match=r"-> Nowhere \(not registered\); register it: "
            r"container\.register\(Nowhere, \.\.\.\)$",
        ):
            container.resolve(list[int])

    def test_unhashable_hint_keeps_default(self) -> None:
        """A hint that is not even hashable is never a service; its default stays."""

        def make(size: int = 1, odd: Any = 2) -> list[int]:
            return [size, odd]

        make.__annotations__["odd"] = ["not", "a", "type"]
        container = DIContainer().register(list[int], factory=make)
        container.validate()
        assert container.resolve(list[int]) == [1, 2]

    def test_builtin_without_signature(self) -> None:
        """A class without a readable signature is called bare."""
        assert DIContainer().register(dict).resolve(dict) == {}

    def test_unreadable_signature(self) -> None:
        """A factory whose signature cannot be read is a DependencyError."""

        class Odd:
            __signature__ = "not a signature"

            def __call__(self) -> int:
                return 1

        with pytest.raises(DependencyError, match="cannot read its signature"):
            DIContainer().register(int, factory=Odd()).resolve(int)


class TestLifetimes:
    def test_transient_parameters_are_distinct(self) -> None:
        """Two parameters of the same transient type get two distinct objects."""

        class Pair:
            def __init__(self, first: Config, second: Config) -> None:
                self.first, self.second = first, second

        pair = DIContainer().register(Config).register(Pair).resolve(Pair)
        assert pair.first is not pair.second

    def test_singleton_built_once_under_thread_race(self) -> None:
        """32 threads resolving at once get the one instance, built once, never None."""
        built: list[object] = []
        arrived = 0
        all_arrived = threading.Condition()

        class Expensive:
            def __init__(self) -> None:
                built.append(self)
                # Hold the build open until every thread has called resolve, so that
                # without the container's serialisation the builds would overlap.
                with all_arrived:
                    all_arrived.wait_for(lambda: arrived == THREADS, TIMEOUT)

        container = DIContainer().register(Expensive, scope=SINGLETON)

        def resolve(_: int) -> Expensive:
            nonlocal arrived
            with all_arrived:
                arrived += 1
                all_arrived.notify_all()
            return container.resolve(Expensive)

        results = raise_first(run_threads(THREADS, resolve))
        assert len(built) == 1
        assert all(result is built[0] for result in results)

    def test_singleton_finished_after_a_registration(self) -> None:
        """A singleton whose build overlapped a registration is still the one instance."""
        container = DIContainer()

        class Trigger:
            def __init__(self) -> None:
                container.register(Service)  # starts a new generation mid-build

        container.register(Trigger, scope=SINGLETON)
        trigger = container.resolve(Trigger)
        assert container.resolve(Trigger) is trigger

    def test_singleton_dependency_shared(self) -> None:
        """Transients that depend on a singleton share it."""
        container = DIContainer().register(Config, scope=SINGLETON).register(Service)
        assert container.resolve(Service).config is container.resolve(Service).config

    def test_failed_singleton_is_retried(self) -> None:
        """A singleton whose constructor raised is built again by the next resolve."""
        attempts: list[int] = []

        class Flaky:
            def __init__(self) -> None:
                attempts.append(1)
                if len(attempts) == 1:
                    raise OSError("first time")

        container = DIContainer().register(Flaky, scope=SINGLETON)
        with pytest.raises(ResolutionError):
            container.resolve(Flaky)
        assert container.resolve(Flaky) is container.resolve(Flaky)
        assert len(attempts) == 2

    def test_singleton_registered_during_compile_of_dependents(self) -> None:
        """A singleton built before its dependents were compiled is reused by them."""
        container = DIContainer().register(Config, scope=SINGLETON)
        config = container.resolve(Config)
        container.register(Service)
        assert container.resolve(Service).config is config


class TestScopes:
    def test_one_instance_per_scope(self) -> None:
        """A scoped service is built once per scope and differs between scopes."""
        container = DIContainer().register(Config, scope=SCOPED)
        with container.scope() as first:
            one = first.resolve(Config)
            assert first.resolve(Config) is one
            with container.scope() as second:
                assert second.resolve(Config) is not one

    async def test_async_with_scope(self) -> None:
        """`async with container.scope()` and `await scope.aresolve()` work too."""
        container = DIContainer().register(Config, scope=SCOPED)
        async with container.scope() as scope:
            assert await scope.aresolve(Config) is scope.resolve(Config)

    def test_singletons_and_transients_resolve_in_a_scope(self) -> None:
        """Singletons and transients resolve through a scope."""
        container = DIContainer().register(Config, scope=SINGLETON).register(Service)
        with container.scope() as scope:
            assert scope.resolve(Config) is container.resolve(Config)
            assert scope.resolve(Service) is not scope.resolve(Service)

    def test_transient_shares_the_scoped_instance(self) -> None:
        """Transients built in a scope get that scope's scoped instance."""
        container = DIContainer().register(Config, scope=SCOPED).register(Service)
        with container.scope() as scope:
            assert scope.resolve(Service).config is scope.resolve(Config)

    def test_scoped_outside_a_scope(self) -> None:
        """Resolving a scoped service (or one needing it) outside a scope is a LifetimeError."""
        container = DIContainer().register(Config, scope=SCOPED).register(Service)
        with pytest.raises(LifetimeError, match=r"^Config: Config is scoped"):
            container.resolve(Config)
        with pytest.raises(LifetimeError, match=r"^Service -> Config: Config is scoped") as info:
            container.resolve(Service)
        assert info.value.chain == ("Service", "Config")

    def test_singleton_depending_on_scoped(self) -> None:
        """A singleton that depends on a scoped service is a LifetimeError, even in a scope."""

        class Cached:
            def __init__(self, service: Service) -> None: ...

        container = (
            DIContainer()
            .register(Config, scope=SCOPED)
            .register(Service)
            .register(Cached, scope=SINGLETON)
        )
        with container.scope() as scope, pytest.raises(LifetimeError) as info:
            scope.resolve(Cached)
        assert str(info.value) == (
            "Cached -> Service -> Config: singleton Cached cannot depend on scoped Config"
        )

    def test_concurrent_scopes_in_threads(self) -> None:
        """Scopes open at once in 32 threads each get their own scoped instance."""
        container = DIContainer().register(Config, scope=SCOPED).register(Service)

        def work(_: int) -> Config:
            with container.scope() as scope:
                config = scope.resolve(Config)
                assert scope.resolve(Service).config is config
                return config

        results = raise_first(run_threads(THREADS, work))
        assert len({id(config) for config in results}) == THREADS

    def test_scoped_built_once_when_threads_share_a_scope(self) -> None:
        """32 threads resolving in one scope at once get one instance."""
        built: list[object] = []

        class Session:
            def __init__(self) -> None:
                built.append(self)

        container = DIContainer().register(Session, scope=SCOPED)
        with container.scope() as scope:
            results = raise_first(run_threads(THREADS, lambda _: scope.resolve(Session)))
        assert len(built) == 1
        assert all(result is built[0] for result in results)

    async def test_concurrent_scopes_in_tasks(self) -> None:
        """Scopes open at once in 50 tasks each get their own scoped instance."""
        container = DIContainer().register(Config, scope=SCOPED)

        async def work() -> Config:
            async with container.scope() as scope:
                config = await scope.aresolve(Config)
                await asyncio.sleep(0)
                assert await scope.aresolve(Config) is config
                return config

        results = await asyncio.gather(*(work() for _ in range(50)))
        assert len({id(config) for config in results}) == 50

    def test_closed_scope_refuses_new_instances(self) -> None:
        """A closed scope builds nothing more."""
        container = DIContainer().register(Config, scope=SCOPED)
        with container.scope() as scope:
            scope.resolve(Config)
        with pytest.raises(LifetimeError, match="scope is already closed"):
            scope.resolve(Config)

    def test_closed_scope_refuses_generators(self) -> None:
        """A transient generator resolved through a closed scope is closed and refused."""
        closed: list[bool] = []

        def make() -> Iterator[Config]:
            try:
                yield Config()
            finally:
                closed.append(True)

        container = DIContainer().register(Config, factory=make)
        with container.scope() as scope:
            pass
        with pytest.raises(LifetimeError, match="scope is already closed"):
            scope.resolve(Config)
        assert closed == [True]

    def test_scope_repr(self) -> None:
        """A scope's repr counts its scoped instances."""
        container = DIContainer().register(Config, scope=SCOPED)
        with container.scope() as scope:
            scope.resolve(Config)
            assert repr(scope) == "<Scope with 1 scoped instances>"
        assert isinstance(scope, Scope)


class TestErrors:
    def test_not_registered(self) -> None:
        """Resolving an unregistered type is a ServiceNotRegisteredError, also a LookupError."""
        with pytest.raises(
            LookupError,
            match=r"^Config \(not registered\); register it: "
            r"container\.register\(Config, \.\.\.\)$",
        ):
            DIContainer().resolve(Config)

    def test_not_registered_suggests_the_register_call(self) -> None:
        """The message ends with the register(...) call that fixes it, naming the missing key."""
        with pytest.raises(ServiceNotRegisteredError) as info:
            DIContainer().resolve(list[Config])
        assert str(info.value).endswith("register it: container.register(list[Config], ...)")
        assert info.value.chain == ("list[Config]",)

    def test_validate_lists_problems_without_the_suggestion(self) -> None:
        """validate() keeps one short line per problem; resolve() adds the suggestion."""

        class Client:
            def __init__(self, config: Config) -> None: ...

        container = DIContainer().register(Client)
        with pytest.raises(DependencyError) as info:
            container.validate()
        assert str(info.value).endswith("\n- Client -> Config (not registered)")
        with pytest.raises(ServiceNotRegisteredError, match=r"register\(Config, \.\.\.\)$"):
            container.resolve(Client)

    def test_chain_three_levels(self) -> None:
        """A missing registration three levels down names the whole chain."""

        class Leaf:
            def __init__(self, config: Config) -> None: ...

        class Mid:
            def __init__(self, leaf: Leaf) -> None: ...

        class Root:
            def __init__(self, mid: Mid) -> None: ...

        container = DIContainer().register(Root).register(Mid).register(Leaf)
        with pytest.raises(ServiceNotRegisteredError) as info:
            container.resolve(Root)
        assert str(info.value) == (
            "Root -> Mid -> Leaf -> Config (not registered); "
            "register it: container.register(Config, ...)"
        )
        assert info.value.chain == ("Root", "Mid", "Leaf", "Config")
        assert isinstance(info.value, PortfolioError)
        assert info.value.to_dict()["context"]["parameter"] == "config"

    def test_undefined_hint_is_not_registered(self) -> None:
        """A hint naming a class that is neither defined nor registered reads as not registered."""

        class Leaf:
            def __init__(self, thing: Nowhere) -> None:  # type: ignore[name-defined]  # noqa: F821 - the point of the test
                ...

        class Root:
            def __init__(self, leaf: Leaf) -> None: ...

        container = DIContainer().register(Root).register(Leaf)
        with pytest.raises(ServiceNotRegisteredError, match=r"^Root -> Leaf -> Nowhere \(not"):
            container.resolve(Root)

    def test_cycle(self) -> None:
        """A cycle is a CircularDependencyError naming it, never a RecursionError."""

        class A:
            def __init__(self, b: B) -> None: ...

        class B:
            def __init__(self, a: A) -> None: ...

        container = DIContainer().register(A).register(B)
        with pytest.raises(CircularDependencyError, match=r"^A -> B -> A \(circular dependency\)$"):
            container.resolve(A)
        with pytest.raises(CircularDependencyError, match=r"^B -> A -> B"):
            container.resolve(B)

    def test_self_cycle(self) -> None:
        """A service depending on itself is a cycle."""

        class Node:
            def __init__(self, parent: Node) -> None: ...

        with pytest.raises(CircularDependencyError, match=r"^Node -> Node"):
            DIContainer().register(Node).resolve(Node)

    def test_factory_resolving_itself(self) -> None:
        """A singleton factory that resolves its own service is a cycle, not a deadlock."""
        container = DIContainer()
        container.register(Config, factory=lambda: container.resolve(Config), scope=SINGLETON)
        with pytest.raises(CircularDependencyError, match=r"^Config -> Config -> Config"):
            container.resolve(Config)

    @pytest.mark.parametrize("depth", [1, 2, 3, 5], ids=str)
    def test_constructor_raising(self, depth: int) -> None:
        """A constructor that raises is a ResolutionError naming the chain, from the original."""
        error = ValueError("boom")

        def explode() -> Config:
            raise error

        container = DIContainer().register(Config, factory=explode)
        names = ["Config"]
        previous: type = Config
        for level in range(1, depth):
            cls = type(f"Level{level}", (), {})
            dependency = previous

            def init(self: Any, dep: Any, _: Any = None) -> None:
                self.dep = dep

            init.__annotations__ = {"dep": dependency}
            cls.__init__ = init  # type: ignore[misc]
            container.register(cls)
            names.insert(0, cls.__name__)
            previous = cls
        with pytest.raises(ResolutionError) as info:
            container.resolve(previous)
        assert info.value.__cause__ is error
        assert str(info.value).startswith(" -> ".join(names) + ": factory ")
        assert str(info.value).endswith("explode raised ValueError: boom")

    @pytest.mark.parametrize("shape", ["0", "1", "2", "3", "4", "keyword"], ids=str)
    def test_errors_in_every_call_shape(self, shape: str) -> None:
        """Each specialised call path chains dependency errors and wraps its own failure."""

        class Boom:
            def __init__(self) -> None:
                raise OSError("boom")

        count = 1 if shape == "keyword" else int(shape)
        params = [f"a{i}: Config" for i in range(count)]
        if shape == "keyword":
            params.insert(0, "*")
        namespace: dict[str, Any] = {}
        exec(  # noqa: S102 - builds a factory with the call shape under test
            f"def make({', '.join(params)}):\n    raise ValueError('own')",
            {"Config": Config},
            namespace,
        )
        container = DIContainer().register(Config).register(Service, factory=namespace["make"])
        with pytest.raises(ResolutionError, match=r"^Service: factory .*make raised ValueError"):
            container.resolve(Service)
        if count:
            container.register(Config, factory=Boom)
            with pytest.raises(ResolutionError, match=r"^Service -> Config: constructor") as info:
                container.resolve(Service)
            assert str(info.value.__cause__) == "boom"

    def test_partial_factory_named_in_errors(self) -> None:
        """A failing partial is named after the function it wraps."""

        def explode(code: int) -> Config:
            raise ValueError(code)

        container = DIContainer().register(Config, factory=functools.partial(explode, 3))
        with pytest.raises(ResolutionError, match=r"factory .*explode raised ValueError: 3$"):
            container.resolve(Config)

    def test_constructor_raising_a_dependency_error(self) -> None:
        """A DependencyError raised inside a factory gets the chain prefixed."""
        container = DIContainer()

        def make() -> Service:
            return Service(container.resolve(Config))

        container.register(Service, factory=make)
        with pytest.raises(ServiceNotRegisteredError, match=r"^Service -> Config \(not"):
            container.resolve(Service)

    def test_user_dependency_error_is_chained(self) -> None:
        """A plain DependencyError from a factory keeps its message after the chain."""

        def make() -> Config:
            raise DependencyError("custom")

        container = DIContainer().register(Config, factory=make)
        with pytest.raises(DependencyError, match=r"^Config: custom$"):
            container.resolve(Config)

    def test_fatal_errors_propagate(self) -> None:
        """KeyboardInterrupt in a constructor is not wrapped."""

        def make() -> Config:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            DIContainer().register(Config, factory=make).resolve(Config)

    def test_notes_are_kept(self) -> None:
        """Notes on an error survive the chain being extended."""
        container = DIContainer()

        def make() -> Service:
            try:
                container.resolve(Config)
            except DependencyError as error:
                error.add_note("while making a Service")
                raise
            raise AssertionError

        container.register(Service, factory=make)
        with pytest.raises(ServiceNotRegisteredError) as info:
            container.resolve(Service)
        assert info.value.__notes__ == ["while making a Service"]


class TestValidate:
    def test_valid_graph(self) -> None:
        """A sound graph validates without building anything."""
        built: list[object] = []

        class Probe:
            def __init__(self, service: Service) -> None:
                built.append(self)

        container = DIContainer().register(Config).register(Service).register(Probe)
        container.validate()
        assert built == []

    def test_every_problem_reported(self) -> None:
        """validate() reports missing registrations, cycles and lifetime errors at once."""

        class A:
            def __init__(self, b: B) -> None: ...

        class B:
            def __init__(self, a: A) -> None: ...

        class Missing:
            def __init__(self, config: Config, other: Service, raw, retries: int = 3) -> None:  # type: ignore[no-untyped-def]
                ...

        class Request: ...

        class Handler:
            def __init__(self, request: Request) -> None: ...

        class Cache:
            def __init__(self, handler: Handler) -> None: ...

        container = (
            DIContainer()
            .register(A)
            .register(B)
            .register(Missing)
            .register(Request, scope=SCOPED)
            .register(Handler)
            .register(Cache, scope=SINGLETON)
        )
        with pytest.raises(DependencyError) as info:
            container.validate()
        assert str(info.value) == (
            "5 problems in the DI container:\n"
            "- Missing -> Config (not registered)\n"
            "- Missing -> Service (not registered)\n"
            "- Missing: parameter 'raw' cannot be injected: it has no type hint, "
            "and it has no default\n"
            "- A -> B -> A (circular dependency)\n"
            "- Cache -> Handler -> Request: singleton Cache cannot depend on scoped Request"
        )
        problems = info.value.context["problems"]
        assert [type(problem) for problem in problems] == [
            ServiceNotRegisteredError,
            ServiceNotRegisteredError,
            DependencyError,
            CircularDependencyError,
            LifetimeError,
        ]

    def test_one_problem(self) -> None:
        """A single problem is reported in the singular."""

        class Odd:
            __signature__ = "broken"

            def __call__(self) -> int:
                return 1

        with pytest.raises(DependencyError, match=r"^1 problem in the DI container:\n- "):
            DIContainer().register(int, factory=Odd()).validate()

    def test_cycles_reported_once(self) -> None:
        """Each cycle is reported once, however many services lead into it."""

        class A:
            def __init__(self, b: B) -> None: ...

        class B:
            def __init__(self, c: C) -> None: ...

        class C:
            def __init__(self, a: A, d: D, again: A) -> None: ...

        class D:
            def __init__(self, d: D) -> None: ...

        container = DIContainer().register(A).register(B).register(C).register(D)
        with pytest.raises(DependencyError) as info:
            container.validate()
        assert [str(problem) for problem in info.value.context["problems"]] == [
            "A -> B -> C -> A (circular dependency)",
            "D -> D (circular dependency)",
        ]

    def test_transient_cycle_in_lifetime_check(self) -> None:
        """The lifetime check stops at transient cycles and at other singletons."""

        class A:
            def __init__(self, b: B) -> None: ...

        class B:
            def __init__(self, a: A) -> None: ...

        class Other: ...

        class Top:
            def __init__(self, a: A, other: Other) -> None: ...

        container = (
            DIContainer().register(A).register(B).register(Other, scope=SINGLETON)
        ).register(Top, scope=SINGLETON)
        with pytest.raises(DependencyError) as info:
            container.validate()
        assert [type(p) for p in info.value.context["problems"]] == [CircularDependencyError]


class TestGenerators:
    @staticmethod
    def tracked(log: list[str], name: str, cls: type = Config) -> Any:
        def make() -> Iterator[Any]:
            log.append(f"open {name}")
            try:
                yield cls()
            except Exception as error:
                log.append(f"{name} saw {error}")
                raise
            finally:
                log.append(f"close {name}")

        return make

    def test_scoped_generators_finalised_in_reverse(self) -> None:
        """Scoped generator factories are finalised at scope exit, newest first."""
        log: list[str] = []
        container = (
            DIContainer()
            .register(Config, factory=self.tracked(log, "config"), scope=SCOPED)
            .register(
                Service, factory=self.tracked(log, "service", Service.__mro__[1]), scope=SCOPED
            )
        )
        with container.scope() as scope:
            scope.resolve(Config)
            scope.resolve(Service)
            scope.resolve(Config)
            assert log == ["open config", "open service"]
        assert log == ["open config", "open service", "close service", "close config"]

    def test_body_exception_thrown_into_generators(self) -> None:
        """An exception in the scope body is thrown into each generator and propagates."""
        log: list[str] = []
        container = DIContainer().register(Config, factory=self.tracked(log, "c"), scope=SCOPED)
        with pytest.raises(KeyError), container.scope() as scope:
            scope.resolve(Config)
            raise KeyError("body")
        assert log == ["open c", "c saw 'body'", "close c"]

    def test_generator_cannot_swallow_the_body_exception(self) -> None:
        """A generator that swallows the thrown exception does not suppress it."""

        def make() -> Iterator[Config]:
            with contextlib.suppress(KeyError):
                yield Config()

        container = DIContainer().register(Config, factory=make, scope=SCOPED)
        with pytest.raises(KeyError), container.scope() as scope:
            scope.resolve(Config)
            raise KeyError("body")

    @staticmethod
    def failing(log: list[str], name: str, error: BaseException) -> Any:
        def make() -> Iterator[Any]:
            yield object()
            log.append(name)
            raise error

        return make

    def test_one_failing_finaliser(self) -> None:
        """One failing finaliser does not stop the others; its error is raised as is."""
        log: list[str] = []
        error = OSError("disk")
        container = (
            DIContainer()
            .register(Config, factory=self.tracked(log, "first"), scope=SCOPED)
            .register(Service, factory=self.failing(log, "second", error), scope=SCOPED)
        )
        with pytest.raises(OSError, match="disk") as info, container.scope() as scope:
            scope.resolve(Config)
            scope.resolve(Service)
        assert info.value is error
        assert log == ["open first", "second", "close first"]

    def test_several_failing_finalisers(self) -> None:
        """Several failing finalisers are raised together as an ExceptionGroup."""
        log: list[str] = []
        container = (
            DIContainer()
            .register(Config, factory=self.failing(log, "a", OSError("a")), scope=SCOPED)
            .register(Service, factory=self.failing(log, "b", ValueError("b")), scope=SCOPED)
        )
        with pytest.raises(ExceptionGroup) as info, container.scope() as scope:
            scope.resolve(Config)
            scope.resolve(Service)
        assert [type(e) for e in info.value.exceptions] == [ValueError, OSError]
        assert log == ["b", "a"]

    def test_failing_finaliser_with_body_exception(self, caplog: pytest.LogCaptureFixture) -> None:
        """When the body raised, finaliser errors are logged and noted on the body's error."""

        def make() -> Iterator[Config]:
            try:
                yield Config()
            except KeyError:
                raise OSError("cleanup") from None

        container = DIContainer().register(Config, factory=make, scope=SCOPED)
        with pytest.raises(KeyError) as info, container.scope() as scope:
            scope.resolve(Config)
            raise KeyError("body")
        assert info.value.__notes__ == ["a DI finaliser failed: OSError: cleanup"]
        assert "a DI finaliser failed" in caplog.text

    def test_fatal_finaliser_wins(self) -> None:
        """A finaliser raising KeyboardInterrupt is re-raised after the others ran."""
        log: list[str] = []
        container = (
            DIContainer()
            .register(Config, factory=self.tracked(log, "first"), scope=SCOPED)
            .register(
                Service, factory=self.failing(log, "fatal", KeyboardInterrupt()), scope=SCOPED
            )
            .register(dict, factory=self.failing(log, "plain", OSError("x")), scope=SCOPED)
        )
        with pytest.raises(KeyboardInterrupt) as info, container.scope() as scope:
            scope.resolve(Config)
            scope.resolve(Service)
            scope.resolve(dict)
        assert log == ["open first", "plain", "fatal", "close first"]
        assert info.value.__notes__ == ["a DI finaliser failed: OSError: x"]

    def test_generator_that_does_not_yield(self) -> None:
        """A generator factory that returns without yielding is a ResolutionError."""

        def make() -> Iterator[Config]:
            yield from ()

        with pytest.raises(ResolutionError, match=r"^Config: its generator factory did not"):
            DIContainer().register(Config, factory=make).resolve(Config)

    def test_generator_raising_before_yield(self) -> None:
        """A generator factory raising before its yield is a ResolutionError."""
        fail = [True]

        def make() -> Iterator[Config]:
            if fail:
                raise OSError("no connection")
            yield Config()

        with pytest.raises(ResolutionError, match="raised OSError: no connection"):
            DIContainer().register(Config, factory=make).resolve(Config)

    def test_generator_raising_dependency_error_before_yield(self) -> None:
        """A DependencyError raised in a generator factory gets the chain prefixed."""
        container = DIContainer()

        def make() -> Iterator[Service]:
            yield Service(container.resolve(Config))

        container.register(Service, factory=make)
        with pytest.raises(ServiceNotRegisteredError, match=r"^Service -> Config \(not"):
            container.resolve(Service)

    def test_generator_yielding_twice(self) -> None:
        """A generator factory that yields again at clean-up is an error at close."""

        def make() -> Iterator[Config]:
            yield Config()
            yield Config()

        container = DIContainer().register(Config, factory=make, scope=SCOPED)
        with pytest.raises(RuntimeError, match="yielded more than once"), container.scope() as s:
            s.resolve(Config)

    def test_singleton_generator_finalised_by_close(self) -> None:
        """A singleton generator is finalised by close(), which also forgets the singleton."""
        log: list[str] = []
        container = DIContainer().register(Config, factory=self.tracked(log, "db"), scope=SINGLETON)
        first = container.resolve(Config)
        with container.scope() as scope:
            assert scope.resolve(Config) is first
        assert log == ["open db"]
        container.close()
        assert log == ["open db", "close db"]
        assert container.resolve(Config) is not first

    def test_close_keeps_registered_instances(self) -> None:
        """close() forgets built singletons but not instances registered ready-made."""
        config = Config()
        container = (
            DIContainer().register(Config, instance=config).register(Service, scope=SINGLETON)
        )
        service = container.resolve(Service)
        container.close()
        assert container.resolve(Config) is config
        assert container.resolve(Service) is not service

    def test_cell_built_by_another_thread(self) -> None:
        """A cell that got its value while a caller waited returns it without building."""
        cell = _di_cells.Cell(5)
        assert cell.get(lambda scope: pytest.fail("built again"), None, "x") == 5
        assert repr(MISSING) == "MISSING"

    def test_with_container(self) -> None:
        """`with container:` closes it, throwing the body's exception into the generators."""
        log: list[str] = []
        container = DIContainer().register(Config, factory=self.tracked(log, "db"), scope=SINGLETON)
        with pytest.raises(KeyError), container as entered:
            assert entered is container
            container.resolve(Config)
            raise KeyError("stop")
        assert log == ["open db", "db saw 'stop'", "close db"]

    def test_transient_generators(self) -> None:
        """Transient generators go to the scope they were resolved in, else the container."""
        log: list[str] = []
        container = DIContainer().register(Config, factory=self.tracked(log, "t"))
        container.resolve(Config)
        with container.scope() as scope:
            scope.resolve(Config)
        assert log == ["open t", "open t", "close t"]
        container.close()
        assert log == ["open t", "open t", "close t", "close t"]

    def test_sync_close_with_async_generator(self) -> None:
        """Closing an async generator synchronously is a TypeError telling what to use."""

        async def make() -> AsyncIterator[Config]:
            yield Config()

        container = DIContainer().register(Config, factory=make, scope=SCOPED)

        async def resolve_in(scope: Scope) -> Config:
            return await scope.aresolve(Config)

        with pytest.raises(TypeError, match="async with"), container.scope() as scope:
            asyncio.run(resolve_in(scope))


class TestAsync:
    async def test_async_factory(self) -> None:
        """An async factory is awaited by aresolve, dependencies included."""

        async def make(config: Config) -> Service:
            await asyncio.sleep(0)
            return Service(config)

        container = DIContainer().register(Config).register(Service, factory=make)
        assert isinstance((await container.aresolve(Service)).config, Config)

    async def test_aresolve_of_sync_service(self) -> None:
        """aresolve of a sync-only service returns it without awaiting anything."""
        container = DIContainer().register(Config)
        assert isinstance(await container.aresolve(Config), Config)

    async def test_sync_resolve_of_async_service(self) -> None:
        """The sync resolve of an async-only service is a TypeError naming the chain."""

        async def make() -> Config:
            return Config()

        container = DIContainer().register(Config, factory=make).register(Service)
        with pytest.raises(TypeError, match=r"^Service -> Config: Config has an async factory"):
            container.resolve(Service)
        with pytest.raises(TypeError, match="aresolve"):
            container.resolve(Config)

    async def test_async_singleton_built_once(self) -> None:
        """50 tasks awaiting an async singleton at once get one instance."""
        built: list[Config] = []
        gate = asyncio.Event()

        async def make() -> Config:
            await gate.wait()
            built.append(Config())
            return built[-1]

        container = DIContainer().register(Config, factory=make, scope=SINGLETON)
        tasks = [asyncio.create_task(container.aresolve(Config)) for _ in range(50)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*tasks)
        assert len(built) == 1
        assert all(result is built[0] for result in results)
        assert container.resolve(Config) is built[0]

    async def test_async_singleton_depending_on_async(self) -> None:
        """A sync singleton with an async dependency is built through aresolve."""

        async def make() -> Config:
            return Config()

        container = DIContainer().register(Config, factory=make).register(Service, scope=SINGLETON)
        service = await container.aresolve(Service)
        assert await container.aresolve(Service) is service
        assert container.resolve(Service) is service

    async def test_async_singleton_failure_is_retried(self) -> None:
        """A failed async singleton build lets waiters retry instead of failing with it."""
        attempts: list[int] = []
        gate = asyncio.Event()

        async def make() -> Config:
            attempts.append(1)
            await gate.wait()
            if len(attempts) == 1:
                raise OSError("first")
            return Config()

        container = DIContainer().register(Config, factory=make, scope=SINGLETON)
        first = asyncio.create_task(container.aresolve(Config))
        await asyncio.sleep(0)
        second = asyncio.create_task(container.aresolve(Config))
        await asyncio.sleep(0)
        gate.set()
        with pytest.raises(ResolutionError, match="raised OSError: first"):
            await first
        assert isinstance(await second, Config)
        assert len(attempts) == 2

    async def test_cancelled_waiter_does_not_cancel_the_build(self) -> None:
        """Cancelling a task waiting for an async singleton leaves the build running."""
        gate = asyncio.Event()

        async def make() -> Config:
            await gate.wait()
            return Config()

        container = DIContainer().register(Config, factory=make, scope=SINGLETON)
        builder = asyncio.create_task(container.aresolve(Config))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(container.aresolve(Config))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gate.set()
        assert await builder is container.resolve(Config)

    async def test_async_factory_resolving_itself(self) -> None:
        """An async singleton factory awaiting its own service is a cycle, not a hang."""
        container = DIContainer()

        async def make() -> Config:
            return await container.aresolve(Config)

        container.register(Config, factory=make, scope=SINGLETON)
        with pytest.raises(CircularDependencyError, match="being built"):
            await container.aresolve(Config)

    async def test_async_scoped(self) -> None:
        """An async scoped service is built once per scope, even with 20 tasks at once."""
        built: list[Config] = []

        async def make() -> Config:
            await asyncio.sleep(0)
            built.append(Config())
            return built[-1]

        container = DIContainer().register(Config, factory=make, scope=SCOPED)
        async with container.scope() as scope:
            results = await asyncio.gather(*(scope.aresolve(Config) for _ in range(20)))
            assert scope.resolve(Config) is built[0]
            assert await scope.aresolve(Config) is built[0]
        assert len(built) == 1
        assert all(result is built[0] for result in results)
        with pytest.raises(LifetimeError):
            await container.aresolve(Config)

    async def test_async_generator_in_scope(self) -> None:
        """Async generator factories are finalised by `async with container.scope()`."""
        log: list[str] = []

        async def make() -> AsyncIterator[Config]:
            log.append("open")
            try:
                yield Config()
            except Exception as error:
                log.append(f"saw {error}")
                raise
            finally:
                log.append("close")

        def make_sync() -> Iterator[Service]:
            yield Service(Config())
            log.append("close sync")

        container = (
            DIContainer()
            .register(Config, factory=make, scope=SCOPED)
            .register(Service, factory=make_sync, scope=SCOPED)
        )
        async with container.scope() as scope:
            await scope.aresolve(Config)
            await scope.aresolve(Service)
        assert log == ["open", "close sync", "close"]
        log.clear()
        with pytest.raises(KeyError):
            async with container.scope() as scope:
                await scope.aresolve(Config)
                raise KeyError("body")
        assert log == ["open", "saw 'body'", "close"]

    async def test_async_generator_singleton_and_aclose(self) -> None:
        """An async generator singleton is finalised by `await container.aclose()`."""
        log: list[str] = []

        async def make() -> AsyncIterator[Config]:
            yield Config()
            log.append("closed")

        container = DIContainer().register(Config, factory=make, scope=SINGLETON)
        async with container:
            first = await container.aresolve(Config)
            assert await container.aresolve(Config) is first
        assert log == ["closed"]

    async def test_async_generator_with_async_dependency(self) -> None:
        """A sync generator factory with an async dependency is run by aresolve."""

        async def make_config() -> Config:
            return Config()

        def make(config: Config) -> Iterator[Service]:
            yield Service(config)

        container = (
            DIContainer().register(Config, factory=make_config).register(Service, factory=make)
        )
        assert isinstance((await container.aresolve(Service)).config, Config)
        await container.aclose()

    @pytest.mark.parametrize("kind", ["return", "raise", "dependency"], ids=str)
    async def test_async_generator_errors(self, kind: str) -> None:
        """An async generator that does not yield or raises before it is a ResolutionError."""
        container = DIContainer()

        async def make() -> AsyncIterator[Config]:
            if kind == "raise":
                raise OSError("down")
            if kind == "dependency":
                await container.aresolve(Service)
            if kind != "return":
                yield Config()

        container.register(Config, factory=make)
        expected = {
            "return": (ResolutionError, "did not yield"),
            "raise": (ResolutionError, "raised OSError: down"),
            "dependency": (ServiceNotRegisteredError, r"^Config -> Service \(not registered\)"),
        }[kind]
        with pytest.raises(expected[0], match=expected[1]):
            await container.aresolve(Config)

    async def test_async_finaliser_failing(self) -> None:
        """An async generator failing at clean-up raises its error from aclose."""

        async def make() -> AsyncIterator[Config]:
            yield Config()
            raise OSError("cleanup")

        container = DIContainer().register(Config, factory=make, scope=SCOPED)
        with pytest.raises(OSError, match="cleanup"):
            async with container.scope() as scope:
                await scope.aresolve(Config)

    async def test_closed_scope_refuses_async_generators(self) -> None:
        """A transient async generator resolved through a closed scope is refused."""

        async def make() -> AsyncIterator[Config]:
            yield Config()

        container = DIContainer().register(Config, factory=make)
        async with container.scope() as scope:
            pass
        with pytest.raises(LifetimeError, match="scope is already closed"):
            await scope.aresolve(Config)

    async def test_async_generator_yielding_twice(self) -> None:
        """An async generator that yields again at clean-up is an error at aclose."""

        async def make() -> AsyncIterator[Config]:
            yield Config()
            yield Config()

        container = DIContainer().register(Config, factory=make, scope=SCOPED)
        with pytest.raises(RuntimeError, match="yielded more than once"):
            async with container.scope() as scope:
                await scope.aresolve(Config)

    async def test_async_resolution_error_chain(self) -> None:
        """An async factory that raises is a ResolutionError naming the chain."""

        async def make() -> Config:
            raise OSError("down")

        container = DIContainer().register(Config, factory=make).register(Service)
        with pytest.raises(ResolutionError, match=r"^Service -> Config: factory .* OSError"):
            await container.aresolve(Service)

    async def test_async_keyword_dependencies(self) -> None:
        """Keyword-only dependencies are awaited too."""

        async def make() -> Config:
            return Config()

        def build(*, config: Config) -> Service:
            return Service(config)

        container = DIContainer().register(Config, factory=make).register(Service, factory=build)
        assert isinstance((await container.aresolve(Service)).config, Config)

    async def test_async_callable_object_factory(self) -> None:
        """An object with an async __call__ is an async factory."""

        class Maker:
            async def __call__(self) -> Config:
                return Config()

        container = DIContainer().register(Config, factory=Maker())
        assert isinstance(await container.aresolve(Config), Config)


class TestOverride:
    @pytest.mark.parametrize(
        "replacement",
        [
            pytest.param(lambda: Config(), id="factory"),
            pytest.param(Config, id="class"),
            pytest.param(functools.partial(Config), id="partial"),
        ],
    )
    def test_kinds_of_replacement(self, replacement: Any) -> None:
        """A class, function or partial is used to build the replacement."""
        original = Config()
        container = DIContainer().register(Config, instance=original)
        with container.override(Config, replacement):
            assert container.resolve(Config) is not original
            assert isinstance(container.resolve(Config), Config)
        assert container.resolve(Config) is original

    def test_duck_typed_class(self) -> None:
        """A replacement class need not subclass the original."""

        class FakeDatabase:
            connection_string = "fake://"

        container = DIContainer().register(DatabaseService).register(RequestService)
        with container.override(DatabaseService, FakeDatabase):
            assert container.resolve(RequestService).db.connection_string == "fake://"

    def test_instance_replacement(self) -> None:
        """An object is used as is; the original comes back on exit."""
        fake = Config()
        container = DIContainer().register(Config).register(Service)
        with container.override(Config, fake):
            assert container.resolve(Config) is fake
            assert container.resolve(Service).config is fake
        assert container.resolve(Service).config is not fake

    def test_restored_on_exception(self) -> None:
        """The original registration comes back even when the block raises."""
        fake = Config()
        container = DIContainer().register(Config)
        with pytest.raises(KeyError), container.override(Config, fake):
            raise KeyError("x")
        assert container.resolve(Config) is not fake

    def test_unregistered_type(self) -> None:
        """Overriding an unregistered type registers it only for the block."""
        container = DIContainer()
        with container.override(Config, Config()):
            assert Config in container
        assert Config not in container

    def test_singletons_that_depend_on_it(self) -> None:
        """Singletons depending on the overridden type are rebuilt inside and restored after."""
        container = DIContainer().register(Config).register(Service, scope=SINGLETON)
        original = container.resolve(Service)
        fake = Config()
        with container.override(Config, fake):
            inside = container.resolve(Service)
            assert inside.config is fake
            assert container.resolve(Service) is inside
        assert container.resolve(Service) is original

    def test_unrelated_singletons_are_kept(self) -> None:
        """Singletons that do not depend on the overridden type are not rebuilt."""
        container = DIContainer().register(Config, scope=SINGLETON).register(DatabaseService)
        config = container.resolve(Config)
        with container.override(DatabaseService, DatabaseService("fake://")):
            assert container.resolve(Config) is config

    def test_keeps_the_lifetime(self) -> None:
        """A factory override keeps the original lifetime unless scope= says otherwise."""
        container = DIContainer().register(Config, scope=SCOPED)
        with container.override(Config, Config), container.scope() as scope:
            assert scope.resolve(Config) is scope.resolve(Config)
        with container.override(Config, Config, scope=TRANSIENT):
            assert container.resolve(Config) is not container.resolve(Config)
        with container.override(Config, Config()):
            assert container.resolve(Config) is container.resolve(Config)

    def test_nested(self) -> None:
        """Overrides nest; singletons depending on both are rebuilt per block."""

        class Both:
            def __init__(self, config: Config, db: DatabaseService) -> None:
                self.config, self.db = config, db

        container = (
            DIContainer().register(Config).register(DatabaseService).register(Both, scope=SINGLETON)
        )
        fake_config, fake_db = Config(), DatabaseService("fake://")
        with container.override(Config, fake_config):
            outer = container.resolve(Both)
            with container.override(DatabaseService, fake_db):
                inner = container.resolve(Both)
                assert (inner.config, inner.db) == (fake_config, fake_db)
            assert container.resolve(Both) is outer
        assert container.resolve(Both).config is not fake_config

    def test_generator_override_finalised_at_exit(self) -> None:
        """A generator factory used as an override is finalised when the block ends."""
        log: list[str] = []

        def make() -> Iterator[Config]:
            yield Config()
            log.append("closed")

        container = DIContainer().register(Config, scope=SINGLETON)
        with container.override(Config, make):
            container.resolve(Config)
            assert log == []
        assert log == ["closed"]

    def test_instance_override_of_scoped(self) -> None:
        """An instance replacing a scoped service is served everywhere in the block."""
        fake = Config()
        container = DIContainer().register(Config, scope=SCOPED)
        with container.override(Config, fake):
            assert container.resolve(Config) is fake


class TestServiceProvider:
    @pytest.fixture
    def provider(self) -> ServiceProvider:
        container = (
            DIContainer()
            .register(DatabaseService, scope=SINGLETON)
            .register(Config, scope=SINGLETON)
        )
        return ServiceProvider(container)

    def test_caller_arguments_win(self, provider: ServiceProvider) -> None:
        """An argument the caller passes is used instead of injecting."""

        @provider.inject(DatabaseService)
        def handler(db: DatabaseService) -> DatabaseService:
            return db

        mine = DatabaseService("mine://")
        assert handler(db=mine) is mine  # type: ignore[call-arg]  # typed as the caller's view
        assert handler() is provider.container.resolve(DatabaseService)

    def test_sees_later_registrations_and_overrides(self, provider: ServiceProvider) -> None:
        """Injection resolves at call time, so re-registrations and overrides apply."""

        @provider.inject(DatabaseService)
        def handler(db: DatabaseService) -> str:
            return db.connection_string

        assert handler() == "sqlite://"
        with provider.container.override(DatabaseService, DatabaseService("fake://")):
            assert handler() == "fake://"
        provider.container.register(DatabaseService, instance=DatabaseService("new://"))
        assert handler() == "new://"

    def test_wrapper_metadata(self, provider: ServiceProvider) -> None:
        """The wrapper keeps __name__, __doc__, __wrapped__ and shows the remaining params."""

        def handler(request_id: int, db: DatabaseService, *, verbose: bool = False) -> str:
            """Handle a request."""
            return f"{request_id} {db.connection_string} {verbose}"

        wrapper = provider.inject(DatabaseService)(handler)
        assert wrapper.__name__ == "handler"
        assert wrapper.__doc__ == "Handle a request."
        assert wrapper.__wrapped__ is handler  # type: ignore[attr-defined]
        assert list(inspect.signature(wrapper).parameters) == ["request_id", "verbose"]
        assert wrapper(7, verbose=True) == "7 sqlite:// True"

    def test_inject_all_registered(self, provider: ServiceProvider) -> None:
        """inject() injects every parameter whose annotated type is registered."""

        class Unregistered: ...

        @provider.inject()
        def handler(
            config: Config, db: DatabaseService, other: Unregistered | None = None
        ) -> tuple[Any, ...]:
            return config, db, other

        config, db, other = handler()
        assert isinstance(config, Config)
        assert isinstance(db, DatabaseService)
        assert other is None
        assert list(inspect.signature(handler).parameters) == ["other"]

    def test_several_types(self, provider: ServiceProvider) -> None:
        """inject(A, B) injects both."""

        @provider.inject(Config, DatabaseService)
        def handler(config: Config, db: DatabaseService) -> tuple[Config, DatabaseService]:
            return config, db

        config, db = handler()
        assert isinstance(config, Config)
        assert isinstance(db, DatabaseService)

    def test_positional_arguments_after_injected_one(self, provider: ServiceProvider) -> None:
        """Callers' positional arguments go to the parameters they still pass."""

        @provider.inject(DatabaseService)
        def handler(db: DatabaseService, first: int, second: int = 0) -> tuple[str, int, int]:
            return db.connection_string, first, second

        assert handler(1, 2) == ("sqlite://", 1, 2)
        assert handler(1) == ("sqlite://", 1, 0)
        assert handler(first=5) == ("sqlite://", 5, 0)
        mine = DatabaseService("x://")
        assert handler(3, db=mine) == ("x://", 3, 0)  # type: ignore[call-arg]  # typed without db

    def test_positional_only_injected(self, provider: ServiceProvider) -> None:
        """A positional-only injected parameter is passed positionally."""

        @provider.inject(DatabaseService)
        def handler(db: DatabaseService, /, flag: bool = False) -> tuple[str, bool]:
            return db.connection_string, flag

        assert handler() == ("sqlite://", False)
        assert handler(True) == ("sqlite://", True)

    def test_varargs_after_injected(self, provider: ServiceProvider) -> None:
        """Extra positional arguments land in *args after the injected parameter."""

        @provider.inject(DatabaseService)
        def handler(db: DatabaseService, *rest: int) -> tuple[str, tuple[int, ...]]:
            return db.connection_string, rest

        assert handler(1, 2) == ("sqlite://", (1, 2))
        assert handler() == ("sqlite://", ())

    def test_missing_positional_argument(self, provider: ServiceProvider) -> None:
        """A caller that forgets a positional argument gets Python's TypeError."""

        @provider.inject(DatabaseService)
        def handler(first: int, db: DatabaseService, second: int) -> int:
            return first + second

        assert handler(1, 2) == 3
        with pytest.raises(TypeError, match="second"):
            handler(1)

    def test_method(self, provider: ServiceProvider) -> None:
        """Methods are injected too; self stays the first argument."""

        class Handler:
            @provider.inject()
            def handle(self, db: DatabaseService) -> DatabaseService:
                return db

        assert isinstance(Handler().handle(), DatabaseService)

    async def test_async_function(self) -> None:
        """An async def stays a coroutine function and awaits async factories."""

        async def make_db() -> DatabaseService:
            await asyncio.sleep(0)
            return DatabaseService("async://")

        provider = ServiceProvider(DIContainer().register(DatabaseService, factory=make_db))

        @provider.inject(DatabaseService)
        async def handler(db: DatabaseService, suffix: str = "") -> str:
            return db.connection_string + suffix

        @provider.inject(DatabaseService)
        async def later(flag: bool, db: DatabaseService, extra: int) -> str:
            return f"{db.connection_string} {flag} {extra}"

        @provider.inject(DatabaseService)
        async def tail(suffix: str, db: DatabaseService) -> str:
            return db.connection_string + suffix

        assert await tail("?") == "async://?"
        assert inspect.iscoroutinefunction(handler)
        assert await handler() == "async://"
        assert await handler(suffix="!") == "async://!"
        mine = DatabaseService("mine://")
        assert await handler(db=mine) == "mine://"  # type: ignore[call-arg]  # typed without db
        assert await later(True, 3) == "async:// True 3"

    def test_unregistered_type_fails_at_decoration(self, provider: ServiceProvider) -> None:
        """Injecting a type that is not registered fails when decorating."""
        with pytest.raises(ServiceNotRegisteredError, match=r"^handler -> Service \(not reg"):

            @provider.inject(Service)
            def handler(service: Service) -> None: ...

    def test_no_parameter_of_that_type(self, provider: ServiceProvider) -> None:
        """inject(T) on a function without a T parameter is a TypeError."""
        with pytest.raises(TypeError, match="no parameter annotated with Config"):

            @provider.inject(Config)
            def handler(db: DatabaseService) -> None: ...

    def test_not_callable(self, provider: ServiceProvider) -> None:
        """Decorating something that is not callable is a TypeError."""
        with pytest.raises(TypeError, match="decorates functions"):
            provider.inject()(3)  # type: ignore[arg-type]

    def test_container_checked(self) -> None:
        """ServiceProvider needs a container."""
        with pytest.raises(TypeError, match="container must be a DIContainer"):
            ServiceProvider(object())  # type: ignore[arg-type]
        assert repr(ServiceProvider(DIContainer())).startswith("ServiceProvider(<DIContainer")


class TestThreadSafety:
    def test_register_and_resolve_from_many_threads(self) -> None:
        """32 threads registering and resolving at once see consistent services."""
        container = DIContainer().register(Config, scope=SINGLETON)
        classes = [type(f"Svc{i}", (Service,), {}) for i in range(THREADS)]

        def work(index: int) -> tuple[Config, ...]:
            cls = classes[index]
            container.register(cls)
            configs = [container.resolve(cls).config for _ in range(20)]
            configs.append(container.resolve(Config))
            return tuple(configs)

        results = raise_first(run_threads(THREADS, work))
        config = container.resolve(Config)
        assert all(item is config for result in results for item in result)


def build_graph(edges: list[list[int]], lifetimes: list[LifecycleScope]) -> tuple[Any, list[type]]:
    """Register one class per node; node i depends on the nodes listed in edges[i]."""
    classes: list[type] = []
    container = DIContainer()
    for index, targets in enumerate(edges):
        parameters = [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(
                inspect.Parameter(
                    f"d{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=f"N{target}"
                )
                for i, target in enumerate(targets)
            ),
        ]

        def init(self: Any, *deps: Any) -> None:
            self.deps = deps

        init.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        cls = type(f"N{index}", (), {"__init__": init})
        classes.append(cls)
        container.register(cls, scope=lifetimes[index])
    return container, classes


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[list[int]], list[LifecycleScope]]:
    size = draw(st.integers(1, 8))
    edges = [
        draw(st.lists(st.integers(i + 1, size - 1), max_size=3)) if i < size - 1 else []
        for i in range(size)
    ]
    lifetimes = draw(
        st.lists(st.sampled_from([SINGLETON, TRANSIENT]), min_size=size, max_size=size)
    )
    return edges, lifetimes


class TestProperties:
    @given(dags())
    @settings(max_examples=60, deadline=None)
    def test_graphs_resolve_with_lifetimes(
        self, graph: tuple[list[list[int]], list[LifecycleScope]]
    ) -> None:
        """Any DAG validates and resolves; singletons are shared, transients are not."""
        edges, lifetimes = graph
        container, classes = build_graph(edges, lifetimes)
        container.validate()
        seen: dict[int, list[Any]] = {}  # every place an object of node i is held
        visited: set[int] = set()

        def walk(obj: Any, index: int) -> None:
            seen.setdefault(index, []).append(obj)
            if id(obj) in visited:
                return
            visited.add(id(obj))
            for dep, target in zip(obj.deps, edges[index], strict=True):
                assert type(dep) is classes[target]
                walk(dep, target)

        roots = [container.resolve(classes[0]), container.resolve(classes[0])]
        for root in roots:
            walk(root, 0)
        for index, objects in seen.items():
            distinct = len({id(obj) for obj in objects})
            if lifetimes[index] is SINGLETON:
                assert distinct == 1
            else:
                assert distinct == len(objects)

    @given(
        st.integers(2, 6).flatmap(
            lambda n: st.lists(
                st.lists(st.integers(0, n - 1), max_size=2, unique=True), min_size=n, max_size=n
            )
        )
    )
    @settings(max_examples=60, deadline=None)
    def test_cycles_found_by_validate_and_resolve(self, edges: list[list[int]]) -> None:
        """validate() reports a cycle exactly when resolving some service hits one."""
        container, classes = build_graph(edges, [TRANSIENT] * len(edges))
        hits = 0
        for cls in classes:
            try:
                container.resolve(cls)
            except CircularDependencyError:
                hits += 1
        try:
            container.validate()
        except DependencyError as error:
            problems = error.context["problems"]
            assert problems
            assert all(isinstance(p, CircularDependencyError) for p in problems)
            assert hits > 0
        else:
            assert hits == 0


class LateService:
    """Defined after EarlyService, which names it in a hint."""


class TestLifetime:
    def test_each_registered_lifetime_is_reported(self) -> None:
        """lifetime() answers what was registered: instance -> singleton, else the scope."""
        container = (
            DIContainer()
            .register(int, instance=1)
            .register(str, factory=lambda: "s", scope=LifecycleScope.SINGLETON)
            .register(bytes, factory=lambda: b"", scope=LifecycleScope.SCOPED)
            .register(float, factory=lambda: 1.0, scope=LifecycleScope.TRANSIENT)
        )
        assert container.lifetime(int) is LifecycleScope.SINGLETON
        assert container.lifetime(str) is LifecycleScope.SINGLETON
        assert container.lifetime(bytes) is LifecycleScope.SCOPED
        assert container.lifetime(float) is LifecycleScope.TRANSIENT

    def test_unregistered_and_unhashable_are_none(self) -> None:
        container = DIContainer().register(int, instance=1)
        assert container.lifetime(str) is None
        assert container.lifetime([]) is None

    def test_an_override_changes_the_answer_while_it_lasts(self) -> None:
        container = DIContainer().register(int, factory=lambda: 1, scope=LifecycleScope.SCOPED)
        with container.override(int, 2):
            assert container.lifetime(int) is LifecycleScope.SINGLETON
        assert container.lifetime(int) is LifecycleScope.SCOPED


class TestBuilt:
    def test_only_a_built_singleton_is_returned(self) -> None:
        """built() never builds: a singleton once resolved, nothing for other lifetimes."""
        container = (
            DIContainer()
            .register(int, instance=1)
            .register(str, factory=lambda: "s", scope=LifecycleScope.SINGLETON)
            .register(bytes, factory=lambda: b"", scope=LifecycleScope.SCOPED)
            .register(float, factory=lambda: 1.0, scope=LifecycleScope.TRANSIENT)
        )
        assert container.built(str) is None
        assert container.built(str, "default") == "default"
        assert container.resolve(str) == "s"
        assert container.built(str) == "s"
        assert container.resolve(float) == 1.0
        assert container.built(float) is None
        with container.scope() as scope:
            assert scope.resolve(bytes) == b""
        assert container.built(bytes) is None
        assert container.built(object) is None

    async def test_a_singleton_built_asynchronously_is_returned(self) -> None:
        async def make() -> str:
            return "async"

        container = DIContainer().register(str, factory=make, scope=LifecycleScope.SINGLETON)
        assert container.built(str) is None
        assert await container.aresolve(str) == "async"
        assert container.built(str) == "async"

    def test_a_changed_registration_forgets_what_was_built(self) -> None:
        """An override or a re-registration: built() never hands out the replaced one."""
        container = DIContainer().register(list, scope=LifecycleScope.SINGLETON)
        original = container.resolve(list)
        with container.override(list, ["fake"]):
            assert container.built(list) in (None, ["fake"])
            assert container.resolve(list) == ["fake"]
            assert container.built(list) == ["fake"]
        assert container.built(list) is None
        assert container.resolve(list) is original  # the original comes back
        assert container.built(list) is original
        container.register(list, factory=lambda: ["new"], scope=LifecycleScope.SINGLETON)
        assert container.built(list) is None

    def test_subclasses_keep_their_method(self) -> None:
        """A subclass overriding built() keeps it (the fast binding is for the base class)."""

        class Counting(DIContainer):
            calls = 0

            def built(self, service_type: Any, default: Any = None) -> Any:
                Counting.calls += 1
                return super().built(service_type, default)

        container = Counting().register(int, instance=1)
        container.resolve(int)
        assert container.built(int) == 1
        assert Counting.calls == 1
