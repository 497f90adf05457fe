"""Tests of RequestMetrics' argument checks (its behaviour is tested with the middleware)."""

from __future__ import annotations

from typing import Any

import pytest

from python_mastery_portfolio.web.metrics import RequestMetrics


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
