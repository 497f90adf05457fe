"""How a pooled resource is made, checked and closed: callables given, or methods overridden."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ResourceHooks"]

T = TypeVar("T")


class ResourceHooks(Generic[T]):
    """The three resource hooks of a pool, each either a callable (sync or async) or a method.

    Args:
        factory: Makes a resource; ``None`` when a subclass overrides :meth:`create`.
        close: Closes a resource, or ``None`` for nothing to do.
        validate: Says whether an idle resource may be reused, or ``None`` for always.

    Raises:
        TypeError: If a hook is not callable, or there is neither ``factory`` nor an
            overridden :meth:`create`.
    """

    def __init__(
        self,
        factory: Callable[[], Any] | None,
        close: Callable[[Any], Any] | None,
        validate: Callable[[Any], Any] | None,
    ) -> None:
        for label, func in (("factory", factory), ("close", close), ("validate", validate)):
            if func is not None and not callable(func):
                raise TypeError(f"{label} must be callable or None, got {func!r}")
        if factory is None and type(self).create is ResourceHooks.create:  # pyright: ignore[reportUnknownMemberType]  # identity
            raise TypeError(
                f"{type(self).__name__} needs a factory, or a subclass overriding create()"
            )
        self._factory = factory
        self._close = close
        self._validate = validate
        self.has_validator = validate is not None or (
            type(self).validate is not ResourceHooks.validate  # pyright: ignore[reportUnknownMemberType]  # identity
        )

    async def create(self) -> T:
        """Return a new resource; by default calls ``factory`` (awaiting what it returns)."""
        assert self._factory is not None  # noqa: S101 - __init__ requires it unless overridden
        resource = self._factory()
        if inspect.isawaitable(resource):
            resource = await resource
        return resource  # type: ignore[no-any-return]  # the constructor's overloads type the factory

    async def close_resource(self, resource: T) -> None:
        """Close ``resource``; by default calls ``close`` (awaiting what it returns), if given."""
        if self._close is not None:
            result = self._close(resource)
            if inspect.isawaitable(result):
                await result

    async def validate(self, resource: T) -> bool:
        """Return whether an idle ``resource`` may be reused; by default asks ``validate``."""
        if self._validate is None:
            return True
        result = self._validate(resource)
        if inspect.isawaitable(result):
            result = await result
        return bool(result)
