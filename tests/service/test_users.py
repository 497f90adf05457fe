"""Tests of UserService's cache consistency under races (real threads, real tasks)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.service.errors import UserNotFoundError
from python_mastery_portfolio.service.events import EventHub
from python_mastery_portfolio.service.models import User, UserCreate, UserUpdate
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.service.users import UserService
from python_mastery_portfolio.testing import ManualClock


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[UserService]:
    repository = SQLiteUserRepository(tmp_path / "users.db").open()
    users = UserService(repository, EventHub(), clock=ManualClock())
    try:
        yield users
    finally:
        users.close()
        repository.close()


def gate(
    monkeypatch: pytest.MonkeyPatch, target: Any, name: str
) -> tuple[threading.Event, threading.Event]:
    """Make target.name block in its DB thread after doing its work, until released."""
    original = getattr(target, name)
    done, release = threading.Event(), threading.Event()

    def gated(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        done.set()
        release.wait(5)
        return result

    monkeypatch.setattr(target, name, gated)
    return done, release


async def wait_for(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 5)


class TestCacheRaces:
    async def test_read_racing_an_update_is_not_cached(
        self, service: UserService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A read that loaded the old row while an update committed does not cache it."""
        user = await service.create(UserCreate(email="ada@example.org", name="Ada"))
        loaded, release = gate(monkeypatch, service._repository, "get")
        reader = asyncio.create_task(service.get(user.id))
        await wait_for(loaded)  # the read has the old row and is held in its thread
        await service.update(user.id, UserUpdate(name="New"))
        release.set()
        assert (await reader).name == "Ada"  # concurrent with the write: either is fine
        monkeypatch.undo()
        assert (await service.get(user.id)).name == "New"  # but never stale afterwards

    async def test_cancelled_update_still_invalidates_after_commit(
        self, service: UserService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Cancelling the request mid-write neither abandons the write nor leaves a stale entry."""
        user = await service.create(UserCreate(email="ada@example.org", name="Ada"))
        await service.get(user.id)  # cached
        committed, release = gate(monkeypatch, service._repository, "update")
        writer = asyncio.create_task(service.update(user.id, UserUpdate(name="New")))
        await wait_for(committed)
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        release.set()
        monkeypatch.undo()
        # The shielded write finishes in its thread, then drops the cached entry.
        for _ in range(2000):
            if service.cache_stats()["size"] == 0:
                break
            await asyncio.sleep(0.001)  # waiting for the DB thread, not for time
        assert service.cache_stats()["size"] == 0
        assert (await service.get(user.id)).name == "New"

    async def test_cancelled_failing_write_is_logged(
        self,
        service: UserService,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A write that fails after its request was cancelled is logged, not lost."""
        started, release = threading.Event(), threading.Event()

        def failing(*args: Any, **kwargs: Any) -> User:
            started.set()
            release.wait(5)
            raise RuntimeError("disk full")

        monkeypatch.setattr(service._repository, "update", failing)
        writer = asyncio.create_task(service.update("u1", UserUpdate(name="New")))
        await wait_for(started)
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        release.set()
        for _ in range(200):
            if any("disk full" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.001)
        assert any("disk full" in r.getMessage() for r in caplog.records)


class TestRules:
    async def test_blocked_domains_are_configurable(self, tmp_path: Path) -> None:
        """Only the configured domains are refused."""
        repository = SQLiteUserRepository(tmp_path / "u.db").open()
        users = UserService(repository, EventHub(), blocked_domains=("Spam.io",))
        try:
            with pytest.raises(ValidationError, match=r"spam\.io"):
                await users.create(UserCreate(email="a@spam.io", name="A"))
            created = await users.create(UserCreate(email="a@example.com", name="A"))
            assert created.email == "a@example.com"
        finally:
            users.close()
            repository.close()

    async def test_similar_domain_is_not_blocked(self, service: UserService) -> None:
        """notexample.com is not a subdomain of example.com."""
        user = await service.create(UserCreate(email="a@notexample.com", name="A"))
        assert user.email == "a@notexample.com"

    async def test_missing_user(self, service: UserService) -> None:
        """Operations on an unknown user raise UserNotFoundError."""
        with pytest.raises(UserNotFoundError):
            await service.get("nobody")
        with pytest.raises(UserNotFoundError):
            await service.delete("nobody")

    async def test_request_context_reaches_db_threads(
        self, service: UserService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Database calls run with the caller's context (request ID in their logs)."""
        from python_mastery_portfolio.web.context import get_request_id, request_id_var

        seen: list[str | None] = []
        original = service._repository.ping

        def ping() -> None:
            seen.append(get_request_id())
            original()

        monkeypatch.setattr(service._repository, "ping", ping)
        token = request_id_var.set("ctx-1")
        try:
            await service.ping()
        finally:
            request_id_var.reset(token)
        assert seen == ["ctx-1"]

    async def test_database_calls_leave_the_event_loop(
        self, service: UserService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every repository call runs in a worker thread, never on the loop's thread."""
        loop_thread = threading.get_ident()
        threads: list[int] = []
        repository = service._repository
        for name in ("ping", "add", "get", "update", "remove", "page"):
            original = getattr(repository, name)

            def recording(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                threads.append(threading.get_ident())
                return _original(*args, **kwargs)

            monkeypatch.setattr(repository, name, recording)
        await service.ping()
        user = await service.create(UserCreate(email="t@example.org", name="T"))
        await service.get(user.id)
        await service.delete(user.id)
        assert len(threads) >= 4
        assert loop_thread not in threads


class TestWithoutCache:
    async def test_maxsize_zero_reads_the_database_every_time(self, tmp_path: Path) -> None:
        """cache_maxsize=0: no hit, no miss, no entry; a change is seen at once."""
        repository = SQLiteUserRepository(tmp_path / "users.db").open()
        users = UserService(repository, EventHub(), cache_maxsize=0, clock=ManualClock())
        try:
            user = await users.create(UserCreate(email="ada@example.org", name="Ada"))
            assert (await users.get(user.id)).name == "Ada"
            repository.update(user.id, {"name": "Grace"})  # behind the service's back
            assert (await users.get(user.id)).name == "Grace"
            with pytest.raises(UserNotFoundError):
                await users.get("missing")
            stats = users.cache_stats()
            assert (stats["hits"], stats["misses"], stats["size"], stats["maxsize"]) == (0, 0, 0, 0)
        finally:
            users.close()
            repository.close()
