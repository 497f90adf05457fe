"""Refuse attribute changes on immutable value objects (``Result``, ``Container``)."""

from __future__ import annotations

from typing import NoReturn

__all__ = ["refuse_change"]


def refuse_change(self: object, name: str, value: object = None) -> NoReturn:
    """Raise ``AttributeError``: assign it as a class's ``__setattr__`` and ``__delattr__``.

    The class then writes its own slots through their descriptors (``Slot.__set__``), which
    skips ``__setattr__``, so only outside code is refused.

    Args:
        self: The instance an attribute was set or deleted on.
        name: The attribute's name.
        value: The value being assigned (absent for a deletion); ignored.

    Raises:
        AttributeError: Always, naming the class and the attribute.

    Example:
        >>> class Point:
        ...     __slots__ = ("x",)
        ...     __setattr__ = refuse_change
        >>> Point().x = 1
        Traceback (most recent call last):
        ...
        AttributeError: Point is immutable; cannot change 'x'
    """
    raise AttributeError(f"{type(self).__name__} is immutable; cannot change {name!r}")
