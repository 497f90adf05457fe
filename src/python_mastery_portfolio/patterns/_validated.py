"""Validated attributes: a descriptor base and ready validators that compose with ``&``.

Design: every validator *is* a descriptor. :class:`Validated` checks a value with
:meth:`~Validated.is_valid` and stores it on the instance; the ready ones (:class:`Email`,
:class:`Range`, :class:`Length`, :class:`OneOf`, :class:`Matches`, :class:`InstanceOf`)
subclass it, and ``a & b`` builds an :class:`AllOf` descriptor that checks ``a`` then ``b``
and raises the first failure's error. The value lives on the instance, never in the
descriptor (the seed's version kept a class-level dict keyed by ``id(obj)``, which leaked every
instance and gave a dead object's value to a new object that reused its id):

- in the instance's ``__dict__``, under the attribute's own name (``vars(user)`` shows it; the
  descriptor, a data descriptor, still handles every read and write);
- or, when the class has ``__slots__`` and no ``__dict__``, in the slot named ``_<name>``:
  declare ``__slots__ = ("_email",)`` for ``email = Email()``.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Sized
from typing import Any, Generic, Protocol, Self, TypeVar, overload

from python_mastery_portfolio.exceptions import ValidationError

__all__ = [
    "AllOf",
    "Email",
    "InstanceOf",
    "Length",
    "Matches",
    "OneOf",
    "Range",
    "Validated",
]

T = TypeVar("T")
S = TypeVar("S", bound=Sized)


class _Comparable(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


C = TypeVar("C", bound=_Comparable)

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _label(field: str) -> str:
    """Turn a field name into the start of a sentence: ``max_retries`` -> ``Max retries``."""
    text = field.strip("_").replace("_", " ") or field
    return text[:1].upper() + text[1:]


class Validated(Generic[T]):
    """A descriptor that validates each value assigned to the attribute and stores it.

    Subclass it and override :meth:`is_valid` (and :meth:`default_message`), or pass a
    ``check`` predicate, the seed's ``ValidatedProperty(validator, error_msg)`` form. A value
    that fails raises :class:`~python_mastery_portfolio.ValidationError` with ``field`` (the
    attribute's name), ``value`` and ``message`` (or the default message). Reading an attribute
    never set raises ``AttributeError`` naming it. See the module docstring for where values
    are stored (``__dict__``, or the slot ``_<name>``).

    Args:
        check: A predicate the value must satisfy, on top of :meth:`is_valid`.
        message: The error message; defaults to :meth:`default_message`.

    Example:
        >>> from python_mastery_portfolio import ValidationError
        >>> from python_mastery_portfolio.patterns import Validated
        >>> class Point:
        ...     x = Validated[int](lambda v: isinstance(v, int), message="x must be an int")
        >>> point = Point()
        >>> point.x = 3
        >>> point.x
        3
        >>> try:
        ...     point.x = "3"
        ... except ValidationError as error:
        ...     print(error, error.field, repr(error.value))
        x must be an int x '3'
    """

    name: str
    """The attribute's name, set when the owning class is created."""

    def __init__(
        self, check: Callable[[Any], bool] | None = None, *, message: str | None = None
    ) -> None:
        if check is not None and not callable(check):
            raise TypeError(f"check must be callable, got {check!r}")
        if message is not None and not isinstance(message, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"message must be a str, got {message!r}")
        self.check = check
        self.message = message
        self.name = ""
        self._slot: Any = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        for klass in owner.__mro__:
            slot = klass.__dict__.get(f"_{name}")
            if isinstance(slot, types.MemberDescriptorType):
                self._slot = slot
                break

    def is_valid(self, value: Any) -> bool:
        """Return whether ``value`` is acceptable; the base accepts what ``check`` accepts."""
        return self.check is None or bool(self.check(value))

    def default_message(self, field: str) -> str:
        """Return the error message used when none was given."""
        return f"Invalid {field.replace('_', ' ')}"

    def validate(self, value: Any, field: str | None = None) -> T:
        """Return ``value`` if it is valid, else raise ``ValidationError``.

        Args:
            value: The value to check.
            field: The name reported in the error; defaults to the attribute's name.

        Returns:
            ``value`` itself.

        Raises:
            ValidationError: If ``value`` is not valid.

        Example:
            >>> from python_mastery_portfolio.patterns import Range
            >>> Range(0, 10).validate(5)
            5
        """
        field = field or self.name or "value"
        try:
            valid = self.is_valid(value)
        except (TypeError, ValueError):
            valid = False  # e.g. comparing a str with an int bound: not an acceptable value
        if not valid:
            message = self.message or self.default_message(field)
            raise ValidationError(message, field=field, value=value)
        return value  # type: ignore[no-any-return]  # checked: value is acceptable as a T

    def __and__(self, other: Validated[Any]) -> AllOf[T]:
        """Combine two validators: the result checks ``self``, then ``other``."""
        if not isinstance(other, Validated):  # pyright: ignore[reportUnnecessaryIsInstance]  # `v & x` with any x
            return NotImplemented
        return AllOf(self, other)

    @overload
    def __get__(self, obj: None, objtype: type[Any] | None = None) -> Self: ...

    @overload
    def __get__(self, obj: object, objtype: type[Any] | None = None) -> T: ...

    def __get__(self, obj: object | None, objtype: type[Any] | None = None) -> Self | T:
        if obj is None:
            return self
        try:
            if self._slot is not None:
                return self._slot.__get__(obj, objtype)  # type: ignore[no-any-return]  # ours
            return obj.__dict__[self.name]  # type: ignore[no-any-return]  # stored by __set__
        except (KeyError, AttributeError):
            raise AttributeError(
                f"{type(obj).__name__!r} object has no attribute {self.name!r} (never set)",
                name=self.name,
                obj=obj,
            ) from None

    def __set__(self, obj: object, value: T) -> None:
        value = self.validate(value)
        if self._slot is not None:
            self._slot.__set__(obj, value)
            return
        try:
            namespace = obj.__dict__
        except AttributeError:
            raise TypeError(
                f"{type(obj).__name__} has __slots__ and no __dict__: add the slot "
                f"'_{self.name}' to store the validated attribute {self.name!r}"
            ) from None
        namespace[self.name] = value

    def __delete__(self, obj: object) -> None:
        self.__get__(obj)  # raises AttributeError naming the attribute when it is not set
        if self._slot is not None:
            self._slot.__delete__(obj)
        else:
            del obj.__dict__[self.name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    def _describe(self) -> str:
        return "" if self.message is None else f"message={self.message!r}"


class AllOf(Validated[T]):
    """A validator that applies several validators in order; built by ``a & b``.

    The first validator that rejects the value raises its error (its message, or its
    default message for this attribute). The type is the first validator's.

    Args:
        first: The first validator.
        *others: The validators applied after it.
        message: One error message for every failure, replacing the parts' messages.

    Example:
        >>> from python_mastery_portfolio.patterns import Email, Length
        >>> contact = Email() & Length(max=20)
        >>> contact
        AllOf(Email(), Length(max=20))
        >>> contact.validate("a@example.com")
        'a@example.com'
    """

    def __init__(
        self, first: Validated[T], *others: Validated[Any], message: str | None = None
    ) -> None:
        super().__init__(message=message)
        parts: list[Validated[Any]] = []
        for part in (first, *others):
            if not isinstance(part, Validated):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
                raise TypeError(f"AllOf combines Validated descriptors, got {part!r}")
            # (a & b) & c is flat: one list of parts, one error per failure.
            parts.extend(part.parts if isinstance(part, AllOf) and part.message is None else [part])
        self.parts: tuple[Validated[Any], ...] = tuple(parts)

    def validate(self, value: Any, field: str | None = None) -> T:
        """Return ``value`` if every part accepts it, else raise the first part's error."""
        field = field or self.name or "value"
        try:
            for part in self.parts:
                part.validate(value, field)
        except ValidationError:
            if self.message is None:
                raise
            raise ValidationError(self.message, field=field, value=value) from None
        return value  # type: ignore[no-any-return]  # every part accepted it

    def _describe(self) -> str:
        return ", ".join([*map(repr, self.parts), *filter(None, [super()._describe()])])


class Email(Validated[str]):
    """A validated ``str`` that looks like an e-mail address (``local@domain.tld``).

    Default message: ``"Invalid email format"`` (the seed's).

    Args:
        message: The error message.

    Example:
        >>> from python_mastery_portfolio.patterns import Email
        >>> class User:
        ...     email = Email()
        >>> user = User()
        >>> user.email = "ada@example.com"
        >>> user.email
        'ada@example.com'
    """

    def __init__(self, *, message: str | None = None) -> None:
        super().__init__(message=message)

    def is_valid(self, value: Any) -> bool:
        """Return whether ``value`` is a str shaped like an e-mail address."""
        return isinstance(value, str) and _EMAIL.fullmatch(value) is not None

    def default_message(self, field: str) -> str:
        """Return ``"Invalid email format"``."""
        return "Invalid email format"


class InstanceOf(Validated[T]):
    """A validated value of a given type (``bool`` is refused where ``int`` is asked).

    Args:
        kind: The type the value must be an instance of.
        message: The error message; defaults to ``"<Field> must be <kind>"``.

    Example:
        >>> from python_mastery_portfolio.patterns import InstanceOf
        >>> InstanceOf(int).validate(3)
        3
    """

    def __init__(self, kind: type[T], *, message: str | None = None) -> None:
        if not isinstance(kind, type):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"kind must be a type, got {kind!r}")
        super().__init__(message=message)
        self.kind = kind

    def is_valid(self, value: Any) -> bool:
        """Return whether ``value`` is an instance of the type (and not a bool for int)."""
        if isinstance(value, bool) and not issubclass(self.kind, bool):
            return self.kind is object
        return isinstance(value, self.kind)

    def default_message(self, field: str) -> str:
        """Return ``"<Field> must be <kind>"``."""
        return f"{_label(field)} must be {self.kind.__name__}"

    def _describe(self) -> str:
        return ", ".join(filter(None, [self.kind.__name__, super()._describe()]))


def _bounds_message(field: str, low: object, high: object, unit: str) -> str:
    """Return ``"<Field> must be between <low> and <high><unit>"`` (or at least / at most)."""
    if high is None:
        return f"{_label(field)} must be at least {low}{unit}"
    if low is None:
        return f"{_label(field)} must be at most {high}{unit}"
    return f"{_label(field)} must be between {low} and {high}{unit}"


def _bounds(low: object, high: object) -> str:
    """Return ``"min=..., max=..."`` for the bounds that are set."""
    return ", ".join(
        f"{key}={bound!r}" for key, bound in (("min", low), ("max", high)) if bound is not None
    )


class Range(Validated[C]):
    """A validated value between ``min`` and ``max``, both inclusive (either may be omitted).

    Values that cannot be compared with the bounds (``"25"`` against ``0``) are invalid. The
    range checks order, not type: combine with :class:`InstanceOf` (``InstanceOf(int) &
    Range(0, 150)``) to refuse a ``float`` too.

    Args:
        min: The smallest acceptable value.
        max: The largest acceptable value.
        message: The error message; defaults to ``"<Field> must be between <min> and <max>"``
            (or ``at least`` / ``at most``), so ``age = Range(0, 150)`` says the seed's
            ``"Age must be between 0 and 150"``.

    Raises:
        ValueError: If both bounds are omitted, or ``min`` is greater than ``max``.

    Example:
        >>> from python_mastery_portfolio.patterns import Range
        >>> Range(0, 150).validate(25)
        25
    """

    def __init__(
        self,
        min: C | None = None,  # noqa: A002 - the natural keyword: Range(min=0)
        max: C | None = None,  # noqa: A002 - the natural keyword: Range(max=150)
        *,
        message: str | None = None,
    ) -> None:
        if min is None and max is None:
            raise ValueError("Range needs min, max or both")
        if min is not None and max is not None and max < min:
            raise ValueError(f"Range min must not exceed max, got min={min!r}, max={max!r}")
        super().__init__(message=message)
        self.min = min
        self.max = max

    def is_valid(self, value: Any) -> bool:
        """Return whether ``min <= value <= max``."""
        return (self.min is None or not value < self.min) and (
            self.max is None or not self.max < value
        )

    def default_message(self, field: str) -> str:
        """Return ``"<Field> must be between <min> and <max>"`` (or at least / at most)."""
        return _bounds_message(field, self.min, self.max, "")

    def _describe(self) -> str:
        return ", ".join(filter(None, [_bounds(self.min, self.max), super()._describe()]))


class Length(Validated[S]):
    """A validated sized value (a ``str``, a list, ...) whose ``len`` is within bounds.

    Standalone, give the type: ``name = Length[str](max=50)``; combined, the left operand
    gives it (``Email() & Length(max=254)`` is a ``str`` attribute).

    Args:
        min: The smallest acceptable length.
        max: The largest acceptable length.
        message: The error message; defaults to
            ``"<Field> must be between <min> and <max> characters long"`` (or at least /
            at most).

    Raises:
        ValueError: If both bounds are omitted, a bound is negative, or ``min > max``.
        TypeError: If a bound is not an int.

    Example:
        >>> from python_mastery_portfolio.patterns import Length
        >>> Length[str](min=1, max=5).validate("abc")
        'abc'
    """

    def __init__(
        self,
        min: int | None = None,  # noqa: A002 - the natural keyword: Length(min=1)
        max: int | None = None,  # noqa: A002 - the natural keyword: Length(max=254)
        *,
        message: str | None = None,
    ) -> None:
        for key, bound in (("min", min), ("max", max)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
                raise TypeError(f"Length {key} must be an int, got {bound!r}")
            if bound is not None and bound < 0:
                raise ValueError(f"Length {key} must not be negative, got {bound!r}")
        if min is None and max is None:
            raise ValueError("Length needs min, max or both")
        if min is not None and max is not None and max < min:
            raise ValueError(f"Length min must not exceed max, got min={min!r}, max={max!r}")
        super().__init__(message=message)
        self.min = min
        self.max = max

    def is_valid(self, value: Any) -> bool:
        """Return whether ``min <= len(value) <= max``."""
        size = len(value)
        return (self.min is None or size >= self.min) and (self.max is None or size <= self.max)

    def default_message(self, field: str) -> str:
        """Return ``"<Field> must be between <min> and <max> characters long"`` or similar."""
        return _bounds_message(field, self.min, self.max, " characters long")

    def _describe(self) -> str:
        return ", ".join(filter(None, [_bounds(self.min, self.max), super()._describe()]))


class OneOf(Validated[T]):
    """A validated value equal to one of the given values.

    Args:
        *values: The acceptable values.
        message: The error message; defaults to ``"<Field> must be one of <values>"``.

    Raises:
        ValueError: If no value is given.

    Example:
        >>> from python_mastery_portfolio.patterns import OneOf
        >>> OneOf("admin", "user").validate("user")
        'user'
    """

    def __init__(self, *values: T, message: str | None = None) -> None:
        if not values:
            raise ValueError("OneOf needs at least one value")
        super().__init__(message=message)
        self.values = values

    def is_valid(self, value: Any) -> bool:
        """Return whether ``value`` equals one of the values."""
        return any(value == choice for choice in self.values)

    def default_message(self, field: str) -> str:
        """Return ``"<Field> must be one of <values>"``."""
        return f"{_label(field)} must be one of {', '.join(map(repr, self.values))}"

    def _describe(self) -> str:
        return ", ".join([*map(repr, self.values), *filter(None, [super()._describe()])])


class Matches(Validated[str]):
    """A validated ``str`` that matches a regular expression in full.

    Args:
        pattern: The regular expression (a str or a compiled pattern).
        message: The error message; defaults to ``"<Field> must match <pattern>"``.

    Raises:
        TypeError: If ``pattern`` is neither a str nor a compiled str pattern.
        re.error: If ``pattern`` is not a valid regular expression.

    Example:
        >>> from python_mastery_portfolio.patterns import Matches
        >>> Matches(r"[a-z]+").validate("slug")
        'slug'
    """

    def __init__(self, pattern: str | re.Pattern[str], *, message: str | None = None) -> None:
        given: object = pattern  # checked at run time: callers may pass anything
        if isinstance(pattern, str):
            pattern = re.compile(pattern)
        elif not isinstance(given, re.Pattern) or not isinstance(given.pattern, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"pattern must be a str or a compiled str pattern, got {pattern!r}")
        super().__init__(message=message)
        self.pattern = pattern

    def is_valid(self, value: Any) -> bool:
        """Return whether ``value`` is a str the pattern matches in full."""
        return isinstance(value, str) and self.pattern.fullmatch(value) is not None

    def default_message(self, field: str) -> str:
        """Return ``"<Field> must match <pattern>"``."""
        return f"{_label(field)} must match {self.pattern.pattern!r}"

    def _describe(self) -> str:
        return ", ".join(filter(None, [repr(self.pattern.pattern), super()._describe()]))
