"""The :class:`Scope` of the DI container: a unit of work with its own scoped instances.

Private module of :mod:`python_mastery_portfolio.di`, which re-exports :class:`Scope`. A
scope keeps its instances and finalisers in a :class:`ScopeState`, the object its providers
are called with (it satisfies :class:`~._protocols.ProviderScope`), so the public class has
only the public methods. Finalisation follows the rules in :mod:`._cells`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar, overload

from python_mastery_portfolio.di._cells import Cell, Cleanups
from python_mastery_portfolio.di._compile import Compiler
from python_mastery_portfolio.di._graph import chain_error
from python_mastery_portfolio.di._protocols import Finaliser, ProviderScope
from python_mastery_portfolio.di._reports import report_failure
from python_mastery_portfolio.exceptions import LifetimeError
from python_mastery_portfolio.instrumentation import HOOKS

__all__ = ["ClosesOnExit", "Scope", "ScopeState"]

T = TypeVar("T")


class ScopeState:
    """The scoped instances and finalisers of one :class:`Scope`; what its providers see.

    Thread-safe: each scoped service is built once per scope, even when threads race.
    """

    __slots__ = ("_cells", "_cleanups", "_lock", "instances")

    def __init__(self) -> None:
        # Built instances by key: providers read it (a hit is one dict lookup); only the
        # methods below write it.
        self.instances: dict[Any, Any] = {}
        self._cells: dict[Any, Cell] = {}
        self._lock = threading.Lock()
        self._cleanups = Cleanups()

    def __len__(self) -> int:
        return len(self.instances)

    def provide(self, key: Any, make: Callable[[ProviderScope], Any], name: str) -> Any:
        """Return the instance for ``key``, building it once with ``make(self)``.

        Providers call it when :attr:`instances` has no ``key`` yet; threads racing here
        wait on the key's cell, so the service is still built once.
        """
        value = self._cell(key, name).get(make, self, name)
        self.instances[key] = value
        return value

    async def aprovide(
        self, key: Any, make: Callable[[ProviderScope], Awaitable[Any]], name: str
    ) -> Any:
        """Return the instance for ``key``, building it once with ``await make(self)``."""
        value = await self._cell(key, name).aget(make, self, name)
        self.instances[key] = value
        return value

    def push(self, finaliser: Finaliser, name: str) -> None:
        """Keep a generator factory resolved in this scope, to finalise when it closes."""
        self._cleanups.push(finaliser, name)

    def close(self, error: BaseException | None = None) -> None:
        """Finalise the generators and forget the instances; later builds are refused."""
        try:
            self._cleanups.close(error, final=True)
        finally:
            self._forget()

    async def aclose(self, error: BaseException | None = None) -> None:
        """Like :meth:`close`, awaiting async generator finalisers too."""
        try:
            await self._cleanups.aclose(error, final=True)
        finally:
            self._forget()

    def _forget(self) -> None:
        with self._lock:
            self.instances.clear()
            self._cells.clear()

    def _cell(self, key: Any, name: str) -> Cell:
        with self._lock:
            if self._cleanups.closed:
                raise chain_error(LifetimeError, (name,), ": its scope is already closed")
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = Cell()
            return cell


class ClosesOnExit:
    """The context-manager protocol of objects that end with ``close``/``aclose(error)``.

    ``with`` and ``async with`` hand the body's exception to the finalisers, so generator
    factories see it (as ``contextlib.contextmanager`` would). Used by :class:`Scope` and the
    container.
    """

    __slots__ = ()

    def close(self, error: BaseException | None = None) -> None:
        """Finalise, handing ``error`` (the body's exception, if any) to the finalisers."""
        raise NotImplementedError

    async def aclose(self, error: BaseException | None = None) -> None:
        """Finalise, awaiting async finalisers too."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # The body's exception is handed on, so generator finalisers see it.
        self.close(exc)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose(exc)


class Scope(ClosesOnExit):
    """A unit of work (a request, a job) with its own instances of the scoped services.

    Open one with ``with container.scope() as scope:`` or ``async with``. Each scoped
    service is built once per scope; singletons and transients resolve here too. On exit,
    generator factories resolved in the scope are finalised (see the package docstring).

    Example:
        >>> from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
        >>> class Session: ...
        >>> container = DIContainer().register(Session, scope=LifecycleScope.SCOPED)
        >>> with container.scope() as scope:
        ...     scope.resolve(Session) is scope.resolve(Session)
        True
    """

    __slots__ = ("_compiler", "_state")

    def __init__(self, compiler: Compiler) -> None:
        self._compiler = compiler
        self._state = ScopeState()

    def __repr__(self) -> str:
        return f"<Scope with {len(self._state)} scoped instances>"

    @overload
    def resolve(self, service_type: type[T]) -> T: ...
    @overload
    def resolve(self, service_type: Callable[..., T]) -> T: ...
    def resolve(self, service_type: Any) -> Any:
        """Return the service registered for ``service_type``, built for this scope.

        Raises:
            DependencyError: As :meth:`DIContainer.resolve`.
            TypeError: If the service needs ``await`` (use :meth:`aresolve`).
        """
        compiler = self._compiler
        try:
            try:
                provider = compiler.providers[service_type]
            except KeyError:
                provider = compiler.compile(service_type).sync
            return provider(self._state)
        except Exception as error:
            if HOOKS.active:
                report_failure(service_type, error)
            raise

    @overload
    async def aresolve(self, service_type: type[T]) -> T: ...
    @overload
    async def aresolve(self, service_type: Callable[..., T]) -> T: ...
    async def aresolve(self, service_type: Any) -> Any:
        """Return the service for ``service_type``, awaiting async factories on the way."""
        try:
            node = self._compiler.compile(service_type)
            if node.aprov is None:
                return node.sync(self._state)
            return await node.aprov(self._state)
        except Exception as error:
            if HOOKS.active:
                report_failure(service_type, error)
            raise

    @overload
    def resolve_all(self, service_type: type[T]) -> list[T]: ...
    @overload
    def resolve_all(self, service_type: Callable[..., T]) -> list[T]: ...
    def resolve_all(self, service_type: Any) -> list[Any]:
        """Return every ``multiple=True`` implementation of ``service_type``, built for this scope.

        Example:
            >>> from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
            >>> class Check: ...
            >>> container = DIContainer().register(
            ...     Check, scope=LifecycleScope.SCOPED, multiple=True
            ... )
            >>> with container.scope() as scope:
            ...     scope.resolve_all(Check)[0] is scope.resolve_all(Check)[0]
            True
        """
        result: list[Any] = self._compiler.collect(service_type).sync(self._state)
        return result

    @overload
    async def aresolve_all(self, service_type: type[T]) -> list[T]: ...
    @overload
    async def aresolve_all(self, service_type: Callable[..., T]) -> list[T]: ...
    async def aresolve_all(self, service_type: Any) -> list[Any]:
        """Like :meth:`resolve_all`, awaiting async factories on the way."""
        node = self._compiler.collect(service_type)
        if node.aprov is None:
            result: list[Any] = node.sync(self._state)
        else:
            result = await node.aprov(self._state)
        return result

    def close(self, error: BaseException | None = None) -> None:
        """End the scope: finalise its generators and forget its instances."""
        self._state.close(error)

    async def aclose(self, error: BaseException | None = None) -> None:
        """End the scope, awaiting async generator finalisers too."""
        await self._state.aclose(error)
