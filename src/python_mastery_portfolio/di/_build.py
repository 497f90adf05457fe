"""Compile DI registrations into provider closures.

Private helpers of :mod:`python_mastery_portfolio.di`. A provider is a callable
``provider(scope)`` (``scope`` is a :class:`~._protocols.ProviderScope` or ``None``, outside
any scope) that builds its service by calling the providers of its dependencies directly: no
introspection and no bookkeeping per resolve. Each provider catches what its call raises
(a ``try`` costs nothing until something is raised) and re-raises it with its own name in
front of the chain, so errors name the whole path without slowing the happy path.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.di._cells import Cell
from python_mastery_portfolio.di._graph import (
    AsyncServiceError,
    chain_error,
    extend_error,
    resolution_error,
)
from python_mastery_portfolio.di._protocols import FinaliserSink, ProviderScope
from python_mastery_portfolio.exceptions import DependencyError, LifetimeError, ResolutionError

__all__ = [
    "Dep",
    "Provider",
    "aentering",
    "async_call",
    "async_only",
    "async_with_finaliser",
    "constant",
    "entering",
    "may_enter",
    "scoped_provider",
    "singleton_provider",
    "sync_call",
    "with_finaliser",
]

Provider = Callable[[ProviderScope | None], Any]
AsyncProvider = Callable[[ProviderScope | None], Awaitable[Any]]
Dep = tuple[Provider, AsyncProvider | None]
"""A dependency: its sync provider, and its async provider when it needs ``await``."""

_CHAINED = (DependencyError, AsyncServiceError)


def constant(value: Any) -> Provider:
    """Return a provider that returns ``value`` (C-level: ``next(repeat(value), scope)``)."""
    return functools.partial(next, itertools.repeat(value))


def sync_call(
    target: Callable[..., Any],
    positional: list[Provider],
    keyword: list[tuple[str, Provider]],
    name: str,
) -> Provider:
    """Return a provider calling ``target`` with the dependencies' values.

    The common shapes (up to three positional dependencies) get a specialised closure.
    """
    count = len(positional)
    if keyword or count > 3:

        def call_any(scope: ProviderScope | None) -> Any:
            try:
                return target(
                    *[dep(scope) for dep in positional], **{k: dep(scope) for k, dep in keyword}
                )
            except _CHAINED as error:
                raise extend_error(error, name) from error.__cause__
            except Exception as error:
                raise resolution_error(name, target, error) from error

        return call_any
    if count == 0:

        def call0(scope: ProviderScope | None) -> Any:
            try:
                return target()
            except _CHAINED as error:
                raise extend_error(error, name) from error.__cause__
            except Exception as error:
                raise resolution_error(name, target, error) from error

        return call0
    if count == 1:
        (dep0,) = positional

        def call1(scope: ProviderScope | None) -> Any:
            try:
                return target(dep0(scope))
            except _CHAINED as error:
                raise extend_error(error, name) from error.__cause__
            except Exception as error:
                raise resolution_error(name, target, error) from error

        return call1
    if count == 2:
        dep0, dep1 = positional

        def call2(scope: ProviderScope | None) -> Any:
            try:
                return target(dep0(scope), dep1(scope))
            except _CHAINED as error:
                raise extend_error(error, name) from error.__cause__
            except Exception as error:
                raise resolution_error(name, target, error) from error

        return call2
    dep0, dep1, dep2 = positional

    def call3(scope: ProviderScope | None) -> Any:
        try:
            return target(dep0(scope), dep1(scope), dep2(scope))
        except _CHAINED as error:
            raise extend_error(error, name) from error.__cause__
        except Exception as error:
            raise resolution_error(name, target, error) from error

    return call3


def async_call(
    target: Callable[..., Any],
    positional: list[Dep],
    keyword: list[tuple[str, Dep]],
    name: str,
    *,
    awaits: bool,
) -> AsyncProvider:
    """Return an async provider calling ``target``, awaiting the dependencies that need it.

    Args:
        target: The class or factory.
        positional: Dependencies passed positionally.
        keyword: Dependencies passed by keyword.
        name: The service's name, for errors.
        awaits: Await what ``target`` returns (an ``async def`` factory).
    """

    async def value(dep: Dep, scope: ProviderScope | None) -> Any:
        sync, asynchronous = dep
        return sync(scope) if asynchronous is None else await asynchronous(scope)

    async def acall(scope: ProviderScope | None) -> Any:
        try:
            args = [await value(dep, scope) for dep in positional]
            kwargs = {key: await value(dep, scope) for key, dep in keyword}
            result = target(*args, **kwargs)
            if awaits:
                result = await result
        except _CHAINED as error:
            raise extend_error(error, name) from error.__cause__
        except Exception as error:
            raise resolution_error(name, target, error) from error
        return result

    return acall


def _choose(
    scope: ProviderScope | None, fixed: FinaliserSink | None, fallback: FinaliserSink
) -> FinaliserSink:
    """Return where a new finaliser goes: the owner's, else the scope's, else the container's."""
    if fixed is not None:
        return fixed
    if scope is None:
        return fallback
    return scope


def _start(
    generator: Generator[Any, None, None], target: Any, name: str, sink: FinaliserSink
) -> Any:
    """Run ``generator`` to its ``yield``, hand it to ``sink`` and return what it yielded."""
    try:
        value = next(generator)
    except StopIteration:
        raise chain_error(
            ResolutionError, (name,), ": its generator factory did not yield"
        ) from None
    except _CHAINED as error:
        raise extend_error(error, name) from error.__cause__
    except Exception as error:
        raise resolution_error(name, target, error) from error
    sink.push(generator, name)
    return value


async def _astart(
    generator: AsyncGenerator[Any, None], target: Any, name: str, sink: FinaliserSink
) -> Any:
    """Run ``generator`` to its ``yield``, hand it to ``sink`` and return what it yielded."""
    try:
        value = await anext(generator)
    except StopAsyncIteration:
        raise chain_error(
            ResolutionError, (name,), ": its async generator factory did not yield"
        ) from None
    except _CHAINED as error:
        raise extend_error(error, name) from error.__cause__
    except Exception as error:
        raise resolution_error(name, target, error) from error
    sink.push(generator, name)
    return value


def with_finaliser(
    call: Provider, target: Any, name: str, fixed: FinaliserSink | None, fallback: FinaliserSink
) -> Provider:
    """Return a provider that runs a generator factory to its ``yield`` and keeps it to finalise."""

    def make(scope: ProviderScope | None) -> Any:
        return _start(call(scope), target, name, _choose(scope, fixed, fallback))

    return make


def async_with_finaliser(
    call: AsyncProvider,
    target: Any,
    name: str,
    fixed: FinaliserSink | None,
    fallback: FinaliserSink,
    *,
    asynchronous: bool,
) -> AsyncProvider:
    """Return an async provider for a generator factory (``asynchronous``: an async one)."""
    if not asynchronous:

        async def make_sync(scope: ProviderScope | None) -> Any:
            generator = await call(scope)
            return with_finaliser(constant(generator), target, name, fixed, fallback)(scope)

        return make_sync

    async def make(scope: ProviderScope | None) -> Any:
        return await _astart(await call(scope), target, name, _choose(scope, fixed, fallback))

    return make


# What a factory's result is, by its type: 0 nothing to enter, 1 a context manager, 2 an
# async one, 3 both. Cached because the ABC checks cost about 230 ns per value, more than
# the whole resolve; cleared when large, as dynamically created classes would grow it.
_PLAIN, _SYNC_CM, _ASYNC_CM = 0, 1, 2
_manager_kinds: dict[type, int] = {}


def _manager_kind(cls: type) -> int:
    kind = _manager_kinds.get(cls)
    if kind is None:
        kind = (_SYNC_CM if issubclass(cls, AbstractContextManager) else _PLAIN) | (  # pyright: ignore[reportGeneralTypeIssues]  # an ABC at run time
            _ASYNC_CM if issubclass(cls, AbstractAsyncContextManager) else _PLAIN  # pyright: ignore[reportGeneralTypeIssues]  # as above
        )
        if len(_manager_kinds) >= 512:
            _manager_kinds.clear()
        _manager_kinds[cls] = kind
    return kind


def _entered(manager: AbstractContextManager[Any]) -> Generator[Any, None, None]:
    """Hold ``manager`` entered as a generator factory would; the owner's close exits it.

    The body's exception (thrown in by the finaliser) is handed to ``__exit__`` and always
    propagates, as with generator factories: a manager cannot swallow it.
    """
    value = manager.__enter__()
    try:
        yield value
    except BaseException as error:
        manager.__exit__(type(error), error, error.__traceback__)
        raise
    manager.__exit__(None, None, None)


async def _aentered(manager: AbstractAsyncContextManager[Any]) -> AsyncGenerator[Any, None]:
    """Hold ``manager`` entered with ``async with`` semantics; see :func:`_entered`."""
    value = await manager.__aenter__()
    try:
        yield value
    except BaseException as error:
        await manager.__aexit__(type(error), error, error.__traceback__)
        raise
    await manager.__aexit__(None, None, None)


def may_enter(target: Any, returns: Any) -> bool:
    """Return whether what ``target`` builds may be a context manager, to check each result.

    A class builds instances of itself, and a factory whose return hint (``returns``) names
    a class is taken at its word: both are decided now, once. Anything else (no hint, a
    generic alias such as ``Iterator[X]``, ``Any``, ``object``) is looked at each time.
    """
    known = target if isinstance(target, type) else returns
    if not isinstance(known, type) or known is object:
        return True
    return _manager_kind(known) != _PLAIN


def entering(
    target: Callable[..., Any],
    positional: list[Provider],
    keyword: list[tuple[str, Provider]],
    name: str,
    *,
    fixed: FinaliserSink | None,
    fallback: FinaliserSink,
) -> Provider:
    """Return a provider calling a factory and entering the context manager it returns.

    The manager is exited with the owner of the service (as a generator factory's
    finaliser, in the same newest-first order); what ``__enter__`` returns is the service.
    A value that is no context manager is returned as is. An async-only manager needs
    ``aresolve``. The call is made here rather than through :func:`sync_call`, saving a
    frame on the common path (about 50 ns).
    """
    reason = (
        f": the factory of {name} returned an async context manager; resolve it with "
        "'await container.aresolve(...)' or 'await scope.aresolve(...)'"
    )
    kinds = _manager_kinds

    def enter(value: Any, scope: ProviderScope | None) -> Any:
        kind = _manager_kind(type(value))  # pyright: ignore[reportUnknownArgumentType]  # type() of an Any
        if not kind:
            return value
        if kind & _SYNC_CM:
            return _start(_entered(value), target, name, _choose(scope, fixed, fallback))
        raise AsyncServiceError(name + reason, chain=(name,), reason=reason)

    if keyword or len(positional) > 1:

        def make_any(scope: ProviderScope | None) -> Any:
            try:
                value = target(
                    *[dep(scope) for dep in positional], **{k: dep(scope) for k, dep in keyword}
                )
            except _CHAINED as error:
                raise extend_error(error, name) from error.__cause__
            except Exception as error:
                raise resolution_error(name, target, error) from error
            # The common case, a type seen before that is no context manager: a dict lookup.
            if kinds.get(type(value)) == _PLAIN:  # pyright: ignore[reportUnknownArgumentType]  # type() of an Any
                return value
            return enter(value, scope)

        return make_any
    dep0 = positional[0] if positional else None

    def make(scope: ProviderScope | None) -> Any:
        try:
            value = target() if dep0 is None else target(dep0(scope))
        except _CHAINED as error:
            raise extend_error(error, name) from error.__cause__
        except Exception as error:
            raise resolution_error(name, target, error) from error
        if kinds.get(type(value)) == _PLAIN:  # pyright: ignore[reportUnknownArgumentType]  # type() of an Any
            return value
        return enter(value, scope)

    return make


def aentering(
    call: AsyncProvider,
    target: Any,
    name: str,
    fixed: FinaliserSink | None,
    fallback: FinaliserSink,
) -> AsyncProvider:
    """Return the async :func:`entering`: an async context manager is entered with ``await``.

    A manager that is both kinds is entered the async way here, the sync way by
    :func:`entering`.
    """

    async def make(scope: ProviderScope | None) -> Any:
        value = await call(scope)
        kind = _manager_kind(type(value))  # pyright: ignore[reportUnknownArgumentType]  # type() of an Any
        if not kind:
            return value
        sink = _choose(scope, fixed, fallback)
        if kind & _ASYNC_CM:
            return await _astart(_aentered(value), target, name, sink)
        return _start(_entered(value), target, name, sink)

    return make


def async_only(name: str) -> Provider:
    """Return the sync ``make`` of an async factory: a clear ``TypeError``.

    A singleton or scoped service already built is still returned by its sync provider,
    which looks in its cell or scope before calling ``make``.
    """
    reason = (
        f": {name} has an async factory; resolve it with "
        "'await container.aresolve(...)' or 'await scope.aresolve(...)'"
    )

    def refuse(scope: ProviderScope | None) -> Any:
        raise AsyncServiceError(name + reason, chain=(name,), reason=reason)

    return refuse


def singleton_provider(
    cell: Cell,
    make: Provider,
    amake: AsyncProvider | None,
    name: str,
    publish: Callable[[Any], None],
) -> tuple[Provider, AsyncProvider | None]:
    """Return the sync and async providers of a singleton built once into ``cell``.

    Singletons never see a scope: ``make`` is called with ``None``.
    """

    def provide(scope: ProviderScope | None) -> Any:
        value = cell.value
        if value is MISSING:
            value = cell.get(make, None, name)
            publish(value)
        return value

    if amake is None:
        return provide, None

    async def aprovide(scope: ProviderScope | None) -> Any:
        value = cell.value
        if value is MISSING:
            value = await cell.aget(amake, None, name)
            publish(value)
        return value

    return provide, aprovide


def scoped_provider(
    key: Any, make: Provider, amake: AsyncProvider | None, name: str
) -> tuple[Provider, AsyncProvider | None]:
    """Return the sync and async providers of a scoped service (one instance per scope)."""
    reason = (
        f": {name} is scoped; resolve it inside 'with container.scope() as scope:' "
        "through scope.resolve(...)"
    )

    def provide(scope: ProviderScope | None) -> Any:
        if scope is None:
            raise chain_error(LifetimeError, (name,), reason)
        # The common case, an instance built already, is one dict lookup.
        value = scope.instances.get(key, MISSING)
        if value is MISSING:
            value = scope.provide(key, make, name)
        return value

    if amake is None:
        return provide, None

    async def aprovide(scope: ProviderScope | None) -> Any:
        if scope is None:
            raise chain_error(LifetimeError, (name,), reason)
        value = scope.instances.get(key, MISSING)
        if value is MISSING:
            value = await scope.aprovide(key, amake, name)
        return value

    return provide, aprovide
