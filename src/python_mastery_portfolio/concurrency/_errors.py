"""The error the connection pool raises when no connection frees up in time."""

from __future__ import annotations

from python_mastery_portfolio.exceptions import PortfolioError

__all__ = ["PoolTimeoutError"]


class PoolTimeoutError(PortfolioError, TimeoutError):
    """No connection became available within ``acquire_timeout``; ``pool`` names the pool.

    Also a :class:`TimeoutError`, so code that already catches timeouts keeps working.

    Example:
        >>> error = PoolTimeoutError("no connection", pool="db", max_connections=10, timeout=2.0)
        >>> error.pool, error.max_connections, isinstance(error, TimeoutError)
        ('db', 10, True)
    """

    default_code = "pool_timeout"
    http_status = 503
    fields = ("pool", "max_connections", "timeout")
    pool: str | None
    max_connections: int | None
    timeout: float | None
