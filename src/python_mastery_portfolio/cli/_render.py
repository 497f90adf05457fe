"""Rich renderings of the service's figures: the status table, event lines, the dashboard.

Pure functions of plain data (the ``stats`` answer and event payloads), so each is tested by
rendering into a recording console, with no service running.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

__all__ = [
    "EVENT_COLOURS",
    "dashboard",
    "event_line",
    "format_value",
    "status_table",
]

EVENT_COLOURS: Mapping[str, str] = {
    "user.created": "green",
    "user.updated": "yellow",
    "user.deleted": "red",
}
"""The colour of each event type (others are white), as in seed 003's ``EventStreamDisplay``."""

_SECTION_TITLES = {
    "requests": "Requests",
    "cache": "Cache",
    "rate_limiter": "Rate limiter",
    "events": "Events",
}
_NO_TIME = "--:--:--.---"


def format_value(name: str, value: object) -> str:
    """Return ``value`` as shown in a table: latencies in ms, rates as percentages.

    Example:
        >>> format_value("latency_p50_ms", 1.25), format_value("hit_rate", 0.5)
        ('1.2 ms', '50.0 %')
        >>> format_value("requests", 1200), format_value("by_status", {"200": 3, "404": 1})
        ('1,200', '200: 3  404: 1')
    """
    if isinstance(value, Mapping):
        figures = cast("Mapping[object, object]", value)
        return "  ".join(f"{key}: {format_value(str(key), item)}" for key, item in figures.items())
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if name.endswith("_ms"):
        return f"{value:.1f} ms"
    if name.endswith("_rate"):
        return f"{value * 100:.1f} %"
    return f"{value:,}"


def status_table(stats: Mapping[str, Any]) -> Table:
    """Return the table of ``pmp status``: one row per figure, grouped by section.

    Example:
        >>> import io
        >>> from rich.console import Console
        >>> console = Console(record=True, width=60, file=io.StringIO())
        >>> console.print(status_table({"cache": {"hits": 3, "hit_rate": 0.75}}))
        >>> "75.0 %" in console.export_text()
        True
    """
    table = Table(title="Service status", title_justify="left")
    table.add_column("section", style="cyan")
    table.add_column("figure", style="white")
    table.add_column("value", style="bold", justify="right")
    for section, figures in stats.items():
        title = _SECTION_TITLES.get(section, section)
        if not isinstance(figures, Mapping):
            table.add_row(title, "", format_value(section, figures))
            continue
        for index, (name, value) in enumerate(cast("Mapping[str, object]", figures).items()):
            table.add_row(title if index == 0 else "", name, format_value(name, value))
        table.add_section()
    return table


def _time(value: object) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return _NO_TIME
    return moment.strftime("%H:%M:%S.%f")[:-3]


def event_line(event: Mapping[str, Any]) -> Text:
    """Return one coloured line for an event: time, type, user ID and request ID.

    Example:
        >>> event = {"type": "user.created", "time": "2026-01-02T03:04:05.678+00:00",
        ...          "user": {"id": "u1"}, "request_id": "r1"}
        >>> event_line(event).plain
        '[03:04:05.678] user.created user=u1 request=r1'
    """
    kind = str(event.get("type", "?"))
    colour = EVENT_COLOURS.get(kind, "white")
    user = event.get("user")
    user_id = (
        cast("Mapping[str, object]", user).get("id", "-") if isinstance(user, Mapping) else "-"
    )
    request_id = event.get("request_id") or "-"
    line = Text(f"[{_time(event.get('time'))}] ", style="dim")
    line.append(kind, style=colour)
    line.append(f" user={user_id}")
    line.append(f" request={request_id}", style="dim")
    return line


def _figures(title: str, rows: Iterable[tuple[str, str]]) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="cyan")
    grid.add_column(justify="right", style="bold")
    for name, value in rows:
        grid.add_row(name, value)
    return Panel(grid, title=title, expand=True)


def _section(stats: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = stats.get(name)
    return cast("Mapping[str, Any]", section) if isinstance(section, Mapping) else {}


def dashboard(stats: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> RenderableType:
    """Return one frame of ``pmp top``: requests, latency, cache, rate limiter, recent events.

    Args:
        stats: The service's ``stats`` answer (the figures of ``/metrics``).
        events: The recent events to list, oldest first.

    Example:
        >>> import io
        >>> from rich.console import Console
        >>> console = Console(record=True, width=100, file=io.StringIO())
        >>> stats = {"requests": {"requests": 3, "by_status": {"200": 3}}}
        >>> console.print(dashboard(stats, []))
        >>> "200" in console.export_text()
        True
    """
    requests = _section(stats, "requests")
    cache = _section(stats, "cache")
    limiter = _section(stats, "rate_limiter")
    by_status = requests.get("by_status")
    status_rows = [("total", format_value("requests", requests.get("requests", 0)))]
    if isinstance(by_status, Mapping):
        counts = cast("Mapping[object, object]", by_status)
        status_rows += [(str(code), format_value("count", n)) for code, n in counts.items()]
    latency_rows = [
        (f"p{p}", format_value("_ms", requests.get(f"latency_p{p}_ms", 0.0))) for p in (50, 90, 99)
    ]
    cache_rows = [
        ("hit rate", format_value("hit_rate", cache.get("hit_rate", 0.0))),
        ("hits", format_value("hits", cache.get("hits", 0))),
        ("misses", format_value("misses", cache.get("misses", 0))),
        ("size", f"{cache.get('size', 0)}/{cache.get('maxsize', '-')}"),
    ]
    limiter_rows = [
        (name, format_value(name, limiter.get(name, 0)))
        for name in ("allowed", "rejected", "waiting", "keys")
    ]
    top = Table.grid(expand=True)
    for _ in range(4):
        top.add_column(ratio=1)
    top.add_row(
        _figures("Requests", status_rows),
        _figures("Latency", latency_rows),
        _figures("Cache", cache_rows),
        _figures("Rate limiter", limiter_rows),
    )
    lines = [event_line(event) for event in events]
    recent = Group(*lines) if lines else Text("no events yet", style="dim")
    return Group(top, Panel(recent, title="Recent events"))
