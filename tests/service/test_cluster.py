"""The change feed between workers (a real redis-server) and the service using it."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_py

from python_mastery_portfolio.service.app import create_app
from python_mastery_portfolio.service.cluster import RedisChangeFeed
from python_mastery_portfolio.service.events import EventHub
from python_mastery_portfolio.service.models import UserCreate, UserUpdate
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.service.users import UserService
from python_mastery_portfolio.testing import ManualClock
from tests.redis.conftest import RedisServer
from tests.service.test_app import make_settings

Change = tuple[str | None, Mapping[str, Any] | None]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """This module's own redis-server: fault tests stop and restart it."""
    redis_server = RedisServer(tmp_path_factory.mktemp("redis-feed"))
    redis_server.start()
    yield redis_server
    redis_server.stop()


@pytest.fixture
def url(server: RedisServer) -> str:
    if server.process is None:  # pragma: no cover - a fault test failed before restarting
        server.start()
    client = redis_py.Redis.from_url(server.url)
    client.flushdb()
    client.close()
    return server.url


class Recorder:
    """The callbacks of a feed, recording what they get; ``wait`` for a count."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.syncs: list[bool] = []
        self.moved = asyncio.Event()

    def on_change(self, user_id: str | None, event: Mapping[str, Any] | None) -> None:
        self.changes.append((user_id, event))
        self.moved.set()

    def on_sync(self, synced: bool) -> None:
        self.syncs.append(synced)
        self.moved.set()

    async def wait(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not condition():
                self.moved.clear()
                await self.moved.wait()


async def eventually(condition: Callable[[], Any]) -> None:
    """Wait (at most 10 s) until ``condition()`` (or the awaitable it returns) is true."""
    for _ in range(1000):
        outcome = condition()
        if await outcome if asyncio.iscoroutine(outcome) else outcome:
            return
        await asyncio.sleep(0.01)  # waiting for another task or process, not for time
    pytest.fail("the condition never held")  # pragma: no cover - failure path


def feed(url: str, worker: str, **options: Any) -> RedisChangeFeed:
    return RedisChangeFeed(url, namespace="test", worker=worker, **options)


@pytest.fixture
async def pair(url: str) -> AsyncIterator[tuple[RedisChangeFeed, Recorder, Recorder]]:
    """Worker a's feed (returned) and the recorders of a and of a second worker, b."""
    a, b = feed(url, "a", report_interval=0.05), feed(url, "b", report_interval=0.05)
    seen_a, seen_b = Recorder(), Recorder()
    async with (
        a.running(on_change=seen_a.on_change, on_sync=seen_a.on_sync, report=lambda: {"n": 1}),
        b.running(on_change=seen_b.on_change, on_sync=seen_b.on_sync, report=lambda: {"n": 2}),
    ):
        yield a, seen_a, seen_b


class TestFeed:
    def test_options_are_checked(self) -> None:
        """Seconds must be positive."""
        with pytest.raises(ValueError, match="ping_interval must be a positive number"):
            RedisChangeFeed("redis://x", ping_interval=0)

    async def test_changes_reach_the_other_workers_only(
        self, pair: tuple[RedisChangeFeed, Recorder, Recorder]
    ) -> None:
        """b receives a's change; a does not receive its own."""
        a, seen_a, seen_b = pair
        assert seen_a.syncs == seen_b.syncs == [True]
        assert (a.worker, a.channel) == ("a", "pmp:service:test:changes")
        await a.announce("u1", {"type": "user.updated"})
        a.announce_soon("u2")
        await seen_b.wait(lambda: len(seen_b.changes) == 2)
        assert seen_b.changes == [("u1", {"type": "user.updated"}), ("u2", None)]
        assert seen_a.changes == []
        assert a.stats() == {
            "worker": "a",
            "synced": True,
            "published": 2,
            "received": 0,
            "publish_errors": 0,
            "reconnects": 0,
        }

    async def test_every_live_worker_s_figures(
        self, pair: tuple[RedisChangeFeed, Recorder, Recorder], url: str
    ) -> None:
        """workers() lists each live worker's last report; stale ones are left out."""
        a, _, _ = pair
        client = redis_py.Redis.from_url(url)
        client.hset("pmp:service:test:workers", "gone", json.dumps({"at": 0, "figures": {}}))
        client.close()

        async def both() -> bool:
            return set(await a.workers({"n": 0})) == {"a", "b"}  # b reports every 0.05 s

        await eventually(both)
        assert await a.workers({"n": 0}) == {"a": {"n": 0}, "b": {"n": 2}}
        client = redis_py.Redis.from_url(url)
        assert not client.hexists("pmp:service:test:workers", "gone")  # cleaned up
        client.close()

    async def test_a_quiet_connection_is_pinged_then_given_up(self) -> None:
        """No message for a ping interval: PING; no answer for two more: a fault."""

        class Silent:
            pings = 0

            async def get_message(self, **options: float) -> None:
                await asyncio.sleep(0)

            async def ping(self) -> None:
                self.pings += 1

        silent = Silent()
        quiet = feed("redis://x", "q", ping_interval=0.01)
        with pytest.raises(TimeoutError, match="no answer to PING"):
            await quiet._receive(silent, Recorder().on_change, Recorder().on_sync, asyncio.Event())
        assert silent.pings == 2

    async def test_pongs_and_other_messages_keep_it_alive(self) -> None:
        """An answer to the PING resets the silence; messages of other kinds are ignored."""

        class Answering:
            def __init__(self) -> None:
                self.replies: list[dict[str, Any] | None] = [None, {"type": "pong"}, None]

            async def get_message(self, **options: float) -> dict[str, Any] | None:
                if not self.replies:
                    raise ConnectionError("closed")
                return self.replies.pop(0)

            async def ping(self) -> None:
                pass

        recorder = Recorder()
        quiet = feed("redis://x", "q", ping_interval=0.01)
        with pytest.raises(ConnectionError):
            await quiet._receive(Answering(), recorder.on_change, recorder.on_sync, asyncio.Event())
        assert recorder.changes == []


class TestFaults:
    async def test_redis_stopped_and_restarted(
        self, server: RedisServer, url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The feed goes unsynced when Redis goes, counts what it could not publish, resyncs."""
        caplog.set_level(logging.DEBUG, "python_mastery_portfolio.service.cluster")
        a = feed(url, "a", socket_timeout=0.2, reconnect_delay=0.05, report_interval=0.05)
        seen = Recorder()
        async with a.running(on_change=seen.on_change, on_sync=seen.on_sync, report=dict):
            assert seen.syncs == [True]
            await asyncio.to_thread(server.stop)
            await seen.wait(lambda: seen.syncs == [True, False])
            await a.announce("u1", None)
            assert a.stats()["publish_errors"] == 1
            assert await a.workers({"own": 1}) == {"a": {"own": 1}}
            # The reporter fails once: the figures wait for Redis.
            await eventually(lambda: "Could not report" in caplog.text)
            await asyncio.to_thread(server.start)
            await seen.wait(lambda: seen.syncs == [True, False, True])
            assert a.stats()["reconnects"] >= 1
            await asyncio.to_thread(server.stop)
            await seen.wait(lambda: seen.syncs[-1] is False)
        # Closing with Redis gone is quiet too (the worker's figures cannot be removed).
        await asyncio.to_thread(server.start)
        messages = [record.getMessage() for record in caplog.records]
        assert any("Lost the change feed" in message for message in messages)
        assert any("Could not publish a change of user u1" in message for message in messages)
        assert any("Could not report" in message for message in messages)
        assert any("Could not read the workers" in message for message in messages)

    async def test_starts_without_redis(self, tmp_path: Path) -> None:
        """No Redis at start: the block runs unsynced after a bounded wait."""
        seen = Recorder()
        dead = feed(f"unix://{tmp_path}/none.sock", "a", socket_timeout=0.05)
        async with dead.running(on_change=seen.on_change, on_sync=seen.on_sync, report=dict):
            assert dead.stats()["synced"] is False
        assert seen.syncs == []


class FakeFeed:
    """Records what a UserService announces."""

    def __init__(self) -> None:
        self.announced: list[Change] = []
        self.soon: list[str] = []

    async def announce(self, user_id: str | None, event: Mapping[str, Any] | None) -> None:
        self.announced.append((user_id, event))

    def announce_soon(self, user_id: str) -> None:
        self.soon.append(user_id)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[tuple[UserService, FakeFeed, EventHub]]:
    repository = SQLiteUserRepository(tmp_path / "users.db").open()
    hub, fake = EventHub(), FakeFeed()
    users = UserService(repository, hub, clock=ManualClock(), feed=fake)
    try:
        yield users, fake, hub
    finally:
        users.close()
        repository.close()


class TestServiceWithAFeed:
    async def test_writes_are_announced_with_their_event(
        self, fed: tuple[UserService, FakeFeed, EventHub]
    ) -> None:
        """Each write announces its eviction (none for a new user) and its event once."""
        users, fake, _ = fed
        user = await users.create(UserCreate(email="ada@example.org", name="Ada"))
        await users.update(user.id, UserUpdate(name="New"))
        await users.delete(user.id)
        assert [(user_id, event["type"]) for user_id, event in fake.announced if event] == [
            (None, "user.created"),
            (user.id, "user.updated"),
            (user.id, "user.deleted"),
        ]

    async def test_the_cache_is_used_only_while_synced(
        self, fed: tuple[UserService, FakeFeed, EventHub]
    ) -> None:
        """Unsynced: every read goes to the database; synced: from an empty cache."""
        users, _, _ = fed
        user = await users.create(UserCreate(email="ada@example.org", name="Ada"))
        await users.get(user.id)
        await users.get(user.id)
        assert users.cache_stats()["hits"] == 0
        users.feed_synced(True)
        await users.get(user.id)
        await users.get(user.id)
        assert users.cache_stats()["hits"] == 1
        users.feed_synced(False)
        assert users.cache_stats()["size"] == 0
        await users.get(user.id)
        assert users.cache_stats()["hits"] == 1

    async def test_other_workers_changes_evict_and_reach_subscribers(
        self, fed: tuple[UserService, FakeFeed, EventHub]
    ) -> None:
        """apply_change evicts the user and hands the event to this worker's subscribers."""
        users, _, hub = fed
        users.feed_synced(True)
        user = await users.create(UserCreate(email="ada@example.org", name="Ada"))
        await users.get(user.id)
        with hub.subscribe() as subscription:
            users.apply_change(user.id, {"type": "user.updated"})
            users.apply_change(None, None)
            assert json.loads(await subscription.get() or "") == {"type": "user.updated"}
            assert subscription.pending == 0
        assert users.cache_stats()["size"] == 0

    async def test_a_cancelled_write_is_announced_when_it_ends(
        self, fed: tuple[UserService, FakeFeed, EventHub], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The request went away mid-write: the eviction still reaches the other workers."""
        users, fake, _ = fed
        user = await users.create(UserCreate(email="ada@example.org", name="Ada"))
        started, release = threading.Event(), threading.Event()
        original = SQLiteUserRepository.update

        def slow(self: SQLiteUserRepository, *args: Any) -> Any:
            started.set()
            release.wait(5)
            return original(self, *args)

        monkeypatch.setattr(SQLiteUserRepository, "update", slow)
        writer = asyncio.create_task(users.update(user.id, UserUpdate(name="New")))
        assert await asyncio.to_thread(started.wait, 5)
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        release.set()
        await eventually(lambda: fake.soon)  # the DB thread ends the write
        assert fake.soon == [user.id]


class TestAppWithRedis:
    async def test_the_app_shares_its_state_through_redis(self, tmp_path: Path, url: str) -> None:
        """With PMP_REDIS_URL: Redis limiters, the feed running, every worker in /metrics."""
        app = create_app(make_settings(tmp_path, redis_url=url, redis_namespace="app"))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as http,
        ):
            created = await http.post("/users", json={"email": "a@example.org", "name": "A"})
            assert created.status_code == 201
            assert (await http.get(f"/users/{created.json()['id']}")).status_code == 200
            figures = (await http.get("/metrics")).json()
        assert figures["cluster"]["published"] == 1
        assert figures["cluster"]["synced"] is True
        assert list(figures["workers"]) == [figures["cluster"]["worker"]]
        client = redis_py.Redis.from_url(url)
        try:  # the buckets live in Redis, reads and writes apart
            for kind in ("writes", "reads"):
                assert list(client.scan_iter(match=f"pmp:ratelimit:app:{kind}:*"))
        finally:
            client.close()

    async def test_one_worker_serves_the_admin_socket(
        self, tmp_path: Path, url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Workers sharing the socket path: one serves it, the other says so at INFO."""
        from tests.service.test_admin import started

        first = make_settings(tmp_path, redis_url=url)
        second = make_settings(
            tmp_path / "b", redis_url=url, admin_socket=str(first.admin_socket_path)
        )
        with caplog.at_level(logging.INFO, "python_mastery_portfolio.service.admin"):
            async for one in started(first):
                async for _ in started(second, connect=False):
                    assert (await one.admin.call("health"))["status"] == "ok"
        assert "is served by another worker" in caplog.text
        assert "is not served" not in caplog.text
