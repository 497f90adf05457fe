"""The retry options, declared once: their types, defaults, validation and the wait formula.

:class:`RetryOptions` is the one runtime declaration (defaults, checks, normalisation) and
:class:`RetryKwargs` the same eleven options as keyword arguments, for ``Unpack`` in the
signatures of ``retry``, ``async_retry`` and ``retrying``, so type checkers see every option
with its type. A test holds the two to the same names and types.
"""

from __future__ import annotations

import inspect
import logging
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, fields
from datetime import timedelta
from typing import Any, TypeAlias, TypedDict

from python_mastery_portfolio._internal.callables import ExceptionSpec, exception_matcher
from python_mastery_portfolio._internal.checks import (
    require_at_least,
    require_count,
    require_positive,
)
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "NO_FALLBACK",
    "POSITIONAL",
    "RetryKwargs",
    "RetryOptions",
    "RetryState",
    "Seconds",
    "expose_signature",
    "options_from",
]


class _NoFallback:
    """The type of :data:`NO_FALLBACK`; one instance, so ``is`` tells it apart."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_FALLBACK"

    def __reduce__(self) -> str:
        return "NO_FALLBACK"  # pickles as the module-level singleton


NO_FALLBACK: Any = _NoFallback()
"""The default of ``fallback``: giving up raises (``None`` is a valid fallback value)."""

Seconds: TypeAlias = float | timedelta
"""A duration: seconds as a number, or a :class:`datetime.timedelta` (stored as float seconds)."""

_DURATIONS = ("delay", "jitter", "max_delay", "deadline")
_OPTIONAL = frozenset({"max_delay", "deadline"})
_CALLBACKS = ("retry_on_result", "on_retry", "before", "after", "on_giveup")


@dataclass(frozen=True, slots=True)
class RetryState:
    """What ``on_retry`` learns about a failed attempt, before the wait that follows it.

    Attributes:
        attempt: The attempt that just failed, counting from 1.
        delay: The wait, in seconds, before the next attempt.
        exception: The exception the attempt raised, or ``None`` for a rejected result.
        result: The result ``retry_on_result`` rejected, or ``None`` for an exception.
        elapsed: Seconds since the first attempt started.

    Example:
        >>> RetryState(attempt=1, delay=0.5, exception=OSError(), result=None, elapsed=0.1).delay
        0.5
    """

    attempt: int
    delay: float
    exception: BaseException | None
    result: Any
    elapsed: float


class RetryKwargs(TypedDict, total=False):
    """The options of :class:`RetryOptions` as keyword arguments (all optional).

    ``retry``, ``async_retry`` and ``retrying`` take ``**options: Unpack[RetryKwargs]``, so a type
    checker knows each option's type without the signature repeating it.

    Example:
        >>> options: RetryKwargs = {"max_attempts": 5, "delay": 0.5}
        >>> RetryOptions(**options).max_attempts
        5
    """

    max_attempts: int | None
    delay: Seconds
    backoff: float
    exceptions: ExceptionSpec
    max_delay: Seconds | None
    jitter: Seconds
    deadline: Seconds | None
    retry_on_result: Callable[[Any], object] | None
    on_retry: Callable[[RetryState], object] | None
    before: Callable[[RetryState], object] | None
    after: Callable[[RetryState], object] | None
    on_giveup: Callable[[RetryState], object] | None
    fallback: object
    clock: Clock
    logger: logging.Logger | None


@dataclass(frozen=True, slots=True)
class RetryOptions:
    """A validated, immutable retry policy: the options every retry form shares.

    Built (and checked) once when decorating, never per call. ``delay``, ``backoff``,
    ``jitter`` and a given ``max_delay`` are stored as floats, so the wait formula never
    builds a huge integer.

    Attributes:
        max_attempts: Attempts in all, the first included (an int >= 1), or ``None`` for no
            cap, which needs a ``deadline`` (stamina's ``attempts=None``).
        delay: Wait after the first failure, in seconds (>= 0). Every duration (``delay``,
            ``max_delay``, ``jitter``, ``deadline``) may also be a :class:`datetime.timedelta`;
            it is stored as float seconds.
        backoff: Factor by which each further wait grows (>= 1).
        exceptions: What to retry: an exception type, a tuple of them, or a predicate over the
            exception. Cancellation, interrupts and exits are never retried.
        max_delay: Cap on any single wait, in seconds (>= 0); ``None`` for no cap.
        jitter: Upper bound of a uniform random extra added to each wait, in seconds (>= 0).
        deadline: Total budget in seconds from the first call (> 0); ``None`` for none.
        retry_on_result: Predicate over a result; a true answer retries it like a failure.
        on_retry: Called with a :class:`RetryState` before each wait.
        before: Called with a :class:`RetryState` before each attempt, the first included
            (``delay`` is the wait that preceded it).
        after: Called with a :class:`RetryState` after each retried failure (a retryable
            exception or a rejected result), the last included; ``delay`` is the coming wait,
            0 when giving up.
        on_giveup: Called with the final :class:`RetryState` when attempts or time run out.
        fallback: What giving up returns instead of raising: a callable is called with the
            final :class:`RetryState` (and awaited when the decorated function is a coroutine
            function and it returns an awaitable), anything else is returned as is. The
            default, ``NO_FALLBACK``, raises. Not for the block form, which returns nothing.
        clock: Source of time and waits; tests pass a ``ManualClock``.
        logger: Where retries are logged at WARNING; ``None`` for this package's logger.

    Raises:
        ValueError: If a number is out of range (named in the message).
        TypeError: If an option has the wrong type (named in the message).

    Example:
        >>> options = RetryOptions(max_attempts=5, delay=1, backoff=3, max_delay=5)
        >>> [options.wait(attempt) for attempt in range(1, 5)]
        [1.0, 3.0, 5.0, 5.0]
        >>> RetryOptions(backoff=0.5)
        Traceback (most recent call last):
        ...
        ValueError: backoff must be >= 1, got 0.5
        >>> from datetime import timedelta
        >>> RetryOptions(max_attempts=None, deadline=timedelta(minutes=1)).deadline
        60.0
    """

    max_attempts: int | None = 3
    delay: Seconds = 1.0
    backoff: float = 2.0
    exceptions: ExceptionSpec = Exception
    _: KW_ONLY
    max_delay: Seconds | None = None
    jitter: Seconds = 0.0
    deadline: Seconds | None = None
    retry_on_result: Callable[[Any], object] | None = None
    on_retry: Callable[[RetryState], object] | None = None
    before: Callable[[RetryState], object] | None = None
    after: Callable[[RetryState], object] | None = None
    on_giveup: Callable[[RetryState], object] | None = None
    fallback: object = NO_FALLBACK
    clock: Clock = SYSTEM_CLOCK
    logger: logging.Logger | None = None

    def __post_init__(self) -> None:
        if self.max_attempts is None:
            if self.deadline is None:
                raise ValueError(
                    "max_attempts=None (no attempt cap) needs a deadline: "
                    "give deadline=... or an int max_attempts"
                )
        else:
            require_count("max_attempts", self.max_attempts, 1)
        self._normalise_durations()
        require_at_least("backoff", self.backoff, 1)
        for name in _CALLBACKS:
            func = getattr(self, name)
            if func is not None and not callable(func):
                raise TypeError(f"{name} must be callable or None, got {func!r}")
        if not isinstance(self.clock, Clock):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"clock must be a Clock, got {self.clock!r}")
        if self.logger is not None and not isinstance(self.logger, logging.Logger):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"logger must be a logging.Logger or None, got {self.logger!r}")
        exception_matcher(self.exceptions, param="exceptions")  # raises on a bad spec
        # A float, so that ``backoff ** n`` overflows to the cap instead of building a huge int.
        object.__setattr__(self, "backoff", float(self.backoff))

    def _normalise_durations(self) -> None:
        """Check each duration and store it as float seconds (a timedelta included).

        Floats, so the formula never builds a huge int; frozen, hence ``object.__setattr__``
        (the dataclass documentation's way).
        """
        for name in _DURATIONS:
            value: Any = getattr(self, name)
            if value is None and name in _OPTIONAL:
                continue
            if isinstance(value, timedelta):
                value = value.total_seconds()
            # A None left here is a required duration: the checks below refuse it.
            if name == "deadline":
                require_positive(name, value)  # pyright: ignore[reportArgumentType]
            else:
                require_at_least(name, value, 0)  # pyright: ignore[reportArgumentType]
            object.__setattr__(self, name, float(value))  # pyright: ignore[reportArgumentType]

    def wait(self, attempt: int, floor: float = 0.0) -> float:
        """Return the wait after failed ``attempt``: at least ``floor``, capped by ``max_delay``.

        The wait is ``delay * backoff ** (attempt - 1)`` plus a uniform random extra in
        ``[0, jitter]``; past float range it saturates (at the cap, or at infinity).

        Example:
            >>> RetryOptions(delay=1.0, backoff=2.0, max_delay=3.0).wait(10**400)
            3.0
            >>> RetryOptions(delay=1.0).wait(1, floor=30.0)
            30.0
        """
        # Every duration is a float by now (see __post_init__); the annotations tell mypy so,
        # at no cost per call (a cast() would be one more call on the retry path).
        wait: float = self.delay  # type: ignore[assignment]  # a float since __post_init__
        if attempt > 1 and wait > 0 and self.backoff > 1:
            try:
                wait *= self.backoff ** (attempt - 1)
            except OverflowError:
                # Past float range the uncapped wait is unbounded; the cap below still holds.
                wait = math.inf
        if self.jitter:
            jitter: float = self.jitter  # type: ignore[assignment]  # a float since __post_init__
            wait += random.uniform(0, jitter)  # noqa: S311 - jitter needs no cryptographic strength
        if wait < floor:  # noqa: PLR1730 - not max(): one call fewer on every retry
            wait = floor
        cap: float | None = self.max_delay  # type: ignore[assignment]  # a float since __post_init__
        return wait if cap is None else min(wait, cap)


POSITIONAL = ("max_attempts", "delay", "backoff", "exceptions")
"""The options that may also be passed by position, in order (the seed's signature)."""

_NAMES = frozenset(field.name for field in fields(RetryOptions))


def options_from(
    caller: str, args: tuple[Any, ...], kwargs: Mapping[str, object], *, skip: int = 0
) -> RetryOptions:
    """Build the :class:`RetryOptions` of a call ``caller(*args, **kwargs)``.

    ``args`` fill :data:`POSITIONAL` from index ``skip`` on (1 when the bare decorator form took
    the first place); errors read as they would for a plain signature, naming ``caller``.

    Raises:
        TypeError: For too many positional arguments, a duplicate or an unknown option, or an
            option of the wrong type.
        ValueError: If a number is out of range.
    """
    names = POSITIONAL[skip:]
    if len(args) > len(names):
        raise TypeError(
            f"{caller}() takes from 0 to {len(POSITIONAL)} positional arguments "
            f"but {len(args) + skip} were given"
        )
    for name in kwargs:
        if name not in _NAMES:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
    merged: dict[str, Any] = dict(kwargs)
    for name, value in zip(names, args, strict=False):
        if name in merged:
            raise TypeError(f"{caller}() got multiple values for argument {name!r}")
        merged[name] = value
    return RetryOptions(**merged)


def expose_signature(func: Any, *extra: inspect.Parameter) -> None:
    """Give ``func`` (taking ``*args, **options``) the signature the options declare, for help().

    The first options are positional-or-keyword, the rest keyword-only, then ``extra``.
    """
    parameters = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD
            if field.name in POSITIONAL
            else inspect.Parameter.KEYWORD_ONLY,
            default=field.default,
            annotation=field.type,
        )
        for field in fields(RetryOptions)
    ]
    func.__signature__ = inspect.Signature([*parameters, *extra])
