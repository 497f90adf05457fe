"""Argument checks shared by every constructor and decorator: one message style, one place."""

from __future__ import annotations

__all__ = ["require_at_least", "require_count", "require_positive"]


def require_at_least(name: str, value: float, minimum: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value >= minimum`` (and not NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not value >= minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def require_positive(name: str, value: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value > 0`` (and not NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def require_count(name: str, value: int, minimum: int) -> None:
    """Raise ``TypeError``/``ValueError`` naming ``name`` unless ``value`` is an int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
