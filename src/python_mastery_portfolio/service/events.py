"""A broadcast hub: every subscriber gets every event, and no subscriber can slow the rest.

Each subscriber has its own bounded queue. :meth:`EventHub.publish` never waits: when a
subscriber's queue is full, its oldest event is dropped (and counted) to make room, so a
slow WebSocket client loses old events instead of holding up the API or other clients.
Events are serialised to JSON once, however many subscribers receive them.

The hub belongs to one event loop: call :meth:`~EventHub.publish` and
:meth:`~EventHub.close` from that loop's thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

__all__ = ["EventHub", "Subscription"]

logger = logging.getLogger(__name__)


class Subscription:
    """One subscriber's queue of JSON events; use it as a context manager.

    ``await get()`` returns the next event as JSON text, or ``None`` once the hub is closed.
    """

    def __init__(self, hub: EventHub, maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        """How many events were dropped because this subscriber fell behind."""

    def _put(self, item: str | None) -> bool:
        dropped = False
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            dropped = True
        self._queue.put_nowait(item)
        return dropped

    async def get(self) -> str | None:
        """Wait for the next event (JSON text); ``None`` means the hub closed."""
        return await self._queue.get()

    @property
    def pending(self) -> int:
        """The number of events waiting to be taken."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop receiving events."""
        self._hub._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventHub:
    """Broadcast JSON events to subscribers with bounded, drop-oldest queues.

    Args:
        queue_size: Events buffered per subscriber before the oldest are dropped.

    Example:
        >>> import asyncio
        >>> async def demo():
        ...     hub = EventHub(queue_size=2)
        ...     with hub.subscribe() as sub:
        ...         for n in range(3):
        ...             hub.publish({"n": n})
        ...         return [await sub.get(), await sub.get()], sub.dropped
        >>> asyncio.run(demo())
        (['{"n": 1}', '{"n": 2}'], 1)
    """

    def __init__(self, *, queue_size: int = 100) -> None:
        if isinstance(queue_size, bool) or not isinstance(queue_size, int):
            raise TypeError(f"queue_size must be an int, got {queue_size!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size!r}")
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._closed = False
        self._published = 0
        self._dropped = 0

    def subscribe(self) -> Subscription:
        """Return a new subscription; close it (or leave its ``with`` block) when done.

        A subscription made after :meth:`close` receives only the end-of-stream ``None``.
        """
        subscription = Subscription(self, self._queue_size)
        if self._closed:
            subscription._put(None)
        else:
            self._subscribers.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, event: Mapping[str, Any]) -> int:
        """Send ``event`` to every subscriber without waiting; return how many got it.

        Raises:
            TypeError: If ``event`` cannot be serialised to JSON.
        """
        if self._closed:
            return 0
        text = json.dumps(event)
        self._published += 1
        for subscription in tuple(self._subscribers):
            if subscription._put(text):
                self._dropped += 1
        return len(self._subscribers)

    def close(self) -> None:
        """Tell every subscriber the stream ended (their ``get`` returns ``None``)."""
        self._closed = True
        for subscription in tuple(self._subscribers):
            if subscription._put(None):
                self._dropped += 1
        self._subscribers.clear()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def stats(self) -> dict[str, int]:
        """Return ``subscribers``, ``published`` and ``dropped`` (over all subscribers ever)."""
        return {
            "subscribers": len(self._subscribers),
            "published": self._published,
            "dropped": self._dropped,
        }
