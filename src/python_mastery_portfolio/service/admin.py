"""The service's admin endpoint: JSON-RPC 2.0 on a Unix socket, for ``pmp status/events/top``.

The methods:

==================  ======================================================================
``health``          ``{"status", "database", "version"}``; ``status`` is ``"error"`` (not
                    an error answer) when a write would fail, as ``GET /health`` checks
``stats``           the figures of ``GET /metrics``: ``requests`` (with ``by_status``),
                    ``cache``, ``rate_limiter``, ``events``
``users.count``     the number of users stored
``cache.clear``     empty the read cache; returns how many users it held
``log.set_level``   ``(level, logger="")``: set a logger's level (the root by default);
                    returns the previous level's name
==================  ======================================================================

Topic ``events``: every user change (``user.created``, ``user.updated``, ``user.deleted``),
the same JSON objects as ``/ws/events``, pushed to clients that called ``subscribe("events")``.

The socket is a local, file-permission-protected door: anyone who can open it can clear the
cache and change log levels, so it lives next to the database, not on the network.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from python_mastery_portfolio import __version__
from python_mastery_portfolio.exceptions import PortfolioError, ValidationError
from python_mastery_portfolio.resilience import RateLimiter
from python_mastery_portfolio.rpc import RpcServer
from python_mastery_portfolio.service.events import EventHub
from python_mastery_portfolio.service.streams import EventStreams
from python_mastery_portfolio.service.users import UserService
from python_mastery_portfolio.web.metrics import RequestMetrics

__all__ = [
    "EVENTS_TOPIC",
    "admin_endpoint",
    "build_admin_server",
    "service_stats",
]

logger = logging.getLogger(__name__)

EVENTS_TOPIC = "events"
"""The topic user changes are pushed on."""


def service_stats(
    metrics: RequestMetrics,
    users: UserService,
    limiter: RateLimiter,
    hub: EventHub,
    *,
    read_limiter: RateLimiter | None = None,
    streams: EventStreams | None = None,
) -> dict[str, Any]:
    """Return the service's figures: what ``GET /metrics`` and the ``stats`` method answer.

    ``rate_limiter`` is the write limiter; ``read_rate_limiter`` and ``websockets`` (the
    refused and closed WebSocket clients) are there when given.
    """
    stats: dict[str, Any] = {
        "requests": {**metrics.stats(), "by_status": metrics.by_status()},
        "cache": users.cache_stats(),
        "rate_limiter": limiter.stats(),
        "events": hub.stats(),
    }
    if read_limiter is not None:
        stats["read_rate_limiter"] = read_limiter.stats()
    if streams is not None:
        stats["websockets"] = streams.stats()
    return stats


def _level(level: str) -> int:
    levels = logging.getLevelNamesMapping()
    name = level.upper()
    if name not in levels:
        raise ValidationError(
            f"level must be one of {sorted(levels, key=levels.__getitem__)}, got {level!r}",
            field="level",
            value=level,
        )
    return levels[name]


def build_admin_server(
    *,
    users: UserService,
    hub: EventHub,
    metrics: RequestMetrics,
    limiter: RateLimiter,
    queue_size: int = 1000,
    read_limiter: RateLimiter | None = None,
    streams: EventStreams | None = None,
) -> RpcServer:
    """Return the admin JSON-RPC server with its methods registered (not serving yet).

    Args:
        users: The user service (counts, cache, health).
        hub: The event hub (its figures).
        metrics: The request metrics.
        limiter: The write rate limiter.
        read_limiter: The read rate limiter, if any.
        streams: The WebSocket event streams, if any.
        queue_size: Events buffered per subscribed client before the oldest are dropped.
    """
    server = RpcServer(queue_size=queue_size)

    @server.method
    async def health() -> dict[str, str]:
        try:
            await users.check_writable()  # the same checks as GET /health
        except Exception:
            logger.exception("Health check failed")
            return {"status": "error", "database": "error", "version": __version__}
        return {"status": "ok", "database": "ok", "version": __version__}

    @server.method
    def stats() -> dict[str, Any]:
        return service_stats(
            metrics, users, limiter, hub, read_limiter=read_limiter, streams=streams
        )

    @server.method("users.count")
    async def users_count() -> int:
        return await users.count()

    @server.method("cache.clear")
    def cache_clear() -> int:
        return users.clear_cache()

    @server.method("log.set_level")
    def log_set_level(level: str, logger: str = "") -> str:
        target = logging.getLogger(logger or None)
        previous = logging.getLevelName(target.level)
        target.setLevel(_level(level))
        return str(previous)

    return server


@contextlib.asynccontextmanager
async def admin_endpoint(
    path: Path, server: RpcServer, hub: EventHub, *, shared: bool = False
) -> AsyncGenerator[bool, None]:
    """Serve ``server`` on the Unix socket ``path`` and forward ``hub``'s events, in a block.

    Each event the hub publishes is pushed on the ``events`` topic as it is published.
    Yields whether the endpoint is up. A socket that cannot be served (a path too long for a
    Unix socket, a directory without write permission, another service on it) is logged as
    an error and the block runs without it: the admin endpoint is an operator's aid, and the
    API itself keeps working. With ``shared`` (several workers, one socket path) a socket
    another worker serves is expected: one worker serves it (every worker's events reach it
    through the change feed), the others log it at INFO.
    """
    async with contextlib.AsyncExitStack() as stack:
        served = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            await stack.enter_async_context(server.serve_unix(path))
            served = True
        except (OSError, PortfolioError) as error:
            if shared and isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
                logger.info("The admin socket %s is served by another worker", path)
            else:
                logger.error("The admin socket %s is not served: %s", path, error)  # noqa: TRY400 - the reason is the message
        if served:
            stack.callback(hub.add_listener(functools.partial(server.publish, EVENTS_TOPIC)))
            logger.info("Admin endpoint on %s", path)
        yield served
