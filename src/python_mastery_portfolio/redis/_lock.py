"""``RedisLock``: a lock shared by processes and machines, with fencing tokens.

Acquiring sets the key ``pmp:lock:<name>`` to a random token with ``SET NX PX`` and, in the
same Lua script, increments ``pmp:fence:<name>`` (with a namespace ``ns``: ``pmp:lock:ns:<name>``
and ``pmp:fence:ns:<name>``): the new value is the holder's *fencing token*,
larger than every earlier holder's, for writes elsewhere that must refuse a stale holder.
Releasing and extending are Lua scripts that act only when the key still holds this
owner's token, so an owner whose lock expired cannot release or extend its successor's.

While held, a daemon thread (or, for a lock taken with ``aacquire``, a task) extends the
lock every ``ttl / 3`` seconds until release. If Redis cannot be reached the lock *fails
closed*: acquiring and extending raise :class:`RedisUnavailableError`, never grant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import threading
from types import TracebackType
from typing import Any, Final, Self

import redis as redis_py

from python_mastery_portfolio._internal.checks import require_at_least
from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.exceptions import LockHeldError
from python_mastery_portfolio.redis._connection import (
    BACKEND_ERRORS,
    DEFAULT_MAX_CONNECTIONS,
    Connection,
    FaultLog,
    RedisUnavailableError,
    check_timeout,
)
from python_mastery_portfolio.redis._keys import lock_keys

__all__ = ["RedisLock"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

_ACQUIRE: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('INCR', KEYS[2])
end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXTEND: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_FIRST_POLL: Final = 0.002
_MAX_POLL: Final = 0.05


class RedisLock:
    """A mutual-exclusion lock in Redis, for threads, tasks, processes and machines alike.

    One ``RedisLock`` object is one would-be owner: give each thread, task or process its
    own object for the same ``name``; they contend through Redis. Not reentrant. The same
    interface as :class:`~python_mastery_portfolio.processes.PidLock` where they overlap:
    ``acquire`` returns the lock, ``held``, ``release``, ``with``.

    Args:
        client_or_url: A Redis URL, or a ``redis.Redis`` client (the async methods then run
            its calls in a worker thread).
        name: The lock's name; every owner of the same name on the same Redis contends.
        ttl: Seconds the lock lives unless extended; auto-renewal extends it while held.
        auto_renew: Extend the lock every ``ttl / 3`` while held, until released.
        timeout: Seconds ``acquire`` waits by default (``None``: forever, ``0``: one try).
        namespace: A prefix of the name (``None``: none): the lock ``"b"`` in namespace
            ``"a"`` is the lock ``"a:b"``.
        socket_timeout: Seconds any Redis call may take.
        max_connections: Connections opened at most from a URL (per event loop for the
            asyncio side); a call finding all in use waits up to ``socket_timeout``, then
            fails like any Redis fault. Ignored with a client (its own pool applies).
        clock: The time source for waiting (``sleep``/``asleep`` between tries).

    Raises:
        TypeError: For a wrong client or option type.
        ValueError: For an empty name, or a ``ttl``, ``timeout`` or ``socket_timeout`` out
            of range.

    Example::

        from python_mastery_portfolio.redis import RedisLock

        with RedisLock("redis://localhost:6379/0", "nightly-report", ttl=30, timeout=5) as lock:
            storage.write(report, fence=lock.fence)  # storage refuses fences below its last

    Options are checked without a server:

    >>> RedisLock("unix:///nowhere.sock", "jobs", ttl=0)
    Traceback (most recent call last):
    ValueError: ttl must be positive and finite, got 0
    >>> RedisLock("unix:///nowhere.sock", "jobs").held
    False
    """

    def __init__(
        self,
        client_or_url: Any,
        name: str,
        *,
        ttl: float = 10.0,
        auto_renew: bool = True,
        timeout: float | None = None,
        namespace: str | None = None,
        socket_timeout: float = 0.5,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if namespace is not None:
            if not isinstance(namespace, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
                raise TypeError(f"namespace must be a string or None, got {namespace!r}")
            if not namespace:
                raise ValueError("namespace must be a non-empty string or None")
        if not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"name must be a string, got {name!r}")
        if not name:
            raise ValueError("name must be a non-empty string")
        self._ttl = check_timeout("ttl", ttl)
        self._px = max(1, math.ceil(self._ttl * 1000))
        if not isinstance(auto_renew, bool):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"auto_renew must be a bool, got {auto_renew!r}")
        self._auto_renew = auto_renew
        self._timeout = self._check_wait(timeout)
        self._conn = Connection(
            client_or_url,
            socket_timeout=socket_timeout,
            owner="RedisLock",
            max_connections=max_connections,
        )
        self._name = name
        self._namespace = namespace
        self._keys = list(lock_keys(name, namespace))
        self._clock = clock
        self._faults = FaultLog("RedisLock", self._keys[0], clock)
        sync = self._conn.sync
        self._acquire_script = sync.register_script(_ACQUIRE)
        self._release_script = sync.register_script(_RELEASE)
        self._extend_script = sync.register_script(_EXTEND)
        self._token: str | None = None
        self._fence: int | None = None
        self._renewals = 0
        self._stop: threading.Event | None = None
        self._renewer: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _check_wait(timeout: object) -> float | None:
        if timeout is None:
            return None
        require_at_least("timeout", timeout, 0)  # type: ignore[arg-type]  # checked at run time
        return float(timeout)  # type: ignore[arg-type]  # a number, checked above

    def __repr__(self) -> str:
        state = f"held, fence={self._fence}" if self.held else "not held"
        return f"<RedisLock {self._name!r} {state}>"

    @property
    def name(self) -> str:
        """The lock's name."""
        return self._name

    @property
    def client(self) -> redis_py.Redis:
        """The sync redis-py client this lock talks through."""
        return self._conn.sync

    @property
    def namespace(self) -> str | None:
        """The prefix of the lock's name, or ``None``."""
        return self._namespace

    @property
    def held(self) -> bool:
        """Whether this owner acquired the lock and has not released it (it may have expired)."""
        return self._token is not None

    @property
    def fence(self) -> int | None:
        """The fencing token of the current hold: larger than every earlier holder's."""
        return self._fence

    @property
    def renewals(self) -> int:
        """How many times auto-renewal has extended the lock (for monitoring)."""
        return self._renewals

    # -- shared steps ----------------------------------------------------------------------

    def _unavailable(self, operation: str, error: BaseException) -> RedisUnavailableError:
        self._faults.fault(operation, error, "fail_closed", "failing closed")
        failure = RedisUnavailableError(
            f"RedisLock {self._name!r}: cannot {operation}, Redis is unavailable",
            operation=operation,
            target=self._name,
        )
        failure.__cause__ = error
        return failure

    def _begin(self, timeout: object) -> float | None:
        if self._token is not None:
            raise RuntimeError(f"RedisLock {self._name!r} is already held by this owner")
        wait = self._timeout if timeout is MISSING else self._check_wait(timeout)
        return None if wait is None else self._clock.now() + wait

    def _next_wait(self, deadline: float | None, poll: float) -> float:
        """Return how long to wait before the next try; raise if the deadline passed."""
        if deadline is None:
            return poll
        remaining = deadline - self._clock.now()
        if remaining <= 0:
            raise LockHeldError(
                f"RedisLock {self._name!r} is held by another owner",
                path=self._keys[0],
                name=self._name,
            )
        return min(poll, remaining)

    def _took(self, token: str, fence: int) -> None:
        self._token = token
        self._fence = fence

    def _renew_failed(self, error: BaseException) -> None:
        self._faults.fault("renew", error, "fail_closed", "retrying", doing="renewal")

    def _renewed(self, token: str, result: object) -> bool:
        """Count a renewal; on a lost lock log it and return False (renewal stops)."""
        if self._faults.down:
            self._faults.recovered()
        if result:
            self._renewals += 1
            return True
        logger.warning("RedisLock %r: lost before renewal (it expired); renewal stops", self._name)
        return False

    # -- sync ------------------------------------------------------------------------------

    def acquire(self, timeout: float | None = MISSING) -> Self:
        """Take the lock, waiting up to ``timeout`` (default: the lock's); return the lock.

        Raises:
            LockHeldError: If another owner still holds it when the wait ends.
            RedisUnavailableError: If Redis fails (the lock is never granted then).
            RuntimeError: If this owner holds it already.
        """
        deadline = self._begin(timeout)
        poll = _FIRST_POLL
        while True:
            token = secrets.token_hex(16)
            try:
                fence = int(self._acquire_script(keys=self._keys, args=[token, self._px]))
            except BACKEND_ERRORS as error:
                raise self._unavailable("acquire", error) from error
            if self._faults.down:
                self._faults.recovered()
            if fence:
                self._took(token, fence)
                if self._auto_renew:
                    self._start_renewer(token)
                return self
            self._clock.sleep(self._next_wait(deadline, poll))
            poll = min(poll * 2, _MAX_POLL)

    def _start_renewer(self, token: str) -> None:
        stop = self._stop = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew_loop, args=(token, stop), name=f"RedisLock-{self._name}"
        )
        self._renewer.daemon = True
        self._renewer.start()

    def _renew_loop(self, token: str, stop: threading.Event) -> None:
        while not stop.wait(self._ttl / 3):
            try:
                result = self._extend_script(keys=self._keys[:1], args=[token, self._px])
            except BACKEND_ERRORS as error:
                self._renew_failed(error)
                continue
            if not self._renewed(token, result):
                return

    def _stop_renewer(self) -> None:
        if self._stop is not None:
            self._stop.set()
            assert self._renewer is not None  # noqa: S101 - set together with _stop
            self._renewer.join()  # never this thread: the renewer runs no caller's code
            self._stop = self._renewer = None

    def extend(self, ttl: float | None = None) -> bool:
        """Reset the lock's life to ``ttl`` (default: the lock's); ``False`` if it was lost.

        Raises:
            RedisUnavailableError: If Redis fails.
            RuntimeError: If this owner does not hold the lock.
        """
        if self._token is None:
            raise RuntimeError(f"RedisLock {self._name!r} is not held by this owner")
        px = self._px if ttl is None else max(1, math.ceil(check_timeout("ttl", ttl) * 1000))
        try:
            return bool(self._extend_script(keys=self._keys[:1], args=[self._token, px]))
        except BACKEND_ERRORS as error:
            raise self._unavailable("extend", error) from error

    def release(self) -> bool:
        """Release the lock if this owner still holds it; return whether it did.

        ``False`` means it had expired (and maybe passed to another owner, which keeps it)
        or Redis failed (it then expires after ``ttl``); both are logged at WARNING. A lock
        not held by this owner returns ``False`` at once.
        """
        token = self._token
        if token is None:
            return False
        self._stop_renewer()
        self._cancel_task()
        self._token = None
        try:
            released = bool(self._release_script(keys=self._keys[:1], args=[token]))
        except BACKEND_ERRORS as error:
            self._faults.fault("release", error, "fail_closed", "it expires after its ttl")
            return False
        if not released:
            logger.warning("RedisLock %r: expired before release", self._name)
        return released

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # -- async -----------------------------------------------------------------------------

    async def aacquire(self, timeout: float | None = MISSING) -> Self:  # noqa: ASYNC109 - acquire's wait, not a cancel scope
        """Take the lock like :meth:`acquire`, awaiting between tries; renewal runs as a task."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.acquire, timeout)
        deadline = self._begin(timeout)
        script = client.register_script(_ACQUIRE)
        poll = _FIRST_POLL
        while True:
            token = secrets.token_hex(16)
            try:
                fence = int(await script(keys=self._keys, args=[token, self._px]))
            except BACKEND_ERRORS as error:
                raise self._unavailable("acquire", error) from error
            if self._faults.down:
                self._faults.recovered()
            if fence:
                self._took(token, fence)
                if self._auto_renew:
                    self._task = asyncio.get_running_loop().create_task(self._arenew(token))
                return self
            await self._clock.asleep(self._next_wait(deadline, poll))
            poll = min(poll * 2, _MAX_POLL)

    async def _arenew(self, token: str) -> None:
        client = self._conn.aclient()
        assert client is not None  # noqa: S101 - only started with a URL's asyncio client
        script = client.register_script(_EXTEND)
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                result = await script(keys=self._keys[:1], args=[token, self._px])
            except BACKEND_ERRORS as error:
                self._renew_failed(error)
                continue
            if not self._renewed(token, result):
                return

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def aextend(self, ttl: float | None = None) -> bool:
        """Reset the lock's life like :meth:`extend`."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.extend, ttl)
        if self._token is None:
            raise RuntimeError(f"RedisLock {self._name!r} is not held by this owner")
        px = self._px if ttl is None else max(1, math.ceil(check_timeout("ttl", ttl) * 1000))
        try:
            return bool(
                await client.register_script(_EXTEND)(keys=self._keys[:1], args=[self._token, px])
            )
        except BACKEND_ERRORS as error:
            raise self._unavailable("extend", error) from error

    async def arelease(self) -> bool:
        """Release the lock like :meth:`release`."""
        client = self._conn.aclient()
        if client is None:
            return await asyncio.to_thread(self.release)
        token = self._token
        if token is None:
            return False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._stop_renewer()
        self._token = None
        try:
            script = client.register_script(_RELEASE)
            released = bool(await script(keys=self._keys[:1], args=[token]))
        except BACKEND_ERRORS as error:
            self._faults.fault("release", error, "fail_closed", "it expires after its ttl")
            return False
        if not released:
            logger.warning("RedisLock %r: expired before release", self._name)
        return released

    async def __aenter__(self) -> Self:
        return await self.aacquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.arelease()

    async def aclose(self) -> None:
        """Close the running loop's asyncio connections (call it before the loop ends)."""
        await self._conn.aclose()

    def close(self) -> None:
        """Close the connections this lock opened (it must not be held)."""
        self._conn.close()
