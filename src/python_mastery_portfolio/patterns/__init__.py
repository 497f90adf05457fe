"""Class-level patterns: singleton, class logging, validated descriptors, registries.

- :func:`singleton` makes a class build one instance, once, even under thread races, and
  keeps it a class (``isinstance``, subclassing, type checkers); :func:`reset_singleton` is
  for tests.
- :func:`add_logging` times every public method of a class with
  :func:`~python_mastery_portfolio.timed`, logging under the class's module logger.
- :class:`Validated` is a descriptor base that validates each assignment and stores the value
  on the instance; :class:`Email`, :class:`Range`, :class:`Length`, :class:`OneOf`,
  :class:`Matches` and :class:`InstanceOf` are ready, and ``a & b`` (:class:`AllOf`) combines
  them. A bad value raises :class:`~python_mastery_portfolio.ValidationError`.
- :class:`Registry` maps names (strings, enum members) to plugins and factories, filled by
  :class:`Registered` subclasses (no metaclass: ABCs work), a decorator or entry points.

Example:
    >>> from python_mastery_portfolio.patterns import Email, Range, singleton
    >>> @singleton
    ... class Config:
    ...     pass
    >>> Config() is Config()
    True
    >>> class User:
    ...     email = Email()
    ...     age = Range(0, 150)
    ...     def __init__(self, email: str, age: int) -> None:
    ...         self.email = email
    ...         self.age = age
    >>> User("test@example.com", 25).age
    25
"""

from __future__ import annotations

from python_mastery_portfolio.exceptions import DuplicateRegistrationError, NotRegisteredError
from python_mastery_portfolio.patterns._class_logging import add_logging
from python_mastery_portfolio.patterns._registry import Registered, Registry
from python_mastery_portfolio.patterns._singleton import reset_singleton, singleton
from python_mastery_portfolio.patterns._validated import (
    AllOf,
    Email,
    InstanceOf,
    Length,
    Matches,
    OneOf,
    Range,
    Validated,
)

__all__ = [
    "AllOf",
    "DuplicateRegistrationError",
    "Email",
    "InstanceOf",
    "Length",
    "Matches",
    "NotRegisteredError",
    "OneOf",
    "Range",
    "Registered",
    "Registry",
    "Validated",
    "add_logging",
    "reset_singleton",
    "singleton",
]
