"""The one sentinel type: named markers that are not ``None`` and never equal anything else."""

from __future__ import annotations

from typing import Any, Final, final

__all__ = ["MISSING", "Sentinel"]


@final
class Sentinel:
    """A unique marker with a readable ``repr``; compare it with ``is``.

    Args:
        name: What ``repr`` shows.

    Example:
        >>> ABSENT = Sentinel("ABSENT")
        >>> ABSENT, ABSENT is ABSENT, bool(ABSENT)
        (ABSENT, True, False)
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        # Pickled by name: a module-level sentinel stays the same object after a round trip.
        return self._name


MISSING: Final[Any] = Sentinel("MISSING")
"""Marks a value that is not there (not built yet, not given, not stored)."""
