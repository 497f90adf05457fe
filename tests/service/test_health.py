"""/health: quiet, one trip to a database thread, first in the route table."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from python_mastery_portfolio.service.app import create_app
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.service.users import UserService
from tests.service.test_app import make_settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path))) as test_client:
        yield test_client


class TestHealth:
    def test_a_probe_logs_nothing(
        self, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A healthy probe writes no log line (it runs every few seconds)."""
        caplog.set_level(logging.DEBUG)
        for _ in range(3):
            assert client.get("/health").status_code == 200
        # The request log line of each request is the middleware's; nothing else speaks.
        assert {record.name for record in caplog.records} <= {
            "python_mastery_portfolio.web.middleware",
            "httpx2",
        }

    def test_one_trip_to_a_database_thread(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The query and the write probe run in one executor call."""
        trips: list[object] = []
        original = UserService._run

        async def counting(self: UserService, func: object, *args: object) -> object:
            trips.append(func)
            return await original(self, func, *args)  # type: ignore[arg-type]  # any callable

        monkeypatch.setattr(UserService, "_run", counting)
        assert client.get("/health").status_code == 200
        assert len(trips) == 1

    def test_health_is_the_first_route_and_the_docs_the_last(self, tmp_path: Path) -> None:
        """Routes are tried in order: the probe first, the schema and docs after the API."""
        paths = [getattr(route, "path", "") for route in create_app().router.routes]
        assert paths[0] == "/health"
        assert paths[-1] == "/openapi.json"
        assert paths.index("/docs") > paths.index("/ws/events")


class TestProbe:
    def test_probe_skips_while_another_process_writes(self, tmp_path: Path) -> None:
        """A write lock held by another connection is a write under way: no wait, no error."""
        with SQLiteUserRepository(tmp_path / "users.db", busy_timeout=5.0) as repo:
            other = sqlite3.connect(repo.path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                assert repo.probe_write() is False
            finally:
                other.rollback()
                other.close()
            assert repo.probe_write() is True
            repo.check_database()

    def test_probe_skips_while_this_process_writes(self, tmp_path: Path) -> None:
        """A write under way in this process makes the probe return at once."""
        with SQLiteUserRepository(tmp_path / "users.db") as repo:
            inside, release = threading.Event(), threading.Event()

            def slow(conn: sqlite3.Connection) -> None:
                inside.set()
                release.wait(10)

            writer = threading.Thread(target=repo._write, args=(slow,))
            writer.start()
            try:
                assert inside.wait(10)
                assert repo.probe_write() is False
            finally:
                release.set()
                writer.join()

    def test_probe_raises_other_errors(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A failing BEGIN other than a lock is the file's state: a 503 error."""
        from python_mastery_portfolio.service.errors import DatabaseUnavailableError

        with SQLiteUserRepository(tmp_path / "users.db") as repo:
            connection = repo._connection()

            class Broken:
                def execute(self, sql: str) -> object:
                    if sql.startswith("BEGIN"):
                        raise sqlite3.OperationalError("disk I/O error")
                    return connection.execute(sql)

            monkeypatch.setattr(repo, "_connection", Broken)
            with pytest.raises(DatabaseUnavailableError):
                repo.probe_write()
