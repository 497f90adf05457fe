"""The :class:`ServiceProvider` decorator that injects resolved services into functions.

Private module of :mod:`python_mastery_portfolio.di`, which re-exports
:class:`ServiceProvider`. It sits above the container and uses only its public methods.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from python_mastery_portfolio._internal.callables import is_async_callable, qualified_name
from python_mastery_portfolio.di._container import DIContainer
from python_mastery_portfolio.di._graph import (
    chain_error,
    local_names,
    not_registered,
    read_params,
    service_name,
)
from python_mastery_portfolio.exceptions import ServiceNotRegisteredError

__all__ = ["ServiceProvider"]

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class ServiceProvider:
    """Inject services from a :class:`DIContainer` into function parameters.

    ``@provider.inject(T)`` injects the parameter annotated with ``T``;
    ``@provider.inject()`` injects every parameter whose annotated type is registered when
    decorating. Services are resolved from the container at each call (``await``-ed for an
    ``async def``); arguments the caller passes win. The wrapper keeps ``__name__``,
    ``__doc__`` and ``__wrapped__``, and its signature lists only the parameters the caller
    still passes.

    For type checkers, ``inject(T)`` on a function whose first parameter takes ``T`` drops
    that parameter from the signature; other shapes are typed ``Callable[..., R]``.

    Args:
        container: The container to resolve from.

    Example:
        >>> from python_mastery_portfolio.di_container import DIContainer
        >>> class Database:
        ...     def query(self) -> str:
        ...         return "rows"
        >>> provider = ServiceProvider(DIContainer().register(Database))
        >>> @provider.inject(Database)
        ... def process_data(db: Database) -> str:
        ...     return db.query()
        >>> process_data()
        'rows'
    """

    __slots__ = ("container",)

    def __init__(self, container: DIContainer) -> None:
        if not callable(getattr(container, "resolve", None)):
            raise TypeError(f"container must be a DIContainer, got {container!r}")
        self.container = container

    def __repr__(self) -> str:
        return f"ServiceProvider({self.container!r})"

    @overload
    def inject(self, service_type: type[S], /) -> _InjectOne[S]: ...
    @overload
    def inject(self, service_type: Callable[..., S], /) -> _InjectOne[S]: ...
    @overload
    def inject(self, /, *service_types: Callable[..., object]) -> _InjectAll: ...
    def inject(self, /, *service_types: Any) -> Any:
        """Return a decorator injecting ``service_types`` (every registered type if none).

        Raises (when decorating):
            ServiceNotRegisteredError: If a given type is not registered.
            TypeError: If the function has no parameter annotated with a given type.
        """
        if len(service_types) == 1:
            return _InjectOne(self.container, service_types)  # pyright: ignore[reportUnknownVariableType]  # S is bound by the overload
        return _InjectAll(self.container, service_types)


class _InjectAll:
    """The decorator returned by ``inject()``; see :class:`ServiceProvider`."""

    __slots__ = ("_container", "_service_types")

    def __init__(self, container: DIContainer, service_types: tuple[Any, ...]) -> None:
        self._container = container
        self._service_types = service_types

    def __call__(self, func: Callable[..., R], /) -> Callable[..., R]:
        return _decorate(self._container, self._service_types, func)


class _InjectOne(_InjectAll, Generic[S]):
    """The decorator returned by ``inject(T)``; see :class:`ServiceProvider`."""

    __slots__ = ()

    @overload
    def __call__(self, func: Callable[Concatenate[S, P], R], /) -> Callable[P, R]: ...
    @overload
    def __call__(self, func: Callable[..., R], /) -> Callable[..., R]: ...
    def __call__(self, func: Callable[..., Any], /) -> Callable[..., Any]:
        return _decorate(self._container, self._service_types, func)


def _targets(
    container: DIContainer, service_types: tuple[Any, ...], func: Callable[..., Any]
) -> dict[str, Any]:
    """Map each parameter to inject to its service type."""
    params = read_params(func, local_names(container.registered_types()))
    if not service_types:
        return {p.name: p.key for p in params if p.key is not None and p.key in container}
    targets: dict[str, Any] = {}
    name = getattr(func, "__name__", repr(func))
    for service_type in service_types:
        if service_type not in container:
            raise chain_error(
                ServiceNotRegisteredError,
                (name, service_name(service_type)),
                not_registered(service_name(service_type)),
            )
        matches = [p.name for p in params if p.key is not None and p.key == service_type]
        if not matches:
            raise TypeError(
                f"{qualified_name(func)} has no parameter annotated with "
                f"{service_name(service_type)}"
            )
        targets.update(dict.fromkeys(matches, service_type))
    return targets


def _decorate(
    container: DIContainer, service_types: tuple[Any, ...], func: Callable[..., Any]
) -> Callable[..., Any]:
    if not callable(func):
        raise TypeError(f"inject() decorates functions, got {func!r}")
    targets = _targets(container, service_types, func)
    signature = inspect.signature(func)
    layout: list[tuple[str, bool, bool]] = []  # (name, injected, positional-only)
    simple = True  # callers' positional arguments can be passed through unchanged
    injected_before = False
    for parameter in signature.parameters.values():
        injected = parameter.name in targets
        if parameter.kind in _POSITIONAL:
            layout.append(
                (parameter.name, injected, parameter.kind is inspect.Parameter.POSITIONAL_ONLY)
            )
            positional_only = parameter.kind is inspect.Parameter.POSITIONAL_ONLY
            if (injected and positional_only) or (not injected and injected_before):
                simple = False
            injected_before = injected_before or injected
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL and injected_before:
            simple = False
    items = tuple(targets.items())

    def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """Place injected values positionally where later positional arguments need it."""
        placed: list[Any] = []
        index, count = 0, len(args)
        for name, injected, positional_only in layout:
            if not injected:
                if index >= count:
                    break
                placed.append(args[index])
                index += 1
            elif index < count or positional_only:
                placed.append(kwargs.pop(name))
            else:
                break
        placed.extend(args[index:])
        return placed

    if is_async_callable(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            for name, key in items:
                if name not in kwargs:
                    kwargs[name] = await container.aresolve(key)
            if simple:
                return await func(*args, **kwargs)
            return await func(*arguments(args, kwargs), **kwargs)

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            for name, key in items:
                if name not in kwargs:
                    kwargs[name] = container.resolve(key)
            if simple:
                return func(*args, **kwargs)
            return func(*arguments(args, kwargs), **kwargs)

        wrapper = sync_wrapper
    kept = [p for p in signature.parameters.values() if p.name not in targets]
    vars(wrapper)["__signature__"] = signature.replace(parameters=kept)
    return wrapper
