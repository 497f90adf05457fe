"""Single-flight over a store with awaitable operations (:class:`AsyncCacheStore`).

:class:`AsyncStoreMemo` is the :class:`Memo` of an ``async def`` function cached in a store
that does I/O, such as Redis: it awaits the store's ``alookup`` and ``aset`` instead of
calling them on the event loop, and never holds the registry's lock across an ``await``.

Because the lookup is awaited outside the lock, a computation may land between a caller's
lookup and its registration of a new one. Each landing bumps ``landed`` under the lock; a
caller that sees it moved since its lookup looks again instead of computing a second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.caching._flight import (
    AsyncFlight,
    LockedOperations,
    Memo,
    consume_outcome,
    forget_waits,
    join_async,
    reentry_error,
)
from python_mastery_portfolio.caching._store import AsyncCacheStore, CacheStore

__all__ = ["AsyncStoreMemo"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name


def _invalidated(flight: AsyncFlight) -> bool:
    """Return whether ``cache_invalidate``/``cache_clear`` marked ``flight``'s value stale."""
    return not flight.store


class AsyncStoreMemo(Memo):
    """A :class:`Memo` whose ``async def`` path awaits an :class:`AsyncCacheStore`."""

    __slots__ = ("astore", "landed")

    def __init__(
        self,
        func: Callable[..., Any],
        qualname: str,
        store: CacheStore[Any, Any],
        ops: LockedOperations,
        astore: AsyncCacheStore[Any, Any],
    ) -> None:
        super().__init__(func, qualname, store, ops)
        self.astore = astore
        self.landed = 0  # computations landed so far; changed under ops.lock

    async def afetch(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Return the value for ``key``: awaited from the store, joined, or computed once."""
        seen = self.landed
        value = await self.astore.alookup(key, MISSING)
        if value is not MISSING:
            self.count_hit()
            return value
        return await self.join_or_compute(key, args, kwargs, seen)

    async def join_or_compute(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], seen: int
    ) -> Any:
        """Join or start the computation for ``key``, looking again if one landed meanwhile."""
        ops = self.ops
        loop = asyncio.get_running_loop()
        while True:
            with ops.lock:
                if self.landed == seen:
                    flight = self.flights.get(key)
                    if flight is not None and flight.loop is not loop and flight.loop.is_closed():
                        logger.debug("%s: forgetting a computation of a closed loop", self.qualname)
                        forget_waits(flight)
                        flight = None
                    if flight is None:
                        flight = self.flights[key] = AsyncFlight(loop)
                        self.count_miss()
                        start = True
                        break
                    if flight.loop is not loop:
                        # A task cannot wait for another loop's task: compute here, store for all.
                        self.count_miss()
                        flight = None
                        break
                    if flight.owner is None or flight.owner is asyncio.current_task():
                        raise reentry_error(self.qualname)
                    self.count_joined()
                    start = False
                    break
                seen = self.landed
            value = await self.astore.alookup(key, MISSING)
            if value is not MISSING:
                self.count_hit()
                return value
        if flight is None:
            value = await self.func(*args, **kwargs)
            await self.astore.aset(key, value)
            return value
        if start:  # pyright: ignore[reportPossiblyUnbound, reportPossiblyUnboundVariable]  # set wherever flight is
            # Created outside the lock: an eager task factory runs the coroutine at once.
            task = loop.create_task(self._acompute(key, flight, args, kwargs))
            task.add_done_callback(consume_outcome)
            flight.owner = task
        return await join_async(flight, flight.owner, self.qualname)

    async def _acompute(
        self, key: Any, flight: AsyncFlight, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run the function as the flight's task; store the value unless invalidated."""
        try:
            value = await self.func(*args, **kwargs)
            if flight.store:
                await self.astore.aset(key, value)
                if _invalidated(flight):  # while it was being stored
                    await self.astore.adelete(key)
            return value
        finally:
            with self.ops.lock:
                if self.flights.get(key) is flight:
                    del self.flights[key]
                flight.done = True
                self.landed += 1
