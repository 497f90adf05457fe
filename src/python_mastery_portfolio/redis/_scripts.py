"""Lua scripts run atomically by the Redis server, and how they are called.

Scripts are called by SHA (``EVALSHA``); a server that does not know one (it restarted, or
its script cache was flushed) gets it loaded again, once, and the call is retried.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError

__all__ = ["Script"]


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
