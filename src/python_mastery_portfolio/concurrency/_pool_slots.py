"""Fair accounting of a bounded pool's slots: idle entries, holders and a FIFO of waiters.

Every resource occupies one of ``limit`` slots from the moment its creation starts until it is
closed, so ``size == len(idle) + in_use`` always holds (a resource being created, validated
or closed counts as in use). A released resource or a freed slot goes straight to the longest
waiter, so a newcomer can never overtake someone already waiting, and a waiter cancelled just
as it was served passes what it was handed on: nothing leaks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypedDict, TypeVar

from python_mastery_portfolio._internal.sentinels import Sentinel

__all__ = ["WAIT", "Entry", "PoolStats", "Slots"]

T = TypeVar("T")

WAIT = Sentinel("WAIT")
"""What :meth:`Slots.claim` returns when the caller must wait its turn."""


class PoolStats(TypedDict):
    """What :meth:`AsyncConnectionPool.stats` reports."""

    size: int
    """Connections open or being opened (idle + in use)."""
    idle: int
    """Connections ready in the pool."""
    in_use: int
    """Connections lent out (or being created, validated or closed)."""
    waiting: int
    """Callers waiting for a connection."""
    created: int
    """Connections created since the pool was made."""
    closed: int
    """Connections closed since the pool was made."""
    timeouts: int
    """Acquisitions that failed with :class:`PoolTimeoutError`."""


class Entry(Generic[T]):
    """A pooled resource with its creation and last-return times."""

    __slots__ = ("created_at", "resource", "returned_at")

    def __init__(self, resource: T, now: float) -> None:
        self.resource = resource
        self.created_at = now
        self.returned_at = now


class Slots(Generic[T]):
    """The slots of a pool of at most ``limit`` resources (event-loop confined, no locks)."""

    __slots__ = ("idle", "in_use", "limit", "size", "waiters")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.in_use = 0
        self.idle: deque[Entry[T]] = deque()
        self.waiters: deque[asyncio.Future[Entry[T] | None]] = deque()

    def claim(self) -> Entry[T] | Sentinel | None:
        """Take an idle entry, a free slot (``None``) or, when neither is free, :data:`WAIT`."""
        if self.waiters:
            return WAIT
        if self.idle:
            self.in_use += 1
            return self.idle.pop()
        if self.size < self.limit:
            self.size += 1
            self.in_use += 1
            return None
        return WAIT

    def hold_idle(self, *, oldest: bool = False) -> Entry[T]:
        """Take an idle entry (newest by default) to hold, e.g. to close it."""
        self.in_use += 1
        return self.idle.popleft() if oldest else self.idle.pop()

    async def wait_turn(self) -> Entry[T] | None:
        """Wait in line; return the entry or the free slot (``None``) handed over."""
        waiter: asyncio.Future[Entry[T] | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed an entry or a slot just as we were cancelled: pass it on.
                handed = waiter.result()
                if handed is None:
                    self.free()
                else:
                    self.recycle(handed)
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            raise

    def recycle(self, entry: Entry[T]) -> None:
        """Give a held entry to the longest waiter, or back to the idle stack."""
        waiter = self._next_waiter() if self.waiters else None
        if waiter is not None:
            waiter.set_result(entry)
        else:
            self.in_use -= 1
            self.idle.append(entry)

    def free(self) -> None:
        """Give a held, empty slot to the longest waiter, or release it."""
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.set_result(None)
        else:
            self.in_use -= 1
            self.size -= 1

    def fail_waiters(self, error: BaseException) -> None:
        """Wake every waiter with ``error`` (the pool is closing)."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def _next_waiter(self) -> asyncio.Future[Entry[T] | None] | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                return waiter
        return None
