"""Functional types and protocols: Result (Success | Failure), Container, Pipeline, repositories.

``Result[T, E]`` holds either a value (:class:`Success`) or an error (:class:`Failure`), so a
function can return its failure instead of raising it::

    def divide(a: int, b: int) -> Result[float, str]:
        if b == 0:
            return Result.failure("Cannot divide by zero")
        return Result.success(a / b)

How it is typed, and the one trade-off:
    ``Result`` is a real generic base class with exactly two ``@final`` variants (sealed at run
    time too). That is what lets ``Result[float, str]`` appear in annotations *and* gives mypy
    the constructors ``Result.success`` / ``Result.failure``: mypy types a union alias, used as
    a value, as ``types.UnionType``, which has no such attributes, so no union-alias design can
    type-check the seed's ``Result.success(...)`` without a plugin.

    The price is that mypy cannot know the base has no other subclasses. On a value annotated
    ``Result[T, E]``, ``isinstance(r, Success)`` narrows to ``Success[Any, Any]`` (mypy does not
    carry type arguments into a subclass) and a ``match`` ending in ``assert_never`` does not
    type-check. Annotate with the union ``Success[T, E] | Failure[T, E]`` instead when you want
    both: mypy then narrows each branch precisely and checks exhaustiveness. Every producer in
    this module already returns the precise variant (``Result.success`` returns a
    ``Success[T, Never]``, :func:`attempt` and :func:`as_result` return the union), and both
    variants are subtypes of ``Result[T, E]`` (``T`` and ``E`` are covariant), so the same value
    fits either annotation.

``bool(result)`` raises ``TypeError`` so that ``if result:`` cannot silently mean "is a
success"; at type-check time ``Result`` has no ``__bool__``, so mypy's ``truthy-bool`` error code
flags such a test too.
"""

from __future__ import annotations

import inspect
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Never,
    NoReturn,
    ParamSpec,
    Protocol,
    TypeAlias,
    TypeVar,
    cast,
    final,
    overload,
    runtime_checkable,
)

from python_mastery_portfolio._utils import (
    ExceptionSpec,
    exception_matcher,
    is_async_callable,
    qualified_name,
    reject_generator,
)
from python_mastery_portfolio.exceptions import DataProcessingError, UnwrapError

__all__ = [
    "Container",
    "Failure",
    "InMemoryRepository",
    "Pipeline",
    "Repository",
    "Result",
    "Serializable",
    "Success",
    "as_result",
    "attempt",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U = TypeVar("U")
F = TypeVar("F")
R = TypeVar("R")
P = ParamSpec("P")
X = TypeVar("X", bound=BaseException)
X2 = TypeVar("X2", bound=BaseException)
X3 = TypeVar("X3", bound=BaseException)
X_co = TypeVar("X_co", bound=BaseException, covariant=True)


def _frozen(self: object, name: str, value: object = None) -> NoReturn:
    raise AttributeError(f"{type(self).__name__} is immutable; cannot change {name!r}")


class Result(Generic[T_co, E_co]):
    """The outcome of an operation: a :class:`Success` holding a value or a :class:`Failure`.

    ``Result`` itself is never instantiated; build one with :meth:`success` / :meth:`failure`
    (or ``Success(v)`` / ``Failure(e)``). Results are immutable, compare and hash by value, and
    support ``match``: ``case Success(value)`` and ``case Failure(error)``. Functions passed
    to the methods are only called on the variant they apply to.

    Example:
        >>> Result.success(2).map(lambda x: x * 10)
        Success(20)
        >>> Result.failure("boom").map(lambda x: x * 10).unwrap_or(0)
        0
        >>> match Result.success(42):
        ...     case Success(value):
        ...         print("got", value)
        ...     case Failure(error):
        ...         print("failed:", error)
        got 42
    """

    __slots__ = ()

    if TYPE_CHECKING:

        @property
        def value(self) -> T_co | None:
            """The value of a success; ``None`` on a failure."""

        @property
        def error(self) -> E_co | None:
            """The error of a failure; ``None`` on a success."""

    else:
        # Runtime only: hidden from mypy so that ``if result:`` is reported by ``truthy-bool``
        # and attribute assignments stay type errors.
        __setattr__ = _frozen
        __delattr__ = _frozen

        def __bool__(self) -> NoReturn:
            raise TypeError(
                f"the truth value of {type(self).__name__} is ambiguous; "
                "use is_success() or is_failure()"
            )

    def __init__(self) -> None:
        raise TypeError("Result cannot be instantiated; use Result.success() or Result.failure()")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Sealed: equality, pickling and exhaustive matching rely on there being two variants.
        if cls.__module__ != __name__ or cls.__qualname__ not in {"Success", "Failure"}:
            raise TypeError("Result is sealed: its only variants are Success and Failure")
        super().__init_subclass__(**kwargs)

    @staticmethod
    def success(value: U) -> Success[U, Never]:
        """Return a :class:`Success` holding ``value``.

        Example:
            >>> Result.success(3)
            Success(3)
        """
        return Success(value)

    @staticmethod
    def failure(error: F) -> Failure[Never, F]:
        """Return a :class:`Failure` holding ``error``.

        Example:
            >>> Result.failure("Cannot divide by zero")
            Failure('Cannot divide by zero')
        """
        return Failure(error)

    def is_success(self) -> bool:
        """Return whether this is a :class:`Success`."""
        raise NotImplementedError

    def is_failure(self) -> bool:
        """Return whether this is a :class:`Failure`."""
        raise NotImplementedError

    def get_or_raise(self) -> T_co:
        """Return the value, or raise the failure's error.

        Raises:
            BaseException: The failure's error itself (the same object) when it is an exception.
            UnwrapError: When the failure's error is not an exception; ``failure`` holds it.
        """
        raise NotImplementedError

    def unwrap_or(self, default: U) -> T_co | U:
        """Return the value, or ``default`` on a failure."""
        raise NotImplementedError

    def unwrap_or_else(self, fn: Callable[[E_co], U]) -> T_co | U:
        """Return the value, or ``fn(error)`` on a failure."""
        raise NotImplementedError

    def map(self, fn: Callable[[T_co], U]) -> Result[U, E_co]:
        """Return a result holding ``fn(value)``; a failure is returned unchanged."""
        raise NotImplementedError

    def map_error(self, fn: Callable[[E_co], F]) -> Result[T_co, F]:
        """Return a result holding ``fn(error)``; a success is returned unchanged."""
        raise NotImplementedError

    def and_then(self, fn: Callable[[T_co], Result[U, F]]) -> Result[U, E_co | F]:
        """Return ``fn(value)`` (itself a result); a failure is returned unchanged."""
        raise NotImplementedError


@final
class Success(Result[T_co, E_co]):
    """The successful variant of :class:`Result`, holding ``value``.

    Example:
        >>> ok = Success(10)
        >>> ok.value, ok.error, ok.is_success()
        (10, None, True)
        >>> ok.and_then(lambda x: Success(x + 1) if x > 0 else Failure("negative"))
        Success(11)
    """

    __slots__ = ("value",)
    __match_args__ = ("value",)

    if TYPE_CHECKING:

        @property
        def value(self) -> T_co:
            """The value."""

        @property
        def error(self) -> None:
            """Always ``None``."""

        def __new__(cls, value: U) -> Success[U, Never]:
            """Type ``Success(1)`` as ``Success[int, Never]``, not with an unsolved error type.

            mypy asks for an annotation on ``x = Success(1)`` otherwise.
            """

    else:
        error = None

        def __init__(self, value: T_co) -> None:
            _set_success_value(self, value)

    def __repr__(self) -> str:
        return f"Success({self.value!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Success):
            return bool(self.value == other.value)
        if isinstance(other, Failure):
            return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Success, self.value))

    def __reduce__(self) -> tuple[type[Success[T_co, E_co]], tuple[T_co]]:
        return (Success, (self.value,))

    def is_success(self) -> bool:
        """Return ``True``."""
        return True

    def is_failure(self) -> bool:
        """Return ``False``."""
        return False

    def get_or_raise(self) -> T_co:
        """Return the value."""
        return self.value

    def unwrap_or(self, default: object) -> T_co:
        """Return the value; ``default`` is ignored."""
        return self.value

    def unwrap_or_else(self, fn: Callable[[E_co], object]) -> T_co:
        """Return the value; ``fn`` is not called."""
        return self.value

    def map(self, fn: Callable[[T_co], U]) -> Success[U, E_co]:
        """Return ``Success(fn(value))``; an exception ``fn`` raises propagates."""
        return Success(fn(self.value))

    def map_error(self, fn: Callable[[E_co], F]) -> Success[T_co, F]:
        """Return this success unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the error type is phantom on a success

    def and_then(self, fn: Callable[[T_co], Result[U, F]]) -> Result[U, E_co | F]:
        """Return ``fn(value)``."""
        return fn(self.value)


@final
class Failure(Result[T_co, E_co]):
    """The failed variant of :class:`Result`, holding ``error``.

    Example:
        >>> failed = Failure("boom")
        >>> failed.value, failed.error, failed.is_failure()
        (None, 'boom', True)
        >>> failed.map_error(str.upper)
        Failure('BOOM')
        >>> failed.unwrap_or_else(len)
        4
    """

    __slots__ = ("error",)
    __match_args__ = ("error",)

    if TYPE_CHECKING:

        @property
        def value(self) -> None:
            """Always ``None``."""

        @property
        def error(self) -> E_co:
            """The error."""

        def __new__(cls, error: F) -> Failure[Never, F]:
            """Type ``Failure(e)`` as ``Failure[Never, E]`` (see ``Success.__new__``)."""

    else:
        value = None

        def __init__(self, error: E_co) -> None:
            _set_failure_error(self, error)

    def __repr__(self) -> str:
        return f"Failure({self.error!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Failure):
            return bool(self.error == other.error)
        if isinstance(other, Success):
            return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Failure, self.error))

    def __reduce__(self) -> tuple[type[Failure[T_co, E_co]], tuple[E_co]]:
        return (Failure, (self.error,))

    def is_success(self) -> bool:
        """Return ``False``."""
        return False

    def is_failure(self) -> bool:
        """Return ``True``."""
        return True

    def get_or_raise(self) -> NoReturn:
        """Raise the error itself when it is an exception, else an :class:`UnwrapError`.

        Raises:
            BaseException: The error, the very same object, when it is an exception.
            UnwrapError: When the error is not an exception; its ``failure`` holds the error.

        Example:
            >>> Failure("boom").get_or_raise()
            Traceback (most recent call last):
            ...
            python_mastery_portfolio.exceptions.UnwrapError: get_or_raise() on Failure('boom')
        """
        error = self.error
        if isinstance(error, BaseException):
            raise error
        raise UnwrapError(f"get_or_raise() on Failure({error!r})", failure=error)

    def unwrap_or(self, default: U) -> U:
        """Return ``default``."""
        return default

    def unwrap_or_else(self, fn: Callable[[E_co], U]) -> U:
        """Return ``fn(error)``."""
        return fn(self.error)

    def map(self, fn: Callable[[T_co], U]) -> Failure[U, E_co]:
        """Return this failure unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the value type is phantom on a failure

    def map_error(self, fn: Callable[[E_co], F]) -> Failure[T_co, F]:
        """Return ``Failure(fn(error))``; an exception ``fn`` raises propagates."""
        return Failure(fn(self.error))

    def and_then(self, fn: Callable[[T_co], Result[U, F]]) -> Failure[U, E_co]:
        """Return this failure unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the value type is phantom on a failure


# Writing the slots through their descriptors skips the frozen __setattr__ at C speed.
_set_success_value: Callable[[object, object], None] = Success.__dict__["value"].__set__
_set_failure_error: Callable[[object, object], None] = Failure.__dict__["error"].__set__

_Outcome: TypeAlias = Success[T_co, E_co] | Failure[T_co, E_co]
_DEFAULT_EXCEPTIONS: tuple[type[Exception]] = (Exception,)
_match_default = exception_matcher(_DEFAULT_EXCEPTIONS, param="exceptions")


@overload
def attempt(
    fn: Callable[..., R],
    /,
    *args: Any,
    exceptions: type[X] | tuple[type[X], ...],
    **kwargs: Any,
) -> _Outcome[R, X]: ...


@overload
def attempt(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> _Outcome[R, Exception]: ...


def attempt(
    fn: Callable[..., Any],
    /,
    *args: Any,
    exceptions: type[BaseException] | tuple[type[BaseException], ...] = _DEFAULT_EXCEPTIONS,
    **kwargs: Any,
) -> _Outcome[Any, BaseException]:
    """Call ``fn(*args, **kwargs)``; return its value as ``Success`` or its error as ``Failure``.

    Only exceptions of the given types become failures; anything else propagates, and so do
    ``asyncio.CancelledError``, ``KeyboardInterrupt`` and ``SystemExit`` whatever ``exceptions``
    says. The arguments are not checked against ``fn``'s signature by mypy (a keyword-only
    option cannot follow ``ParamSpec`` arguments); use :func:`as_result` for that.

    Args:
        fn: The function to call; it must not be a coroutine function.
        *args: Positional arguments for ``fn``.
        exceptions: An exception type or a tuple of them to capture.
        **kwargs: Keyword arguments for ``fn``.

    Returns:
        ``Success(value)`` or ``Failure(error)``.

    Raises:
        TypeError: If ``exceptions`` is not an exception type or tuple of them, or ``fn``
            returned a coroutine (use ``await`` with :func:`as_result` instead).

    Example:
        >>> attempt(int, "42")
        Success(42)
        >>> attempt(int, "forty-two", exceptions=ValueError)
        Failure(ValueError("invalid literal for int() with base 10: 'forty-two'"))
    """
    if exceptions is _DEFAULT_EXCEPTIONS:
        matches = _match_default
    else:
        matches = _compile_exceptions(exceptions)
    try:
        value = fn(*args, **kwargs)
    except BaseException as error:
        if matches(error):
            return Failure(error)
        raise
    if inspect.iscoroutine(value):
        value.close()  # never awaited: close it so no RuntimeWarning fires later
        raise TypeError(
            f"attempt() called coroutine function {qualified_name(fn)}; "
            "decorate it with @as_result() and await it instead"
        )
    return Success(value)


def _compile_exceptions(spec: object) -> Callable[[BaseException], bool]:
    """Validate an exception type or tuple of them (predicates are not accepted here)."""
    if callable(spec) and not isinstance(spec, type):
        raise TypeError(f"exceptions must be an exception type or a tuple of them, got {spec!r}")
    return exception_matcher(cast("ExceptionSpec", spec), param="exceptions")


class _ResultDecorator(Protocol[X_co]):
    """The decorator :func:`as_result` returns: it keeps the signature, wraps the return."""

    @overload
    def __call__(  # type: ignore[overload-overlap]  # a coroutine function is matched first on purpose
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, Coroutine[Any, Any, _Outcome[R, X_co]]]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, _Outcome[R, X_co]]: ...


@overload
def as_result() -> _ResultDecorator[Exception]: ...


@overload
def as_result(exception: type[X], /) -> _ResultDecorator[X]: ...


@overload
def as_result(exception: type[X], other: type[X2], /) -> _ResultDecorator[X | X2]: ...


@overload
def as_result(
    exception: type[X], other: type[X2], third: type[X3], /
) -> _ResultDecorator[X | X2 | X3]: ...


@overload
def as_result(*exceptions: type[X]) -> _ResultDecorator[X]: ...


def as_result(*exceptions: type[BaseException]) -> _ResultDecorator[BaseException]:
    """Make a function return a ``Result`` instead of raising the given exceptions.

    Works on ``def`` and ``async def`` functions (the wrapper of a coroutine function is a
    coroutine function). With no arguments, any ``Exception`` is captured; fatal exceptions
    (``asyncio.CancelledError``, ``KeyboardInterrupt``, ``SystemExit``) always propagate.

    Args:
        *exceptions: The exception types to capture as a ``Failure``.

    Returns:
        A decorator; the decorated function returns ``Success(value)`` or ``Failure(error)``.

    Raises:
        TypeError: At decoration time, if an argument is not an exception type (for example
            ``@as_result`` written without parentheses) or the function is a generator.

    Example:
        >>> @as_result(ZeroDivisionError)
        ... def inverse(x: float) -> float:
        ...     return 1 / x
        >>> inverse(4)
        Success(0.25)
        >>> inverse(0)
        Failure(ZeroDivisionError('division by zero'))
    """
    only: object = exceptions[0] if len(exceptions) == 1 else None  # run-time check of any input
    if callable(only) and not isinstance(only, type):
        raise TypeError("as_result() takes exception types; write @as_result() with parentheses")
    matches = exception_matcher(exceptions or _DEFAULT_EXCEPTIONS, param="exceptions")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        reject_generator(func, "as_result")
        if is_async_callable(func):

            @wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> _Outcome[Any, BaseException]:
                try:
                    value = await func(*args, **kwargs)
                except BaseException as error:
                    if matches(error):
                        return Failure(error)
                    raise
                return Success(value)

            return async_wrapper

        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> _Outcome[Any, BaseException]:
            try:
                value = func(*args, **kwargs)
            except BaseException as error:
                if matches(error):
                    return Failure(error)
                raise
            return Success(value)

        return wrapper

    return decorate


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

    __slots__ = ("value",)
    __match_args__ = ("value",)

    if TYPE_CHECKING:

        @property
        def value(self) -> T_co:
            """The boxed value."""

    else:
        __setattr__ = _frozen
        __delattr__ = _frozen

    def __init__(self, value: T_co) -> None:
        _set_container_value(self, value)

    def __repr__(self) -> str:
        return f"Container({self.value!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Container):
            return bool(self.value == other.value)
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
        new: Pipeline[Any] = Pipeline.__new__(Pipeline)
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


@runtime_checkable
class Serializable(Protocol):
    """Anything with ``to_dict()``; every :class:`PortfolioError` is one.

    Example:
        >>> from python_mastery_portfolio.exceptions import ValidationError
        >>> isinstance(ValidationError("bad"), Serializable)
        True
    """

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict describing the object."""
        ...


@runtime_checkable
class Repository(Protocol[T]):
    """Storage of entities of type ``T`` by string id (structural: no inheritance needed).

    Example:
        >>> repo: Repository[str] = InMemoryRepository(id_of=str.lower)
        >>> repo.save("Ada"), repo.get("ada"), isinstance(repo, Repository)
        ('ada', 'Ada', True)
    """

    def get(self, entity_id: str, /) -> T | None:
        """Return the entity stored under ``entity_id``, or ``None``."""
        ...

    def save(self, entity: T, /) -> str:
        """Store ``entity`` and return its id."""
        ...

    def delete(self, entity_id: str, /) -> bool:
        """Remove the entity stored under ``entity_id``; return whether there was one."""
        ...


class InMemoryRepository(Generic[T]):
    """A thread-safe :class:`Repository` backed by a dict, for tests and prototypes.

    The id of a saved entity is, in order of preference: ``id_of(entity)`` when ``id_of`` is
    given; ``str(entity.id)`` when the entity has an ``id`` attribute that is not ``None``;
    otherwise a fresh ``uuid4().hex``. Saving under an existing id replaces the entity; an
    entity without an id gets a new record each time it is saved.

    Args:
        id_of: Returns the id (a ``str``) of an entity.

    Raises:
        TypeError: If ``id_of`` is not callable.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class User:
        ...     id: int
        ...     name: str
        >>> repo: InMemoryRepository[User] = InMemoryRepository()
        >>> repo.save(User(1, "ada"))
        '1'
        >>> repo.get("1")
        User(id=1, name='ada')
        >>> repo.delete("1"), repo.delete("1"), len(repo)
        (True, False, 0)
    """

    __slots__ = ("_id_of", "_items", "_lock")

    def __init__(self, *, id_of: Callable[[T], str] | None = None) -> None:
        raw: object = id_of  # checked at run time: callers may pass anything
        if raw is not None and not callable(raw):
            raise TypeError(f"id_of must be callable, got {id_of!r}")
        self._id_of = id_of
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryRepository({len(self)} entities)"

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, entity_id: object) -> bool:
        with self._lock:
            return entity_id in self._items

    def _id_for(self, entity: T) -> str:
        if self._id_of is not None:
            entity_id = self._id_of(entity)
            if not isinstance(entity_id, str):
                raise TypeError(f"id_of must return a str, got {entity_id!r}")
            return entity_id
        attribute = getattr(entity, "id", None)
        return uuid.uuid4().hex if attribute is None else str(attribute)

    def get(self, entity_id: str, /) -> T | None:
        """Return the entity stored under ``entity_id``, or ``None``."""
        with self._lock:
            return self._items.get(entity_id)

    def save(self, entity: T, /) -> str:
        """Store ``entity`` (replacing any entity with the same id) and return its id.

        Raises:
            TypeError: If ``id_of`` returns something other than a ``str``.
        """
        entity_id = self._id_for(entity)
        with self._lock:
            self._items[entity_id] = entity
        return entity_id

    def delete(self, entity_id: str, /) -> bool:
        """Remove the entity stored under ``entity_id``; return whether there was one."""
        with self._lock:
            return self._items.pop(entity_id, _MISSING) is not _MISSING

    def list(self) -> list[T]:
        """Return a snapshot of the stored entities, in insertion order."""
        with self._lock:
            return [*self._items.values()]


_MISSING: Any = object()
