"""A class decorator that times every public method of a class with :func:`~.timing.timed`."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, overload

from python_mastery_portfolio.timing import TimeUnit, timed

__all__ = ["add_logging"]

T = TypeVar("T")

_MARK = "_add_logging_timed"


@overload
def add_logging(cls: type[T], /) -> type[T]: ...


@overload
def add_logging(
    *,
    level: int = logging.DEBUG,
    unit: TimeUnit = "ms",
    inherited: bool = False,
    logger: logging.Logger | None = None,
) -> Callable[[type[T]], type[T]]: ...


def add_logging(
    cls: type[T] | None = None,
    /,
    *,
    level: int = logging.DEBUG,
    unit: TimeUnit = "ms",
    inherited: bool = False,
    logger: logging.Logger | None = None,
) -> type[T] | Callable[[type[T]], type[T]]:
    """Log the duration of each call of the class's public methods.

    Usable bare (``@add_logging``) or with options (``@add_logging(level=logging.INFO)``).
    Every public method that the class itself defines (a name without a leading underscore:
    ``def`` and ``async def`` functions, classmethods and staticmethods) is wrapped with
    :func:`~python_mastery_portfolio.timed`, logging
    ``"<module>.<Class>.<method> took <t> <unit>"`` under the logger of the class's module
    (``logging.getLogger(cls.__module__)``) after each call, also one that raises. Properties,
    dunder and private methods, nested classes, other attributes and generator methods (whose
    calls only create the generator) are left alone. Inherited methods are wrapped too, on the
    class itself, with ``inherited=True``; a method already wrapped by ``add_logging`` is never
    wrapped twice. The wrappers keep the methods' names, docstrings, signatures and
    ``__wrapped__``.

    Args:
        cls: The class, when used bare as ``@add_logging``.
        level: The logging level of the messages.
        unit: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``.
        inherited: Whether public methods inherited from base classes (not ``object``) are
            wrapped too.
        logger: Where to log instead of the class's module logger.

    Returns:
        The class, changed in place, or a decorator when called with options only.

    Raises:
        TypeError: If ``cls`` is not a class, or ``level`` or ``logger`` has the wrong type.
        ValueError: If ``unit`` is not one of the four units.

    Example:
        >>> import logging
        >>> from python_mastery_portfolio.patterns import add_logging
        >>> @add_logging(level=logging.INFO)
        ... class DataProcessor:
        ...     def process(self, data: list[int]) -> list[int]:
        ...         return [item * 2 for item in data]
        >>> DataProcessor().process([1, 2])  # logs "...DataProcessor.process took ... ms"
        [2, 4]
    """
    # Checked now, not at the first method: timed validates its options when built.
    timed(unit=unit, logger=logger, level=level)

    def decorate(target: type[T]) -> type[T]:
        if not isinstance(target, type):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"@add_logging decorates a class, got {target!r}")
        log = logger if logger is not None else logging.getLogger(target.__module__)
        wrap = timed(unit=unit, logger=log, level=level)
        owners = target.__mro__[:-1] if inherited else (target,)
        done: set[str] = set()
        for owner in owners:
            for name, member in vars(owner).items():
                if name in done or name.startswith("_"):
                    continue
                done.add(name)  # the first owner in the MRO is the one Python finds
                if _is_plain_method(member):
                    wrapped = wrap(member)
                    _function_of(wrapped).__dict__[_MARK] = True
                    setattr(target, name, wrapped)
        return target

    if cls is not None:
        return decorate(cls)
    return decorate


def _function_of(member: Any) -> Any:
    return member.__func__ if isinstance(member, classmethod | staticmethod) else member  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]  # any wrapped callable


def _is_plain_method(member: object) -> bool:
    function = _function_of(member)
    return (
        inspect.isfunction(function)
        and not inspect.isgeneratorfunction(function)
        and not inspect.isasyncgenfunction(function)
        and not function.__dict__.get(_MARK, False)
    )
