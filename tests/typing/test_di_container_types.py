"""Static proofs of the DI container's types: mypy and pyright check, pytest runs."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any, Protocol, assert_type

from python_mastery_portfolio.di_container import (
    ContainerStats,
    DIContainer,
    LifecycleScope,
    Scope,
    ServiceProvider,
)


class Database:
    def query(self) -> str:
        return "rows"


class Repository(ABC):
    @abstractmethod
    def get(self) -> str: ...


class SqlRepository(Repository):
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self) -> str:
        return self.db.query()


class Greeter(Protocol):
    def greet(self) -> str: ...


class English:
    def greet(self) -> str:
        return "hello"


def make_repository(db: Database) -> SqlRepository:
    return SqlRepository(db)


def open_database() -> Iterator[Database]:
    yield Database()


async def open_database_async() -> AsyncIterator[Database]:
    yield Database()


@contextlib.contextmanager
def database_session() -> Generator[Database, None, None]:
    yield Database()


async def make_database() -> Database:
    return Database()


def build() -> DIContainer:
    return (
        DIContainer()
        .register(Database, scope=LifecycleScope.SINGLETON)
        .register(Repository, SqlRepository)
        .register(Greeter, English)
    )


def test_register_chains() -> None:
    """register returns the container itself, for every kind of source."""
    container = DIContainer()
    assert_type(container.register(Database), DIContainer)
    assert_type(container.register(Database, factory=Database), DIContainer)
    assert_type(container.register(Database, factory=open_database), DIContainer)
    assert_type(container.register(Database, factory=make_database), DIContainer)
    assert_type(container.register(Database, factory=open_database_async), DIContainer)
    assert_type(container.register(Database, instance=Database()), DIContainer)
    assert_type(container.register(Repository, factory=make_repository), DIContainer)
    assert_type(container.register(Repository, instance=SqlRepository(Database())), DIContainer)
    # None is a value like any other (not giving instance= is what "no instance" means).
    assert_type(container.register(Database, instance=None), DIContainer)
    assert_type(container.register(Repository, instance=None), DIContainer)
    # A factory returning a context manager of T (entered by default, or not with enter=False).
    assert_type(container.register(Database, factory=database_session), DIContainer)
    assert_type(container.register(Database, factory=database_session, enter=False), DIContainer)


def test_resolve_concrete_abstract_and_protocol() -> None:
    """resolve(T) is a T, for abstract classes and Protocols too."""
    container = build()
    assert_type(container.resolve(Database), Database)
    assert_type(container.resolve(Repository), Repository)
    assert_type(container.resolve(Greeter), Greeter)
    assert container.resolve(Repository).get() == "rows"


def test_built_is_the_service_or_the_default() -> None:
    """built(T) is a T or None; with a default, a T or the default's type."""
    container = build()
    assert_type(container.built(Database), Database | None)
    assert_type(container.built(Repository), Repository | None)
    assert_type(container.built(Database, "none"), Database | str)
    assert container.built(Greeter) is None


def test_resolve_rejects_non_types() -> None:
    """Resolving something that is not a type is a type error."""
    with contextlib.suppress(Exception):
        build().resolve(3)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType, reportCallIssue]


def test_register_rejects_wrong_scope() -> None:
    """scope must be a LifecycleScope."""
    with contextlib.suppress(TypeError):
        DIContainer().register(Database, scope="singleton")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType, reportCallIssue]


async def test_aresolve() -> None:
    """aresolve(T) awaits to a T."""
    container = DIContainer().register(Database, factory=make_database)
    assert_type(await container.aresolve(Database), Database)
    container.register(Repository, SqlRepository)
    assert_type(await container.aresolve(Repository), Repository)


async def test_scope_resolution() -> None:
    """Scopes resolve to T, sync and async, and are context managers of themselves."""
    container = build()
    with container.scope() as scope:
        assert_type(scope, Scope)
        assert_type(scope.resolve(Greeter), Greeter)
    async with container.scope() as ascope:
        assert_type(await ascope.aresolve(Repository), Repository)
    with container as entered:
        assert_type(entered, DIContainer)


def test_stats_and_registered_types() -> None:
    """stats() is a ContainerStats whose counters are ints; registered_types() a tuple."""
    container = build()
    stats = container.stats()
    assert_type(stats, ContainerStats)
    assert_type(stats["singletons"], int)
    assert_type(container.registered_types(), tuple[Any, ...])
    assert Database in container.registered_types()


def test_inject_one_type_drops_the_parameter() -> None:
    """inject(T) on a function taking T first drops that parameter from its type."""
    provider = ServiceProvider(build())

    @provider.inject(Database)
    def process_data(db: Database) -> str:
        return db.query()

    @provider.inject(Database)
    def with_more(db: Database, limit: int, *, verbose: bool = False) -> list[str]:
        return [db.query()] * limit

    assert_type(process_data, Callable[[], str])
    assert_type(process_data(), str)
    assert_type(with_more(2), list[str])
    with contextlib.suppress(TypeError):
        with_more()  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    assert process_data() == "rows"


def test_inject_elsewhere_keeps_the_return_type() -> None:
    """inject(T) elsewhere in the signature, and inject(), keep the return type."""
    provider = ServiceProvider(build())

    @provider.inject(Database)
    def later(limit: int, db: Database) -> int:
        return limit

    @provider.inject()
    def everything(db: Database, greeter: Greeter) -> str:
        return greeter.greet()

    assert_type(later, Callable[..., int])
    assert_type(everything, Callable[..., str])
    assert everything() == "hello"


async def test_inject_async() -> None:
    """An injected async def stays awaitable with its result type."""
    provider = ServiceProvider(build())

    @provider.inject(Database)
    async def handler(db: Database) -> str:
        return db.query()

    # pyright names a coroutine's type CoroutineType, mypy Coroutine: both accept this.
    same: Callable[[], Coroutine[Any, Any, str]] = handler
    assert same is handler
    coroutine: Coroutine[Any, Any, str] = handler()
    assert_type(await coroutine, str)
    assert_type(await handler(), str)


def test_inject_abstract_type() -> None:
    """inject() accepts an abstract class and drops the parameter that takes it."""
    provider = ServiceProvider(build())

    @provider.inject(Repository)
    def read(repository: Repository) -> str:
        return repository.get()

    assert_type(read(), str)


def test_override_is_a_context_manager() -> None:
    """override() is used with `with`."""
    container = build()
    with container.override(Database, Database()) as nothing:
        assert_type(nothing, None)


def test_resolve_all_is_a_list_of_t() -> None:
    """resolve_all(T) is a list[T], for concrete, abstract and Protocol types alike."""
    container = (
        DIContainer()
        .register(Database, multiple=True)
        .register(Repository, SqlRepository, multiple=True)
        .register(Greeter, English, multiple=True)
        .register(Database, scope=LifecycleScope.SINGLETON)
    )
    assert_type(container.resolve_all(Database), list[Database])
    assert_type(container.resolve_all(Repository), list[Repository])
    assert_type(container.resolve_all(Greeter), list[Greeter])
    with container.scope() as scope:
        assert_type(scope.resolve_all(Database), list[Database])
    assert [greeter.greet() for greeter in container.resolve_all(Greeter)] == ["hello"]


async def test_aresolve_all_is_a_list_of_t() -> None:
    """aresolve_all(T) awaits to a list[T], on the container and in a scope."""
    container = DIContainer().register(Database, factory=make_database, multiple=True)
    assert_type(await container.aresolve_all(Database), list[Database])
    async with container.scope() as scope:
        assert_type(await scope.aresolve_all(Database), list[Database])


def test_resolve_all_rejects_non_types() -> None:
    """resolve_all of something that is not a type is a type error."""
    with contextlib.suppress(Exception):
        DIContainer().resolve_all(3)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType, reportCallIssue]
