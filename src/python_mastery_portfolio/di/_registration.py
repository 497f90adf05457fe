"""Registrations of the DI container, and the compiled nodes they become.

Private module of :mod:`python_mastery_portfolio.di`, which re-exports :class:`LifecycleScope`.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.di._build import Dep, Provider, constant
from python_mastery_portfolio.di._cells import Cell, Cleanups
from python_mastery_portfolio.di._graph import Param, service_name

__all__ = [
    "ASYNC_KINDS",
    "Frame",
    "Kind",
    "LifecycleScope",
    "Member",
    "Node",
    "Registration",
    "arrange",
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


class Member:
    """The key of one implementation registered with ``multiple=True`` for a service type.

    Each has its own key, so it compiles, caches and finalises like any registration; its
    name in chains is ``Service[index]``. Compared by identity.
    """

    __slots__ = ("index", "service")

    def __init__(self, service: Any, index: int) -> None:
        self.service = service
        self.index = index

    def __repr__(self) -> str:
        return f"{service_name(self.service)}[{self.index}]"


class Registration:
    """What was registered for one service type."""

    __slots__ = (
        "cell",
        "cleanups",
        "enter",
        "frame",
        "key",
        "kind",
        "lifetime",
        "name",
        "params",
        "target",
    )

    def __init__(
        self,
        key: Any,
        target: Any,
        *,
        kind: Kind,
        lifetime: LifecycleScope,
        cleanups: Cleanups,
        frame: Frame | None,
        enter: bool = False,
    ) -> None:
        self.key = key
        self.name = service_name(key)
        self.target = target
        self.kind = kind
        self.lifetime = lifetime
        self.cleanups = cleanups
        self.frame = frame
        # Enter a context manager the factory returns (factories only, see ``register``).
        self.enter = enter and kind in (Kind.SYNC, Kind.ASYNC)
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
