"""Named registries of plugins and factories, filled by subclassing, decorators or entry points.

The seed's ``RegistryMeta`` metaclass collided with any other metaclass (``class
Plugin(ABC, metaclass=RegistryMeta)`` is a metaclass conflict) and silently replaced a plugin
registered twice under one name. Here registration goes through ``__init_subclass__``
(:class:`Registered`), so ABCs and any other metaclass work, and a duplicate name is an error
unless ``replace=True``.

Errors (both defined here until the toolkit's exception tree adopts them)::

    LookupError
    └── KeyError
        └── NotRegisteredError        an unknown name; lists the known ones
    ValueError
    └── DuplicateRegistrationError    a name taken by another object; names both
"""

from __future__ import annotations

import enum
import importlib.metadata
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar, overload

from python_mastery_portfolio.exceptions import DuplicateRegistrationError, NotRegisteredError

__all__ = ["Registered", "Registry"]

T = TypeVar("T")
V = TypeVar("V")
R = TypeVar("R")
D = TypeVar("D")


def _show(key: Hashable) -> str:
    if isinstance(key, enum.Enum):
        return f"{type(key).__name__}.{key.name}"
    return repr(key)


def _describe(value: object) -> str:
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else repr(value)


def _not_registered(
    registry: str, key: Hashable, known: tuple[Hashable, ...]
) -> NotRegisteredError:
    names = ", ".join(map(_show, known)) if known else "none"
    return NotRegisteredError(
        f"{registry}: nothing registered under {_show(key)}; known: {names}",
        registry=registry,
        key=key,
        known=known,
    )


def _duplicate(
    registry: str, key: Hashable, existing: object, new: object
) -> DuplicateRegistrationError:
    return DuplicateRegistrationError(
        f"{registry}: {_show(key)} is already registered to {_describe(existing)}; "
        f"cannot register {_describe(new)} (pass replace=True to replace it)",
        registry=registry,
        key=key,
        existing=existing,
        new=new,
    )


class Registry(Mapping[Hashable, T]):
    """A thread-safe, named mapping from names (strings, enum members, ...) to objects.

    Fill it with :meth:`add`, the :meth:`register` decorator, subclasses of a
    :class:`Registered` base, or :meth:`load_entry_points`. Read it as a mapping
    (``registry[name]``, ``get``, ``in``, ``len``, iteration over the names in registration
    order) and build with :meth:`create`. Registering a name that another object holds raises
    :class:`DuplicateRegistrationError` unless ``replace=True``; registering the same object
    under the same name again does nothing. An unknown name raises :class:`NotRegisteredError`.
    Registration takes a lock; reads do not.

    Args:
        name: The registry's name, used in error messages.

    Example:
        >>> from enum import Enum
        >>> from python_mastery_portfolio.patterns import Registry
        >>> class Channel(Enum):
        ...     EMAIL = "email"
        ...     SMS = "sms"
        >>> senders: Registry[type[object]] = Registry("senders")
        >>> @senders.register(Channel.EMAIL)
        ... class EmailSender:
        ...     pass
        >>> type(senders.create(Channel.EMAIL)).__name__, Channel.SMS in senders
        ('EmailSender', False)
    """

    def __init__(self, name: str = "registry") -> None:
        if not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"name must be a str, got {name!r}")
        self.name = name
        self._entries: dict[Hashable, T] = {}
        self._lock = threading.Lock()

    def add(self, key: Hashable, value: T, *, replace: bool = False) -> None:
        """Register ``value`` under ``key``.

        Args:
            key: The name: a str, an enum member or any hashable.
            value: The object to register.
            replace: Whether ``value`` may replace another object registered under ``key``.

        Raises:
            DuplicateRegistrationError: If another object holds ``key`` and not ``replace``.
            TypeError: If ``key`` is not hashable.

        Example:
            >>> from python_mastery_portfolio.patterns import Registry
            >>> codecs: Registry[type[object]] = Registry("codecs")
            >>> codecs.add("json", dict)
            >>> codecs.names()
            ('json',)
        """
        hash(key)  # an unhashable key fails here, with Python's own message
        with self._lock:
            existing = self._entries.get(key, _MISSING)
            if existing is not _MISSING and existing is not value and not replace:
                raise _duplicate(self.name, key, existing, value)
            self._entries[key] = value

    def register(self, key: Hashable = None, *, replace: bool = False) -> Callable[[V], V]:
        """Return a decorator that registers what it decorates under ``key``, unchanged.

        Args:
            key: The name; defaults to the decorated object's ``__name__``.
            replace: Whether it may replace another object registered under the name.

        Returns:
            A decorator returning the decorated object itself.

        Raises:
            DuplicateRegistrationError: When decorating, if the name is taken.
            TypeError: When decorating without a key an object that has no ``__name__``.

        Example:
            >>> from python_mastery_portfolio.patterns import Registry
            >>> handlers: Registry[object] = Registry("handlers")
            >>> @handlers.register()
            ... def greet() -> str:
            ...     return "hi"
            >>> handlers["greet"]()
            'hi'
        """

        def decorator(obj: V) -> V:
            name = key
            if name is None:
                name = getattr(obj, "__name__", None)
                if not isinstance(name, str):
                    raise TypeError(f"{self.name}: give a key to register {obj!r}")
            self.add(name, obj, replace=replace)  # type: ignore[arg-type]  # user's V is a T
            return obj

        return decorator

    def remove(self, key: Hashable) -> T:
        """Unregister ``key`` and return what it held.

        Raises:
            NotRegisteredError: If nothing is registered under ``key``.
        """
        with self._lock:
            if key not in self._entries:
                raise self._missing(key)
            return self._entries.pop(key)

    def names(self) -> tuple[Hashable, ...]:
        """Return the registered names, in registration order."""
        return tuple(self._entries)

    @overload
    def create(self: Registry[type[R]], key: Hashable, /, *args: Any, **kwargs: Any) -> R: ...

    @overload
    def create(
        self: Registry[Callable[..., R]], key: Hashable, /, *args: Any, **kwargs: Any
    ) -> R: ...

    def create(self: Registry[Any], key: Hashable, /, *args: Any, **kwargs: Any) -> Any:
        """Call the factory or class registered under ``key`` with the arguments and return it.

        Raises:
            NotRegisteredError: If nothing is registered under ``key``.
        """
        return self[key](*args, **kwargs)

    def load_entry_points(self, group: str, *, replace: bool = False) -> tuple[str, ...]:
        """Load and register every entry point of ``group`` of the installed distributions.

        Each entry point is registered under its name. A class that registers itself when
        imported (a :class:`Registered` subclass) and is named after its own class is the same
        object under the same name, so that is not a duplicate.

        Args:
            group: The entry point group, e.g. ``"myapp.plugins"``.
            replace: Whether entry points may replace objects registered under their names.

        Returns:
            The names loaded, in the order found.

        Raises:
            DuplicateRegistrationError: If a name is taken by another object.
            ImportError: If an entry point cannot be imported (a note names it).
        """
        loaded: list[str] = []
        for entry_point in importlib.metadata.entry_points(group=group):
            try:
                value = entry_point.load()
            except Exception as error:
                error.add_note(f"while loading entry point {entry_point.name!r} ({group})")
                raise
            self.add(entry_point.name, value, replace=replace)
            loaded.append(entry_point.name)
        return tuple(loaded)

    def _missing(self, key: Hashable) -> NotRegisteredError:
        return _not_registered(self.name, key, self.names())

    def __getitem__(self, key: Hashable) -> T:
        try:
            return self._entries[key]
        except KeyError:
            raise self._missing(key) from None

    @overload
    def get(self, key: Hashable, /) -> T | None: ...

    @overload
    def get(self, key: Hashable, /, default: T | D) -> T | D: ...

    def get(self, key: Hashable, /, default: object = None) -> object:
        """Return what ``key`` holds, or ``default`` (the seed's ``get_plugin`` behaviour)."""
        return self._entries.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.names())  # a snapshot: registering meanwhile does not break the loop

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, names=[{', '.join(map(_show, self.names()))}])"


_MISSING: Any = object()


class Registered:
    """A base class whose subclasses register themselves in a :class:`Registry`.

    The class that names the registry (``class Plugin(Registered, registry=plugins)``) is the
    base and is not registered; each subclass is, under ``key=`` or its class name. Pass
    ``abstract=True`` to keep an intermediate class out, and ``replace=True`` to replace a
    class registered under the same name. No metaclass is involved, so the base may also be an
    ``ABC`` (or use any other metaclass).

    Example:
        >>> from abc import ABC, abstractmethod
        >>> from python_mastery_portfolio.patterns import Registered, Registry
        >>> plugins: Registry[type[object]] = Registry("plugins")
        >>> class Plugin(Registered, ABC, registry=plugins):
        ...     @abstractmethod
        ...     def send(self, message: str) -> str: ...
        >>> class EmailPlugin(Plugin):
        ...     def send(self, message: str) -> str:
        ...         return f"email: {message}"
        >>> plugins.names(), plugins.create("EmailPlugin").send("Hello!")
        (('EmailPlugin',), 'email: Hello!')
    """

    registry: ClassVar[Registry[Any]]
    """The registry the subclasses of this class register in."""

    def __init_subclass__(
        cls,
        *,
        registry: Registry[Any] | None = None,
        key: Hashable = None,
        abstract: bool = False,
        replace: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if registry is not None:
            if not isinstance(registry, Registry):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
                raise TypeError(f"registry must be a Registry, got {registry!r}")
            cls.registry = registry
            return  # the base that names the registry is not registered itself
        if not isinstance(getattr(cls, "registry", None), Registry):
            raise TypeError(
                f"{cls.__qualname__} subclasses Registered without naming a registry: "
                f"class {cls.__name__}(Registered, registry=...)"
            )
        if not abstract:
            cls.registry.add(cls.__name__ if key is None else key, cls, replace=replace)
