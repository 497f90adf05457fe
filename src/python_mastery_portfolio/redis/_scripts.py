"""Lua scripts run atomically by the Redis server, and how they are called.

Scripts are called by SHA (``EVALSHA``); a server that does not know one (it restarted, or
its script cache was flushed) gets it loaded again, once, and the call is retried.
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from typing import Any

from redis.exceptions import NoScriptError

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


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


class _Held:
    """A thread's connection: given back to the pool when the thread's locals are freed."""

    __slots__ = ("__weakref__", "connection", "pid")

    def __init__(self, pool: Any) -> None:
        self.pid = os.getpid()
        self.connection = pool.get_connection()
        # A thread's locals go when it ends: without this, each thread that ever called the
        # script would keep a pool connection (an open socket) for the pool's lifetime.
        # In a forked child the pool resets itself first and ignores a connection it did not
        # make, so the parent's socket is never handed on there.
        weakref.finalize(self, pool.release, self.connection).atexit = False


class FastScript:
    """One script on a connection held by each thread, its request packed by hand.

    The hot path of a store whose every decision is one script: it skips redis-py's
    per-command work (a connection taken from the pool and given back, the generic packing,
    the retry wrapper), about half of a local round trip's cost. Each thread keeps one
    connection of the client's pool (a forked child opens its own) and gives it back when
    it ends; a connection that failed is closed, then given back, and the next call
    connects again, within the pool's timeouts.
    """

    __slots__ = ("_client", "_head", "_local", "_script")

    def __init__(self, script: Script, client: Any, keys: int) -> None:
        self._script = script
        self._client = client
        self._local = threading.local()
        # Every argument list starts alike: EVALSHA, the SHA, the number of keys.
        self._head = _bulk(b"EVALSHA") + _bulk(script.sha.encode()) + _bulk(b"%d" % keys)

    def _connection(self) -> Any:
        held: _Held | None = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():
            held = self._local.held = _Held(self._client.connection_pool)
        return held.connection

    def __call__(self, *args: bytes) -> Any:
        """Run the script with ``args`` (its key names first), as bytes; load it if needed."""
        request = b"*%d\r\n" % (len(args) + 3) + self._head + b"".join(map(_bulk, args))
        connection = self._connection()
        try:
            connection.send_packed_command((request,))
            try:
                return connection.read_response()
            except NoScriptError:
                self._client.script_load(self._script.source)
                connection.send_packed_command((request,))
                return connection.read_response()
        except BaseException:
            # Closed before it goes back to the pool: no other thread gets a half-read socket.
            connection.disconnect()
            self._local.held = None
            raise
