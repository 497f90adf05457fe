"""Value pipelines: :class:`Container`, an immutable box, and :class:`Pipeline`, a chain of steps.

Private: :mod:`python_mastery_portfolio.typing_utils` re-exports both.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final, overload

from python_mastery_portfolio._internal.callables import is_async_callable, qualified_name
from python_mastery_portfolio._internal.immutability import refuse_change
from python_mastery_portfolio.exceptions import DataProcessingError

__all__ = ["Container", "Pipeline"]

# Not __name__: the pipeline logged as "python_mastery_portfolio.typing_utils" when it lived in
# that module, and a logger name is public behaviour (users' logging configuration names it), so
# it keeps that name.
logger = logging.getLogger("python_mastery_portfolio.typing_utils")

T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")


@final
class Container(Generic[T_co]):
    """An immutable box around one value, with ``map`` to transform it.

    Example:
        >>> box = Container(42)
        >>> box.map(lambda x: x * 2)
        Container(84)
        >>> box.map(str).value
        '42'
        >>> Container(1) == Container(1)
        True
    """

    __match_args__ = ("value",)

    if TYPE_CHECKING:
        # pyright types a slot's name as an instance variable (here: the property object), so
        # the slot is declared at run time only.

        @property
        def value(self) -> T_co:
            """The boxed value."""
            ...

    else:
        __slots__ = ("value",)
        __setattr__ = refuse_change
        __delattr__ = refuse_change

    def __init__(self, value: T_co) -> None:
        _set_container_value(self, value)

    def __repr__(self) -> str:
        return f"Container({self.value!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Container):
            # isinstance() on an object leaves the type argument unknown; any value compares
            return bool(self.value == other.value)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Container, self.value))

    def __reduce__(self) -> tuple[type[Container[T_co]], tuple[T_co]]:
        return (Container, (self.value,))

    def map(self, fn: Callable[[T_co], U]) -> Container[U]:
        """Return a new container holding ``fn(value)``."""
        return Container(fn(self.value))


_set_container_value: Callable[[object, object], None] = Container.__dict__["value"].__set__


def _step_name(step: Callable[..., Any]) -> str:
    name = getattr(step, "__name__", None)
    return name if isinstance(name, str) else type(step).__name__


@final
class Pipeline(Generic[T_co]):
    """A reusable chain of transformations applied to a starting value.

    :meth:`add` returns a *new* pipeline and never changes the one it is called on, so a
    pipeline can be shared, extended in several directions and executed any number of times.
    An exception in a step is re-raised as :class:`DataProcessingError` chained to the
    original, with ``step`` set to ``"<index>:<name>"`` (0-based) and ``context["step_index"]``.

    Args:
        value: The value the first step receives.

    Example:
        >>> Pipeline(5).add(lambda x: x * 2).add(lambda x: x + 3).add(lambda x: x ** 2).execute()
        169
        >>> base = Pipeline(" Hello ").add(str.strip)
        >>> base.add(str.upper).execute(), base.add(len).execute(), len(base)
        ('HELLO', 5, 1)
    """

    __slots__ = ("_has_async", "_initial", "_steps")

    _initial: Any
    _steps: tuple[Callable[[Any], Any], ...]
    _has_async: bool

    def __init__(self, value: T_co) -> None:
        self._initial = value
        self._steps = ()
        self._has_async = False

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        steps = "".join(f".add({_step_name(step)})" for step in self._steps)
        return f"Pipeline({self._initial!r}){steps}"

    @overload
    def add(self, step: Callable[[T_co], Awaitable[U]]) -> Pipeline[U]: ...

    @overload
    def add(self, step: Callable[[T_co], U]) -> Pipeline[U]: ...

    def add(self, step: Callable[[Any], Any]) -> Pipeline[Any]:
        """Return a new pipeline with ``step`` appended; this one is left unchanged.

        A step that is a coroutine function (or returns an awaitable) needs
        :meth:`execute_async`; the static type of the new pipeline is the awaited result.

        Raises:
            TypeError: If ``step`` is not callable.
        """
        if not callable(step):
            raise TypeError(f"step must be callable, got {step!r}")
        new: Pipeline[Any] = Pipeline.__new__(Pipeline)  # pyright: ignore[reportUnknownVariableType]  # __new__ alone solves no T_co
        new._initial = self._initial
        new._steps = (*self._steps, step)
        new._has_async = self._has_async or is_async_callable(step)
        return new

    def execute(self) -> T_co:
        """Run every step in order on the starting value and return the last result.

        Raises:
            DataProcessingError: If a step raises; the original is its ``__cause__``.
            TypeError: If a step is a coroutine function (use :meth:`execute_async`).
        """
        if self._has_async:
            raise TypeError("this pipeline has coroutine steps; use `await execute_async()`")
        value = self._initial
        for index, step in enumerate(self._steps):
            try:
                value = step(value)
            except Exception as error:
                raise _step_error(index, step, error) from error
        return cast("T_co", value)  # the chain of add() calls typed it

    async def execute_async(self) -> T_co:
        """Run the steps like :meth:`execute`, awaiting each step's result when it is awaitable.

        Raises:
            DataProcessingError: If a step raises; the original is its ``__cause__``.

        Example:
            >>> import asyncio
            >>> async def double(x: int) -> int:
            ...     return x * 2
            >>> asyncio.run(Pipeline(4).add(double).add(str).execute_async())
            '8'
        """
        value = self._initial
        for index, step in enumerate(self._steps):
            try:
                value = step(value)
                if inspect.isawaitable(value):
                    value = await value
            except Exception as error:
                raise _step_error(index, step, error) from error
        return cast("T_co", value)  # the chain of add() calls typed it


def _step_error(index: int, step: Callable[..., Any], error: Exception) -> DataProcessingError:
    name = _step_name(step)
    logger.debug("pipeline step %d (%s) failed", index, name, exc_info=error)
    return DataProcessingError(
        f"pipeline step {index} ({name}) failed: {type(error).__name__}: {error}",
        step=f"{index}:{name}",
        step_index=index,
        function=qualified_name(step),
    )
