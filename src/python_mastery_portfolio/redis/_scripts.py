"""Lua scripts run atomically by the Redis server, and how they are called.

Scripts are called by SHA (``EVALSHA``); a server that does not know one (it restarted, or
its script cache was flushed) gets it loaded again, once, and the call is retried.
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Any, Final

from redis.exceptions import NoScriptError

from python_mastery_portfolio.redis._fork import after_fork_in_child

__all__ = ["FastScript", "Script"]


class Script:
    """One Lua script, called by its SHA and loaded on demand."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, client: Any, keys: int, *args: Any) -> Any:
        """Run the script with ``keys`` key names first among ``args``; load it if needed."""
        try:
            return client.evalsha(self.sha, keys, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, keys, *args)

    async def acall(self, client: Any, keys: int, *args: Any) -> Any:
        """Await the script on an asyncio client, like calling it; load it if needed."""
        try:
            return await client.evalsha(self.sha, keys, *args)
        except NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, keys, *args)


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


_MAX_IDLE: Final = 64
"""Idle connections a script keeps at most, whatever its pool's bound."""


class FastScript:
    """One script on connections it keeps between calls, its request packed by hand.

    The hot path of a store whose every decision is one script: it skips redis-py's
    per-command work (a connection taken from the pool and given back, the generic packing,
    the retry wrapper), about half of a local round trip's cost. A call takes an idle
    connection kept by the script, else one from the client's pool (a bounded, blocking pool
    waits for one up to its timeout, then raises ``ConnectionError``), and keeps it for the
    next call -- at most ``max_connections - 1`` of them, so that at least one of the
    pool's connections always goes back to the pool for its other users and waiters; the
    rest go back to the pool. A connection that failed is closed and given back, and the
    next call connects again, within the pool's timeouts. A forked child drops the parent's
    connections (it opens its own).
    """

    __slots__ = ("__weakref__", "_head", "_idle", "_keep", "_pool", "_script")

    def __init__(self, script: Script, client: Any, keys: int) -> None:
        self._script = script
        self._pool = client.connection_pool
        self._idle: deque[Any] = deque()
        self._keep = min(max(0, int(self._pool.max_connections) - 1), _MAX_IDLE)
        # Every argument list starts alike: EVALSHA, the SHA, the number of keys.
        self._head = _bulk(b"EVALSHA") + _bulk(script.sha.encode()) + _bulk(b"%d" % keys)
        after_fork_in_child(self, type(self)._after_fork)

    def _after_fork(self) -> None:  # pragma: no cover - runs in forked children (the fork tests)
        self._idle = deque()  # the parent's sockets: never used here

    def __call__(self, *args: bytes) -> Any:
        """Run the script with ``args`` (its key names first), as bytes; load it if needed."""
        request = b"*%d\r\n" % (len(args) + 3) + self._head + b"".join(map(_bulk, args))
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = self._pool.get_connection()
        try:
            connection.send_packed_command((request,))
            try:
                reply = connection.read_response()
            except NoScriptError:
                # Loaded on this connection: taking a second one from a bounded pool could
                # wait forever for threads that each hold one and wait likewise.
                connection.send_command("SCRIPT", "LOAD", self._script.source)
                connection.read_response()
                connection.send_packed_command((request,))
                reply = connection.read_response()
        except BaseException:
            # Closed before it goes back to the pool: no other thread gets a half-read socket.
            connection.disconnect()
            self._pool.release(connection)
            raise
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            self._pool.release(connection)
        return reply
