"""A broadcast hub: every subscriber gets every event, and no subscriber can slow the rest.

Each subscriber has its own bounded queue. :meth:`EventHub.publish` never waits: when a
subscriber's queue is full, its oldest event is dropped (and counted) to make room, so a
slow WebSocket client loses old events instead of holding up the API or other clients.
Events are serialised to JSON once, however many subscribers receive them, and not at all
when nobody listens (:attr:`EventHub.active` lets a publisher skip building them).

The hub belongs to one event loop: call :meth:`~EventHub.publish` and
:meth:`~EventHub.close` from that loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypedDict

from python_mastery_portfolio._internal.checks import require_count

__all__ = ["EventHub", "EventHubStats", "Subscription"]


class EventHubStats(TypedDict):
    """What :meth:`EventHub.stats` returns."""

    subscribers: int
    """Subscribers connected now."""
    published: int
    """Events published since the hub started."""
    dropped: int
    """Events dropped because a subscriber's queue was full, over all subscribers ever."""


logger = logging.getLogger(__name__)


def _offer(queue: asyncio.Queue[str | None], item: str | None) -> bool:
    """Put ``item`` without waiting, dropping the oldest event if full; return whether it did."""
    dropped = queue.full()
    if dropped:
        queue.get_nowait()
    queue.put_nowait(item)
    return dropped


class Subscription:
    """One subscriber's queue of JSON events; use it as a context manager.

    ``await get()`` returns the next event as JSON text, or ``None`` once the hub is closed.
    Made by :meth:`EventHub.subscribe`, which fills the queue it shares with it.
    """

    def __init__(
        self,
        queue: asyncio.Queue[str | None],
        unsubscribe: Callable[[Subscription], None],
    ) -> None:
        self._queue = queue
        self._unsubscribe = unsubscribe
        self.dropped = 0
        """How many events were dropped because this subscriber fell behind."""

    async def get(self) -> str | None:
        """Wait for the next event (JSON text); ``None`` means the hub closed."""
        return await self._queue.get()

    @property
    def pending(self) -> int:
        """The number of events waiting to be taken."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop receiving events."""
        self._unsubscribe(self)

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
        max_subscribers: The most subscribers at once (:attr:`full` says when reached).

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

    def __init__(self, *, queue_size: int = 100, max_subscribers: int = 1000) -> None:
        require_count("queue_size", queue_size, 1)
        require_count("max_subscribers", max_subscribers, 1)
        self._queue_size = queue_size
        self._max_subscribers = max_subscribers
        # The hub keeps each subscriber's queue itself: it fills them, the subscriptions read.
        self._subscribers: dict[Subscription, asyncio.Queue[str | None]] = {}
        self._listeners: list[Callable[[Mapping[str, Any]], None]] = []
        self._closed = False
        self._published = 0
        self._dropped = 0

    @property
    def active(self) -> bool:
        """Whether anyone listens (a subscriber or a listener): publishing costs nothing else.

        Example:
            >>> hub = EventHub()
            >>> hub.active
            False
            >>> with hub.subscribe():
            ...     hub.active
            True
        """
        return bool(self._subscribers or self._listeners)

    @property
    def full(self) -> bool:
        """Whether ``max_subscribers`` are subscribed (the caller should refuse another)."""
        return len(self._subscribers) >= self._max_subscribers

    def subscribe(self) -> Subscription:
        """Return a new subscription; close it (or leave its ``with`` block) when done.

        A subscription made after :meth:`close` receives only the end-of-stream ``None``.
        The cap is the caller's to enforce (check :attr:`full` first): the hub itself
        never refuses.
        """
        queue: asyncio.Queue[str | None] = asyncio.Queue(self._queue_size)
        subscription = Subscription(queue, self._unsubscribe)
        if self._closed:
            queue.put_nowait(None)
        else:
            self._subscribers[subscription] = queue
        return subscription

    def add_listener(self, listener: Callable[[Mapping[str, Any]], None]) -> Callable[[], None]:
        """Call ``listener(event)`` on each publish, before the subscribers; return a remover.

        For forwarding events elsewhere (the admin endpoint pushes them to its clients)
        without a queue of its own: the listener must not wait, and is not counted among the
        subscribers. An exception it raises is logged and does not stop the publish.

        Example:
            >>> hub = EventHub()
            >>> seen = []
            >>> remove = hub.add_listener(seen.append)
            >>> hub.publish({"n": 1})
            0
            >>> remove()
            >>> hub.publish({"n": 2})
            0
            >>> seen
            [{'n': 1}]
        """
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.pop(subscription, None)

    def _deliver(self, item: str | None) -> None:
        for subscription, queue in self._subscribers.items():  # runs no code of others
            if _offer(queue, item):
                subscription.dropped += 1
                self._dropped += 1

    def publish(self, event: Mapping[str, Any]) -> int:
        """Send ``event`` to every subscriber without waiting; return how many got it.

        Raises:
            TypeError: If ``event`` cannot be serialised to JSON (checked only when anyone
                listens: with nobody, nothing is serialised).
        """
        if self._closed:
            return 0
        self._published += 1
        if not self._subscribers and not self._listeners:
            return 0
        text = json.dumps(event)
        if self._listeners:
            for listener in tuple(self._listeners):  # a listener may remove itself
                try:
                    listener(event)
                except Exception:
                    logger.exception("An event listener failed")
        self._deliver(text)
        return len(self._subscribers)

    def close(self) -> None:
        """Tell every subscriber the stream ended (their ``get`` returns ``None``)."""
        self._closed = True
        self._deliver(None)
        self._subscribers.clear()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def stats(self) -> EventHubStats:
        """Return ``subscribers``, ``published`` and ``dropped`` (over all subscribers ever)."""
        return {
            "subscribers": len(self._subscribers),
            "published": self._published,
            "dropped": self._dropped,
        }
