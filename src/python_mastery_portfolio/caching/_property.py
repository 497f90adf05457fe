"""A thread-safe, typed cached property.

:class:`CachedProperty` computes an attribute once per instance and stores the value in the
instance's ``__dict__`` under the attribute's name. Because it is a non-data descriptor, every
later read finds that entry first and never calls the descriptor again: a cached read costs the
same as reading a plain attribute, as with :func:`functools.cached_property`.

:func:`functools.cached_property` either serializes the first computation of every instance
behind one lock per attribute (Python 3.11) or takes no lock and may compute a value several
times under a race (3.12 and later). Here the first computation is guarded by a lock per
instance and attribute: many threads reading the attribute at once compute it exactly once,
while other instances, and other cached attributes of the same instance, compute independently.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, cast, overload

from python_mastery_portfolio._internal.sentinels import MISSING

__all__ = ["CachedProperty"]

T = TypeVar("T")

_LOCK_PREFIX = "__cached_property_lock_"


class _Guard:
    """The lock of one instance attribute's first computation, and the thread holding it."""

    __slots__ = ("lock", "owner")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: int | None = None


def _retire(cache: dict[str, Any], key: str, guard: _Guard) -> None:
    # Only the holder of guard.lock calls this, and while guard is registered nobody else
    # may remove or replace it, so the check and the deletion cannot be interleaved.
    if cache.get(key) is guard:
        del cache[key]


class CachedProperty(Generic[T]):
    """Compute an attribute on first access, once per instance, and cache it.

    Semantics:
        - The getter runs at most once per instance while the value is cached, even when many
          threads read the attribute for the first time together (double-checked locking with
          one lock per instance and attribute; the lock is kept in the instance ``__dict__``
          under a private key only while a computation is pending, and removed afterwards, so
          nothing outlives the instance and the descriptor holds no reference to instances;
          copying or pickling an instance while one of its values is being computed is not
          supported).
        - ``del obj.attr`` drops the cached value; the next read computes it again. Assigning
          ``obj.attr = value`` replaces the cached value, as with a plain attribute.
        - If the getter raises, the exception propagates and nothing is cached; the next read
          tries again.
        - A getter that reads its own attribute raises :class:`RecursionError` instead of
          deadlocking; a subclass's cached property may still read the parent's cached
          property of the same name through ``super()``.
        - Reading it on the class returns the descriptor itself.
        - The instance needs a ``__dict__``: reading it on an instance of a class with
          ``__slots__`` and no ``__dict__`` raises :class:`TypeError`. The check happens on
          access rather than at class creation, so a mixin declaring ``__slots__ = ()`` can
          still define a cached property for subclasses that do have a ``__dict__``.

    Attributes:
        func: The getter.
        attrname: The attribute's name, set when the owning class is created.

    Args:
        func: The getter, a function of the instance. Coroutine functions are refused: the
            coroutine object could be awaited only once.

    Raises:
        TypeError: If ``func`` is not callable or is a coroutine function; when the same
            descriptor is bound to two names; when read on an instance without ``__dict__``
            or before ``__set_name__`` (the descriptor was not created in a class body).

    Example:
        >>> class ExpensiveComputation:
        ...     @CachedProperty
        ...     def result(self) -> int:
        ...         print("computing")
        ...         return sum(range(10))
        >>> job = ExpensiveComputation()
        >>> job.result
        computing
        45
        >>> job.result
        45
        >>> del job.result
        >>> job.result
        computing
        45
    """

    def __init__(self, func: Callable[[Any], T]) -> None:
        if not callable(func):
            raise TypeError(f"func must be callable, got {func!r}")
        if inspect.iscoroutinefunction(func):
            raise TypeError(
                f"CachedProperty cannot cache coroutine function {func!r}: the cached "
                "coroutine could be awaited only once"
            )
        self.func = func
        self.attrname: str | None = None
        self._guard_key = ""
        self.__doc__ = func.__doc__
        self.__module__ = getattr(func, "__module__", None) or __name__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if self.attrname is None:
            self.attrname = name
            # One guard per descriptor, not per name: a subclass's cached property of the same
            # name may read the parent's through super() while its own computation holds its
            # guard.
            self._guard_key = f"{_LOCK_PREFIX}{name}_{id(self):x}"
        elif name != self.attrname:
            raise TypeError(
                "Cannot assign the same CachedProperty to two different names "
                f"({self.attrname!r} and {name!r})"
            )

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> Self | T:
        if instance is None:
            return self
        name = self.attrname
        if name is None:
            raise TypeError(
                "Cannot use a CachedProperty instance without calling __set_name__ on it"
            )
        try:
            cache: dict[str, Any] = instance.__dict__
        except AttributeError:
            raise TypeError(
                f"No '__dict__' attribute on {type(instance).__name__!r} instance to cache "
                f"{name!r} property (a class with __slots__ needs '__dict__' among them)"
            ) from None
        value = cache.get(name, MISSING)
        if value is not MISSING:
            return cast("T", value)
        return self._compute(instance, cache, name)

    if TYPE_CHECKING:
        # For checkers only, as in typeshed's functools.cached_property: a __set__ at run time
        # would make this a data descriptor, and every cached read would call __get__. Without
        # it pyright checks ``obj.attr = value`` against the descriptor's own type.
        def __set__(self, instance: object, value: T) -> None: ...

        def __delete__(self, instance: object) -> None: ...

    def _compute(self, instance: object, cache: dict[str, Any], name: str) -> T:
        key = self._guard_key
        me = threading.get_ident()
        while True:
            # dict.setdefault is atomic, so every thread racing here gets the same guard
            # without any lock shared between instances.
            guard: _Guard = cache.get(key) or cache.setdefault(key, _Guard())
            if guard.owner == me:
                raise RecursionError(
                    f"CachedProperty {name!r} of {type(instance).__name__!r} read itself "
                    "while being computed"
                )
            with guard.lock:
                value = cache.get(name, MISSING)
                if value is not MISSING:
                    # Another thread computed it; drop the guard if it is still registered.
                    _retire(cache, key, guard)
                    return cast("T", value)
                if cache.get(key) is not guard:
                    # The guard was retired after a failure or by a reader that found the
                    # value, which was deleted since: start over with the current guard.
                    continue
                guard.owner = me
                try:
                    value = self.func(instance)
                    cache[name] = value
                finally:
                    guard.owner = None
                    _retire(cache, key, guard)
                return value

    def __repr__(self) -> str:
        return f"<CachedProperty {self.attrname or getattr(self.func, '__name__', self.func)!r}>"
