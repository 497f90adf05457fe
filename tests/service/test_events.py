"""Tests of the WebSocket broadcast hub (bounded drop-oldest queues)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from python_mastery_portfolio.service.events import EventHub


class FailingSocket:
    """A WebSocket double whose sends fail and whose client never speaks."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.closed: int | None = None
        self.silence = asyncio.Event()
        self.accepted = asyncio.Event()

    async def accept(self) -> None:
        self.accepted.set()

    async def receive(self) -> dict[str, Any]:
        await self.silence.wait()
        return {"type": "websocket.disconnect"}  # pragma: no cover - never set

    async def send_text(self, text: str) -> None:
        raise RuntimeError("connection reset")

    async def close(self, code: int = 1000) -> None:  # pragma: no cover - not on this path
        self.closed = code


class TestStreamEvents:
    async def test_send_failure_ends_the_stream(self, caplog: pytest.LogCaptureFixture) -> None:
        """A send that fails ends that client's stream and unsubscribes it."""
        from python_mastery_portfolio.service.streams import EventStreams

        hub = EventHub()
        socket = FailingSocket()
        stream = asyncio.create_task(EventStreams(hub).serve(socket))  # type: ignore[arg-type]
        await socket.accepted.wait()  # subscribed before the handshake
        assert hub.stats()["subscribers"] == 1
        with caplog.at_level(logging.DEBUG, logger="python_mastery_portfolio.service.streams"):
            hub.publish({"n": 1})
            await asyncio.wait_for(stream, timeout=5)
        assert hub.stats()["subscribers"] == 0
        assert socket.closed is None
        assert any("connection reset" in r.getMessage() for r in caplog.records)


class TestEventHub:
    async def test_every_subscriber_gets_every_event(self) -> None:
        """Each subscriber receives each published event, in order."""
        hub = EventHub()
        with hub.subscribe() as first, hub.subscribe() as second:
            assert hub.publish({"n": 1}) == 2
            hub.publish({"n": 2})
            for sub in (first, second):
                assert [json.loads(await sub.get() or "") for _ in range(2)] == [
                    {"n": 1},
                    {"n": 2},
                ]

    async def test_full_queue_drops_oldest_and_counts(self) -> None:
        """A subscriber that falls behind loses its oldest events, counted."""
        hub = EventHub(queue_size=3)
        with hub.subscribe() as sub:
            for n in range(10):
                hub.publish({"n": n})
            assert sub.pending == 3
            assert sub.dropped == 7
            assert [json.loads(await sub.get() or "")["n"] for _ in range(3)] == [7, 8, 9]
        assert hub.stats() == {"subscribers": 0, "published": 10, "dropped": 7}

    async def test_slow_subscriber_does_not_hold_up_others(self) -> None:
        """A subscriber that never reads does not delay or limit a fast one."""
        hub = EventHub(queue_size=2)
        received: list[int] = []
        with hub.subscribe() as slow, hub.subscribe() as fast:

            async def consume() -> None:
                while len(received) < 100:
                    received.append(json.loads(await fast.get() or "")["n"])

            consumer = asyncio.create_task(consume())
            for n in range(100):
                hub.publish({"n": n})  # never waits, whatever the slow one does
                await asyncio.sleep(0)
            await asyncio.wait_for(consumer, timeout=5)
            assert received == list(range(100))
            assert slow.dropped == 98
            assert fast.dropped == 0

    async def test_publish_from_many_tasks(self) -> None:
        """200 tasks publishing at once: a big enough queue receives every event."""
        hub = EventHub(queue_size=500)
        with hub.subscribe() as sub:

            async def publish(n: int) -> None:
                hub.publish({"n": n})

            await asyncio.gather(*(publish(n) for n in range(200)))
            seen = {json.loads(await sub.get() or "")["n"] for _ in range(200)}
            assert seen == set(range(200))

    def test_unsubscribe_on_exit(self) -> None:
        """Leaving the with block unsubscribes (disconnect clean-up)."""
        hub = EventHub()
        with hub.subscribe():
            assert hub.stats()["subscribers"] == 1
        assert hub.stats()["subscribers"] == 0
        assert hub.publish({"n": 1}) == 0

    def test_close_twice_is_harmless(self) -> None:
        """Closing a subscription twice does nothing more."""
        hub = EventHub()
        sub = hub.subscribe()
        sub.close()
        sub.close()
        assert hub.stats()["subscribers"] == 0

    async def test_hub_close_ends_every_stream(self) -> None:
        """close() wakes every waiting subscriber with None."""
        hub = EventHub()
        subs = [hub.subscribe() for _ in range(3)]
        waiters = [asyncio.create_task(sub.get()) for sub in subs]
        await asyncio.sleep(0)
        hub.close()
        assert await asyncio.gather(*waiters) == [None, None, None]
        assert hub.closed
        assert hub.stats()["subscribers"] == 0

    async def test_close_with_full_queue_still_delivers_end(self) -> None:
        """The end-of-stream marker gets through a full queue (the oldest event goes)."""
        hub = EventHub(queue_size=1)
        sub = hub.subscribe()
        hub.publish({"n": 1})
        hub.close()
        assert await sub.get() is None
        assert hub.stats()["dropped"] == 1

    async def test_after_close(self) -> None:
        """After close, publishing reaches nobody and new subscriptions end at once."""
        hub = EventHub()
        hub.close()
        assert hub.publish({"n": 1}) == 0
        assert hub.stats()["published"] == 0
        assert await hub.subscribe().get() is None

    def test_unserialisable_event(self) -> None:
        """An event JSON cannot hold is refused before anyone receives it."""
        hub = EventHub()
        with hub.subscribe() as sub, pytest.raises(TypeError):
            hub.publish({"bad": object()})
        assert sub.pending == 0

    @pytest.mark.parametrize(
        ("size", "error"),
        [(0, ValueError), (-5, ValueError), (2.5, TypeError), (True, TypeError)],
        ids=["zero", "negative", "float", "bool"],
    )
    def test_bad_queue_size(self, size: Any, error: type[Exception]) -> None:
        """queue_size must be an int >= 1."""
        with pytest.raises(error, match="queue_size"):
            EventHub(queue_size=size)

    @pytest.mark.parametrize(
        ("size", "message"),
        [(0, "queue_size must be >= 1, got 0"), (2.5, "queue_size must be an int, got 2.5")],
        ids=["zero", "float"],
    )
    def test_bad_queue_size_message(self, size: Any, message: str) -> None:
        """The refusal reads like every other argument check of the toolkit."""
        with pytest.raises((TypeError, ValueError)) as info:
            EventHub(queue_size=size)
        assert str(info.value) == message

    async def test_closing_one_subscription_leaves_the_others(self) -> None:
        """A subscriber that leaves stops receiving; the rest go on, with their own counts."""
        hub = EventHub(queue_size=1)
        first, second = hub.subscribe(), hub.subscribe()
        hub.publish({"n": 1})
        first.close()
        assert hub.publish({"n": 2}) == 1
        assert (first.pending, first.dropped) == (1, 0)
        assert (second.pending, second.dropped) == (1, 1)
        assert await second.get() == '{"n": 2}'
        assert hub.stats() == {"subscribers": 1, "published": 2, "dropped": 1}


class TestListeners:
    async def test_listener_sees_each_event_and_is_not_a_subscriber(self) -> None:
        """A listener gets every published event, in order, and is not counted."""
        hub = EventHub()
        seen: list[object] = []
        remove = hub.add_listener(seen.append)
        with hub.subscribe() as subscription:
            assert hub.publish({"n": 1}) == 1
            assert await subscription.get() == '{"n": 1}'
        assert hub.stats()["subscribers"] == 0
        remove()
        remove()  # removing twice is harmless
        hub.publish({"n": 2})
        assert seen == [{"n": 1}]

    def test_failing_listener_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """A listener that raises is logged; the others and the publish go on."""
        hub = EventHub()
        seen: list[object] = []

        def broken(event: object) -> None:
            raise RuntimeError("listener bug")

        hub.add_listener(broken)
        hub.add_listener(seen.append)
        with caplog.at_level(logging.ERROR, "python_mastery_portfolio.service.events"):
            hub.publish({"n": 1})
        assert seen == [{"n": 1}]
        assert "An event listener failed" in caplog.text
        assert hub.stats()["published"] == 1
