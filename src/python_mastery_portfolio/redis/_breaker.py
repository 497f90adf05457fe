"""``RedisBreakerStateStore``: one circuit breaker's state shared by every process.

Layout in Redis, for a namespace ``ns``: the hash ``pmp:breaker:ns`` holds the state, epoch,
when it opened, the hold set by ``force``, the consecutive failures, the half-open permits
taken, the failure-rate window (ten buckets, as the in-memory store keeps them) and the
counters; it expires a week after its last update (longer if twice the recovery timeout plus
the window is longer), but never while :meth:`~RedisBreakerStateStore.force` holds a state.
Each operation of the protocol is one Lua script that reads the hash, makes the same step
as :class:`~python_mastery_portfolio.resilience.InMemoryBreakerStateStore` and writes it
back, atomically: every process shares closed / open / half-open, the failure window and
the half-open permits (``half_open_max_calls`` probes in the whole cluster).

Reading :attr:`RedisBreakerStateStore.state` takes no lock and, usually, no round trip: it is
the state as of this process's last script reply (every operation returns it), re-read from
Redis when older than ``refresh_interval`` (0.1 s by default). A circuit opened by another
process is therefore seen here by the next outcome recorded or within ``refresh_interval``,
whichever comes first. The transition log (:meth:`~RedisBreakerStateStore.drain_transitions`)
holds the transitions this process's operations made; the others' are logged by them.

Time: ``time_source="server"`` (the default) decides on the Redis server's clock (``TIME``),
so processes' clocks may differ; ``"caller"`` uses each policy's ``now`` (one clock shared by
all: the contract suite's manual clock).

The async side (:class:`~python_mastery_portfolio.resilience.AsyncBreakerStateStore`:
``aview``, ``aenter``, ``arecord_*``) makes the same steps through the running loop's
asyncio client (one per loop; :meth:`RedisBreakerStateStore.aclose` closes it), and moves
the same local view and transition log, so a breaker's async paths never block the loop.

Faults: every call has ``socket_timeout``. With Redis down or slow the store *fails open*:
calls are admitted, outcomes are not recorded, ``state`` keeps its last value; each logged
at WARNING (at most one line every 5 seconds) and counted in ``backend_errors``.
``reset`` and ``force`` raise :class:`RedisUnavailableError`: an operator's order that
silently did nothing would be worse than an error.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Any, Final, Literal

import redis as redis_py

from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.redis._breaker_script import STEP
from python_mastery_portfolio.redis._connection import (
    BACKEND_ERRORS,
    DEFAULT_MAX_CONNECTIONS,
    IDLE_TTL_MS,
    Connection,
    FaultLog,
    Policy,
    RedisUnavailableError,
    check_timeout,
)
from python_mastery_portfolio.redis._fork import ForkSafeLock
from python_mastery_portfolio.redis._keys import breaker_key
from python_mastery_portfolio.resilience import (
    BreakerAdmission,
    BreakerPolicy,
    CircuitBreakerStats,
    CircuitState,
    Transition,
)

__all__ = ["RedisBreakerStateStore", "RedisBreakerStats"]


_STATES: Final = {state.value: state for state in CircuitState}
_STAT_FIELDS: Final = (
    "successes",
    "failures",
    "ignored",
    "rejected",
    "opened",
    "consecutive_failures",
    "half_open_calls",
    "window_calls",
    "window_failures",
)

TimeSource = Literal["server", "caller"]


class RedisBreakerStats(CircuitBreakerStats):
    """:class:`~python_mastery_portfolio.resilience.CircuitBreakerStats` plus the fault counter.

    What :meth:`RedisBreakerStateStore.stats` (and so ``CircuitBreaker.stats()`` over it)
    returns: the counters are cluster-wide, ``backend_errors`` this process's.

    Attributes:
        backend_errors: This process's Redis calls that failed or timed out (the store
            failed open).
    """

    backend_errors: int


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBreakerStateStore:
    """A :class:`~python_mastery_portfolio.resilience.BreakerStateStore` in Redis.

    ``CircuitBreaker(store=RedisBreakerStateStore(url, namespace="payments"))`` in every
    process gives them one breaker: a circuit opened by one rejects calls in all, and the
    half-open probes are counted cluster-wide. See the module docstring for the layout, the
    local view of ``state``, the time line and the fault policy (fail open).

    Args:
        client_or_url: A Redis URL or a ``redis.Redis`` client (its own timeouts apply).
        namespace: The breaker's name in Redis: stores of the same namespace share a state.
        time_source: ``"server"`` (default) or ``"caller"`` (each policy's ``now``).
        refresh_interval: Seconds :attr:`state` may be served from this process's last view.
        socket_timeout: Seconds any Redis call may take, connecting included.
        max_connections: Connections opened at most from a URL (per event loop for the
            asyncio side); a call finding all in use waits up to ``socket_timeout``, then
            fails like any Redis fault. Ignored with a client (its own pool applies).
        clock: The time source of ``refresh_interval`` and of the warnings' rate limit.

    Raises:
        TypeError: For a client that is neither a URL nor a ``redis.Redis``, or a namespace
            that is not a string.
        ValueError: For an empty namespace, an unknown ``time_source``, or a
            ``refresh_interval`` or ``socket_timeout`` that is not positive and finite.

    Example:
        >>> RedisBreakerStateStore("unix:///run/redis.sock", namespace="payments")
        RedisBreakerStateStore(namespace='payments', state='closed')
    """

    __slots__ = (
        "__weakref__",
        "_applied_at",
        "_clock",
        "_conn",
        "_events",
        "_expires",
        "_faults",
        "_forced",
        "_key",
        "_lock",
        "_mode",
        "_namespace",
        "_refresh",
        "_seen_epoch",
        "_seen_state",
        "_sent",
        "_time_source",
    )

    def __init__(
        self,
        client_or_url: Any,
        *,
        namespace: str,
        time_source: TimeSource = "server",
        refresh_interval: float = 0.1,
        socket_timeout: float = 0.5,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not isinstance(namespace, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"namespace must be a string, got {namespace!r}")
        if not namespace:
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}")
        if time_source not in ("server", "caller"):
            raise ValueError(f"time_source must be 'server' or 'caller', got {time_source!r}")
        self._refresh = check_timeout("refresh_interval", refresh_interval)
        self._conn = Connection(
            client_or_url,
            socket_timeout=socket_timeout,
            owner="RedisBreakerStateStore",
            max_connections=max_connections,
        )
        self._namespace = namespace
        self._key = breaker_key(namespace)
        self._time_source: TimeSource = time_source
        self._mode = "s" if time_source == "server" else "c"
        self._clock = clock
        self._lock = ForkSafeLock()
        self._seen_state = CircuitState.CLOSED
        self._seen_epoch = 0
        self._forced: CircuitState | None = None
        self._expires = -math.inf  # a new store has seen nothing yet: its first read asks Redis
        self._events: deque[Transition] = deque()
        self._sent = 0  # steps sent so far
        self._applied_at = 0  # steps sent when the view was last moved
        self._faults = FaultLog("RedisBreakerStateStore", namespace, clock)

    @property
    def namespace(self) -> str:
        """The breaker's name in Redis."""
        return self._namespace

    @property
    def time_source(self) -> TimeSource:
        """Whose clock decides: ``"server"`` or ``"caller"``."""
        return self._time_source

    @property
    def client(self) -> redis_py.Redis:
        """The sync redis-py client this store talks through."""
        return self._conn.sync

    @property
    def backend_errors(self) -> int:
        """Redis calls of this process that failed or timed out."""
        return self._faults.errors

    def __repr__(self) -> str:
        return (
            f"RedisBreakerStateStore(namespace={self._namespace!r}, "
            f"state={self._seen_state.value!r})"
        )

    # -- the local view ----------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The state as last seen; re-read from Redis when older than ``refresh_interval``."""
        if self._clock.now() >= self._expires:
            self._peek()
        return self._seen_state

    @property
    def epoch(self) -> int:
        """The epoch as last seen; re-read from Redis when older than ``refresh_interval``."""
        if self._clock.now() >= self._expires:
            self._peek()
        return self._seen_epoch

    @property
    def forced(self) -> CircuitState | None:
        """The state held by :meth:`force`, as last seen, or ``None``."""
        return self._forced

    def has_transitions(self) -> bool:
        """Return whether transitions made by this process wait in the log."""
        return bool(self._events)

    def drain_transitions(self) -> list[Transition]:
        """Return the transitions made by this process, in order, and forget them."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
            return events

    def _peek(self) -> None:
        """Re-read the state and epoch from Redis, moving nothing."""
        try:
            self._step("peek", None, 0, "")
        except BACKEND_ERRORS as error:
            self._fault("peek", error, "using the last state seen", doing="reading the state")

    # -- the steps ---------------------------------------------------------------------------

    def _step(self, op: str, policy: BreakerPolicy | None, ticket: int, target: str) -> Any:
        """Run one step in Redis, update the local view and the log; return the reply."""
        args, sent = self._prepare(op, policy, ticket, target)
        return self._apply(STEP(self._conn.sync, 1, self._key, *args), sent)

    async def _astep(
        self, client: Any, op: str, policy: BreakerPolicy | None, ticket: int, target: str
    ) -> Any:
        """Await one step on the loop's asyncio client, like :meth:`_step`."""
        args, sent = self._prepare(op, policy, ticket, target)
        return self._apply(await STEP.acall(client, 1, self._key, *args), sent)

    def _prepare(
        self, op: str, policy: BreakerPolicy | None, ticket: int, target: str
    ) -> tuple[tuple[Any, ...], int]:
        """Return the script's arguments for a step, and the step's number (sent order)."""
        if policy is None:
            now = "0"
            rules: tuple[Any, ...] = (1, 0, 1, 1, -1, 1, 1)
        else:
            now = "0" if self._mode == "s" else repr(float(policy.now()))
            rate = policy.failure_rate
            rules = (
                policy.failure_threshold,
                repr(float(policy.recovery_timeout)),
                policy.half_open_max_calls,
                policy.success_threshold,
                -1 if rate is None else repr(float(rate)),
                repr(float(policy.window)),
                policy.minimum_calls,
            )
        with self._lock:
            self._sent += 1
            sent = self._sent
        return (op, self._mode, now, *rules, ticket, target, IDLE_TTL_MS), sent

    def _apply(self, reply: Any, sent: int) -> Any:
        """Move the local view and the log by a step's reply; return the reply."""
        if self._faults.down:
            self._faults.recovered()
        state = _STATES[_text(reply[0])]
        epoch = int(reply[1])
        forced = _text(reply[4])
        logged = int(reply[5])
        with self._lock:
            # Concurrent steps' replies land in any order: one older than the view (a lower
            # epoch, from a step sent before the view last moved) must not move it back. A
            # step sent after that is newer whatever its epoch (a flushed Redis starts at 0).
            if epoch > self._seen_epoch or sent > self._applied_at:
                self._applied_at = self._sent
                # State before epoch, as the in-memory store: a lock-free reader's ticket is
                # then either current or stale.
                self._seen_state = state
                self._seen_epoch = epoch
                self._forced = _STATES[forced] if forced else None
            self._expires = self._clock.now() + self._refresh
            for index in range(logged // 2):
                old, new = reply[6 + 2 * index], reply[7 + 2 * index]
                self._events.append((_STATES[_text(old)], _STATES[_text(new)]))
        return reply

    def _fault(
        self,
        operation: str,
        error: BaseException,
        outcome: str,
        policy: Policy = "fail_open",
        *,
        doing: str | None = None,
    ) -> None:
        with self._lock:
            # Do not ask again at once: one failed refresh per interval, not one per call.
            self._expires = self._clock.now() + self._refresh
        self._faults.fault(operation, error, policy, outcome, doing=doing)

    def current_state(self, policy: BreakerPolicy) -> CircuitState:
        """Return the state now, moving an expired OPEN to HALF_OPEN (the last seen on faults)."""
        try:
            self._step("state", policy, 0, "")
        except BACKEND_ERRORS as error:
            self._fault("current_state", error, "using the last state seen")
        return self._seen_state

    def enter(self, policy: BreakerPolicy) -> BreakerAdmission:
        """Admit a call, or refuse it while open or out of half-open permits (admit on faults)."""
        try:
            reply = self._step("enter", policy, 0, "")
        except BACKEND_ERRORS as error:
            return self._failed_enter("enter", error)
        return self._admission(reply)

    def _failed_enter(self, operation: str, error: BaseException) -> BreakerAdmission:
        self._fault(operation, error, "admitting the call")
        return BreakerAdmission(True, self._seen_epoch, self._seen_state, 0.0)  # noqa: FBT003 - a record

    @staticmethod
    def _admission(reply: Any) -> BreakerAdmission:
        admitted = int(reply[2]) == 1
        retry = _text(reply[3])
        state = _STATES[_text(reply[0])]
        epoch = int(reply[1])
        if admitted:
            return BreakerAdmission(True, epoch, state, 0.0)  # noqa: FBT003 - a record
        return BreakerAdmission(False, epoch, state, None if retry == "none" else float(retry))  # noqa: FBT003 - a record

    def _record(self, op: str, ticket: int, policy: BreakerPolicy) -> bool:
        try:
            reply = self._step(op, policy, ticket, "")
        except BACKEND_ERRORS as error:
            self._fault(f"record_{op}", error, "the outcome is not counted")
            return False
        return int(reply[2]) == 1

    def record_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a success; return whether it closed the circuit."""
        return self._record("success", ticket, policy)

    def record_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a failure; return whether it opened the circuit."""
        return self._record("failure", ticket, policy)

    def record_ignored(self, ticket: int) -> None:
        """Record an outcome that does not count, giving back its half-open permit."""
        try:
            self._step("ignored", None, ticket, "")
        except BACKEND_ERRORS as error:
            self._fault("record_ignored", error, "the outcome is not counted")

    def _order(self, op: str, policy: BreakerPolicy, target: str) -> bool:
        try:
            reply = self._step(op, policy, 0, target)
        except BACKEND_ERRORS as error:
            self._fault(op, error, "raising", "raise")
            raise RedisUnavailableError(
                f"RedisBreakerStateStore {self._namespace!r}: {op} failed",
                operation=op,
                target=self._namespace,
            ) from error
        return int(reply[2]) == 1

    def reset(self, policy: BreakerPolicy) -> bool:
        """Force CLOSED with fresh counts for every process; return whether the state changed.

        Raises:
            RedisUnavailableError: If Redis fails.
        """
        return self._order("reset", policy, "")

    def force(self, state: CircuitState, policy: BreakerPolicy) -> bool:
        """Move to ``state`` (OPEN or CLOSED) and hold it for every process until :meth:`reset`.

        Raises:
            ValueError: For HALF_OPEN.
            RedisUnavailableError: If Redis fails.
        """
        if state is CircuitState.HALF_OPEN:
            raise ValueError(
                "state must be CircuitState.OPEN or CircuitState.CLOSED, not HALF_OPEN"
            )
        return self._order("force", policy, state.value)

    # -- the async side (AsyncBreakerStateStore): the same steps, awaited -------------------

    async def aview(self) -> tuple[int, CircuitState]:
        """Return the epoch and state as last seen, re-read (awaited) when too old."""
        if self._clock.now() >= self._expires:
            client = self._conn.aclient()
            if client is None:
                await asyncio.to_thread(self._peek)
            else:
                try:
                    await self._astep(client, "peek", None, 0, "")
                except BACKEND_ERRORS as error:
                    self._fault(
                        "apeek", error, "using the last state seen", doing="reading the state"
                    )
        return self._seen_epoch, self._seen_state

    async def aenter(self, policy: BreakerPolicy) -> BreakerAdmission:
        """Admit a call like :meth:`enter`, awaited."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.enter, policy)
        try:
            reply = await self._astep(client, "enter", policy, 0, "")
        except BACKEND_ERRORS as error:
            return self._failed_enter("aenter", error)
        return self._admission(reply)

    async def _arecord(self, op: str, ticket: int, policy: BreakerPolicy | None) -> bool:
        client = self._conn.aclient()
        if client is None:
            if policy is None:
                await asyncio.to_thread(self.record_ignored, ticket)
                return False
            return await asyncio.to_thread(self._record, op, ticket, policy)
        try:
            reply = await self._astep(client, op, policy, ticket, "")
        except BACKEND_ERRORS as error:
            self._fault(f"arecord_{op}", error, "the outcome is not counted")
            return False
        return int(reply[2]) == 1

    async def arecord_success(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a success like :meth:`record_success`, awaited."""
        return await self._arecord("success", ticket, policy)

    async def arecord_failure(self, ticket: int, policy: BreakerPolicy) -> bool:
        """Record a failure like :meth:`record_failure`, awaited."""
        return await self._arecord("failure", ticket, policy)

    async def arecord_ignored(self, ticket: int) -> None:
        """Record an outcome that does not count like :meth:`record_ignored`, awaited."""
        await self._arecord("ignored", ticket, None)

    async def aclose(self) -> None:
        """Close the running loop's asyncio connections (call it before the loop ends)."""
        await self._conn.aclose()

    def stats(self, policy: BreakerPolicy) -> RedisBreakerStats:
        """Return the cluster-wide counters (zeros when Redis fails) and ``backend_errors``."""
        try:
            reply = self._step("stats", policy, 0, "")
        except BACKEND_ERRORS as error:
            self._fault("stats", error, "reporting zeros")
            counts = [0] * len(_STAT_FIELDS)
        else:
            counts = [int(value) for value in reply[6 + int(reply[5]) :]]
        stats: dict[str, Any] = dict(zip(_STAT_FIELDS, counts, strict=True))
        stats["state"] = self._seen_state
        stats["backend_errors"] = self._faults.errors
        return stats  # type: ignore[return-value]  # built from _STAT_FIELDS plus two

    def close(self) -> None:
        """Close the connections this store opened."""
        self._conn.close()
