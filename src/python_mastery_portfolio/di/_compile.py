"""Compile DI registrations into a graph of provider closures.

Private module of :mod:`python_mastery_portfolio.di_container`: :class:`Compiler` holds a
container's registrations and compiled providers and is the base of ``DIContainer``, so the
hot path reads its attributes directly. Signatures are read at the first resolve; compiling
walks the dependencies once, which is where missing registrations, cycles and lifetime
mismatches are found, so none of that is checked again per resolve.
"""

from __future__ import annotations

import enum
import itertools
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from python_mastery_portfolio.di._build import (
    Dep,
    Provider,
    async_call,
    async_only,
    async_with_finaliser,
    constant,
    scoped_provider,
    singleton_provider,
    sync_call,
    with_finaliser,
)
from python_mastery_portfolio.di._graph import (
    MISSING,
    Param,
    chain_error,
    local_names,
    read_params,
    service_name,
    unresolvable,
)
from python_mastery_portfolio.di._scope import Cell, Cleanups
from python_mastery_portfolio.exceptions import (
    CircularDependencyError,
    LifetimeError,
    ServiceNotRegisteredError,
)

__all__ = [
    "ASYNC_KINDS",
    "Compiler",
    "Frame",
    "Kind",
    "LifecycleScope",
    "Node",
    "Registration",
    "Resolver",
]


class LifecycleScope(enum.Enum):
    """How long a resolved service lives.

    Example:
        >>> LifecycleScope.SINGLETON.value
        'singleton'
    """

    SINGLETON = "singleton"
    """One instance per container, built at the first resolve."""
    TRANSIENT = "transient"
    """A new instance on every resolve."""
    SCOPED = "scoped"
    """One instance per :class:`Scope`; resolving it outside a scope is an error."""


class Kind(enum.Enum):
    """How a registration builds its service."""

    SYNC = "sync"
    GENERATOR = "generator"
    ASYNC = "async"
    ASYNC_GENERATOR = "async generator"
    INSTANCE = "instance"


ASYNC_KINDS = (Kind.ASYNC, Kind.ASYNC_GENERATOR)

_frame_depths = itertools.count()


class Frame:
    """One active ``override`` block."""

    __slots__ = ("cleanups", "depth", "shadows")

    def __init__(self) -> None:
        self.depth = next(_frame_depths)
        self.cleanups = Cleanups()
        # Singletons that depend on an overridden service get a fresh cell per block.
        self.shadows: dict[Registration, Cell] = {}


class Registration:
    """What was registered for one service type."""

    __slots__ = ("cell", "cleanups", "frame", "key", "kind", "lifetime", "name", "params", "target")

    def __init__(
        self,
        key: Any,
        target: Any,
        *,
        kind: Kind,
        lifetime: LifecycleScope,
        cleanups: Cleanups,
        frame: Frame | None,
    ) -> None:
        self.key = key
        self.name = service_name(key)
        self.target = target
        self.kind = kind
        self.lifetime = lifetime
        self.cleanups = cleanups
        self.frame = frame
        self.cell = Cell(target if kind is Kind.INSTANCE else MISSING)
        self.params: tuple[Param, ...] | None = () if kind is Kind.INSTANCE else None


class Node:
    """A compiled registration: its providers and what the graph above needs to know."""

    __slots__ = ("aprov", "frame", "scope_path", "sync")

    def __init__(
        self,
        sync: Provider,
        aprov: Callable[[Any], Awaitable[Any]] | None,
        scope_path: tuple[str, ...] | None,
        frame: Frame | None,
    ) -> None:
        self.sync = sync
        self.aprov = aprov  # None: resolving it never needs ``await``
        self.scope_path = scope_path  # the chain down to a scoped service, if any
        self.frame = frame  # the innermost override block it depends on


def arrange(deps: list[tuple[Param, Dep | None]]) -> tuple[list[Dep], list[tuple[str, Dep]]]:
    """Split dependencies into positional and keyword arguments (``None``: keep the default)."""
    positional: list[Dep] = []
    keyword: list[tuple[str, Dep]] = []
    skipped: list[Dep] = []  # positional-only defaults to pass if a later one is injected
    still_positional = True
    for param, dep in deps:
        if dep is None:
            if param.positional_only:
                skipped.append((constant(param.default), None))
            else:
                still_positional = False
        elif still_positional and not param.keyword_only:
            positional.extend(skipped)
            skipped.clear()
            positional.append(dep)
        else:
            keyword.append((param.name, dep))
    return positional, keyword


class Resolver(dict[Any, Any]):
    """The singletons built in one generation of compiled providers, by service type.

    A container's ``resolve`` is this dict's C-level ``__getitem__``: a built singleton costs
    one dict lookup; anything else misses into :meth:`__missing__`, which calls its provider.
    A re-registration or override starts a new generation with a new resolver and empties
    the old one, whose misses then go to the new one: a ``container.resolve`` kept from
    before stays correct.
    """

    __slots__ = ("owner", "providers")

    def __init__(self, owner: Compiler) -> None:
        super().__init__()
        self.owner = owner
        self.providers = owner._providers

    def __missing__(self, key: Any) -> Any:
        owner = self.owner
        current = owner._resolver
        if current is not self:
            return current[key]
        try:
            provider = self.providers[key]
        except KeyError:
            provider = owner._compile(key).sync
        return provider(None)


class Compiler:
    """The registrations and compiled providers of a container; the base of ``DIContainer``."""

    _bind_resolve = False  # install Resolver.__getitem__ as the instance's ``resolve``

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._registry: dict[Any, Registration] = {}
        self._frames: list[Frame] = []
        self._cleanups = Cleanups()
        self._invalidate()

    def _invalidate(self) -> None:
        """Start a new generation (call with the lock held); providers compile again lazily."""
        self._providers: dict[Any, Provider] = {}
        self._nodes: dict[Any, Node] = {}
        retired = getattr(self, "_resolver", None)
        self._resolver = Resolver(self)
        if retired is not None:
            retired.clear()
        if self._bind_resolve:
            vars(self)["resolve"] = self._resolver.__getitem__

    def _registered(self, key: object) -> bool:
        try:
            return key in self._registry
        except TypeError:  # unhashable: certainly not a key
            return False

    def _compile(self, key: Any) -> Node:
        node = self._nodes.get(key)
        if node is None:
            with self._lock:
                node = self._compile_node(key, [])
        return node

    def _compile_node(self, key: Any, path: list[Any]) -> Node:
        node = self._nodes.get(key)
        if node is not None:
            return node
        chain = (*(service_name(item) for item in path), service_name(key))
        registration = self._registry.get(key)
        if registration is None:
            raise chain_error(ServiceNotRegisteredError, chain, " (not registered)")
        if key in path:
            raise chain_error(CircularDependencyError, chain, " (circular dependency)")
        path.append(key)
        try:
            deps = [
                (param, self._dependency(param, path, chain))
                for param in self._params(registration)
            ]
        finally:
            path.pop()
        node = self._assemble(registration, deps, chain)
        self._nodes[key] = node
        self._providers[key] = node.sync
        return node

    def _params(self, registration: Registration) -> tuple[Param, ...]:
        if registration.params is None:
            registration.params = read_params(registration.target, local_names(self._registry))
        return registration.params

    def _dependency(self, param: Param, path: list[Any], chain: tuple[str, ...]) -> Node | None:
        if param.key is not None and self._registered(param.key):
            return self._compile_node(param.key, path)
        if param.default is not MISSING:
            return None
        raise unresolvable(param, chain)

    def _assemble(
        self,
        registration: Registration,
        deps: list[tuple[Param, Node | None]],
        chain: tuple[str, ...],
    ) -> Node:
        """Compile one registration whose dependencies are compiled already."""
        name, lifetime = registration.name, registration.lifetime
        nodes = [dep for _, dep in deps if dep is not None]
        frames = [dep.frame for dep in nodes if dep.frame is not None]
        if registration.frame is not None:
            frames.append(registration.frame)
        frame = max(frames, key=lambda item: item.depth, default=None)
        scope_path: tuple[str, ...] | None = (name,) if lifetime is LifecycleScope.SCOPED else None
        for dep in nodes:
            if dep.scope_path is not None and scope_path is None:
                if lifetime is LifecycleScope.SINGLETON:
                    raise chain_error(
                        LifetimeError,
                        (*chain, *dep.scope_path),
                        f": singleton {name} cannot depend on scoped {dep.scope_path[-1]}",
                    )
                scope_path = (name, *dep.scope_path)
        fixed: Cleanups | None = None
        cell = registration.cell
        if lifetime is LifecycleScope.SINGLETON:
            fixed = registration.cleanups
            if frame is not None and frame is not registration.frame:
                cell = frame.shadows.setdefault(registration, Cell())
                fixed = frame.cleanups
            if cell.value is not MISSING:
                self._resolver[registration.key] = cell.value
                return Node(constant(cell.value), None, None, frame)
        make, amake = self._makers(
            registration, deps, fixed, asynchronous=any(dep.aprov is not None for dep in nodes)
        )
        if lifetime is LifecycleScope.TRANSIENT:
            return Node(make, amake, scope_path, frame)
        if lifetime is LifecycleScope.SCOPED:
            return Node(*scoped_provider(registration.key, make, amake, name), scope_path, frame)
        resolver, key, lock = self._resolver, registration.key, self._lock

        def publish(value: Any) -> None:
            # Later resolves find it in the resolver: one dict lookup. Under the lock, so a
            # resolver retired meanwhile (and emptied) never gets a stale singleton back.
            with lock:
                if self._resolver is resolver:
                    resolver[key] = value

        return Node(*singleton_provider(cell, make, amake, name, publish), None, frame)

    def _makers(
        self,
        registration: Registration,
        deps: list[tuple[Param, Node | None]],
        fixed: Cleanups | None,
        *,
        asynchronous: bool,
    ) -> tuple[Provider, Callable[[Any], Awaitable[Any]] | None]:
        """Return the sync and (when needed) async ``make`` of one registration."""
        name, kind, target = registration.name, registration.kind, registration.target
        positional, keyword = arrange(
            [(param, None if dep is None else (dep.sync, dep.aprov)) for param, dep in deps]
        )
        make: Provider = async_only(name)
        if kind not in ASYNC_KINDS:
            make = sync_call(
                target, [dep[0] for dep in positional], [(k, dep[0]) for k, dep in keyword], name
            )
            if kind is Kind.GENERATOR:
                make = with_finaliser(make, target, name, fixed, self._cleanups)
        if not asynchronous and kind not in ASYNC_KINDS:
            return make, None
        amake = async_call(target, positional, keyword, name, awaits=kind is Kind.ASYNC)
        if kind in (Kind.GENERATOR, Kind.ASYNC_GENERATOR):
            amake = async_with_finaliser(
                amake,
                target,
                name,
                fixed,
                self._cleanups,
                asynchronous=kind is Kind.ASYNC_GENERATOR,
            )
        return make, amake
