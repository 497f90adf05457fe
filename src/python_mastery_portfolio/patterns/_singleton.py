"""A class decorator that makes a class build one instance, once, even under thread races.

Unlike the seed's ``singleton`` (which returned a function, so ``isinstance`` and subclassing
broke and two threads could build two instances), :func:`singleton` returns the same class
object. It installs a ``__new__`` that hands out the one instance and guards ``__init__`` so
that it runs exactly once, inside a double-checked lock.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["reset_singleton", "singleton"]

T = TypeVar("T")

_RECORD = "_singleton_record"


class _Record:
    """One class's instance with the arguments that built it, and the lock that guards it."""

    __slots__ = ("building", "built", "lock", "signature")

    def __init__(self, cls: type) -> None:
        self.lock = threading.RLock()
        # (instance, bound arguments) in one attribute, published in one store: a reader never
        # sees an instance without its arguments.
        self.built: tuple[Any, dict[str, Any]] | None = None
        self.building = False
        self.signature = inspect.signature(cls.__init__)  # type: ignore[misc]  # cls's own

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Bind a call's arguments to ``__init__``'s parameters, so equal calls compare equal."""
        bound = self.signature.bind(None, *args, **kwargs)
        bound.apply_defaults()
        return bound.arguments


def _record_for(cls: type) -> _Record:
    # Made when the class was decorated or created: each subclass has a record of its own.
    record: _Record = cls.__dict__[_RECORD]
    return record


def _check_same(
    cls: type, record: _Record, first: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    if (args or kwargs) and record.bind(args, kwargs) != first:
        shown = ", ".join(
            [*map(repr, args), *(f"{key}={value!r}" for key, value in kwargs.items())]
        )
        raise TypeError(
            f"singleton {cls.__qualname__} was already built with different arguments; "
            f"got ({shown}): call {cls.__qualname__}() to get the instance, or "
            f"reset_singleton({cls.__qualname__}) first"
        )


def singleton(cls: type[T]) -> type[T]:
    """Make ``cls`` build one instance, on the first call, and return it on every later call.

    The decorator returns ``cls`` itself, so ``isinstance``, subclassing, class attributes and
    type checkers keep working. The first call's arguments go to ``__init__``, which runs once
    even when many threads make the first call at the same time (a double-checked lock; the
    instance is published only after ``__init__`` returned, so no thread sees it half built).
    A later call with no arguments, or with the same arguments (compared after binding them to
    ``__init__``'s parameters), returns the instance; other arguments raise ``TypeError``.

    A subclass of a singleton class is a singleton of its own: it builds and keeps its own
    instance. ``__slots__`` classes work (the instance is kept by the decorator, not on it);
    dataclasses work when ``@singleton`` is the outermost decorator (above ``@dataclass``,
    which would otherwise replace the guarded ``__init__``). A subclass may not define its own
    ``__new__``. The first call's arguments are kept, for the comparison, until
    :func:`reset_singleton`. Type checkers see the class's own ``__init__``, so a bare
    ``Database()`` after ``Database(url)`` needs ``# type: ignore[call-arg]`` there (or give
    the parameters defaults).

    Args:
        cls: The class to decorate.

    Returns:
        ``cls``, changed in place. Decorating a class that is already a singleton (or whose
        base is) returns it unchanged.

    Raises:
        TypeError: If ``cls`` is not a class; at a later call, if it passes arguments that
            differ from the first call's; at class creation, if a subclass defines ``__new__``.
        RuntimeError: If ``__init__`` asks for the instance it is building.

    Example:
        >>> from python_mastery_portfolio.patterns import singleton
        >>> @singleton
        ... class Database:
        ...     def __init__(self, url: str) -> None:
        ...         self.url = url
        >>> db = Database("sqlite://")
        >>> Database() is db, Database("sqlite://") is db, isinstance(db, Database)
        (True, True, True)
    """
    given: object = cls  # checked at run time: callers may pass anything
    if not isinstance(given, type):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"@singleton decorates a class, got {cls!r}")
    if _is_singleton(cls):
        return cls
    make = cls.__new__
    plain_new = make is object.__new__

    def __new__(klass: type[T], *args: Any, **kwargs: Any) -> T:  # noqa: N807 - installed as __new__
        record = _record_for(klass)
        built = record.built
        if built is None:
            with record.lock:
                built = record.built
                if built is None:
                    return _build(klass, record, args, kwargs)
        instance, first = built
        _check_same(klass, record, first, args, kwargs)
        return instance  # type: ignore[no-any-return]  # the record holds a klass instance

    def _build(klass: type[T], record: _Record, args: Any, kwargs: Any) -> T:
        if record.building:
            raise RuntimeError(f"singleton {klass.__qualname__} asked for itself while building")
        record.building = True
        try:
            # object.__new__ refuses extra arguments once __new__ is overridden.
            instance = make(klass) if plain_new else make(klass, *args, **kwargs)
            klass.__init__(instance, *args, **kwargs)
            record.built = (instance, record.bind(args, kwargs))
        finally:
            record.building = False
        return instance

    __new__.__qualname__ = f"{cls.__qualname__}.__new__"
    __new__._singleton_new = True  # type: ignore[attr-defined]  # marks the decorated classes
    cls.__new__ = staticmethod(__new__)  # type: ignore[assignment]  # installs our __new__
    _guard_init(cls, inherited=True)
    setattr(cls, _RECORD, _Record(cls))
    _chain_init_subclass(cls)
    return cls


def _is_singleton(cls: type) -> bool:
    return getattr(cls.__new__, "_singleton_new", False) is True


def _guard_init(cls: type, *, inherited: bool) -> None:
    """Make ``cls.__init__`` do nothing on an instance already built and published."""
    init: Callable[..., None] | None = cls.__dict__.get("__init__")
    if init is None:
        if not inherited:
            return
        init = cls.__init__  # type: ignore[misc]  # the inherited one, guarded on cls

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - installed as __init__
        record: _Record | None = type(self).__dict__.get(_RECORD)
        built = None if record is None else record.built
        # type.__call__ calls __init__ again after our __new__ returned the published instance.
        if built is None or built[0] is not self:
            init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]  # installs the guard


def _chain_init_subclass(cls: type) -> None:
    own = cls.__dict__.get("__init_subclass__")
    owner: Any = cls  # mypy reads super(cls, sub) inside a nested function as an instance

    def __init_subclass__(sub: Any, /, **kwargs: Any) -> None:  # noqa: N807 - installed hook
        if own is not None:
            own.__get__(None, sub)(**kwargs)
        else:
            super(owner, sub).__init_subclass__(**kwargs)  # pyright: ignore[reportUnknownMemberType]  # owner is Any (see above)
        if "__new__" in sub.__dict__:
            raise TypeError(
                f"{sub.__qualname__} subclasses singleton {cls.__qualname__} and may not "
                "define __new__"
            )
        _guard_init(sub, inherited=False)
        setattr(sub, _RECORD, _Record(sub))

    cls.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]  # hook


def reset_singleton(cls: type) -> None:
    """Forget the instance of singleton class ``cls``, so that the next call builds a new one.

    Meant for tests. Only ``cls``'s own instance is forgotten, not its subclasses'.

    Args:
        cls: A class decorated with :func:`singleton`, or a subclass of one.

    Raises:
        TypeError: If ``cls`` is not a singleton class.

    Example:
        >>> from python_mastery_portfolio.patterns import reset_singleton, singleton
        >>> @singleton
        ... class Settings:
        ...     pass
        >>> first = Settings()
        >>> reset_singleton(Settings)
        >>> Settings() is first
        False
    """
    given: object = cls  # checked at run time: callers may pass anything
    if not isinstance(given, type) or not _is_singleton(given):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"reset_singleton needs a class decorated with @singleton, got {cls!r}")
    record = _record_for(cls)
    with record.lock:
        record.built = None
