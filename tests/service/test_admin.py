"""Tests of the admin JSON-RPC endpoint, over the real Unix socket the lifespan serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from python_mastery_portfolio import __version__
from python_mastery_portfolio.exceptions import PortfolioError
from python_mastery_portfolio.rpc import RpcClient
from python_mastery_portfolio.service.app import create_app
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.service.settings import Settings


@dataclass
class Running:
    app: FastAPI
    http: httpx.AsyncClient
    socket: Path
    admin: RpcClient


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_path": tmp_path / "data" / "users.db",
        "write_rate_limit": 10_000,
        # Like the write limiter: buckets refill at once, so the figures do not move
        # between two calls of one test.
        "read_rate_limit": 10_000,
        **overrides,
    }
    return Settings(**values)


async def started(settings: Settings, *, connect: bool = True) -> AsyncIterator[Running]:
    """Run the app's lifespan with an HTTP client and, if ``connect``, an admin RPC client.

    The admin client is closed after the service has stopped: the service then closes its
    side of a live connection, which is what happens to connected clients at shutdown.
    """
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    socket_path = settings.admin_socket_path
    socket = socket_path if socket_path is not None else Path()
    admin = RpcClient.unix(socket, timeout=5)
    async with contextlib.AsyncExitStack() as outer:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://localhost") as http,
        ):
            if connect:
                await outer.enter_async_context(admin)
            yield Running(app, http, socket, admin)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The app with its lifespan running (so its admin socket is served), and clients."""
    async for item in started(make_settings(tmp_path)):
        yield item


@pytest.fixture
def admin(running: Running) -> RpcClient:
    return running.admin


async def next_event(events: AsyncIterator[object]) -> dict[str, Any]:
    event = await asyncio.wait_for(anext(events), 5)
    assert isinstance(event, dict)
    return event


async def create_user(http: httpx.AsyncClient, n: int = 1, request_id: str = "r") -> str:
    response = await http.post(
        "/users",
        json={"email": f"user{n}@example.org", "name": f"User {n}"},
        headers={"X-Request-ID": f"{request_id}-{n}"},
    )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


class TestLifespan:
    async def test_socket_next_to_the_database(self, running: Running) -> None:
        """By default the socket is pmp.sock beside the database file."""
        assert running.socket == Path(running.socket).parent / "pmp.sock"
        assert running.socket.parent.joinpath("users.db").exists()
        assert running.socket.is_socket()

    async def test_socket_removed_at_shutdown(self, tmp_path: Path) -> None:
        """Stopping the app removes the socket file."""
        settings = make_settings(tmp_path)
        async for item in started(settings):
            assert item.socket.is_socket()
        assert settings.admin_socket_path is not None
        assert not settings.admin_socket_path.exists()

    async def test_switched_off(self, tmp_path: Path) -> None:
        """An empty PMP_ADMIN_SOCKET serves no socket; the API works."""
        async for item in started(make_settings(tmp_path, admin_socket=""), connect=False):
            assert (await item.http.get("/health")).status_code == 200
        assert not (tmp_path / "data" / "pmp.sock").exists()

    async def test_explicit_path_in_a_new_directory(self, tmp_path: Path) -> None:
        """PMP_ADMIN_SOCKET may name a socket in a directory that does not exist yet."""
        path = tmp_path / "run" / "admin.sock"
        async for item in started(make_settings(tmp_path, admin_socket=str(path))):
            assert item.socket == path
            assert await item.admin.call("users.count") == 0

    async def test_unusable_socket_is_logged_and_the_api_runs(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A path no Unix socket can have is an error in the log, not a failed start."""
        too_long = tmp_path / ("x" * 120) / "pmp.sock"
        with caplog.at_level(logging.ERROR, "python_mastery_portfolio.service.admin"):
            settings = make_settings(tmp_path, admin_socket=str(too_long))
            async for item in started(settings, connect=False):
                assert (await item.http.get("/health")).status_code == 200
        assert "is not served" in caplog.text
        assert str(too_long) in caplog.text

    async def test_a_listening_server_is_not_taken_over(self, tmp_path: Path) -> None:
        """A second service pointed at a live socket leaves it to the first one."""
        settings = make_settings(tmp_path)
        other = make_settings(tmp_path / "other", admin_socket=str(settings.admin_socket_path))
        async for first in started(settings):
            async for _ in started(other, connect=False):
                assert (await first.admin.call("health"))["status"] == "ok"


class TestMethods:
    async def test_health(self, admin: RpcClient) -> None:
        """health answers ok with the database and the version."""
        assert await admin.call("health") == {
            "status": "ok",
            "database": "ok",
            "version": __version__,
        }

    async def test_health_reports_a_broken_database(
        self, admin: RpcClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A database that does not answer makes status 'error', not an error answer."""

        def broken(self: SQLiteUserRepository) -> None:
            raise OSError("disk gone")

        monkeypatch.setattr(SQLiteUserRepository, "ping", broken)
        assert (await admin.call("health"))["status"] == "error"

    async def test_stats_are_the_metrics(self, running: Running, admin: RpcClient) -> None:
        """stats answers exactly what GET /metrics shows."""
        await create_user(running.http)
        await running.http.get("/users/nobody")
        figures = await admin.call("stats")
        metrics = (await running.http.get("/metrics")).json()
        assert figures == metrics
        assert figures["requests"]["by_status"] == {"201": 1, "404": 1}
        assert set(figures) == {
            "requests",
            "cache",
            "rate_limiter",
            "events",
            "read_rate_limiter",
            "websockets",
        }

    async def test_users_count(self, running: Running, admin: RpcClient) -> None:
        """users.count follows creations and deletions."""
        assert await admin.call("users.count") == 0
        first = await create_user(running.http, 1)
        await create_user(running.http, 2)
        assert await admin.call("users.count") == 2
        await running.http.delete(f"/users/{first}")
        assert await admin.call("users.count") == 1

    async def test_cache_clear(self, running: Running, admin: RpcClient) -> None:
        """cache.clear empties the read cache and says how many users it held."""
        user_id = await create_user(running.http)
        await running.http.get(f"/users/{user_id}")
        assert (await admin.call("stats"))["cache"]["size"] == 1
        assert await admin.call("cache.clear") == 1
        assert (await admin.call("stats"))["cache"]["size"] == 0
        assert await admin.call("cache.clear") == 0

    async def test_log_set_level(self, admin: RpcClient) -> None:
        """log.set_level sets a logger's level and returns the previous one."""
        target = logging.getLogger("pmp.admin.test")
        root = logging.getLogger()
        saved = root.level
        try:
            assert await admin.call("log.set_level", "debug", "pmp.admin.test") == "NOTSET"
            assert target.level == logging.DEBUG
            assert await admin.call("log.set_level", level="WARNING") == logging.getLevelName(saved)
            assert root.level == logging.WARNING
        finally:
            target.setLevel(logging.NOTSET)
            root.setLevel(saved)

    async def test_log_set_level_refuses_unknown_levels(self, admin: RpcClient) -> None:
        """An unknown level is an error answer naming the parameter."""
        with pytest.raises(PortfolioError, match="level"):
            await admin.call("log.set_level", "LOUD")


class TestEventsTopic:
    async def test_every_user_change_is_pushed(self, running: Running, admin: RpcClient) -> None:
        """Creations, updates and deletions arrive in order with their request IDs."""
        async with admin.subscribe("events") as events:
            user_id = await create_user(running.http, request_id="ev")
            await running.http.patch(
                f"/users/{user_id}", json={"name": "Ada"}, headers={"X-Request-ID": "ev-up"}
            )
            await running.http.delete(f"/users/{user_id}", headers={"X-Request-ID": "ev-del"})
            received = [await next_event(events) for _ in range(3)]
        assert [(e["type"], e["request_id"]) for e in received] == [
            ("user.created", "ev-1"),
            ("user.updated", "ev-up"),
            ("user.deleted", "ev-del"),
        ]
        assert {e["user"]["id"] for e in received} == {user_id}
        assert received[1]["user"]["name"] == "Ada"

    async def test_many_subscribers(self, tmp_path: Path) -> None:
        """Every subscribed client gets every event."""
        settings = make_settings(tmp_path)
        assert settings.admin_socket_path is not None
        two = RpcClient.unix(settings.admin_socket_path, timeout=5)
        async with contextlib.AsyncExitStack() as stack:
            async for one in started(settings):
                await stack.enter_async_context(two)
                async with (
                    one.admin.subscribe("events") as first,
                    two.subscribe("events") as second,
                ):
                    await create_user(one.http)
                    got = [await next_event(it) for it in (first, second)]
        assert [e["type"] for e in got] == ["user.created", "user.created"]


class TestServiceStats:
    async def test_without_extras(self, tmp_path: Path) -> None:
        """Without a read limiter or streams the figures are the four original groups."""
        from python_mastery_portfolio.resilience import RateLimiter
        from python_mastery_portfolio.service.admin import service_stats
        from python_mastery_portfolio.service.events import EventHub
        from python_mastery_portfolio.service.repository import SQLiteUserRepository
        from python_mastery_portfolio.service.users import UserService
        from python_mastery_portfolio.web.metrics import RequestMetrics

        with SQLiteUserRepository(tmp_path / "u.db") as repository:
            users = UserService(repository, EventHub())
            try:
                stats = service_stats(RequestMetrics(), users, RateLimiter(1), EventHub())
            finally:
                users.close()
        assert set(stats) == {"requests", "cache", "rate_limiter", "events"}


def delete_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class TestHonestHealth:
    async def test_deleted_database_is_an_error(self, tmp_path: Path) -> None:
        """The admin health says error when a write would fail, as GET /health does."""
        settings = make_settings(tmp_path)
        async for item in started(settings):
            await asyncio.to_thread(delete_database, settings.database_path)
            assert (await item.admin.call("health"))["status"] == "error"
            assert (await item.http.get("/health")).status_code == 503
