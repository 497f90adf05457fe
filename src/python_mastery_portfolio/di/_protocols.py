"""The small interfaces the DI providers are written against.

A provider (see :mod:`._build`) is a callable ``provider(scope)``; ``scope`` is ``None``
outside a scope, else an object with the :class:`ProviderScope` methods. Providers hand the
generator factories they start to a :class:`FinaliserSink`. Both are protocols, so the
modules that build providers import neither the scope nor the container: imports among the
DI modules flow one way (``_graph`` -> ``_protocols`` -> ``_cells`` -> ``_build`` ->
``_registration`` -> ``_compile`` -> ``_scope`` -> ``_container`` -> ``_inject``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from typing import Any, Protocol

__all__ = ["Finaliser", "FinaliserSink", "ProviderScope"]

Finaliser = Generator[Any, None, None] | AsyncGenerator[Any, None]
"""A generator factory run to its ``yield``, to be finished when its owner ends."""


class FinaliserSink(Protocol):
    """Where a provider leaves a started generator factory for its owner to finalise."""

    def push(self, finaliser: Finaliser, name: str) -> None:
        """Keep ``finaliser`` (of service ``name``) until the owner closes."""


class ProviderScope(FinaliserSink, Protocol):
    """What a provider needs of the scope it builds in: one instance per key, and clean-up."""

    @property
    def instances(self) -> Mapping[Any, Any]:  # pyright: ignore[reportReturnType]  # a protocol member: no body
        """The instances built in the scope, by key (read first: a hit is one dict lookup)."""

    def provide(self, key: Any, make: Callable[[ProviderScope], Any], name: str) -> Any:
        """Return the scope's instance for ``key``, building it once with ``make(scope)``."""

    async def aprovide(
        self, key: Any, make: Callable[[ProviderScope], Awaitable[Any]], name: str
    ) -> Any:
        """Return the scope's instance for ``key``, building it once with ``await make(scope)``."""
