"""A fixed-size, thread-safe ring of the most recent items (seed 003's ``CircularBuffer``)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Generic, TypeVar

from python_mastery_portfolio._internal.checks import require_count

__all__ = ["CircularBuffer"]

T = TypeVar("T")


class CircularBuffer(Generic[T]):
    """Keep the newest ``max_size`` items; appending to a full buffer drops the oldest.

    Safe for many threads appending while others read: every operation holds one lock, and
    reads (:meth:`get_recent`, iteration) work on a snapshot, so a reader never sees the
    buffer change under it. :attr:`dropped` counts the items pushed out by newer ones.

    Args:
        max_size: How many items the buffer holds (at least 1).

    Raises:
        TypeError: If ``max_size`` is not an int.
        ValueError: If ``max_size`` is below 1.

    Example:
        >>> events = CircularBuffer[str](max_size=3)
        >>> events.extend(["a", "b", "c", "d"])
        >>> events.get_recent(2), len(events), events.dropped
        (['c', 'd'], 3, 1)
    """

    __slots__ = ("_buffer", "_dropped", "_lock", "_max_size")

    def __init__(self, max_size: int = 500) -> None:
        require_count("max_size", max_size, 1)
        self._max_size = max_size
        self._buffer: deque[T] = deque(maxlen=max_size)
        self._lock = threading.Lock()
        self._dropped = 0

    @property
    def max_size(self) -> int:
        """How many items the buffer holds at most."""
        return self._max_size

    @property
    def dropped(self) -> int:
        """How many items were pushed out by newer ones since the buffer was made."""
        return self._dropped

    def append(self, item: T) -> None:
        """Add ``item`` as the newest; the oldest is dropped when the buffer is full."""
        with self._lock:
            if len(self._buffer) == self._max_size:
                self._dropped += 1
            self._buffer.append(item)

    def extend(self, items: Iterable[T]) -> None:
        """Add every item of ``items`` in order, as one step that readers see whole."""
        new = list(items)  # consume a generator before taking the lock
        with self._lock:
            self._dropped += max(0, len(self._buffer) + len(new) - self._max_size)
            self._buffer.extend(new)

    def get_recent(self, count: int) -> list[T]:
        """Return the ``count`` newest items, oldest first and newest last (as in the seed).

        Args:
            count: How many items to return (0 or more); fewer come back if fewer are held.

        Raises:
            TypeError: If ``count`` is not an int.
            ValueError: If ``count`` is negative.

        Example:
            >>> buffer = CircularBuffer[int](max_size=5)
            >>> buffer.extend(range(10))
            >>> buffer.get_recent(3), buffer.get_recent(0), buffer.get_recent(99)
            ([7, 8, 9], [], [5, 6, 7, 8, 9])
        """
        require_count("count", count, 0)
        with self._lock:
            if count >= len(self._buffer):
                return list(self._buffer)
            # Walk back from the newest end: cost is O(count), not O(max_size).
            recent = list(islice(reversed(self._buffer), count))
        recent.reverse()
        return recent

    def clear(self) -> None:
        """Remove every item (this is not counted in :attr:`dropped`)."""
        with self._lock:
            self._buffer.clear()

    def snapshot(self) -> list[T]:
        """Return a copy of the items, oldest first."""
        with self._lock:
            return list(self._buffer)

    def __iter__(self) -> Iterator[T]:
        """Iterate over a snapshot, so appends during the loop neither fail nor show up."""
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self._buffer)

    def __repr__(self) -> str:
        return (
            f"CircularBuffer(max_size={self._max_size}, len={len(self._buffer)}, "
            f"dropped={self._dropped})"
        )
