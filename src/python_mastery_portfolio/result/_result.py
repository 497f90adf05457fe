"""The Result type: a :class:`Success` holding a value or a :class:`Failure` holding an error.

Private: :mod:`python_mastery_portfolio.typing_utils` re-exports :class:`Result`,
:class:`Success` and :class:`Failure` and explains how they are typed. The package root names
itself as their ``__module__``, so their reprs, docs and pickles use the public path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Never, NoReturn, TypeVar, final

from python_mastery_portfolio._internal.immutability import refuse_change
from python_mastery_portfolio.exceptions import UnwrapError

__all__ = ["Failure", "Result", "Success"]

T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U = TypeVar("U")
F = TypeVar("F")


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
        __setattr__ = refuse_change
        __delattr__ = refuse_change

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
            python_mastery_portfolio.UnwrapError: get_or_raise() on Failure('boom')
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
