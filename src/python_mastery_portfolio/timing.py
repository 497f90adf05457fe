"""Time functions and blocks of code, and log how long they took.

:func:`timed` decorates a ``def`` or ``async def`` and logs ``"<qualified name> took <t> <unit>"``
after each call; :func:`measure_block` does the same for a ``with`` or ``async with`` block and
hands back a :class:`BlockTimer` whose ``elapsed`` is set on exit. Both log also when the code
raises (with `` (raised <ExceptionType>)`` appended), and let the exception propagate untouched.

Timer source:
    With the default ``clock=SYSTEM_CLOCK`` (or any plain :class:`~.clock.SystemClock`), durations
    are read from :func:`time.perf_counter`, the highest-resolution monotonic timer, meant for
    measuring durations (``SystemClock.now`` is :func:`time.monotonic`, whose resolution is
    coarser on some platforms). Any other clock, such as
    :class:`~python_mastery_portfolio.testing.ManualClock`, is read through its ``now()``.
    Which clocks count as the system clock is decided in one place for every component,
    :func:`~python_mastery_portfolio.clock.now_reader`.

Cost:
    ``@timed`` asks ``logger.isEnabledFor(level)`` on every call (the logging module caches the
    answer) and, when the level is disabled, calls the function without reading the timer at
    all: a disabled timer costs one extra call and one cached lookup. When enabled, the timer is
    read twice and the message is formatted lazily by :mod:`logging`.

Log records carry two extra attributes for structured logging: ``timer_name`` (the qualified
name or block name) and ``elapsed`` (seconds, a float). The record points at the caller of the
timed function or block (``stacklevel``), not at this module.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, ParamSpec, TypeAlias, TypeVar, cast, overload

from python_mastery_portfolio._internal.callables import (
    decorate_function,
    is_async_callable,
    qualified_name,
)
from python_mastery_portfolio._internal.checks import require_instance
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock, now_reader

__all__ = ["BlockTimer", "TimeUnit", "measure_block", "timed"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

TimeUnit: TypeAlias = Literal["s", "ms", "us", "ns"]
"""The units a duration can be logged in."""

_SCALES: dict[str, float] = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
_MESSAGE = "%s took %.3f %s"
_MESSAGE_RAISED = "%s took %.3f %s (raised %s)"
# Frames from Logger.log up to the user's code: _Settings.report, then the wrapper or __exit__.
_STACKLEVEL = 3


def _scale_for(unit: object) -> float:
    scale = _SCALES.get(unit) if isinstance(unit, str) else None
    if scale is None:
        raise ValueError(f"unit must be one of 's', 'ms', 'us', 'ns', got {unit!r}")
    return scale


def _reader_for(clock: object) -> Callable[[], float]:
    if not callable(getattr(clock, "now", None)):
        raise TypeError(f"clock must be a Clock with a now() method, got {clock!r}")
    reader = now_reader(cast("Clock", clock))
    # now_reader alone decides whether this is the system clock (its fast path is
    # time.monotonic); for durations perf_counter, the finest monotonic timer, replaces it.
    return time.perf_counter if reader is time.monotonic else reader


def _logger_for(given: object) -> logging.Logger:
    if given is None:
        return logger
    require_instance("logger", given, logging.Logger, "a logging.Logger")
    return cast("logging.Logger", given)


def _check_level(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"level must be a logging level (an int), got {level!r}")
    return level


class _Settings:
    """What one timer logs, where and how; fixed when decorating."""

    __slots__ = ("level", "log", "name", "now", "scale", "unit")

    def __init__(
        self,
        name: str,
        *,
        unit: object,
        logger: object,
        level: object,
        clock: object,
    ) -> None:
        self.name = name
        self.scale = _scale_for(unit)
        self.unit = cast("str", unit)
        self.log = _logger_for(logger)
        self.level = _check_level(level)
        self.now = _reader_for(clock)

    def renamed(self, name: str) -> _Settings:
        """Return a copy of these settings for another timer name."""
        other = object.__new__(_Settings)
        other.name = name
        other.scale = self.scale
        other.unit = self.unit
        other.log = self.log
        other.level = self.level
        other.now = self.now
        return other

    def report(self, seconds: float, error: BaseException | None) -> None:
        extra = {"timer_name": self.name, "elapsed": seconds}
        value = seconds * self.scale
        if error is None:
            self.log.log(
                self.level,
                _MESSAGE,
                self.name,
                value,
                self.unit,
                extra=extra,
                stacklevel=_STACKLEVEL,
            )
        else:
            self.log.log(
                self.level,
                _MESSAGE_RAISED,
                self.name,
                value,
                self.unit,
                type(error).__name__,
                extra=extra,
                stacklevel=_STACKLEVEL,
            )


@overload
def timed(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def timed(
    *,
    unit: TimeUnit = "ms",
    logger: logging.Logger | None = None,
    level: int = logging.INFO,
    clock: Clock = SYSTEM_CLOCK,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def timed(
    func: Callable[P, R] | None = None,
    /,
    *,
    unit: TimeUnit = "ms",
    logger: logging.Logger | None = None,
    level: int = logging.INFO,
    clock: Clock = SYSTEM_CLOCK,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Log how long each call of the decorated function takes.

    Usable bare (``@timed``) or with options (``@timed(unit="us")``), on ``def`` and
    ``async def`` (the wrapper stays a coroutine function), functions, methods, classmethods
    and staticmethods. After each call, including one that raises, it logs
    ``"<module.qualname> took <t> <unit>"`` with ``t`` to three decimals; a call that raised
    gets `` (raised <ExceptionType>)`` appended and its exception propagates unchanged. When
    ``level`` is disabled on the logger, the call is not timed at all.

    Args:
        func: The function, when used bare as ``@timed``.
        unit: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``.
        logger: Where to log; defaults to this module's logger
            (``python_mastery_portfolio.timing``).
        level: The logging level of the message.
        clock: The time source; the default reads :func:`time.perf_counter`.

    Returns:
        The wrapped function, or a decorator when called with options only.

    Raises:
        ValueError: If ``unit`` is not one of the four units.
        TypeError: If ``logger``, ``level`` or ``clock`` has the wrong type, or the function
            is a generator function (only the creation of the generator could be timed).

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> @timed(unit="ms", clock=clock)
        ... def work() -> str:
        ...     clock.advance(0.25)
        ...     return "done"
        >>> work()  # logs "...work took 250.000 ms" at INFO
        'done'
    """
    template = _Settings("", unit=unit, logger=logger, level=level, clock=clock)

    def wrap(target: Callable[P, R]) -> Callable[P, R]:
        settings = template.renamed(qualified_name(target))
        if is_async_callable(target):
            return cast("Callable[P, R]", _wrap_async(target, settings))
        return _wrap_sync(target, settings)

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        # Above @classmethod/@staticmethod, the function inside is timed and the descriptor kept.
        return cast("Callable[P, R]", decorate_function(target, wrap, "timed"))

    if func is not None:
        return decorate(func)
    return decorate


def _wrap_sync(func: Callable[P, R], settings: _Settings) -> Callable[P, R]:
    is_enabled = settings.log.isEnabledFor
    level = settings.level
    now = settings.now
    report = settings.report

    @functools.wraps(func)
    def timed_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not is_enabled(level):
            return func(*args, **kwargs)
        start = now()
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            report(now() - start, error)
            raise
        report(now() - start, None)
        return result

    return timed_wrapper


def _wrap_async(func: Callable[P, Any], settings: _Settings) -> Callable[P, Awaitable[Any]]:
    is_enabled = settings.log.isEnabledFor
    level = settings.level
    now = settings.now
    report = settings.report

    @functools.wraps(func)
    async def timed_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        if not is_enabled(level):
            return await func(*args, **kwargs)
        start = now()
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            report(now() - start, error)
            raise
        report(now() - start, None)
        return result

    return timed_wrapper


class BlockTimer:
    """The timer :func:`measure_block` yields: a ``with`` / ``async with`` context manager.

    ``elapsed`` is ``None`` until the block exits, then the block's duration in seconds. A
    timer may be used again once its block has exited (``elapsed`` goes back to ``None`` on
    entry), but not entered while it is running. Create it with :func:`measure_block`.

    Attributes:
        elapsed: Seconds the last block took, or ``None`` while running or before the first use.
    """

    __slots__ = ("_settings", "_start", "elapsed")

    def __init__(self, settings: _Settings) -> None:
        self._settings = settings
        self._start: float | None = None
        self.elapsed: float | None = None

    @property
    def name(self) -> str:
        """The block's name, used in the log message."""
        return self._settings.name

    @property
    def unit(self) -> str:
        """The unit of the logged duration."""
        return self._settings.unit

    def __enter__(self) -> BlockTimer:
        if self._start is not None:
            raise RuntimeError(f"timer {self.name!r} is already running")
        self.elapsed = None
        self._start = self._settings.now()
        return self

    def __exit__(self, exc_type: object, error: BaseException | None, traceback: object) -> None:
        settings = self._settings
        elapsed = self._stop()
        if settings.log.isEnabledFor(settings.level):
            settings.report(elapsed, error)

    async def __aenter__(self) -> BlockTimer:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: object, error: BaseException | None, traceback: object
    ) -> None:
        # Not delegated to __exit__, so that the log record's stacklevel reaches the user's code.
        settings = self._settings
        elapsed = self._stop()
        if settings.log.isEnabledFor(settings.level):
            settings.report(elapsed, error)

    def _stop(self) -> float:
        self.elapsed = elapsed = self._settings.now() - cast("float", self._start)
        self._start = None
        return elapsed

    def __repr__(self) -> str:
        return f"BlockTimer(name={self.name!r}, unit={self.unit!r}, elapsed={self.elapsed!r})"


def measure_block(
    name: str,
    *,
    unit: TimeUnit = "ms",
    logger: logging.Logger | None = None,
    level: int = logging.INFO,
    clock: Clock = SYSTEM_CLOCK,
) -> BlockTimer:
    """Time a block of code with ``with`` or ``async with`` and log how long it took.

    On exit, including an exit by exception (which propagates), the timer's ``elapsed`` is set
    to the duration in seconds and ``"<name> took <t> <unit>"`` is logged, with
    `` (raised <ExceptionType>)`` appended when the block raised. ``elapsed`` is measured even
    when ``level`` is disabled on the logger.

    Args:
        name: What the block does, used in the log message.
        unit: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``.
        logger: Where to log; defaults to this module's logger.
        level: The logging level of the message.
        clock: The time source; the default reads :func:`time.perf_counter`.

    Returns:
        A :class:`BlockTimer`, which the ``with`` statement also binds.

    Raises:
        ValueError: If ``unit`` is not one of the four units.
        TypeError: If ``name``, ``logger``, ``level`` or ``clock`` has the wrong type.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock = ManualClock()
        >>> with measure_block("data_processing", clock=clock) as timer:
        ...     clock.advance(1.5)
        >>> timer.elapsed
        1.5
    """
    require_instance("name", name, str, "a str")
    return BlockTimer(_Settings(name, unit=unit, logger=logger, level=level, clock=clock))
