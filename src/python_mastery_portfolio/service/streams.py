"""The ``/ws/events`` stream: who may connect, how many, and what happens to slow readers.

:class:`EventStreams` serves one WebSocket client at a time per call of :meth:`serve`:

- a browser page from another site cannot connect (its ``Origin`` must be the service's
  own, or one of ``allowed_origins``; clients that send no ``Origin`` are not browsers and
  are let in): cross-site WebSocket hijacking would otherwise stream every user change to
  any page the user visits. Refused: closed with 1008 (policy violation) before the
  handshake completes;
- at most the hub's ``max_subscribers`` at once; another is accepted and closed with 1013
  (try again later), so it knows why;
- a client that does not read an event within ``send_timeout`` is closed with 1008: its
  socket buffer is full, and it would otherwise stay subscribed forever;
- a message from the client longer than ``max_message_size`` closes it with 1009.

The counts are in :meth:`EventStreams.stats` (``/metrics`` shows them under ``websockets``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TypedDict

from starlette.websockets import WebSocket, WebSocketDisconnect

from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.service.events import EventHub, Subscription

__all__ = ["EventStreams", "EventStreamsStats"]

logger = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
GOING_AWAY = 1001


class EventStreamsStats(TypedDict):
    """What :meth:`EventStreams.stats` returns."""

    refused_origin: int
    """Connections refused because of their ``Origin``."""
    refused_full: int
    """Connections closed because ``max_subscribers`` were connected."""
    closed_slow: int
    """Clients closed because they did not read an event within ``send_timeout``."""
    closed_too_big: int
    """Clients closed because they sent a message over ``max_message_size``."""


class _SlowClientError(Exception):
    """The client did not take an event in time."""


def _origin_host(origin: str) -> str:
    """Return ``host[:port]`` of an ``Origin`` value (``scheme://host[:port]``), lowercased."""
    return origin.lower().partition("://")[2].rstrip("/")


class EventStreams:
    """Stream a hub's events to WebSocket clients, with an Origin check, a cap and timeouts.

    Args:
        hub: The event hub; its ``full`` property is the subscriber cap.
        allowed_origins: Origins (``https://app.example``) accepted besides the service's
            own (an ``Origin`` whose host and port are the request's ``Host``).
        send_timeout: Seconds a client may take to take one event.
        max_message_size: The longest message (in bytes or characters) a client may send.
        clock: The clock of the send timeout.

    Example:
        >>> streams = EventStreams(EventHub(), allowed_origins=["https://app.example"])
        >>> streams.origin_allowed("https://app.example", "localhost:8000")
        True
        >>> streams.origin_allowed("http://localhost:8000", "localhost:8000")
        True
        >>> streams.origin_allowed("https://evil.example", "localhost:8000")
        False
    """

    def __init__(
        self,
        hub: EventHub,
        *,
        allowed_origins: Iterable[str] = (),
        send_timeout: float = 10.0,
        max_message_size: int = 64 * 1024,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if isinstance(allowed_origins, str):
            raise TypeError("allowed_origins must be an iterable of strings, not one string")
        if not send_timeout > 0:
            raise ValueError(f"send_timeout must be > 0, got {send_timeout!r}")
        self._hub = hub
        self._origins = frozenset(origin.lower().rstrip("/") for origin in allowed_origins)
        self._send_timeout = send_timeout
        self._max_message_size = max_message_size
        self._clock = clock
        self._stats: EventStreamsStats = {
            "refused_origin": 0,
            "refused_full": 0,
            "closed_slow": 0,
            "closed_too_big": 0,
        }

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Return whether a client with this ``Origin`` on this ``Host`` may connect."""
        if origin is None:
            return True  # not a browser: no page of another site can be behind it
        if origin.lower().rstrip("/") in self._origins:
            return True
        return host is not None and _origin_host(origin) == host.lower()

    def stats(self) -> EventStreamsStats:
        """Return the refusal and closing counts (see :class:`EventStreamsStats`)."""
        return {**self._stats}

    async def serve(self, websocket: WebSocket) -> None:
        """Send every event to the client until it disconnects, lags, or the hub closes."""
        headers = websocket.headers
        if not self.origin_allowed(headers.get("origin"), headers.get("host")):
            self._stats["refused_origin"] += 1
            logger.info("Refused a WebSocket from origin %r", headers.get("origin"))
            await websocket.close(code=POLICY_VIOLATION)
            return
        if self._hub.full:
            self._stats["refused_full"] += 1
            await websocket.accept()
            await websocket.close(code=TRY_AGAIN_LATER, reason="too many subscribers")
            return
        # Subscribe before accepting, so a client that saw the handshake misses no event.
        with self._hub.subscribe() as subscription:
            await websocket.accept()
            await self._stream(websocket, subscription)

    async def _stream(self, websocket: WebSocket, subscription: Subscription) -> None:
        sender = asyncio.create_task(self._forward(subscription, websocket))
        watcher = asyncio.create_task(self._until_disconnect(websocket))
        try:
            await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, watcher):
                task.cancel()
            await asyncio.wait({sender, watcher})
        code: int | None = None
        for task in (sender, watcher):
            error = None if task.cancelled() else task.exception()
            if isinstance(error, _SlowClientError):
                self._stats["closed_slow"] += 1
                code = POLICY_VIOLATION
            elif error is not None and not isinstance(error, WebSocketDisconnect):
                logger.debug("Event stream ended: %r", error)
        if watcher.done() and not watcher.cancelled() and watcher.exception() is None:
            too_big = watcher.result()
        else:
            too_big = False
        if too_big:
            self._stats["closed_too_big"] += 1
            code = TOO_BIG
        if sender.done() and not sender.cancelled() and sender.exception() is None:
            code = GOING_AWAY  # the hub closed (the server is stopping): say goodbye properly
        if code is not None:
            await self._close(websocket, code)

    async def _close(self, websocket: WebSocket, code: int) -> None:
        # A client whose buffer is full may not take the close frame either: do not wait on it.
        closing = asyncio.ensure_future(websocket.close(code=code))
        timer = asyncio.ensure_future(self._clock.asleep(self._send_timeout))
        await asyncio.wait({closing, timer}, return_when=asyncio.FIRST_COMPLETED)
        for task in (closing, timer):
            task.cancel()
        await asyncio.wait({closing, timer})

    async def _forward(self, subscription: Subscription, websocket: WebSocket) -> None:
        while (text := await subscription.get()) is not None:
            sending = asyncio.ensure_future(websocket.send_text(text))
            timer = asyncio.ensure_future(self._clock.asleep(self._send_timeout))
            try:
                done, _ = await asyncio.wait({sending, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
                sending.cancel()  # nothing when it finished
            if sending not in done:
                raise _SlowClientError
            sending.result()  # a send that failed ends the stream

    async def _until_disconnect(self, websocket: WebSocket) -> bool:
        """Ignore the client's messages until it goes; return whether one was too big."""
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            data = message.get("text") or message.get("bytes") or ""
            if len(data) > self._max_message_size:
                return True
        return False
