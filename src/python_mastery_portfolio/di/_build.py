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
    "async_call",
    "async_only",
    "async_with_finaliser",
    "constant",
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


def with_finaliser(
    call: Provider, target: Any, name: str, fixed: FinaliserSink | None, fallback: FinaliserSink
) -> Provider:
    """Return a provider that runs a generator factory to its ``yield`` and keeps it to finalise."""

    def make(scope: ProviderScope | None) -> Any:
        generator: Generator[Any, None, None] = call(scope)
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
        _choose(scope, fixed, fallback).push(generator, name)
        return value

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
        generator: AsyncGenerator[Any, None] = await call(scope)
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
        _choose(scope, fixed, fallback).push(generator, name)
        return value

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
