"""Tests of RequestMetrics' argument checks (its behaviour is tested with the middleware)."""

from __future__ import annotations

from typing import Any

import pytest

from python_mastery_portfolio.web.metrics import FOLD_EVERY, RequestMetrics
from tests.conftest import run_threads


class TestWindow:
    @pytest.mark.parametrize(
        ("window", "error", "message"),
        [
            (0, ValueError, "window must be >= 1, got 0"),
            (2.5, TypeError, "window must be an int, got 2.5"),
            (True, TypeError, "window must be an int, got True"),
        ],
        ids=["zero", "float", "bool"],
    )
    def test_refused(self, window: Any, error: type[Exception], message: str) -> None:
        """window must be an int >= 1, said in the shared message style."""
        with pytest.raises(error) as info:
            RequestMetrics(window=window)
        assert str(info.value) == message

    def test_smallest_window(self) -> None:
        """A window of one keeps the latest duration only."""
        metrics = RequestMetrics(window=1)
        metrics.record(200, 0.010)
        metrics.record(200, 0.020)
        assert metrics.stats()["samples"] == 1
        assert metrics.stats()["latency_p50_ms"] == 20.0


class TestCounting:
    def test_many_threads_count_exactly(self) -> None:
        """Records from many threads, read while they run, add up exactly in the end."""
        metrics = RequestMetrics(window=100)
        per_thread = FOLD_EVERY + 300  # each thread also folds now and then

        def work(index: int) -> None:
            for n in range(per_thread):
                metrics.record(200 if n % 2 else 404, 0.001, route=f"/r{index % 3}")
                if n % 500 == 0:
                    metrics.by_status()  # a reader folding while others append

        for result in run_threads(8, work):
            assert result is None
        total = 8 * per_thread
        assert metrics.stats()["requests"] == total
        assert sum(metrics.by_status().values()) == total
        assert sum(metrics.by_route().values()) == total
        assert metrics.stats()["samples"] == 100

    def test_unread_records_stay_bounded(self) -> None:
        """Without readers the records are counted every FOLD_EVERY: memory stays bounded."""
        metrics = RequestMetrics()
        for _ in range(5 * FOLD_EVERY + 7):
            metrics.record(200, 0.001)
        assert len(metrics._pending) < FOLD_EVERY  # the bound is the point
        assert metrics.stats()["requests"] == 5 * FOLD_EVERY + 7

    def test_reset_forgets_unread_records(self) -> None:
        metrics = RequestMetrics()
        metrics.record(200, 0.001)
        metrics.reset()
        metrics.record(500, 0.002)
        assert metrics.by_status() == {"500": 1}
        assert metrics.stats()["requests"] == 1
