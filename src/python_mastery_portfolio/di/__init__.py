"""Dependency injection: a typed, thread-safe container with autowiring, scopes and clean-up.

:class:`DIContainer` maps service types to registrations (a class, a factory or a ready
instance) with a :class:`LifecycleScope`; :meth:`DIContainer.resolve` builds a service by
reading the type hints of its constructor or factory, once, at the first resolve, and
compiling the registration into a closure that calls its dependencies' closures directly.
A built singleton is then one C-level dict lookup.

Decisions worth knowing:

- **Errors** are :class:`~python_mastery_portfolio.exceptions.DependencyError` subclasses whose
  message names the whole chain (``Root -> Mid -> Leaf (not registered)``, ``A -> B -> A
  (circular dependency)``); a constructor or factory that raises becomes a
  :class:`~python_mastery_portfolio.exceptions.ResolutionError` raised ``from`` the original.
  Asking for an async-only service through the sync ``resolve`` is a ``TypeError``.
- **validate()** checks every registration (missing dependencies, cycles, singletons that
  depend on scoped services) and raises one ``DependencyError`` listing every problem, one
  per line; the individual errors are in ``error.context["problems"]``.
- **Generator factories** (sync or async) are finalised newest first when their owner ends:
  a scope (scoped services, and transients resolved in it), the container's ``close()``
  (singletons, and transients resolved outside any scope) or an ``override`` block. An
  exception raised in the ``with`` body is thrown into each generator and always propagates
  (a generator cannot swallow it). A failing finaliser does not stop the others; at the end
  the one error is raised as is, several are raised as an ``ExceptionGroup``; when the body
  raised, its exception propagates instead, with each finaliser error logged and added to it
  as a note. ``KeyboardInterrupt``, ``SystemExit`` and cancellation always win.
- **Context-manager factories**: a ``factory=`` whose result is a context manager (a
  connection, ``contextlib.closing(...)``, a ``@contextmanager`` function's result) is entered
  when the service is built, and the service is what ``__enter__`` returns; it is exited when
  its owner ends, with the generator factories of the same owner, newest first, and sees the
  body's exception as they do (it cannot swallow it). ``aresolve`` enters an async context
  manager with ``await``; the sync ``resolve`` refuses one (``TypeError``), and a scope or
  container holding one must be closed with ``async with``/``aclose()``. The difference from a
  generator factory: the factory returns an object the container enters, instead of being
  the clean-up code itself, so an existing context manager (or a class whose instances are
  one, given as ``factory=``) needs no wrapper. ``register(..., enter=False)`` returns such a
  result as it is, not entered and never exited; classes built from ``implementation=`` and
  ``instance=`` values are never entered. Whether to look is decided once where the types
  tell: a class given as ``factory=`` builds instances of itself, and a factory whose return
  hint names a class (``-> Connection``) is taken at its word; only a factory without such a
  hint (a lambda, ``-> Iterator[X]`` from ``@contextmanager``, ``-> Any``) has each result
  looked at, so an annotated factory resolves as fast as before.
- **Several implementations of one type**: ``register(Plugin, Email, multiple=True)`` adds
  one more, each with its own lifetime; ``resolve_all(Plugin)`` builds them all, in
  registration order, as a new list (empty when there is none), and a parameter annotated
  ``list[Plugin]`` or ``Sequence[Plugin]`` receives the same list. They are apart from the
  plain registration: ``resolve(Plugin)`` returns what ``register(Plugin, ...)`` without
  ``multiple`` registered (an error naming ``resolve_all`` when there is none), and
  registering it does not drop them. A ``list[T]`` parameter with no ``multiple=True``
  registration of ``T`` is not injected (its default is used, else it is an error, as for
  any unregistered type: give it ``= ()`` to accept none), and a registration of the
  ``list[T]`` key itself wins. Errors name each one ``Plugin[index]``; ``validate()`` checks
  each, and the lists' lifetimes (a singleton cannot collect a scoped one).
  ``override(Plugin, fake)`` replaces all of them for the block: ``resolve_all`` and every
  ``list[Plugin]`` parameter see ``[fake]`` alone, and the originals come back after.
- **close()** also forgets the singletons it built, so a later resolve builds new ones.
- **override(T, replacement)** swaps ``T`` for everything resolved in the block: services
  not built yet, and singletons that depend on ``T`` (rebuilt once inside the block, their
  originals back afterwards). Objects resolved before the block keep what they hold.
  Overrides are container-wide (every thread sees them) and must nest.

Example:
    >>> class Database:
    ...     def __init__(self, url: str = "sqlite://") -> None:
    ...         self.url = url
    >>> class Repository:
    ...     def __init__(self, db: Database) -> None:
    ...         self.db = db
    >>> container = (
    ...     DIContainer()
    ...     .register(Database, scope=LifecycleScope.SINGLETON)
    ...     .register(Repository)
    ... )
    >>> container.resolve(Repository).db is container.resolve(Database)
    True
"""

from __future__ import annotations

from python_mastery_portfolio.di._container import ContainerStats, DIContainer
from python_mastery_portfolio.di._inject import ServiceProvider
from python_mastery_portfolio.di._registration import LifecycleScope
from python_mastery_portfolio.di._scope import Scope

__all__ = [
    "ContainerStats",
    "DIContainer",
    "LifecycleScope",
    "Scope",
    "ServiceProvider",
]
