"""The client commands' work: talk to the service's admin socket and show what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.live import Live

from python_mastery_portfolio.cli._render import dashboard, event_line, status_table
from python_mastery_portfolio.concurrency import CircularBuffer
from python_mastery_portfolio.rpc import RpcClient

__all__ = [
    "REFRESH_PER_SECOND",
    "as_event",
    "fetch_stats",
    "print_top_once",
    "run_events",
    "run_status",
    "run_top",
]

REFRESH_PER_SECOND = 4
"""How often ``pmp top`` redraws (seed 003's ``LiveDisplay`` rate)."""


def as_event(payload: object) -> Mapping[str, Any]:
    """Return a pushed payload as an event mapping (anything else becomes its type name).

    Example:
        >>> as_event({"type": "user.created"}), as_event(["odd"])
        ({'type': 'user.created'}, {'type': "['odd']"})
    """
    if isinstance(payload, Mapping):
        return cast("Mapping[str, Any]", payload)  # decoded JSON: an object's keys are strings
    return {"type": str(payload)}


async def fetch_stats(socket: Path, *, call_timeout: float) -> dict[str, Any]:
    """Return the service's ``stats`` answer (the figures of ``/metrics``)."""
    async with RpcClient.unix(socket, timeout=call_timeout) as client:
        stats: dict[str, Any] = await client.call("stats", timeout=call_timeout)
        return stats


async def run_status(socket: Path, console: Console, *, as_json: bool, call_timeout: float) -> None:
    """Print the service's figures as a table, or as JSON for scripts."""
    stats = await fetch_stats(socket, call_timeout=call_timeout)
    if as_json:
        console.print_json(json.dumps(stats))
    else:
        console.print(status_table(stats))


async def run_events(
    socket: Path,
    console: Console,
    *,
    count: int | None,
    as_json: bool,
    status: Console | None = None,
) -> None:
    """Print each event the service pushes, one line each; stop after ``count`` if given.

    Once subscribed, says so on ``status`` (stderr by default), so a script or a test knows
    that no later event will be missed.
    """
    status = Console(stderr=True) if status is None else status
    seen = 0
    async with RpcClient.unix(socket) as client, client.subscribe("events") as events:
        status.print(f"Watching events on {socket} (Ctrl-C to stop)", style="dim")
        # The stream ends only by count, Ctrl-C or a lost connection (ConnectionLostError).
        async for payload in events:  # pragma: no branch
            if as_json:
                console.print(json.dumps(payload), markup=False, highlight=False, soft_wrap=True)
            else:
                console.print(event_line(as_event(payload)), soft_wrap=True)
            seen += 1
            if count is not None and seen >= count:
                return


async def _collect(client: RpcClient, events: CircularBuffer[Mapping[str, Any]]) -> None:
    async with client.subscribe("events") as subscription:
        async for payload in subscription:
            events.append(as_event(payload))


async def run_top(
    socket: Path,
    console: Console,
    *,
    call_timeout: float,
    frames: int | None = None,
    interval: float = 1 / REFRESH_PER_SECOND,
    recent: int = 10,
    status: Console | None = None,
) -> None:
    """Show the live dashboard, redrawn every ``interval`` seconds, until interrupted.

    Args:
        socket: The admin socket.
        console: Where to draw.
        call_timeout: Seconds to wait for each ``stats`` answer.
        frames: Stop after this many frames (``None``: run until Ctrl-C).
        interval: Seconds between frames.
        recent: How many recent events the dashboard lists.
        status: Where to say that the dashboard is connected (stderr by default).
    """
    status = Console(stderr=True) if status is None else status
    events: CircularBuffer[Mapping[str, Any]] = CircularBuffer(max_size=recent)
    async with RpcClient.unix(socket, timeout=call_timeout) as client:
        collector = asyncio.create_task(_collect(client, events))
        try:
            stats = await client.call("stats", timeout=call_timeout)
            status.print(f"Watching {socket} (Ctrl-C to quit)", style="dim")
            with Live(
                dashboard(stats, events.get_recent(recent)),
                console=console,
                refresh_per_second=REFRESH_PER_SECOND,
            ) as live:
                shown = 1
                while frames is None or shown < frames:
                    await asyncio.sleep(interval)
                    stats = await client.call("stats", timeout=call_timeout)
                    live.update(dashboard(stats, events.get_recent(recent)))
                    shown += 1
        finally:
            collector.cancel()
            # A lost connection is reported by the stats call; the collector only follows it.
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await collector


async def print_top_once(socket: Path, console: Console, *, call_timeout: float) -> None:
    """Print one frame of the dashboard (no recent events: nothing was watched yet)."""
    console.print(dashboard(await fetch_stats(socket, call_timeout=call_timeout), []))
