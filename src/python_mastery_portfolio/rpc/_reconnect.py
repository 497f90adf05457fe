"""Connection states and the reconnection policy of ``RpcClient`` (seed: ResilientConnection)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from python_mastery_portfolio.retrying import RetryOptions, retrying

__all__ = ["DEFAULT_RECONNECT", "ConnectionState", "with_retry"]

_T = TypeVar("_T")


class ConnectionState(enum.StrEnum):
    """Where an :class:`~python_mastery_portfolio.rpc.RpcClient` stands; its callback gets these.

    Example:
        >>> ConnectionState.CONNECTED == "connected"
        True
    """

    CONNECTING = "connecting"
    """Opening a connection (the first one, or again after a drop)."""
    CONNECTED = "connected"
    """Calls go out at once."""
    DISCONNECTED = "disconnected"
    """The connection dropped; a reconnecting client is about to try again."""
    CLOSED = "closed"
    """Closed by the caller, dropped without ``reconnect``, or reconnection gave up."""


DEFAULT_RECONNECT: Final = RetryOptions(
    max_attempts=10, delay=0.1, backoff=2.0, exceptions=OSError, max_delay=5.0, jitter=0.1
)
"""The default reconnection policy: 10 attempts, 0.1 s doubling to at most 5 s, 0.1 s jitter.

Only ``OSError`` is retried (a refused or missing socket, and the client's own
``ConnectionLostError``, which is a ``ConnectionError``)."""


async def with_retry(open_connection: Callable[[], Awaitable[_T]], options: RetryOptions) -> _T:
    """Await ``open_connection()`` until it succeeds, as ``options`` allow.

    Raises:
        Exception: The last failure, once attempts (or the deadline) run out.

    Example:
        >>> import asyncio
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> clock, failures = ManualClock(), [OSError("refused")] * 2
        >>> async def open_connection() -> str:
        ...     if failures:
        ...         raise failures.pop()
        ...     return "link"
        >>> policy = RetryOptions(max_attempts=5, delay=1.0, exceptions=OSError, clock=clock)
        >>> asyncio.run(with_retry(open_connection, policy)), clock.sleeps
        ('link', [1.0, 2.0])
    """
    settings: dict[str, Any] = {
        field.name: getattr(options, field.name) for field in dataclasses.fields(options)
    }
    async for attempt in retrying(**settings, name="RpcClient.connect"):
        with attempt:
            connection = await open_connection()
    return connection  # pyright: ignore[reportPossiblyUnbound, reportPossiblyUnboundVariable, reportReturnType]  # retrying() raises unless an attempt succeeded
