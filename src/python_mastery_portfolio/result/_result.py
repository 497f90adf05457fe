"""The Result type: a :class:`Success` holding a value or a :class:`Failure` holding an error.

Private: :mod:`python_mastery_portfolio.typing_utils` re-exports :class:`Result`,
:class:`Success` and :class:`Failure` and explains how they are typed. The package root names
itself as their ``__module__``, so their reprs, docs and pickles use the public path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Never, NoReturn, Self, TypeVar, final, overload

from python_mastery_portfolio._internal.immutability import refuse_change
from python_mastery_portfolio.exceptions import UnwrapError

__all__ = ["Failure", "Result", "Success"]

T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
if TYPE_CHECKING:
    from typing_extensions import TypeVar as DefaultedTypeVar

    # The phantom side of a variant defaults to Never (PEP 696): with nothing to solve it
    # from, pyright would make it Unknown, so Success(1) is Success[int, Never] in every
    # checker, while a declared ``x: Success[int, str] = Success(1)`` is solved from the
    # declaration. (A PEP 696 default needs every later parameter to have one: FE_co.)
    SE_co = DefaultedTypeVar("SE_co", covariant=True, default=Never)
    FT_co = DefaultedTypeVar("FT_co", covariant=True, default=Never)
    FE_co = DefaultedTypeVar("FE_co", covariant=True, default=Never)
else:
    SE_co = TypeVar("SE_co", covariant=True)
    FT_co = TypeVar("FT_co", covariant=True)
    FE_co = TypeVar("FE_co", covariant=True)
U = TypeVar("U")
F = TypeVar("F")
G = TypeVar("G")
V = TypeVar("V")


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
            ...

        @property
        def error(self) -> E_co | None:
            """The error of a failure; ``None`` on a success."""
            ...

    else:
        # Runtime only: hidden from mypy so that ``if result:`` is reported by ``truthy-bool``
        # and attribute assignments stay type errors.
        __setattr__ = refuse_change
        __delattr__ = refuse_change

        # Also runtime only: type checkers then build Success/Failure through their __new__.
        def __init__(self) -> None:
            raise TypeError(
                "Result cannot be instantiated; use Result.success() or Result.failure()"
            )

        def __bool__(self) -> NoReturn:
            raise TypeError(
                f"the truth value of {type(self).__name__} is ambiguous; "
                "use is_success() or is_failure()"
            )

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

    def unwrap(self) -> T_co:
        """Return the value, or raise the failure's error: the same as :meth:`get_or_raise`.

        Raises:
            BaseException: The failure's error itself (the same object) when it is an exception.
            UnwrapError: When the failure's error is not an exception; ``failure`` holds it.

        Example:
            >>> Result.success(3).unwrap()
            3
        """
        raise NotImplementedError

    def unwrap_err(self) -> E_co:
        """Return the error of a failure; on a success raise :class:`UnwrapError`.

        Raises:
            UnwrapError: On a success; the message shows its value.

        Example:
            >>> Result.failure("boom").unwrap_err()
            'boom'
        """
        raise NotImplementedError

    def expect(self, message: str) -> T_co:
        """Return the value; on a failure raise :class:`UnwrapError` with ``message``.

        Unlike :meth:`unwrap`, a failure's exception is never raised itself: it becomes the
        ``__cause__`` of the :class:`UnwrapError`, whose text is ``"<message>: <error!r>"``.

        Args:
            message: What was expected, the start of the error's text.

        Raises:
            UnwrapError: On a failure; ``failure`` holds its error.

        Example:
            >>> Result.failure("no such user").expect("user 7 exists")
            Traceback (most recent call last):
            ...
            python_mastery_portfolio.UnwrapError: user 7 exists: 'no such user'
        """
        raise NotImplementedError

    def expect_err(self, message: str) -> E_co:
        """Return the error of a failure; on a success raise :class:`UnwrapError` with ``message``.

        Args:
            message: What was expected, the start of the error's text (``"<message>: <value!r>"``).

        Raises:
            UnwrapError: On a success.

        Example:
            >>> Result.failure("boom").expect_err("the call fails")
            'boom'
        """
        raise NotImplementedError

    def ok(self) -> T_co | None:
        """Return the value of a success, or ``None`` on a failure.

        ``None`` is ambiguous when a success may hold ``None``; :meth:`is_success` is not.

        Example:
            >>> Result.success(1).ok(), Result.failure("e").ok()
            (1, None)
        """
        raise NotImplementedError

    def err(self) -> E_co | None:
        """Return the error of a failure, or ``None`` on a success.

        Example:
            >>> Result.success(1).err(), Result.failure("e").err()
            (None, 'e')
        """
        raise NotImplementedError

    def or_else(self, fn: Callable[[E_co], Result[U, F]]) -> Result[T_co | U, F]:
        """Return ``fn(error)`` (itself a result) on a failure; a success is returned unchanged.

        The mirror of :meth:`and_then`: it recovers from a failure, or replaces its error.

        Example:
            >>> Result.failure("cache miss").or_else(lambda e: Success(0))
            Success(0)
            >>> Result.success(5).or_else(lambda e: Success(0))
            Success(5)
        """
        raise NotImplementedError

    def map_or(self, default: U, fn: Callable[[T_co], V]) -> U | V:
        """Return ``fn(value)`` on a success, or ``default`` on a failure.

        Example:
            >>> Result.success("ann").map_or(0, len), Result.failure("e").map_or(0, len)
            (3, 0)
        """
        raise NotImplementedError

    def map_or_else(self, default_fn: Callable[[], U], fn: Callable[[T_co], V]) -> U | V:
        """Return ``fn(value)`` on a success, or ``default_fn()`` on a failure.

        ``default_fn`` takes no argument, as in rustedpy/result; use :meth:`unwrap_or_else`
        after :meth:`map` to compute the default from the error.

        Example:
            >>> Result.failure("e").map_or_else(lambda: -1, len)
            -1
        """
        raise NotImplementedError

    def inspect(self, fn: Callable[[T_co], object]) -> Self:
        """Call ``fn(value)`` on a success, for its side effect; return this result unchanged.

        Example:
            >>> Result.success(2).inspect(print).map(lambda x: x * 10)
            2
            Success(20)
        """
        raise NotImplementedError

    def inspect_err(self, fn: Callable[[E_co], object]) -> Self:
        """Call ``fn(error)`` on a failure, for its side effect; return this result unchanged.

        Example:
            >>> Result.failure("boom").inspect_err(print).unwrap_or(0)
            boom
            0
        """
        raise NotImplementedError

    # The overloads spell out the Never cases: pyright makes a side it matched only against
    # Never Unknown (Failure("e")), and F | G Unknown when both are Never (Success(Success(1))).
    @overload
    def flatten(self: Result[Never, G]) -> Result[Never, G]: ...

    @overload
    def flatten(self: Result[Result[U, F], Never]) -> Result[U, F]: ...

    @overload
    def flatten(self: Result[Result[U, F], G]) -> Result[U, F | G]: ...

    def flatten(self: Result[Result[U, F], G]) -> Result[U, F | G]:
        """Remove one level of nesting: a success's inner result, or this failure unchanged.

        Only one level goes: ``Success(Success(Success(1)))`` becomes ``Success(Success(1))``,
        and a failure holding a result stays as it is (returns does the same).

        Raises:
            TypeError: When a success does not hold a result (mypy reports this call too).

        Example:
            >>> Success(Success(1)).flatten(), Success(Failure("e")).flatten()
            (Success(1), Failure('e'))
        """
        raise NotImplementedError

    async def amap(self, fn: Callable[[T_co], Awaitable[U]]) -> Result[U, E_co]:
        """Return a result holding ``await fn(value)``; a failure is returned unchanged.

        Example:
            >>> import asyncio
            >>> async def double(x: int) -> int:
            ...     return x * 2
            >>> asyncio.run(Result.success(4).amap(double))
            Success(8)
        """
        raise NotImplementedError

    async def aand_then(self, fn: Callable[[T_co], Awaitable[Result[U, F]]]) -> Result[U, E_co | F]:
        """Return ``await fn(value)`` (itself a result); a failure is returned unchanged.

        Example:
            >>> import asyncio
            >>> async def positive(x: int) -> Result[int, str]:
            ...     return Success(x) if x > 0 else Failure("not positive")
            >>> asyncio.run(Result.success(-1).aand_then(positive))
            Failure('not positive')
        """
        raise NotImplementedError

    async def aor_else(self, fn: Callable[[E_co], Awaitable[Result[U, F]]]) -> Result[T_co | U, F]:
        """Return ``await fn(error)`` (itself a result); a success is returned unchanged.

        Example:
            >>> import asyncio
            >>> async def retry(error: str) -> Result[int, str]:
            ...     return Success(0)
            >>> asyncio.run(Result.failure("timeout").aor_else(retry))
            Success(0)
        """
        raise NotImplementedError


@final
class Success(Result[T_co, SE_co]):
    """The successful variant of :class:`Result`, holding ``value``.

    Example:
        >>> ok = Success(10)
        >>> ok.value, ok.error, ok.is_success()
        (10, None, True)
        >>> ok.and_then(lambda x: Success(x + 1) if x > 0 else Failure("negative"))
        Success(11)
    """

    __match_args__ = ("value",)

    if TYPE_CHECKING:
        # pyright types a slot's name as an instance variable (here: the property object), so
        # the slot is declared at run time only.

        @property
        def value(self) -> T_co:
            """The value."""
            ...

        @property
        def error(self) -> None:
            """Always ``None``."""
            ...

        def __init__(self, value: T_co) -> None:
            """Hold ``value``; the error type comes from the context, else ``Never``."""
            ...

    else:
        __slots__ = ("value",)
        error = None

        def __init__(self, value: T_co) -> None:
            _set_success_value(self, value)

    def __repr__(self) -> str:
        return f"Success({self.value!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Success):
            # isinstance() on an object leaves the type arguments unknown; any value compares
            return bool(self.value == other.value)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        if isinstance(other, Failure):
            return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Success, self.value))

    def __reduce__(self) -> tuple[type[Success[T_co, SE_co]], tuple[T_co]]:
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

    def unwrap_or_else(self, fn: Callable[[SE_co], object]) -> T_co:
        """Return the value; ``fn`` is not called."""
        return self.value

    def map(self, fn: Callable[[T_co], U]) -> Success[U, SE_co]:
        """Return ``Success(fn(value))``; an exception ``fn`` raises propagates."""
        return Success(fn(self.value))

    def map_error(self, fn: Callable[[SE_co], F]) -> Success[T_co, F]:
        """Return this success unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the error type is phantom on a success

    def and_then(self, fn: Callable[[T_co], Result[U, F]]) -> Result[U, SE_co | F]:
        """Return ``fn(value)``."""
        return fn(self.value)

    def unwrap(self) -> T_co:
        """Return the value."""
        return self.value

    def unwrap_err(self) -> NoReturn:
        """Raise an :class:`UnwrapError`: a success holds no error."""
        raise UnwrapError(f"unwrap_err() on Success({self.value!r})")

    def expect(self, message: str) -> T_co:
        """Return the value; ``message`` is not used."""
        return self.value

    def expect_err(self, message: str) -> NoReturn:
        """Raise an :class:`UnwrapError` whose text is ``"<message>: <value!r>"``."""
        raise UnwrapError(f"{message}: {self.value!r}")

    def ok(self) -> T_co:
        """Return the value."""
        return self.value

    def err(self) -> None:
        """Return ``None``."""

    def or_else(self, fn: Callable[[SE_co], Result[U, F]]) -> Success[T_co, F]:
        """Return this success unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the error type is phantom on a success

    def map_or(self, default: object, fn: Callable[[T_co], V]) -> V:
        """Return ``fn(value)``; ``default`` is ignored."""
        return fn(self.value)

    def map_or_else(self, default_fn: Callable[[], object], fn: Callable[[T_co], V]) -> V:
        """Return ``fn(value)``; ``default_fn`` is not called."""
        return fn(self.value)

    def inspect(self, fn: Callable[[T_co], object]) -> Self:
        """Call ``fn(value)`` and return this success; an exception ``fn`` raises propagates."""
        fn(self.value)
        return self

    def inspect_err(self, fn: Callable[[SE_co], object]) -> Self:
        """Return this success; ``fn`` is not called."""
        return self

    @overload
    def flatten(self: Success[Result[U, F], Never]) -> Result[U, F]: ...

    @overload
    def flatten(self: Success[Result[U, F], G]) -> Result[U, F | G]: ...

    def flatten(self: Success[Result[U, F], G]) -> Result[U, F | G]:
        """Return the result this success holds."""
        inner = self.value
        if isinstance(inner, Result):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            return inner
        raise TypeError(f"flatten() needs a Success holding a Result, got Success({inner!r})")

    async def amap(self, fn: Callable[[T_co], Awaitable[U]]) -> Success[U, SE_co]:
        """Return ``Success(await fn(value))``; an exception ``fn`` raises propagates."""
        return Success(await fn(self.value))

    async def aand_then(
        self, fn: Callable[[T_co], Awaitable[Result[U, F]]]
    ) -> Result[U, SE_co | F]:
        """Return ``await fn(value)``."""
        return await fn(self.value)

    async def aor_else(self, fn: Callable[[SE_co], Awaitable[Result[U, F]]]) -> Success[T_co, F]:
        """Return this success unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the error type is phantom on a success


@final
class Failure(Result[FT_co, FE_co]):
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

    __match_args__ = ("error",)

    if TYPE_CHECKING:
        # pyright types a slot's name as an instance variable (here: the property object), so
        # the slot is declared at run time only.

        @property
        def value(self) -> None:
            """Always ``None``."""
            ...

        @property
        def error(self) -> FE_co:
            """The error."""
            ...

        def __init__(self, error: FE_co) -> None:
            """Hold ``error``; the value type comes from the context, else ``Never``."""
            ...

    else:
        __slots__ = ("error",)
        value = None

        def __init__(self, error: FE_co) -> None:
            _set_failure_error(self, error)

    def __repr__(self) -> str:
        return f"Failure({self.error!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Failure):
            # isinstance() on an object leaves the type arguments unknown; any value compares
            return bool(self.error == other.error)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        if isinstance(other, Success):
            return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Failure, self.error))

    def __reduce__(self) -> tuple[type[Failure[FT_co, FE_co]], tuple[FE_co]]:
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
        self._raise("get_or_raise()")

    def _raise(self, method: str) -> NoReturn:
        # get_or_raise() and unwrap() are one behaviour; the message names the one called.
        error = self.error
        if isinstance(error, BaseException):
            raise error
        raise UnwrapError(f"{method} on Failure({error!r})", failure=error)

    def unwrap_or(self, default: U) -> U:
        """Return ``default``."""
        return default

    def unwrap_or_else(self, fn: Callable[[FE_co], U]) -> U:
        """Return ``fn(error)``."""
        return fn(self.error)

    def map(self, fn: Callable[[FT_co], U]) -> Failure[U, FE_co]:
        """Return this failure unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the value type is phantom on a failure

    def map_error(self, fn: Callable[[FE_co], F]) -> Failure[FT_co, F]:
        """Return ``Failure(fn(error))``; an exception ``fn`` raises propagates."""
        return Failure(fn(self.error))

    def and_then(self, fn: Callable[[FT_co], Result[U, F]]) -> Failure[U, FE_co]:
        """Return this failure unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the value type is phantom on a failure

    def unwrap(self) -> NoReturn:
        """Raise the error itself when it is an exception, else an :class:`UnwrapError`."""
        self._raise("unwrap()")

    def unwrap_err(self) -> FE_co:
        """Return the error."""
        return self.error

    def expect(self, message: str) -> NoReturn:
        """Raise an :class:`UnwrapError` whose text is ``"<message>: <error!r>"``.

        The error, when it is an exception, becomes the ``__cause__``.
        """
        error = self.error
        unwrap_error = UnwrapError(f"{message}: {error!r}", failure=error)
        if isinstance(error, BaseException):
            raise unwrap_error from error
        raise unwrap_error

    def expect_err(self, message: str) -> FE_co:
        """Return the error; ``message`` is not used."""
        return self.error

    def ok(self) -> None:
        """Return ``None``."""

    def err(self) -> FE_co:
        """Return the error."""
        return self.error

    def or_else(self, fn: Callable[[FE_co], Result[U, F]]) -> Result[FT_co | U, F]:
        """Return ``fn(error)``."""
        return fn(self.error)

    def map_or(self, default: U, fn: Callable[[FT_co], object]) -> U:
        """Return ``default``; ``fn`` is not called."""
        return default

    def map_or_else(self, default_fn: Callable[[], U], fn: Callable[[FT_co], object]) -> U:
        """Return ``default_fn()``; ``fn`` is not called."""
        return default_fn()

    def inspect(self, fn: Callable[[FT_co], object]) -> Self:
        """Return this failure; ``fn`` is not called."""
        return self

    def inspect_err(self, fn: Callable[[FE_co], object]) -> Self:
        """Call ``fn(error)`` and return this failure; an exception ``fn`` raises propagates."""
        fn(self.error)
        return self

    @overload
    def flatten(self: Failure[Never, G]) -> Failure[Never, G]: ...

    @overload
    def flatten(self: Failure[Result[U, F], Never]) -> Failure[U, F]: ...

    @overload
    def flatten(self: Failure[Result[U, F], G]) -> Failure[U, F | G]: ...

    def flatten(self: Failure[Result[U, F], G]) -> Failure[U, F | G]:
        """Return this failure unchanged."""
        return self  # type: ignore[return-value]  # the value type is phantom on a failure

    async def amap(self, fn: Callable[[FT_co], Awaitable[U]]) -> Failure[U, FE_co]:
        """Return this failure unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the value type is phantom on a failure

    async def aand_then(self, fn: Callable[[FT_co], Awaitable[Result[U, F]]]) -> Failure[U, FE_co]:
        """Return this failure unchanged; ``fn`` is not called."""
        return self  # type: ignore[return-value]  # the value type is phantom on a failure

    async def aor_else(
        self, fn: Callable[[FE_co], Awaitable[Result[U, F]]]
    ) -> Result[FT_co | U, F]:
        """Return ``await fn(error)``."""
        return await fn(self.error)


# Writing the slots through their descriptors skips the frozen __setattr__ at C speed.
_set_success_value: Callable[[object, object], None] = Success.__dict__["value"].__set__
_set_failure_error: Callable[[object, object], None] = Failure.__dict__["error"].__set__
