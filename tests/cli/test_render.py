"""Tests of the rich renderings: the status table, event lines and the dashboard frame."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console, RenderableType

from python_mastery_portfolio.cli._render import (
    EVENT_COLOURS,
    dashboard,
    event_line,
    format_value,
    status_table,
)

STATS: dict[str, Any] = {
    "requests": {
        "requests": 1234,
        "samples": 1234,
        "latency_p50_ms": 1.25,
        "latency_p90_ms": 7.5,
        "latency_p99_ms": 42.0,
        "by_status": {"200": 1200, "404": 30, "429": 4},
    },
    "cache": {"hits": 90, "misses": 10, "hit_rate": 0.9, "size": 7, "maxsize": 1024},
    "rate_limiter": {"allowed": 55, "rejected": 4, "waiting": 0, "keys": 3},
    "events": {"subscribers": 1, "published": 12, "dropped": 0},
}

EVENT = {
    "type": "user.created",
    "user": {"id": "u-1", "email": "ada@example.org"},
    "request_id": "req-1",
    "time": "2026-01-02T03:04:05.678901+00:00",
}


def render(renderable: RenderableType, width: int = 120) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


class TestFormatValue:
    @pytest.mark.parametrize(
        ("name", "value", "shown"),
        [
            ("latency_p90_ms", 7.5, "7.5 ms"),
            ("hit_rate", 0.9, "90.0 %"),
            ("requests", 1234, "1,234"),
            ("flag", True, "True"),
            ("state", "closed", "closed"),
            ("by_status", {"200": 1, "404": 2}, "200: 1  404: 2"),
        ],
        ids=["ms", "rate", "count", "bool", "text", "mapping"],
    )
    def test_values(self, name: str, value: object, shown: str) -> None:
        """Latencies show ms, rates a percentage, counts thousands separators."""
        assert format_value(name, value) == shown


class TestStatusTable:
    def test_every_figure_is_a_row(self) -> None:
        """Each section's figures appear with their values, section titles once."""
        text = render(status_table(STATS))
        for shown in ("Requests", "Cache", "Rate limiter", "Events", "1,234", "42.0 ms"):
            assert shown in text
        assert "200: 1,200  404: 30  429: 4" in text
        assert "90.0 %" in text
        assert text.count("Cache") == 1

    def test_scalar_section(self) -> None:
        """A section that is a single value gets one row."""
        assert "uptime" in render(status_table({"uptime": 3}))


class TestEventLine:
    def test_parts(self) -> None:
        """Time (ms), type, user ID and request ID, in that order."""
        assert event_line(EVENT).plain == "[03:04:05.678] user.created user=u-1 request=req-1"

    @pytest.mark.parametrize("kind", sorted(EVENT_COLOURS), ids=sorted(EVENT_COLOURS))
    def test_colour_by_type(self, kind: str) -> None:
        """Each event type has its colour."""
        line = event_line({**EVENT, "type": kind})
        assert any(span.style == EVENT_COLOURS[kind] for span in line.spans)

    def test_missing_parts(self) -> None:
        """An event without time, user or request ID still makes a line."""
        line = event_line({"type": "other", "time": "not a time", "user": None})
        assert line.plain == "[--:--:--.---] other user=- request=-"
        assert any(span.style == "white" for span in line.spans)
        assert event_line({}).plain == "[--:--:--.---] ? user=- request=-"


class TestDashboard:
    def test_figures(self) -> None:
        """A frame shows requests by status, percentiles, hit rate, limiter and events."""
        text = render(dashboard(STATS, [EVENT, {**EVENT, "type": "user.deleted"}]))
        for shown in (
            "Requests",
            "1,234",
            "1,200",
            "429",
            "p50",
            "1.2 ms",
            "42.0 ms",
            "90.0 %",
            "7/1024",
            "rejected",
            "user.created user=u-1",
            "user.deleted",
        ):
            assert shown in text, shown

    def test_empty(self) -> None:
        """Before any request or event the frame shows zeros and says so."""
        text = render(dashboard({"requests": "n/a"}, []))
        assert "no events yet" in text
        assert "0.0 %" in text
        assert "0/-" in text
