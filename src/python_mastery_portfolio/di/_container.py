"""The dependency-injection container: registration, resolution, overrides and clean-up.

Private module of :mod:`python_mastery_portfolio.di`. :class:`DIContainer` owns a
:class:`~._compile.Compiler` (its registrations and compiled providers) and hands it to each
:class:`~._scope.Scope` it opens.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol, Self, TypedDict, TypeVar, overload

from python_mastery_portfolio._internal.callables import is_async_callable
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.di._cells import Cleanups
from python_mastery_portfolio.di._compile import Compiler
from python_mastery_portfolio.di._graph import find_problems
from python_mastery_portfolio.di._registration import Frame, Kind, LifecycleScope, Registration
from python_mastery_portfolio.di._reports import report_failure
from python_mastery_portfolio.di._scope import ClosesOnExit, Scope
from python_mastery_portfolio.exceptions import DependencyError
from python_mastery_portfolio.instrumentation import HOOKS

__all__ = ["ContainerStats", "DIContainer"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

T = TypeVar("T")
D = TypeVar("D")

_Factory = Callable[
    ...,
    T
    | Awaitable[T]
    | Iterator[T]
    | AsyncIterator[T]
    | AbstractContextManager[T]
    | AbstractAsyncContextManager[T],
]


def _is_protocol(cls: type) -> bool:
    # What typing's private ``_is_protocol`` flag says, from public attributes: a class is
    # a protocol when Protocol is among its direct bases (a class implementing one is not).
    return cls is Protocol or Protocol in cls.__bases__


def _require_concrete(cls: Any, param: str) -> None:
    if not isinstance(cls, type):
        raise TypeError(
            f"{param} must be a class, got {cls!r}; register other keys with "
            "implementation=, factory= or instance="
        )
    if inspect.isabstract(cls) or _is_protocol(cls):
        raise TypeError(
            f"{param} {cls.__name__} is abstract; give implementation=, factory= or instance="
        )


def _kind_of(factory: Callable[..., Any]) -> Kind:
    function: Any = factory
    if not (inspect.isroutine(function) or isinstance(function, functools.partial | type)):
        function = type(function).__call__
    if inspect.isasyncgenfunction(function):  # pyright: ignore[reportUnknownArgumentType]  # any callable
        return Kind.ASYNC_GENERATOR
    if inspect.isgeneratorfunction(function):  # pyright: ignore[reportUnknownArgumentType]  # any callable
        return Kind.GENERATOR
    return Kind.ASYNC if is_async_callable(factory) else Kind.SYNC


class ContainerStats(TypedDict):
    """What :meth:`DIContainer.stats` returns."""

    registrations: int
    """Service types registered."""
    compiled: int
    """Registrations compiled into providers since the last change."""
    singletons: int
    """Singletons built (registered instances are not counted)."""
    overrides: int
    """Active ``override`` blocks."""


def _reporting(lookup: Callable[[Any], Any], service_type: Any) -> Any:
    """Resolve through ``lookup``, reporting a failure: ``resolve`` while the hook is on."""
    try:
        return lookup(service_type)
    except Exception as error:
        report_failure(service_type, error)
        raise


class DIContainer(ClosesOnExit):
    """Register services, then resolve them with their dependencies wired from type hints.

    Registration and resolution are thread-safe. See the module docstring for errors,
    clean-up and overrides.

    Example:
        >>> class Config:
        ...     debug = False
        >>> class Service:
        ...     def __init__(self, config: Config, retries: int = 3) -> None:
        ...         self.config, self.retries = config, retries
        >>> container = DIContainer().register(Config, instance=Config()).register(Service)
        >>> service = container.resolve(Service)
        >>> service.retries, service is container.resolve(Service)
        (3, False)
    """

    def __init__(self) -> None:
        self._compiler = Compiler()
        if type(self).resolve is DIContainer.resolve:
            # Bound once, here: resolve is the resolver's C-level dict lookup, so a built
            # singleton costs one dict lookup (measured about 30 ns against 70 ns through
            # the method). The resolver lives as long as the container, so this never
            # changes. A subclass that overrides resolve keeps its method.
            self.resolve = self._compiler.resolver.__getitem__  # type: ignore[method-assign, assignment]  # see above
            # While the instrumentation hook is on, resolve is swapped for a lookup that
            # reports failures (hooks_changed), so the lookup itself never checks it.
            HOOKS.watch(self)
        if type(self).built is DIContainer.built:
            # The same for built: the resolver's C-level dict.get, which never builds.
            self.built = self._compiler.resolver.get  # type: ignore[method-assign, assignment]  # as resolve

    def hooks_changed(self, active: bool) -> None:
        """Swap :meth:`resolve` for a lookup that reports failures, or back (by the hub)."""
        lookup = self._compiler.resolver.__getitem__
        self.resolve = functools.partial(_reporting, lookup) if active else lookup  # type: ignore[method-assign, assignment]  # as in __init__

    def __repr__(self) -> str:
        return f"<DIContainer with {len(self._compiler)} registrations>"

    def __contains__(self, service_type: object) -> bool:
        """Return whether ``service_type`` is registered."""
        return self._compiler.registered(service_type)

    def registered_types(self) -> tuple[Any, ...]:
        """Return the registered service types, in registration order, each once.

        A type registered only with ``multiple=True`` is listed too (``T in container``
        is about ``resolve(T)``, so it is ``False`` for such a type).

        Example:
            >>> container = DIContainer().register(int, instance=1).register(str, instance="")
            >>> container.registered_types()
            (<class 'int'>, <class 'str'>)
        """
        return tuple(self._compiler.service_types())

    def lifetime(self, service_type: object) -> LifecycleScope | None:
        """Return the lifetime ``service_type`` is registered with, or ``None`` if it is not.

        An ``instance=`` registration is a singleton. Integrations use this to hand out
        singletons without opening a scope (a singleton never depends on a scoped service).

        Example:
            >>> container = DIContainer().register(int, instance=1)
            >>> container.register(str, factory=lambda: "", scope=LifecycleScope.SCOPED)
            <DIContainer with 2 registrations>
            >>> container.lifetime(int), container.lifetime(str), container.lifetime(bytes)
            (<LifecycleScope.SINGLETON: 'singleton'>, <LifecycleScope.SCOPED: 'scoped'>, None)
        """
        try:
            registration = self._compiler.registration(service_type)
        except TypeError:  # unhashable: certainly not registered
            return None
        return None if registration is None else registration.lifetime

    @overload
    def built(self, service_type: type[T]) -> T | None: ...
    @overload
    def built(self, service_type: type[T], default: D) -> T | D: ...
    @overload
    def built(self, service_type: Callable[..., T]) -> T | None: ...
    @overload
    def built(self, service_type: Callable[..., T], default: D) -> T | D: ...
    def built(self, service_type: Any, default: Any = None) -> Any:
        """Return the singleton already built for ``service_type``, or ``default``; never build.

        One dict lookup, for integrations that hand out singletons on a hot path and fall
        back to :meth:`resolve` or :meth:`aresolve` otherwise: a singleton not built yet,
        a scoped or transient service, or one whose registration changed (a
        re-registration or an override forgets what was built, so this never returns a
        replaced singleton).

        Raises:
            TypeError: If ``service_type`` is not hashable.

        Example:
            >>> class Clock: ...
            >>> container = DIContainer().register(Clock, scope=LifecycleScope.SINGLETON)
            >>> container.built(Clock) is None
            True
            >>> clock = container.resolve(Clock)
            >>> container.built(Clock) is clock
            True
        """
        return self._compiler.resolver.get(service_type, default)

    # -- registration -----------------------------------------------------------------------

    @overload
    def register(
        self,
        service_type: type[T],
        implementation: type[T] | None = None,
        *,
        scope: LifecycleScope = LifecycleScope.TRANSIENT,
        factory: _Factory[T] | None = None,
        instance: T | None = ...,
        enter: bool = True,
        multiple: bool = False,
    ) -> Self: ...
    @overload
    def register(
        self,
        service_type: Callable[..., object],
        implementation: Callable[..., object] | None = None,
        *,
        scope: LifecycleScope = LifecycleScope.TRANSIENT,
        factory: Callable[..., object] | None = None,
        instance: object = ...,
        enter: bool = True,
        multiple: bool = False,
    ) -> Self: ...
    def register(
        self,
        service_type: Any,
        implementation: Any = None,
        *,
        scope: LifecycleScope = LifecycleScope.TRANSIENT,
        factory: Any = None,
        instance: Any = MISSING,
        enter: bool = True,
        multiple: bool = False,
    ) -> Self:
        """Register how to build ``service_type``; return the container, so calls chain.

        For type checkers, a concrete ``service_type`` binds ``T`` to check the other
        arguments; an abstract class or Protocol goes through a looser overload, because
        mypy refuses abstract classes where ``type[T]`` is expected.

        Registering a type again replaces its registration and drops a singleton already
        built from the old one (a generator singleton is still finalised by ``close()``).

        Args:
            service_type: The key to resolve: a class, an abstract class or a Protocol.
            implementation: A concrete class to build for ``service_type``.
            scope: The lifetime of resolved instances.
            factory: A callable (or generator, ``async def``, async generator) whose
                parameters are resolved like a constructor's.
            instance: A ready object, always a singleton. ``None`` is a value like any
                other (``register(Config, instance=None)`` makes ``resolve(Config)``
                return ``None``); leaving the argument out is what "no instance" means.
            enter: Enter a context manager that ``factory`` returns (sync, or async under
                ``aresolve``) and exit it when the service's owner ends, as svcs does; the
                service is what ``__enter__`` returns. ``enter=False`` returns the manager
                itself, not entered (a lock, a file or connection the caller manages).
                Only ``factory=`` results are entered: classes built from
                ``implementation=`` (or ``service_type``) and ``instance=`` values never are.
                A factory whose return hint names a class is taken at its word (see the
                package docstring).
            multiple: Add one more implementation of ``service_type`` instead of replacing
                its registration: :meth:`resolve_all` returns them all, in registration
                order, and a parameter annotated ``list[T]`` or ``Sequence[T]`` receives
                them. Each keeps its own ``scope``. They are apart from the plain
                registration, which ``resolve(T)`` returns (see the package docstring).

        Returns:
            The container.

        Raises:
            ValueError: If more than one of ``implementation``, ``factory`` and ``instance``
                is given, or ``instance`` with ``scope=SCOPED``.
            TypeError: If an argument has the wrong type, ``implementation`` is abstract
                or not a subclass of ``service_type``, or there is nothing to build.

        Example:
            >>> from abc import ABC, abstractmethod
            >>> class Greeter(ABC):
            ...     @abstractmethod
            ...     def greet(self) -> str: ...
            >>> class English(Greeter):
            ...     def greet(self) -> str:
            ...         return "hello"
            >>> DIContainer().register(Greeter, English).resolve(Greeter).greet()
            'hello'

            A factory returning a context manager is entered, and exited with its owner:

            >>> import contextlib
            >>> from collections.abc import Iterator
            >>> @contextlib.contextmanager
            ... def session() -> Iterator[str]:
            ...     yield "open"
            ...     print("closed")
            >>> with DIContainer().register(str, factory=session).scope() as scope:
            ...     scope.resolve(str)
            'open'
            closed
        """
        if not isinstance(multiple, bool):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"multiple must be a bool, got {multiple!r}")
        compiler = self._compiler
        with compiler.lock:  # the member's index and its registration go in together
            registration = self._registration(
                service_type,
                implementation=implementation,
                scope=scope,
                factory=factory,
                instance=instance,
                cleanups=compiler.cleanups,
                frame=None,
                enter=enter,
                member=multiple,
            )
            if multiple:
                compiler.register_member(registration)
            else:
                compiler.register(registration)
        logger.debug(
            "registered %s (%s, %s)", registration.name, scope.value, registration.kind.value
        )
        return self

    def _registration(
        self,
        service_type: Any,
        *,
        implementation: Any,
        scope: Any,
        factory: Any,
        instance: Any,
        cleanups: Cleanups,
        frame: Frame | None,
        enter: bool = True,
        member: bool = False,
    ) -> Registration:
        # ``None`` is a valid instance: "not given" is MISSING there.
        given = [
            name
            for name, absent in (
                ("implementation", implementation is None),
                ("factory", factory is None),
                ("instance", instance is MISSING),
            )
            if not absent
        ]
        if len(given) > 1:
            raise ValueError(
                f"give at most one of implementation, factory and instance, got {given}"
            )
        if not isinstance(scope, LifecycleScope):
            raise TypeError(f"scope must be a LifecycleScope, got {scope!r}")
        if not isinstance(enter, bool):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"enter must be a bool, got {enter!r}")
        try:
            hash(service_type)
        except TypeError:
            raise TypeError(f"service_type must be hashable, got {service_type!r}") from None
        key = self._compiler.member_key(service_type) if member else service_type
        if instance is not MISSING:
            if scope is LifecycleScope.SCOPED:
                raise ValueError("an instance is shared by the container: scope cannot be SCOPED")
            return Registration(
                key,
                instance,
                kind=Kind.INSTANCE,
                lifetime=LifecycleScope.SINGLETON,
                cleanups=cleanups,
                frame=frame,
            )
        if factory is not None:
            if not callable(factory):
                raise TypeError(f"factory must be callable, got {factory!r}")
            return Registration(
                key,
                factory,
                kind=_kind_of(factory),
                lifetime=scope,
                cleanups=cleanups,
                frame=frame,
                enter=enter,
            )
        if implementation is None:
            _require_concrete(service_type, "service_type")
            implementation = service_type
        else:
            _require_concrete(implementation, "implementation")
            if (
                isinstance(service_type, type)
                and not _is_protocol(service_type)
                and not issubclass(implementation, service_type)
            ):
                raise TypeError(
                    f"implementation {implementation.__name__} is not a subclass of "
                    f"{service_type.__name__}"
                )
        return Registration(
            key,
            implementation,
            kind=Kind.SYNC,
            lifetime=scope,
            cleanups=cleanups,
            frame=frame,
        )

    # -- resolution -------------------------------------------------------------------------

    @overload
    def resolve(self, service_type: type[T]) -> T: ...
    @overload
    def resolve(self, service_type: Callable[..., T]) -> T: ...
    def resolve(self, service_type: Any) -> Any:
        """Return the service registered for ``service_type``, with its dependencies.

        Abstract classes and Protocols type-check too (through the ``Callable`` overload).

        Raises:
            ServiceNotRegisteredError: If it, or a dependency without a default, is not
                registered.
            CircularDependencyError: If services depend on each other in a cycle.
            LifetimeError: If it needs a scoped service (use a :class:`Scope`).
            ResolutionError: If a constructor or factory raised.
            DependencyError: If a parameter has no usable type hint and no default.
            TypeError: If it needs an async factory (use :meth:`aresolve`).

        Example:
            >>> class Clock: ...
            >>> container = DIContainer().register(Clock, scope=LifecycleScope.SINGLETON)
            >>> container.resolve(Clock) is container.resolve(Clock)
            True
        """
        # Bound to the resolver's C-level lookup in __init__; this is the same thing for
        # subclasses and unbound calls.
        try:
            return self._compiler.resolver[service_type]
        except Exception as error:
            if HOOKS.active:
                report_failure(service_type, error)
            raise

    @overload
    async def aresolve(self, service_type: type[T]) -> T: ...
    @overload
    async def aresolve(self, service_type: Callable[..., T]) -> T: ...
    async def aresolve(self, service_type: Any) -> Any:
        """Return the service for ``service_type``, awaiting async factories on the way.

        Raises:
            DependencyError: As :meth:`resolve`.

        Example:
            >>> import asyncio
            >>> async def make_number() -> int:
            ...     return 42
            >>> container = DIContainer().register(int, factory=make_number)
            >>> asyncio.run(container.aresolve(int))
            42
        """
        try:
            node = self._compiler.compile(service_type)
            if node.aprov is None:
                return node.sync(None)
            return await node.aprov(None)
        except Exception as error:
            if HOOKS.active:
                report_failure(service_type, error)
            raise

    @overload
    def resolve_all(self, service_type: type[T]) -> list[T]: ...
    @overload
    def resolve_all(self, service_type: Callable[..., T]) -> list[T]: ...
    def resolve_all(self, service_type: Any) -> list[Any]:
        """Return every implementation registered with ``multiple=True``, in registration order.

        Each is built as its own ``scope`` says; a new list each call, empty when there is
        none. Inside an ``override(service_type, ...)`` block it is the replacement alone.

        Raises:
            DependencyError: As :meth:`resolve`, for any of them.

        Example:
            >>> class Plugin:
            ...     name = "base"
            >>> class Email(Plugin):
            ...     name = "email"
            >>> class Sms(Plugin):
            ...     name = "sms"
            >>> container = (
            ...     DIContainer()
            ...     .register(Plugin, Email, multiple=True)
            ...     .register(Plugin, Sms, multiple=True)
            ... )
            >>> [plugin.name for plugin in container.resolve_all(Plugin)]
            ['email', 'sms']
        """
        try:
            result: list[Any] = self._compiler.collect(service_type).sync(None)
        except Exception as error:
            if HOOKS.active:
                report_failure(service_type, error)
            raise
        return result

    @overload
    async def aresolve_all(self, service_type: type[T]) -> list[T]: ...
    @overload
    async def aresolve_all(self, service_type: Callable[..., T]) -> list[T]: ...
    async def aresolve_all(self, service_type: Any) -> list[Any]:
        """Like :meth:`resolve_all`, awaiting async factories on the way.

        Example:
            >>> import asyncio
            >>> async def make_number() -> int:
            ...     return 1
            >>> container = DIContainer().register(int, factory=make_number, multiple=True)
            >>> asyncio.run(container.register(int, instance=2, multiple=True).aresolve_all(int))
            [1, 2]
        """
        try:
            node = self._compiler.collect(service_type)
            result: list[Any] = node.sync(None) if node.aprov is None else await node.aprov(None)
        except Exception as error:
            if HOOKS.active:
                report_failure(service_type, error)
            raise
        return result

    def scope(self) -> Scope:
        """Return a new :class:`Scope`; use it as ``with`` (or ``async with``) block.

        Example:
            >>> class Request: ...
            >>> container = DIContainer().register(Request, scope=LifecycleScope.SCOPED)
            >>> with container.scope() as first, container.scope() as second:
            ...     first.resolve(Request) is second.resolve(Request)
            False
        """
        return Scope(self._compiler)

    # -- checks, overrides, clean-up -------------------------------------------------------

    def validate(self) -> None:
        """Check the whole graph now, so a broken registration fails at start-up.

        Every registration is checked for dependencies that are not registered (and have
        no default), parameters without a usable hint, cycles, and singletons that depend
        on scoped services (directly or through transients).

        Raises:
            DependencyError: Listing every problem, one per line; the individual errors
                are in ``error.context["problems"]``.

        Example:
            >>> class Leaf:
            ...     def __init__(self, missing: bytearray) -> None: ...
            >>> DIContainer().register(Leaf).validate()
            Traceback (most recent call last):
              ...
            python_mastery_portfolio.DependencyError: 1 problem in the DI container:
            - Leaf -> bytearray (not registered)
        """
        graph = self._compiler.graph()
        problems = find_problems(graph)
        if problems:
            count = len(problems)
            lines = "".join(f"\n- {problem}" for problem in problems)
            message = f"{count} problem{'s' if count > 1 else ''} in the DI container:{lines}"
            raise DependencyError(message, problems=problems)

    @contextlib.contextmanager
    def override(
        self, service_type: Any, replacement: object, *, scope: LifecycleScope | None = None
    ) -> Generator[None, None, None]:
        """Swap ``service_type`` for ``replacement`` inside a ``with`` block (for tests).

        ``replacement`` is called like a factory when it is a class, function, method or
        ``functools.partial`` (a test double need not subclass the original), and used as an
        instance otherwise (wrap a callable instance in ``lambda: obj``); ``None`` too is an
        instance.

        Inside the block, everything resolved sees the replacement: services not built yet,
        and singletons that depend on ``service_type``, which are built again (once per
        block) and get their originals back on exit. Objects resolved before the block keep
        what they hold, and so do scoped instances already built in an open scope. The
        original registration comes back on exit, even when the block raises; generator
        factories built inside are finalised then. Overrides are seen by every thread.

        Args:
            service_type: The service to replace (it need not be registered).
            replacement: The class, factory or instance to use.
            scope: The lifetime inside the block; by default the original's (transient if
                it was not registered). An instance is always a singleton.

        Example:
            >>> class Mailer:
            ...     def send(self) -> str:
            ...         return "sent"
            >>> class FakeMailer(Mailer):
            ...     def send(self) -> str:
            ...         return "faked"
            >>> container = DIContainer().register(Mailer)
            >>> with container.override(Mailer, FakeMailer()):
            ...     container.resolve(Mailer).send()
            'faked'
            >>> container.resolve(Mailer).send()
            'sent'
        """
        frame = Frame()
        factory: Any = None
        instance: Any = MISSING
        if isinstance(replacement, type | functools.partial) or inspect.isroutine(replacement):
            # A class is called like a factory: a test double need not subclass the original.
            factory = replacement  # pyright: ignore[reportUnknownVariableType]  # a test double, any type
        else:
            instance = replacement
        compiler = self._compiler
        with compiler.lock:
            saved = compiler.registration(service_type)
            lifetime = scope or (saved.lifetime if saved else LifecycleScope.TRANSIENT)
            if instance is not MISSING and lifetime is LifecycleScope.SCOPED:
                lifetime = LifecycleScope.SINGLETON
            registration = self._registration(
                service_type,
                implementation=None,
                scope=lifetime,
                factory=factory,
                instance=instance,
                cleanups=frame.cleanups,
                frame=frame,
            )
            compiler.push_override(registration, frame)
        error: BaseException | None = None
        try:
            yield
        except BaseException as raised:
            error = raised
            raise
        finally:
            compiler.pop_override(service_type, saved, frame)
            frame.cleanups.close(error)

    def close(self, error: BaseException | None = None) -> None:
        """Finalise singleton (and unscoped transient) generators and forget the singletons.

        Args:
            error: An exception to throw into the generators (what ``with container:``
                passes when its body raised).
        """
        self._compiler.forget_singletons()
        self._compiler.cleanups.close(error)

    async def aclose(self, error: BaseException | None = None) -> None:
        """Like :meth:`close`, awaiting async generator finalisers too."""
        self._compiler.forget_singletons()
        await self._compiler.cleanups.aclose(error)

    def stats(self) -> ContainerStats:
        """Return counters: ``registrations``, ``compiled``, ``singletons`` built, ``overrides``.

        Example:
            >>> DIContainer().register(object).stats()["registrations"]
            1
        """
        compiler = self._compiler
        registrations = compiler.registrations()
        return {
            "registrations": len(registrations),
            "compiled": compiler.compiled,
            "singletons": sum(
                1
                for registration in registrations
                if registration.lifetime is LifecycleScope.SINGLETON
                and registration.cell.value is not MISSING
            ),
            "overrides": compiler.overrides,
        }
