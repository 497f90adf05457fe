"""Argument checks shared by every constructor and decorator: one message style, one place.

Every check raises ``TypeError`` for a value of the wrong kind and ``ValueError`` for one out of
range, and both messages read ``"<name> must be <what>, got <value!r>"``, so a caller learns
which argument was wrong and why from the message alone. ``bool`` is refused where a number
is wanted: ``True`` as a size or a delay is always a mistake.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "require_at_least",
    "require_at_most",
    "require_callable",
    "require_count",
    "require_count_between",
    "require_instance",
    "require_positive",
]


def _require_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")


def _require_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")


def require_at_least(name: str, value: float, minimum: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value >= minimum`` (and not NaN).

    Example:
        >>> require_at_least("delay", -1, 0)
        Traceback (most recent call last):
        ...
        ValueError: delay must be >= 0, got -1
    """
    _require_number(name, value)
    if not value >= minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def require_at_most(name: str, value: float, maximum: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value <= maximum`` (and not NaN).

    Example:
        >>> require_at_most("failure_rate", 1.5, 1)
        Traceback (most recent call last):
        ...
        ValueError: failure_rate must be <= 1, got 1.5
    """
    _require_number(name, value)
    if not value <= maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")


def require_positive(name: str, value: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value > 0`` (and not NaN).

    Example:
        >>> require_positive("ttl", 0)
        Traceback (most recent call last):
        ...
        ValueError: ttl must be > 0, got 0
    """
    _require_number(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def require_count(name: str, value: int, minimum: int) -> None:
    """Raise ``TypeError``/``ValueError`` naming ``name`` unless ``value`` is an int >= minimum.

    Example:
        >>> require_count("window", 2.0, 1)
        Traceback (most recent call last):
        ...
        TypeError: window must be an int, got 2.0
    """
    _require_int(name, value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def require_count_between(name: str, value: int, minimum: int, maximum: int) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``value`` is an int in ``[minimum, maximum]``.

    Example:
        >>> require_count_between("workers", 65, 1, 64)
        Traceback (most recent call last):
        ...
        ValueError: workers must be <= 64, got 65
    """
    require_count(name, value, minimum)
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")


def require_instance(
    name: str, value: object, kind: type[Any] | tuple[type[Any], ...], what: str
) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``value`` is an instance of ``kind``.

    Args:
        name: The argument's name.
        value: What the caller passed.
        kind: The class (or tuple of classes) ``value`` must be an instance of.
        what: How the message names ``kind``, e.g. ``"a str"``.

    Example:
        >>> require_instance("name", 3, str, "a str")
        Traceback (most recent call last):
        ...
        TypeError: name must be a str, got 3
    """
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, got {value!r}")


def require_callable(name: str, value: object) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``value`` is callable.

    Example:
        >>> require_callable("step", 3)
        Traceback (most recent call last):
        ...
        TypeError: step must be callable, got 3
    """
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")
