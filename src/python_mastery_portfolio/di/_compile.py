"""Compile DI registrations into a graph of provider closures.

Private module of :mod:`python_mastery_portfolio.di`: a :class:`Compiler` holds one
container's registrations and compiled providers; the container and its scopes own one and
call its public methods. Signatures are read at the first resolve; compiling walks the
dependencies once, which is where missing registrations, cycles and lifetime mismatches are
found, so none of that is checked again per resolve.
"""

from __future__ import annotations

import collections.abc
import threading
import typing
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.di._build import (
    Provider,
    aentering,
    async_call,
    async_only,
    async_with_finaliser,
    constant,
    entering,
    may_enter,
    scoped_provider,
    singleton_provider,
    sync_call,
    with_finaliser,
)
from python_mastery_portfolio.di._cells import Cell, Cleanups
from python_mastery_portfolio.di._graph import (
    Graph,
    Param,
    chain_error,
    local_names,
    not_registered,
    read_params,
    read_return,
    service_name,
    unresolvable,
)
from python_mastery_portfolio.di._registration import (
    ASYNC_KINDS,
    Frame,
    Kind,
    LifecycleScope,
    Member,
    Node,
    Registration,
    arrange,
)
from python_mastery_portfolio.exceptions import (
    CircularDependencyError,
    DependencyError,
    LifetimeError,
    ServiceNotRegisteredError,
)

__all__ = ["Compiler", "Resolver"]

# The hints a parameter collecting every multiple=True registration of T may use.
_COLLECTIONS = (list, collections.abc.Sequence)


class Resolver(dict[Any, Any]):
    """The built singletons of one container, by service type; its lookup is ``resolve``.

    A container's ``resolve`` is this dict's C-level ``__getitem__``: a built singleton costs
    one dict lookup; anything else misses into :meth:`__missing__`, which calls its provider.
    There is one resolver per container for its whole life: a re-registration or override
    empties it rather than replacing it, so a ``container.resolve`` kept from before stays
    correct.
    """

    __slots__ = ("_compile", "_providers")

    def __init__(self, providers: dict[Any, Provider], compiler: Callable[[Any], Node]) -> None:
        super().__init__()
        self._providers = providers
        self._compile = compiler

    def __missing__(self, key: Any) -> Any:
        try:
            provider = self._providers[key]
        except KeyError:
            provider = self._compile(key).sync
        return provider(None)


class Compiler:
    """The registrations and compiled providers of one container.

    Attributes:
        lock: Held while registrations change or providers compile (re-entrant).
        cleanups: The finalisers of singletons, and of transients resolved outside a scope.
        providers: The compiled sync provider of each service type (filled lazily).
        resolver: The built singletons; its ``__getitem__`` resolves outside any scope.
    """

    __slots__ = (
        "_collections",
        "_frames",
        "_generation",
        "_members",
        "_nodes",
        "_registry",
        "cleanups",
        "lock",
        "providers",
        "resolver",
    )

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.cleanups = Cleanups()
        self.providers: dict[Any, Provider] = {}
        self.resolver = Resolver(self.providers, self.compile)
        self._registry: dict[Any, Registration] = {}
        self._frames: list[Frame] = []
        self._nodes: dict[Any, Node] = {}
        # multiple=True registrations: each service type's member keys, in order, and the
        # compiled "all of them" node of each service type.
        self._members: dict[Any, list[Member]] = {}
        self._collections: dict[Any, Node] = {}
        # Bumped by every change; a singleton built for an older generation is not published.
        self._generation = 0

    def _invalidate(self) -> None:
        """Start a new generation (call with the lock held); providers compile again lazily."""
        self._generation += 1
        self.providers.clear()
        self._nodes.clear()
        self._collections.clear()
        self.resolver.clear()

    # -- registrations ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._registry)

    def registered(self, key: object) -> bool:
        """Return whether ``key`` is registered (``False`` for an unhashable key)."""
        try:
            return key in self._registry
        except TypeError:  # unhashable: certainly not a key
            return False

    def registration(self, key: Any) -> Registration | None:
        """Return the registration of ``key``, or ``None``."""
        return self._registry.get(key)

    def registrations(self) -> list[Registration]:
        """Return a snapshot of the registrations, in registration order."""
        return list(self._registry.values())

    def register(self, registration: Registration) -> None:
        """Add or replace the registration of ``registration.key``."""
        with self.lock:
            self._registry[registration.key] = registration
            self._invalidate()

    def member_key(self, service: Any) -> Member:
        """Return the key for the next ``multiple=True`` registration of ``service``."""
        with self.lock:
            return Member(service, len(self._members.get(service, ())))

    def register_member(self, registration: Registration) -> None:
        """Add a ``multiple=True`` registration (its key from :meth:`member_key`)."""
        key = registration.key
        with self.lock:
            self._members.setdefault(key.service, []).append(key)
            self._registry[key] = registration
            self._invalidate()

    def service_types(self) -> list[Any]:
        """Return the service types registered (plainly or as members), in order, once each."""
        with self.lock:
            keys = (key.service if isinstance(key, Member) else key for key in self._registry)
            return list(dict.fromkeys(keys))

    def _members_of(self, service: Any) -> list[Any] | None:
        """Return the keys ``resolve_all(service)`` builds, or ``None`` when it has none.

        An override of ``service`` stands in for all of them, alone, for its block.
        """
        registration = self._registry.get(service)
        if registration is not None and registration.frame is not None:
            return [service]
        members = self._members.get(service)
        return list(members) if members else None

    def _element(self, key: Any) -> tuple[Any, list[Any]] | None:
        """Return the service type and member keys a ``list[T]``/``Sequence[T]`` hint collects."""
        if typing.get_origin(key) not in _COLLECTIONS:
            return None
        (element,) = typing.get_args(key) or (None,)
        try:
            members = self._members_of(element)
        except TypeError:  # an unhashable argument cannot be a key
            return None
        return None if members is None else (element, members)

    def push_override(self, registration: Registration, frame: Frame) -> Registration | None:
        """Put ``registration`` in place for an override block; return what it replaces."""
        with self.lock:
            saved = self._registry.get(registration.key)
            self._frames.append(frame)
            self._registry[registration.key] = registration
            self._invalidate()
            return saved

    def pop_override(self, key: Any, saved: Registration | None, frame: Frame) -> None:
        """End the override block ``frame`` of ``key``, putting ``saved`` back."""
        with self.lock:
            self._frames.remove(frame)
            if saved is None:
                self._registry.pop(key, None)
            else:
                self._registry[key] = saved
            self._invalidate()

    @property
    def overrides(self) -> int:
        """The number of active override blocks."""
        return len(self._frames)

    @property
    def compiled(self) -> int:
        """The number of registrations compiled in this generation."""
        return len(self._nodes)

    def forget_singletons(self) -> None:
        """Drop every built singleton except registered instances."""
        with self.lock:
            for registration in self._registry.values():
                if registration.kind is not Kind.INSTANCE:
                    registration.cell = Cell()
            self._invalidate()

    def _localns(self) -> dict[str, Any]:
        return local_names(self.service_types())

    def graph(self) -> Graph:
        """Return each registration's lifetime and parameters, for :func:`find_problems`.

        A ``list[T]`` or ``Sequence[T]`` parameter collecting ``multiple=True``
        registrations appears as a transient entry whose parameters are the members.
        """
        with self.lock:
            localns = self._localns()
            graph: dict[Any, tuple[str, tuple[Param, ...] | DependencyError]] = {}
            for key, registration in self._registry.items():
                try:
                    graph[key] = (registration.lifetime.value, self._params(registration, localns))
                except DependencyError as error:
                    graph[key] = (registration.lifetime.value, error)
            for entry in list(graph.values()):
                if isinstance(entry[1], tuple):
                    self._collection_entries(entry[1], graph)
        return graph

    def _collection_entries(
        self,
        params: Iterable[Param],
        graph: dict[Any, tuple[str, tuple[Param, ...] | DependencyError]],
    ) -> None:
        for param in params:
            if param.key is None or self.registered(param.key):
                continue
            found = self._element(param.key)
            if found is not None:
                members = tuple(
                    Param(
                        name=str(index),
                        positional_only=False,
                        keyword_only=False,
                        key=key,
                        default=MISSING,
                        problem=None,
                    )
                    for index, key in enumerate(found[1])
                )
                graph[param.key] = ("transient", members)

    # -- compilation ---------------------------------------------------------------------------

    def compile(self, key: Any) -> Node:
        """Return the compiled node of ``key``, compiling it and its dependencies if needed.

        Raises:
            DependencyError: If it cannot be compiled (not registered, a cycle, a lifetime
                mismatch, a parameter that cannot be injected).
        """
        node = self._nodes.get(key)
        if node is None:
            with self.lock:
                node = self._compile_node(key, [])
        return node

    def _compile_node(self, key: Any, path: list[Any]) -> Node:
        node = self._nodes.get(key)
        if node is not None:
            return node
        chain = (*(service_name(item) for item in path), service_name(key))
        registration = self._registry.get(key)
        if registration is None:
            reason = not_registered(chain[-1])
            if self._members.get(key):
                reason = " (not registered; resolve_all returns its multiple=True registrations)"
            raise chain_error(ServiceNotRegisteredError, chain, reason)
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
        self.providers[key] = node.sync
        return node

    def _params(
        self, registration: Registration, localns: dict[str, Any] | None = None
    ) -> tuple[Param, ...]:
        if registration.params is None:
            if localns is None:
                localns = self._localns()
            registration.params = read_params(registration.target, localns)
        return registration.params

    def _dependency(self, param: Param, path: list[Any], chain: tuple[str, ...]) -> Node | None:
        if param.key is not None:
            if self.registered(param.key):
                return self._compile_node(param.key, path)
            found = self._element(param.key)
            if found is not None:
                return self._collection(found[0], found[1], path)
        if param.default is not MISSING:
            return None
        raise unresolvable(param, chain)

    def collect(self, service: Any) -> Node:
        """Return the compiled node building every ``multiple=True`` registration of ``service``.

        Raises:
            DependencyError: If one of them cannot be compiled.
        """
        node = self._collections.get(service)
        if node is None:
            with self.lock:
                node = self._collection(service, self._members_of(service) or [], [])
        return node

    def _collection(self, service: Any, keys: list[Any], path: list[Any]) -> Node:
        """Compile the list of ``keys`` (the members of ``service``), each with its lifetime."""
        node = self._collections.get(service)
        if node is not None:
            return node
        nodes = [self._compile_node(key, path) for key in keys]
        providers = [item.sync for item in nodes]

        def provide_all(scope: Any) -> list[Any]:
            return [provider(scope) for provider in providers]

        aprovide_all: Callable[[Any], Awaitable[Any]] | None = None
        if any(item.aprov is not None for item in nodes):
            pairs = [(item.sync, item.aprov) for item in nodes]

            async def aprovide(scope: Any) -> list[Any]:
                return [
                    sync(scope) if amake is None else await amake(scope) for sync, amake in pairs
                ]

            aprovide_all = aprovide
        scope_path = next((item.scope_path for item in nodes if item.scope_path), None)
        frames = [item.frame for item in nodes if item.frame is not None]
        frame = max(frames, key=lambda item: item.depth, default=None)
        node = Node(provide_all, aprovide_all, scope_path, frame)
        self._collections[service] = node
        return node

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
                self.resolver[registration.key] = cell.value
                return Node(constant(cell.value), None, None, frame)
        make, amake = self._makers(
            registration, deps, fixed, asynchronous=any(dep.aprov is not None for dep in nodes)
        )
        if lifetime is LifecycleScope.TRANSIENT:
            return Node(make, amake, scope_path, frame)
        if lifetime is LifecycleScope.SCOPED:
            return Node(*scoped_provider(registration.key, make, amake, name), scope_path, frame)
        resolver, key, lock, generation = (
            self.resolver,
            registration.key,
            self.lock,
            self._generation,
        )

        def publish(value: Any) -> None:
            # Later resolves find it in the resolver: one dict lookup. Under the lock, so a
            # generation ended meanwhile (its resolver emptied) never gets a stale singleton.
            with lock:
                if self._generation == generation:
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
        enters = registration.enter and may_enter(
            target,
            None if isinstance(target, type) else read_return(target, local_names(self._registry)),
        )
        make: Provider = async_only(name)
        if kind not in ASYNC_KINDS:
            sync_positional = [dep[0] for dep in positional]
            sync_keyword = [(k, dep[0]) for k, dep in keyword]
            if enters:
                make = entering(
                    target, sync_positional, sync_keyword, name, fixed=fixed, fallback=self.cleanups
                )
            else:
                make = sync_call(target, sync_positional, sync_keyword, name)
            if kind is Kind.GENERATOR:
                make = with_finaliser(make, target, name, fixed, self.cleanups)
        # A factory whose result may be an async context manager needs an async path too.
        if not asynchronous and kind not in ASYNC_KINDS and not enters:
            return make, None
        amake = async_call(target, positional, keyword, name, awaits=kind is Kind.ASYNC)
        if kind in (Kind.GENERATOR, Kind.ASYNC_GENERATOR):
            amake = async_with_finaliser(
                amake,
                target,
                name,
                fixed,
                self.cleanups,
                asynchronous=kind is Kind.ASYNC_GENERATOR,
            )
        elif enters:
            amake = aentering(amake, target, name, fixed, self.cleanups)
        return make, amake
