"""Request counts by status and by route, and latency percentiles over a sliding window."""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from typing import TypedDict

from python_mastery_portfolio._internal.checks import require_count

__all__ = ["FOLD_EVERY", "UNMATCHED_ROUTE", "RequestMetrics", "RequestMetricsStats"]

UNMATCHED_ROUTE = "<unmatched>"
"""The route of requests no route template matched (a 404, a mounted app)."""

FOLD_EVERY = 1024
"""The most finished requests :class:`RequestMetrics` holds before counting them."""


class RequestMetricsStats(TypedDict):
    """What :meth:`RequestMetrics.stats` returns."""

    requests: int
    """Requests recorded since the start (or the last reset)."""
    samples: int
    """Durations the percentiles are computed over (at most ``window``)."""
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float


class RequestMetrics:
    """Count requests by status and by route, and keep the latest durations for percentiles.

    Safe from any thread. Percentiles use the nearest-rank method over the last ``window``
    requests, so they follow the service's recent behaviour and memory stays bounded.
    Routes are counted by their template (``/users/{user_id}``), never by the raw path, so
    the number of keys is bounded by the application's routes (requests that matched none
    count under :data:`UNMATCHED_ROUTE`).

    Args:
        window: How many recent durations the percentiles are computed over.

    Example:
        >>> metrics = RequestMetrics()
        >>> for ms in (10, 20, 30, 40):
        ...     metrics.record(200, ms / 1000)
        >>> metrics.record(404, 0.005)
        >>> metrics.by_status()
        {'200': 4, '404': 1}
        >>> stats = metrics.stats()
        >>> stats["requests"], stats["latency_p50_ms"], stats["latency_p99_ms"]
        (5, 20.0, 40.0)
        >>> metrics.record(200, 0.001, route="/users/{user_id}")
        >>> metrics.by_route()
        {'/users/{user_id}': 1, '<unmatched>': 5}
    """

    def __init__(self, *, window: int = 10_000) -> None:
        require_count("window", window, 1)
        self._lock = threading.Lock()
        # Finished requests not counted yet: appended without a lock (deque.append is atomic),
        # counted when read or every FOLD_EVERY requests, so memory stays bounded.
        self._pending: deque[tuple[int, float, str | None]] = deque()
        self._durations: deque[float] = deque(maxlen=window)
        self._by_status: Counter[int] = Counter()
        self._by_route: Counter[str] = Counter()
        self._total = 0

    def record(self, status: int, seconds: float, *, route: str | None = None) -> None:
        """Record one finished request: its status, duration in seconds and route template.

        Costs one append: every request's hot path calls it. The counting is done by
        whoever reads the figures next (or by this call, once every
        :data:`FOLD_EVERY` requests).

        Args:
            status: The response status.
            seconds: How long the request took.
            route: The matched route's template (never the raw path); ``None`` when no
                route matched.
        """
        pending = self._pending
        pending.append((status, seconds, route))
        if len(pending) >= FOLD_EVERY:
            with self._lock:
                self._fold()

    def _fold(self) -> None:
        """Count the pending requests (the lock is held)."""
        pending = self._pending
        by_status, by_route, durations = self._by_status, self._by_route, self._durations
        # What is pending now, not what keeps arriving: one fold's work (under the lock) is
        # bounded, whatever other threads append meanwhile.
        folded = len(pending)
        for _ in range(folded):
            status, seconds, route = pending.popleft()
            by_status[status] += 1
            by_route[UNMATCHED_ROUTE if route is None else route] += 1
            durations.append(seconds)
        self._total += folded

    def by_status(self) -> dict[str, int]:
        """Return the request count per status, keyed by the status as a string, sorted."""
        with self._lock:
            self._fold()
            return {str(status): count for status, count in sorted(self._by_status.items())}

    def by_route(self) -> dict[str, int]:
        """Return the request count per route template, sorted by template."""
        with self._lock:
            self._fold()
            return dict(sorted(self._by_route.items()))

    def stats(self) -> RequestMetricsStats:
        """Return ``requests``, ``samples`` and ``latency_p50_ms`` / ``_p90_ms`` / ``_p99_ms``.

        Percentiles are 0.0 before the first request.
        """
        with self._lock:
            self._fold()
            durations = sorted(self._durations)
            total = self._total

        def percentile_ms(percentile: int) -> float:
            if not durations:
                return 0.0
            rank = max(1, math.ceil(percentile / 100 * len(durations)))
            return round(durations[rank - 1] * 1000, 3)

        return {
            "requests": total,
            "samples": len(durations),
            "latency_p50_ms": percentile_ms(50),
            "latency_p90_ms": percentile_ms(90),
            "latency_p99_ms": percentile_ms(99),
        }

    def reset(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._fold()
            self._durations.clear()
            self._by_status.clear()
            self._by_route.clear()
            self._total = 0
