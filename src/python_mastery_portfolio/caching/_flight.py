"""Single-flight: one computation per key, however many threads or tasks ask for it at once.

The first caller of a missing key registers a *flight* and computes; later callers with the
same key join the flight and wait for its outcome instead of computing again. No lock is held
while the function runs, so different keys compute in parallel.

Waits form a graph (a caller waits for the owner of a flight, which may itself be waiting for
another flight); a wait that would close a cycle -- the same key re-entered from inside its
own computation, or two computations each waiting for the other -- raises ``RuntimeError``
instead of deadlocking. Owners are thread idents for ``def`` functions and tasks for
``async def`` ones.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from builtins import isinstance, len, list, range, type  # noqa: A004, UP029 - a builtin patched with its cached self must not serve its own cache
from collections.abc import Callable, Container
from typing import Any, NamedTuple, Protocol

from python_mastery_portfolio._internal.callables import FATAL_EXCEPTIONS
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.caching._store import CacheStats, CacheStore
from python_mastery_portfolio.caching._wrapper_source import Switch
from python_mastery_portfolio.instrumentation import HOOKS

__all__ = [
    "AsyncFlight",
    "Flight",
    "LockedOperations",
    "Memo",
    "StoreOperations",
    "join_async",
    "join_sync",
    "locked_operations",
]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

_graph_lock = threading.Lock()
_waiting: dict[object, Flight | AsyncFlight] = {}  # waiter -> the flight it waits for


class Flight:
    """A computation in progress in one thread, and its outcome once ``done``.

    Made only when needed: while nobody else asks for the key, the registry holds just a
    *token*, the 1-tuple ``(owner's thread ident,)``, which is cheaper than an object per miss
    in the common, uncontended case. A new tuple is unique, so ``registry.setdefault(key,
    token) is token`` tells the caller that it registered (see :meth:`Memo.miss`).
    """

    __slots__ = ("done", "error", "owner", "store", "value", "waiter")

    def __init__(self, owner: int) -> None:
        self.owner: object = owner
        self.waiter: Any = None  # a lock held until ``done``, made when a second caller joins
        self.store = True  # cleared by cache_clear/cache_invalidate: the result is stale
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None


def _flight_of(flights: dict[Any, Any], key: Any) -> Any:
    """Return the flight for ``key``, upgrading a token to a :class:`Flight`.

    The caller holds the store's ``ops.lock``, as every change to the registry but a
    registration does: the flight cannot land meanwhile.
    """
    marker = flights[key]
    if type(marker) is tuple:
        marker = flights[key] = Flight(marker[0])  # pyright: ignore[reportUnknownArgumentType]  # a token (owner,)
    return marker


class AsyncFlight:
    """A computation running as its own task, so that a cancelled waiter does not cancel it."""

    __slots__ = ("done", "loop", "owner", "store", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.owner: Any = None  # the task, set once created
        self.store = True
        self.done = False
        self.waiters = 0


def reentry_error(qualname: str) -> RuntimeError:
    """Build the error raised when a computation asks for its own key."""
    return RuntimeError(
        f"{qualname} was called again with the same arguments from inside its own cached "
        "computation; waiting for itself would deadlock"
    )


def _enter_wait(flight: Flight | AsyncFlight, me: object, qualname: str) -> None:
    """Record that ``me`` waits for ``flight``, unless that wait closes a cycle."""
    with _graph_lock:
        node: Flight | AsyncFlight | None = flight
        for _ in range(len(_waiting) + 1):
            if node is None or node.done:
                break
            if node.owner == me:
                raise RuntimeError(
                    f"calling {qualname} here would deadlock: its computation is waiting, "
                    "directly or through other cached calls, for the caller's own computation"
                )
            node = _waiting.get(node.owner)
        _waiting[me] = flight


def forget_waits(flight: Flight | AsyncFlight) -> None:
    """Forget the waits for ``flight``: its loop is closed, so its waiters never resume."""
    with _graph_lock:
        for waiter in [waiter for waiter, awaited in _waiting.items() if awaited is flight]:
            del _waiting[waiter]


def join_sync(flight: Flight, waiter: Any, me: int, qualname: str) -> None:
    """Block until ``flight`` is done (``waiter`` is its lock, held by the owner)."""
    _enter_wait(flight, me, qualname)
    try:
        waiter.acquire()
        waiter.release()  # hand the lock on to the next waiter
    finally:
        _waiting.pop(me, None)


async def join_async(flight: AsyncFlight, task: asyncio.Task[Any], qualname: str) -> Any:
    """Wait for ``task`` (the flight's computation) without letting a cancellation reach it.

    The computation is cancelled only when its last waiter is.
    """
    me: object = asyncio.current_task() or object()
    _enter_wait(flight, me, qualname)
    flight.waiters += 1
    try:
        return await asyncio.shield(task)
    finally:
        _waiting.pop(me, None)
        flight.waiters -= 1
        # A closed loop (its tasks are being garbage collected) cannot schedule a cancel.
        if not flight.waiters and not task.done() and not flight.loop.is_closed():
            task.cancel()


def consume_outcome(task: asyncio.Task[Any]) -> None:
    """Mark a computation's exception as retrieved: its waiters may all have gone."""
    if not task.cancelled():
        task.exception()


class LockedOperations(Protocol):
    """What single-flight runs on a store, under ``lock`` (with its own registry changes).

    :meth:`LRUCache.operations` provides them for our own store, under the cache's lock, so
    that the generated wrapper's lock-free reads see a value and its flight change together;
    :func:`locked_operations` adapts any :class:`CacheStore` under a lock of its own.
    """

    @property
    def lock(self) -> threading.Lock:
        """The lock held while calling the operations below and changing the registry."""
        ...

    @property
    def lookup(self) -> Callable[[Any, Any], Any]:
        """``lookup(key, default)``: the live value or ``default``, counting nothing."""
        ...

    @property
    def put(self) -> Callable[[Any, Any], None]:
        """``put(key, value)``: store a computed value."""
        ...

    @property
    def delete(self) -> Callable[[Any], bool]:
        """``delete(key)``: remove; whether a live entry went."""
        ...

    @property
    def clear(self) -> Callable[[], None]:
        """Remove every entry."""
        ...

    @property
    def hit(self) -> Callable[[], object]:
        """Count a hit."""
        ...

    @property
    def miss(self) -> Callable[[], object]:
        """Count a miss."""
        ...


class StoreOperations(NamedTuple):
    """:class:`LockedOperations` over any :class:`CacheStore`, under a lock of their own."""

    lock: threading.Lock
    lookup: Callable[[Any, Any], Any]
    put: Callable[[Any, Any], None]
    delete: Callable[[Any], bool]
    clear: Callable[[], None]
    hit: Callable[[], object]
    miss: Callable[[], object]


def locked_operations(store: CacheStore[Any, Any]) -> StoreOperations:
    """Adapt ``store`` for single-flight: its methods, run under a new lock.

    The store's own methods are thread-safe; the lock orders them with the registry's
    changes (a value is stored before its flight leaves the registry, an invalidated
    flight does not store), at the cost of serialising one function's stores and misses.
    """
    return StoreOperations(
        lock=threading.Lock(),
        lookup=store.lookup,
        put=store.set,
        delete=store.delete,
        clear=store.clear,
        hit=functools.partial(store.record, hits=1),
        miss=functools.partial(store.record, misses=1),
    )


class Memo:
    """The store and the computations in flight of one cached function (or instance).

    The wrapper's hit path reads the store without the lock, and a ``def`` wrapper over an
    :class:`LRUCache` registers its uncontended computations without it too (``setdefault``;
    see ``_wrapper_source``). Every other change to the registry, and every change to the
    store, takes ``ops.lock`` -- only briefly, and never while the function runs.
    """

    switch: Switch  # set by watch_hooks, for the memos of generated wrappers only

    __slots__ = (
        "__weakref__",
        "flights",
        "func",
        "hit_labels",
        "labels",
        "miss_labels",
        "ops",
        "qualname",
        "store",
        "switch",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        qualname: str,
        store: CacheStore[Any, Any],
        ops: LockedOperations,
    ) -> None:
        self.func = func
        self.qualname = qualname
        self.store = store
        self.ops = ops
        self.flights: dict[Any, Any] = {}
        # Built once: every report of this cache shares them (instruments only read them).
        self.labels = {"cache": qualname}
        self.hit_labels = {"cache": qualname, "result": "hit"}
        self.miss_labels = {"cache": qualname, "result": "miss"}

    def watch_hooks(self, switch: Switch) -> None:
        """Have the instrumentation hook switch a generated wrapper's counters (see ``switch``).

        While the hook is on, the wrapper counts with :meth:`count_hit` and
        :meth:`count_miss`, which also report; while it is off, with the store's own
        counters, so its hit path pays nothing for instrumentation.
        """
        self.switch = switch
        HOOKS.watch(self)

    def hooks_changed(self, active: bool) -> None:
        """Swap the wrapper's counters for reporting ones (``active``) or back."""
        if active:
            self.switch(self.count_hit, self.count_miss)
        else:
            self.switch(self.ops.hit, self.ops.miss)

    def count_hit(self) -> None:
        """Count a hit in the store, and report it to the instrumentation hook."""
        self.ops.hit()
        if HOOKS.active:
            HOOKS.count("cache.requests", 1, self.hit_labels)

    def count_miss(self) -> None:
        """Count a miss in the store, and report it to the instrumentation hook."""
        self.ops.miss()
        if HOOKS.active:
            HOOKS.count("cache.requests", 1, self.miss_labels)

    def count_joined(self) -> None:
        """Count a call that joins a computation under way: a hit, and a coalesced call."""
        self.ops.hit()
        if HOOKS.active:
            HOOKS.count("cache.requests", 1, self.hit_labels)
            HOOKS.count("cache.coalesced", 1, self.labels)

    def stats(self) -> CacheStats:
        """Return the store's statistics."""
        return self.store.stats()

    def contains(self, key: Any) -> bool:
        """Return whether the store holds a live value for ``key``, counting nothing.

        ``in`` where the store supports it (it does not refresh recency); else a lookup.
        """
        store = self.store
        if isinstance(store, Container):
            return key in store
        return store.lookup(key, MISSING) is not MISSING

    def clear(self) -> None:
        """Drop every entry; computations under way will not store their results."""
        ops = self.ops
        with ops.lock:
            for key in list(self.flights):
                _flight_of(self.flights, key).store = False
            ops.clear()

    def invalidate(self, key: Any) -> bool:
        """Drop the entry for ``key``; a computation under way for it will not store."""
        ops = self.ops
        with ops.lock:
            if key in self.flights:
                _flight_of(self.flights, key).store = False
            return ops.delete(key)

    def fetch(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Return the value for ``key`` from the store, or single-flight: any store's path.

        The lookup runs without the lock (the store is thread-safe), so hits of one function
        do not wait for each other.
        """
        value = self.ops.lookup(key, MISSING)
        if value is MISSING:
            return self.miss(key, args, kwargs)
        self.count_hit()
        return value

    async def afetch(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Return the value for ``key`` like :meth:`fetch`, for ``async def`` functions."""
        value = self.ops.lookup(key, MISSING)
        if value is MISSING:
            return await self.amiss(key, args, kwargs)
        self.count_hit()
        return value

    def miss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Return the value for ``key``: cached, from a computation under way, or computed.

        The wrapper registers uncontended computations itself (a token put in the registry
        with ``setdefault``, atomic under the GIL) and calls this when the key is taken: to
        join that computation, to raise on re-entry, or to compute if it landed meanwhile.
        """
        ops = self.ops
        flights = self.flights
        me = threading.get_ident()
        lock = ops.lock
        while True:
            # acquire/release rather than ``with``: a third of the cost on CPython 3.11.
            lock.acquire()
            try:
                value = ops.lookup(key, MISSING)
                if value is not MISSING:  # stored since the wrapper looked
                    self.count_hit()
                    return value
                token = (me,)
                if flights.setdefault(key, token) is token:
                    self.count_miss()
                    break
                flight = _flight_of(flights, key)
                if flight.owner == me:
                    raise reentry_error(self.qualname)
                self.count_joined()
                waiter = flight.waiter
                if waiter is None:
                    waiter = flight.waiter = threading.Lock()
                    waiter.acquire()
            finally:
                lock.release()
            join_sync(flight, waiter, me, self.qualname)
            if flight.error is None:
                return flight.value
            if not isinstance(flight.error, FATAL_EXCEPTIONS):
                raise flight.error
            # The owner was interrupted (KeyboardInterrupt, SystemExit): nothing failed, so
            # look again -- and count again: this caller then computes or joins a new flight.
        return self.compute(key, args, kwargs)

    def adopt(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Settle the flight the wrapper registered for ``key`` while an entry was stored.

        A live entry landed after the wrapper looked: the call is a hit. Nobody can have
        joined the flight meanwhile (joiners take the value), so it simply ends. An entry
        gone or expired since is computed again, as by any owner.
        """
        ops = self.ops
        lock = ops.lock
        lock.acquire()
        try:
            value = ops.lookup(key, MISSING)
            if value is MISSING:
                self.count_miss()
            else:
                self.count_hit()
        finally:
            lock.release()
        if value is MISSING:
            return self.compute(key, args, kwargs)
        self.land(key, value, None, store=False)  # stored already: not again (nor its ttl)
        return value

    def compute(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the function for the flight the caller registered, and land it."""
        try:
            value = self.func(*args, **kwargs)
        except BaseException as error:
            self.land(key, None, error)
            raise
        self.land(key, value, None)
        return value

    def land(
        self, key: Any, value: Any, error: BaseException | None, *, store: bool = True
    ) -> None:
        """Store a computation's value, publish its outcome to the waiters and wake them."""
        lock = self.ops.lock
        lock.acquire()
        try:
            flight = self.flights[key]
            if type(flight) is tuple:  # nobody joined or invalidated: nothing to publish
                try:
                    if store and error is None:
                        self.ops.put(key, value)
                finally:
                    del self.flights[key]
                return
            waiter = self.publish(flight, key, value, error, store=store)
        finally:
            lock.release()
        if waiter is not None:
            waiter.release()

    def publish(
        self,
        flight: Flight,
        key: Any,
        value: Any,
        error: BaseException | None,
        *,
        store: bool = True,
    ) -> Any:
        """Store the value unless invalidated, end the flight; return the lock to release.

        The caller holds ``ops.lock`` and releases the returned waiters' lock (if any) once
        it has released that one. The value is stored *before* the flight leaves the
        registry: a caller that registers the key next finds it (see :meth:`adopt`).
        """
        try:
            if store and error is None and flight.store:
                self.ops.put(key, value)
        finally:
            del self.flights[key]
        flight.value = value
        flight.error = error
        flight.done = True
        return flight.waiter

    async def amiss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Return the value for ``key``: cached, from a task under way, or computed in one."""
        ops = self.ops
        loop = asyncio.get_running_loop()
        with ops.lock:
            value = ops.lookup(key, MISSING)
            if value is not MISSING:
                self.count_hit()
                return value
            flight = self.flights.get(key)
            if flight is not None and flight.loop is not loop and flight.loop.is_closed():
                logger.debug("%s: forgetting a computation of a closed loop", self.qualname)
                forget_waits(flight)
                flight = None
            if flight is None:
                flight = self.flights[key] = AsyncFlight(loop)
                self.count_miss()
                start = True
            elif flight.loop is not loop:
                # A task cannot wait for another loop's task: compute here, store for all.
                self.count_miss()
                flight = None
            elif flight.owner is None or flight.owner is asyncio.current_task():
                raise reentry_error(self.qualname)
            else:
                self.count_joined()
                start = False
        if flight is None:
            value = await self.func(*args, **kwargs)
            with ops.lock:
                ops.put(key, value)
            return value
        if start:  # pyright: ignore[reportPossiblyUnbound, reportPossiblyUnboundVariable]  # set wherever flight is
            # Created outside the lock: an eager task factory runs the coroutine at once.
            task = loop.create_task(self._compute(key, flight, args, kwargs))
            task.add_done_callback(consume_outcome)
            flight.owner = task
        return await join_async(flight, flight.owner, self.qualname)

    async def _compute(
        self, key: Any, flight: AsyncFlight, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run the function as the flight's task; store the value unless invalidated."""
        stored = False
        try:
            value = await self.func(*args, **kwargs)
            stored = True
            return value
        finally:
            with self.ops.lock:
                if stored and flight.store:
                    self.ops.put(key, value)  # pyright: ignore[reportPossiblyUnbound, reportPossiblyUnboundVariable]  # stored
                if self.flights.get(key) is flight:
                    del self.flights[key]
                flight.done = True
