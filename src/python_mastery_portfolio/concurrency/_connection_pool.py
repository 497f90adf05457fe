"""``AsyncConnectionPool``: a bounded, fair, cancellation-safe pool of async resources.

The slot accounting (fairness, hand-off, cancelled waiters) lives in ``_pool_slots``; this
module adds the resources' life cycle: creation, validation, expiry, discarding and closing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from python_mastery_portfolio._internal.callables import ExceptionSpec, exception_matcher
from python_mastery_portfolio._internal.checks import require_count, require_positive
from python_mastery_portfolio._internal.sentinels import Sentinel
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock, now_reader
from python_mastery_portfolio.concurrency._clocked import ClockTimeout
from python_mastery_portfolio.concurrency._pool_hooks import ResourceHooks
from python_mastery_portfolio.concurrency._pool_slots import WAIT, Entry, PoolStats, Slots
from python_mastery_portfolio.exceptions import PoolTimeoutError
from python_mastery_portfolio.instrumentation import HOOKS

__all__ = ["AsyncConnectionPool"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

T = TypeVar("T")


class _Lease(Generic[T]):
    """What ``pool.acquire()`` returns: ``async with`` lends one connection for the block."""

    __slots__ = ("_entry", "_pool")

    _entry: Entry[T]  # set on entering the block

    def __init__(self, pool: AsyncConnectionPool[T]) -> None:
        self._pool = pool

    async def __aenter__(self) -> T:
        pool = self._pool
        # The pool's own lease (same module) reads its state: the hot path, inline.
        slots = pool._slots  # pyright: ignore[reportPrivateUsage]
        # An idle connection, nobody waiting, nothing to check.
        if slots.idle and pool._plain and not slots.waiters and not pool._closed:  # pyright: ignore[reportPrivateUsage]
            slots.in_use += 1
            entry = slots.idle.pop()
        else:
            entry = await pool._get()  # pyright: ignore[reportPrivateUsage]
        self._entry = entry
        return entry.resource

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pool = self._pool
        if exc is None and pool._plain and not pool._closed:  # pyright: ignore[reportPrivateUsage]
            pool._slots.recycle(self._entry)  # pyright: ignore[reportPrivateUsage]  # no expiry to check or record
        else:
            await pool._put(self._entry, exc)  # pyright: ignore[reportPrivateUsage]


class AsyncConnectionPool(ResourceHooks[T]):
    """Lend async resources (connections, clients) to ``async with pool.acquire()`` blocks.

    Build it from a ``factory`` (sync or async callable; plain callables run on the event
    loop, so they must not block) with optional ``close`` and ``validate`` callables, or
    subclass it and override :meth:`create`, :meth:`close_resource` and :meth:`validate`.

    - Reuse: an idle connection is validated before it is lent (when there is a validator);
      one that fails, or is older than ``max_lifetime``, or idled longer than ``max_idle``,
      is closed and replaced.
    - Errors: if the block raises, its connection is closed rather than returned, unless the
      error does not match ``discard_on`` (a cancellation always discards).
    - Fairness and cancellation: waiters are served first come, first served; a cancelled
      waiter never leaks a slot or a connection.
    - Limits: ``acquire_timeout`` (through ``clock``) raises :class:`PoolTimeoutError`.
    - Shutdown: :meth:`close` (or leaving ``async with pool:``) closes idle connections at
      once and lent ones when they come back; acquiring afterwards raises ``RuntimeError``.

    Args:
        factory: Makes a new resource; ``None`` when a subclass overrides :meth:`create`.
        max_connections: Most connections open at once (at least 1).
        min_connections: Connections :meth:`open` creates and idle expiry keeps.
        max_idle: Seconds an idle connection may wait before it is closed, or ``None``.
        max_lifetime: Seconds after creation before a connection is recycled, or ``None``.
        acquire_timeout: Seconds :meth:`acquire` may take, or ``None`` to wait forever.
        close: Closes a resource (sync or async); errors are logged, never raised.
        validate: Returns whether an idle resource is still usable (sync or async).
        discard_on: Errors of the block that close its connection (a type, a tuple of
            them, or a predicate); by default any exception.
        name: The pool's name in errors and logs (default: the class name).
        clock: Drives the time limits.

    Raises:
        TypeError: If an argument has the wrong type, or there is neither ``factory`` nor
            an overridden :meth:`create`.
        ValueError: If a count or a time limit is out of range.

    Example:
        >>> import asyncio, itertools
        >>> ids = itertools.count(1)
        >>> async def connect() -> str:
        ...     return f"conn-{next(ids)}"
        >>> async def main() -> tuple[str, str, int]:
        ...     async with AsyncConnectionPool(connect, max_connections=2) as pool:
        ...         async with pool.acquire() as first:
        ...             pass
        ...         async with pool.acquire() as again:  # the same one, reused
        ...             pass
        ...         return first, again, pool.stats()["created"]
        >>> asyncio.run(main())
        ('conn-1', 'conn-1', 1)
    """

    @overload
    def __init__(
        self: AsyncConnectionPool[T],  # pyright: ignore[reportInvalidTypeVarUse]  # kept as the next overload's
        factory: Callable[[], Awaitable[T]],
        *,
        max_connections: int = ...,
        min_connections: int = ...,
        max_idle: float | None = ...,
        max_lifetime: float | None = ...,
        acquire_timeout: float | None = ...,
        close: Callable[[T], Any] | None = ...,
        validate: Callable[[T], Any] | None = ...,
        discard_on: ExceptionSpec = ...,
        name: str | None = ...,
        clock: Clock = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: AsyncConnectionPool[T],  # pyright: ignore[reportInvalidTypeVarUse]  # binds T with no factory (a subclass's create())
        factory: Callable[[], T] | None = ...,
        *,
        max_connections: int = ...,
        min_connections: int = ...,
        max_idle: float | None = ...,
        max_lifetime: float | None = ...,
        acquire_timeout: float | None = ...,
        close: Callable[[T], Any] | None = ...,
        validate: Callable[[T], Any] | None = ...,
        discard_on: ExceptionSpec = ...,
        name: str | None = ...,
        clock: Clock = ...,
    ) -> None: ...
    def __init__(
        self,
        factory: Callable[[], Any] | None = None,
        *,
        max_connections: int = 10,
        min_connections: int = 0,
        max_idle: float | None = None,
        max_lifetime: float | None = None,
        acquire_timeout: float | None = None,
        close: Callable[[Any], Any] | None = None,
        validate: Callable[[Any], Any] | None = None,
        discard_on: ExceptionSpec = Exception,
        name: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        require_count("max_connections", max_connections, 1)
        require_count("min_connections", min_connections, 0)
        if min_connections > max_connections:
            raise ValueError(
                f"min_connections must be <= max_connections ({max_connections}), "
                f"got {min_connections!r}"
            )
        for label, limit in (
            ("max_idle", max_idle),
            ("max_lifetime", max_lifetime),
            ("acquire_timeout", acquire_timeout),
        ):
            if limit is not None:
                require_positive(label, limit)
        super().__init__(factory, close, validate)
        self._discards = exception_matcher(discard_on, param="discard_on")
        self._max = max_connections
        self._min = min_connections
        self._max_idle = max_idle
        self._max_lifetime = max_lifetime
        self._expiring = max_idle is not None or max_lifetime is not None
        # Whether lending and returning need no check at all (the leases' fast path).
        self._plain = not self._expiring and not self.has_validator
        self._acquire_timeout = acquire_timeout
        self._name = name if name is not None else type(self).__name__
        self._labels = {"pool": self._name}  # of its instrumentation reports, built once
        self._clock = clock
        self._now = now_reader(clock)
        self._slots: Slots[T] = Slots(max_connections)
        self._closed = False
        self._created = 0
        self._closed_count = 0
        self._timeouts = 0

    # ------------------------------------------------------------------------ public face

    @property
    def name(self) -> str:
        """The pool's name, as errors and logs show it."""
        return self._name

    @property
    def max_connections(self) -> int:
        """Most connections open at once."""
        return self._max

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def acquire(self) -> _Lease[T]:
        """Return an async context manager lending one connection for its block.

        Raises (on entering the block):
            PoolTimeoutError: If ``acquire_timeout`` passes first.
            RuntimeError: If the pool is closed.
        """
        return _Lease(self)

    async def open(self) -> None:
        """Create connections up to ``min_connections`` (``async with pool:`` calls this)."""
        self._check_open()
        slots = self._slots
        # close() may run while we await the factory: re-check before each connection, and
        # close (never keep) one that arrives after the pool closed.
        while slots.size < self._min and not self._closed:
            slots.size += 1
            slots.in_use += 1
            try:
                entry = await self._create_entry()
            except BaseException:
                slots.free()
                raise
            if self.closed:  # the property: mypy would keep the loop test's narrowing
                await self._discard(entry)
                return
            slots.recycle(entry)

    async def close(self) -> None:
        """Close idle connections now and lent ones when they come back; fail the waiters."""
        if self._closed:
            return
        self._closed = True
        self._slots.fail_waiters(self._closed_error())
        while self._slots.idle:
            await self._discard(self._slots.hold_idle())

    def stats(self) -> PoolStats:
        """Return the pool's counters.

        Example:
            >>> AsyncConnectionPool(object, max_connections=3).stats()["size"]
            0
        """
        slots = self._slots
        return PoolStats(
            size=slots.size,
            idle=len(slots.idle),
            in_use=slots.in_use,
            waiting=len(slots.waiters),
            created=self._created,
            closed=self._closed_count,
            timeouts=self._timeouts,
        )

    async def __aenter__(self) -> AsyncConnectionPool[T]:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, size={self._slots.size}, "
            f"max_connections={self._max}, idle={len(self._slots.idle)})"
        )

    # -------------------------------------------------------------------------- lending

    async def _get(self) -> Entry[T]:
        # Fast path: an idle connection, nobody waiting, nothing to check.
        slots = self._slots
        if slots.idle and not slots.waiters and not self.has_validator and not self._closed:
            entry = slots.idle[-1]
            if not self._stale(entry, self._now()):  # only expiry is left to check here
                return slots.hold_idle()
        # The slow path's wait is reported (the fast one's is nil); the clock is read for it
        # only while the instrumentation hook is on.
        reporting = HOOKS.active
        start = self._now() if reporting else 0.0
        if self._acquire_timeout is None:
            entry = await self._get_slow()
        else:
            entry = await self._get_limited(self._acquire_timeout)
        if reporting:
            HOOKS.observe("pool.acquire_wait", self._now() - start, self._labels)
        return entry

    async def _get_limited(self, seconds: float) -> Entry[T]:
        limit = ClockTimeout(seconds, self._clock)
        try:
            async with limit:
                return await self._get_slow()
        except TimeoutError:
            if not limit.expired:
                raise  # the factory's own timeout, not ours
            self._timeouts += 1
            if HOOKS.active:
                HOOKS.event("pool.timeout", {"pool": self._name, "pool.timeout": seconds})
                HOOKS.count("pool.timeouts", 1, self._labels)
            raise PoolTimeoutError(
                f"no connection from pool {self._name!r} within {self._acquire_timeout}s "
                f"(max_connections={self._max}, in use {self._slots.in_use}, "
                f"waiting {len(self._slots.waiters)})",
                pool=self._name,
                max_connections=self._max,
                timeout=self._acquire_timeout,
            ) from None

    async def _get_slow(self) -> Entry[T]:
        self._check_open()
        claimed = self._slots.claim()
        entry = await self._slots.wait_turn() if claimed is WAIT else claimed
        assert not isinstance(entry, Sentinel)  # noqa: S101 - WAIT was replaced just above
        # From here this caller owns one slot, with or without a connection in it.
        try:
            if entry is not None and (
                self._stale(entry, self._now()) or not await self._usable(entry)
            ):
                doomed, entry = entry, None
                await self._close_logged(doomed)
            if entry is None:
                entry = await self._create_entry()
            # The pool closed while we validated or created: lend nothing more (the waiters
            # were failed the same way).
            self._check_open()
        except BaseException:
            # Cancelled or failed: a half-checked connection is closed, the slot freed.
            try:
                if entry is not None:
                    await self._close_logged(entry)
            finally:
                self._slots.free()
            raise
        return entry

    async def _put(self, entry: Entry[T], error: BaseException | None) -> None:
        now = self._now()
        discard = error is not None and (not isinstance(error, Exception) or self._discards(error))
        if discard or self._closed or self._too_old(entry, now):
            await self._discard(entry)
        else:
            entry.returned_at = now
            self._slots.recycle(entry)
        if self._max_idle is not None:
            await self._sweep(now)

    async def _sweep(self, now: float) -> None:
        """Close connections idle longer than ``max_idle``, keeping ``min_connections``."""
        assert self._max_idle is not None  # noqa: S101 - the caller checked
        slots = self._slots
        while (
            slots.idle
            and slots.size > self._min
            and now - slots.idle[0].returned_at >= self._max_idle
        ):
            await self._discard(slots.hold_idle(oldest=True))

    # ---------------------------------------------------------------------- bookkeeping

    async def _discard(self, entry: Entry[T]) -> None:
        """Close a held connection, then free its slot (even if closing fails or is cancelled)."""
        try:
            await self._close_logged(entry)
        finally:
            self._slots.free()
            if HOOKS.active:
                HOOKS.gauge("pool.size", self._slots.size, self._labels)

    async def _create_entry(self) -> Entry[T]:
        resource = await self.create()
        self._created += 1
        if HOOKS.active:
            HOOKS.gauge("pool.size", self._slots.size, self._labels)
        return Entry(resource, self._now())

    async def _usable(self, entry: Entry[T]) -> bool:
        if not self.has_validator:
            return True
        try:
            return await self.validate(entry.resource)
        except Exception:  # a validator that raises has answered "no"
            logger.warning(
                "pool %r: validation raised; replacing the connection", self._name, exc_info=True
            )
            return False

    async def _close_logged(self, entry: Entry[T]) -> None:
        self._closed_count += 1
        try:
            await self.close_resource(entry.resource)
        except Exception:  # closing is best effort: logged, never raised
            logger.warning("pool %r: closing a connection failed", self._name, exc_info=True)

    def _stale(self, entry: Entry[T], now: float) -> bool:
        return self._too_old(entry, now) or (
            self._max_idle is not None and now - entry.returned_at >= self._max_idle
        )

    def _too_old(self, entry: Entry[T], now: float) -> bool:
        return self._max_lifetime is not None and now - entry.created_at >= self._max_lifetime

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def _closed_error(self) -> RuntimeError:
        return RuntimeError(f"connection pool {self._name!r} is closed")
