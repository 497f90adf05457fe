"""Tests of the /ws/events streams: slow readers, origins, caps (doubles, manual clock)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from python_mastery_portfolio.service.events import EventHub
from python_mastery_portfolio.service.streams import EventStreams
from python_mastery_portfolio.testing import ManualClock


class NeverReadingSocket:
    """A WebSocket double whose client never reads: every send (and close) waits forever."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {"host": "localhost:8000"}
        self.accepted = asyncio.Event()
        self.close_codes: list[int] = []
        self.forever = asyncio.Event()

    async def accept(self) -> None:
        self.accepted.set()

    async def receive(self) -> dict[str, Any]:
        await self.forever.wait()
        return {"type": "websocket.disconnect"}  # pragma: no cover - never set

    async def send_text(self, text: str) -> None:
        await self.forever.wait()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.close_codes.append(code)
        await self.forever.wait()


class TestSlowClients:
    async def test_never_reading_client_is_closed(self) -> None:
        """A client that does not take an event within the timeout is closed with 1008."""
        clock = ManualClock()
        hub = EventHub()
        streams = EventStreams(hub, send_timeout=5.0, clock=clock)
        socket = NeverReadingSocket()
        stream = asyncio.create_task(streams.serve(socket))  # type: ignore[arg-type]
        await socket.accepted.wait()
        hub.publish({"n": 1})
        await asyncio.wait_for(stream, timeout=5)
        assert socket.close_codes == [1008]
        assert streams.stats()["closed_slow"] == 1
        assert hub.stats()["subscribers"] == 0
        assert 5.0 in clock.sleeps


class TestChecks:
    def test_origin_without_host(self) -> None:
        """Without a Host nothing is the service's own origin."""
        assert not EventStreams(EventHub()).origin_allowed("http://x", None)

    def test_arguments(self) -> None:
        """One string of origins, or a timeout that is not positive, is refused."""
        with pytest.raises(TypeError, match="allowed_origins"):
            EventStreams(EventHub(), allowed_origins="https://a.example")
        with pytest.raises(ValueError, match="send_timeout"):
            EventStreams(EventHub(), send_timeout=0)

    def test_stats_start_at_zero(self) -> None:
        """Every counter is there from the start."""
        assert EventStreams(EventHub()).stats() == {
            "refused_origin": 0,
            "refused_full": 0,
            "closed_slow": 0,
            "closed_too_big": 0,
        }
