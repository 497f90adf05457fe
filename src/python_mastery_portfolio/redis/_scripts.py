"""Lua scripts run atomically by the Redis server, and how they are called.

Scripts are called by SHA (``EVALSHA``); a server that does not know one (it restarted, or
its script cache was flushed) gets it loaded again, once, and the call is retried.
"""

from __future__ import annotations

import hashlib
import os
import threading
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


class FastScript:
    """One script on a connection held by each thread, its request packed by hand.

    The hot path of a store whose every decision is one script: it skips redis-py's
    per-command work (a connection taken from the pool and given back, the generic packing,
    the retry wrapper), about half of a local round trip's cost. Each thread keeps one
    connection of the client's pool (a forked child opens its own); a connection that
    failed is dropped and the next call connects again, within the pool's timeouts.
    """

    __slots__ = ("_client", "_head", "_local", "_script")

    def __init__(self, script: Script, client: Any, keys: int) -> None:
        self._script = script
        self._client = client
        self._local = threading.local()
        # Every argument list starts alike: EVALSHA, the SHA, the number of keys.
        self._head = _bulk(b"EVALSHA") + _bulk(script.sha.encode()) + _bulk(b"%d" % keys)

    def _connection(self) -> Any:
        held = getattr(self._local, "held", None)
        pid = os.getpid()
        if held is None or held[0] != pid:
            held = self._local.held = (pid, self._client.connection_pool.get_connection())
        return held[1]

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
            self._local.held = None
            connection.disconnect()
            raise
