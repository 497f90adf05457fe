"""The reproductions of issue 18 against the service, each now a clear 4xx/503 or handled."""

from __future__ import annotations

import json
import os
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from python_mastery_portfolio.service.app import MAX_OFFSET, create_app
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.service.settings import Settings
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.web.di import get_container
from tests.service.test_app import ADA, PROBLEM, create, make_settings, problem_of


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def client_for(tmp_path: Path, clock: ManualClock, **overrides: Any) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path, **overrides), clock=clock))


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
    with client_for(tmp_path, clock) as test_client:
        yield test_client


def chunks(*parts: bytes) -> Iterator[bytes]:
    yield from parts


class TestLimits:
    def test_huge_offset_is_422(self, client: TestClient) -> None:
        """offset=9223372036854775808 was a 500 (OverflowError in SQLite); now a 422."""
        body = problem_of(client.get("/users", params={"offset": 9223372036854775808}), 422)
        assert body["errors"][0]["field"] == "offset"
        assert client.get("/users", params={"offset": MAX_OFFSET}).status_code == 200
        problem_of(client.get("/users", params={"offset": MAX_OFFSET + 1}), 422)

    def test_oversized_body_is_413_before_parsing(self, client: TestClient) -> None:
        """A 13 MB body of unknown fields is refused at once, not parsed into 422s."""
        fields = ",".join(f'"f{n}": {n}' for n in range(1_000_000))
        body = f'{{"email": "a@b.org", "name": "A", {fields}}}'.encode()
        assert len(body) > 13_000_000
        response = client.post("/users", content=body, headers={"content-type": "application/json"})
        problem = problem_of(response, 413)
        assert "errors" not in problem
        assert client.get("/health").status_code == 200

    def test_chunked_oversized_body_is_413(self, tmp_path: Path, clock: ManualClock) -> None:
        """Without Content-Length the body is counted and refused past the limit."""
        with client_for(tmp_path, clock, max_body_size=100) as small:
            response = small.post(
                "/users",
                content=chunks(b'{"email": "a@b.org", ', b'"name": "' + b"x" * 100 + b'"}'),
                headers={"content-type": "application/json"},
            )
            problem_of(response, 413)

    def test_422_lists_a_bounded_number_of_errors(self, tmp_path: Path, clock: ManualClock) -> None:
        """A body of many unknown fields lists PMP_MAX_VALIDATION_ERRORS, with the count."""
        with client_for(tmp_path, clock, max_validation_errors=3) as small:
            body = {**ADA, **{f"x{n}": n for n in range(100)}}
            problem = problem_of(small.post("/users", json=body), 422)
            assert len(problem["errors"]) == 3
            assert problem["error_count"] == 100


class TestNames:
    @pytest.mark.parametrize(
        "name",
        ["A\x00B", "\x1b[31mred", "A\r\nB", "A\u202eB", "A\u2066B", "A\x85B"],
        ids=["nul", "ansi", "crlf", "rlo", "lri", "c1"],
    )
    def test_control_characters_are_422(self, client: TestClient, name: str) -> None:
        """NUL, escape sequences, CR/LF and bidi controls are refused, naming the field."""
        problem = problem_of(client.post("/users", json={**ADA, "name": name}), 422)
        assert [error["field"] for error in problem["errors"]] == ["name"]
        assert "control" in problem["errors"][0]["message"]

    def test_patch_refuses_them_too(self, client: TestClient) -> None:
        """A patch follows the same rule."""
        user = create(client)
        problem = problem_of(client.patch(f"/users/{user['id']}", json={"name": "\x07"}), 422)
        assert problem["errors"][0]["field"] == "name"

    def test_names_are_nfc(self, client: TestClient) -> None:
        """A decomposed name is stored composed (NFC)."""
        decomposed = "Zoe\u0301"
        user = create(client, name=decomposed)
        assert user["name"] == unicodedata.normalize("NFC", decomposed) == "Zo\u00e9"

    def test_blank_name_is_422(self, client: TestClient) -> None:
        """A name of spaces is refused, as the schema's pattern says."""
        problem_of(client.post("/users", json={**ADA, "name": "   "}), 422)


class TestSchemaAgreement:
    def test_whole_float_age_is_accepted(self, client: TestClient) -> None:
        """An age of 24.0 is an integer for JSON Schema, so the server takes it too."""
        assert create(client, age=24.0)["age"] == 24
        problem_of(client.post("/users", json={**ADA, "email": "b@x.org", "age": 24.5}), 422)

    def test_patch_schema_refuses_null_names(self, client: TestClient) -> None:
        """The schema of PATCH says name and email are strings, not null, as the server does."""
        schema = client.get("/openapi.json").json()["components"]["schemas"]["UserUpdate"]
        assert schema["properties"]["name"]["type"] == "string"
        assert schema["properties"]["email"]["type"] == "string"
        user = create(client)
        problem_of(client.patch(f"/users/{user['id']}", json={"name": None}), 422)

    def test_bodies_not_utf8_and_broken_json_get_the_same_answer(self, client: TestClient) -> None:
        """Both are a 422 json_invalid, as documented; neither is a 400."""
        headers = {"content-type": "application/json"}
        latin = problem_of(client.post("/users", content=b'{"name": "\xe9"}', headers=headers), 422)
        broken = problem_of(client.post("/users", content=b'{"name": ', headers=headers), 422)
        assert latin["errors"][0]["type"] == broken["errors"][0]["type"] == "json_invalid"

    @pytest.mark.parametrize(
        ("path", "allowed"),
        [("/users", {"GET", "POST"}), ("/users/abc", {"GET", "PATCH", "DELETE"})],
        ids=["collection", "item"],
    )
    def test_405_has_the_full_allow_list(
        self, client: TestClient, path: str, allowed: set[str]
    ) -> None:
        """OPTIONS answers 405 with every method of the path in Allow."""
        response = client.options(path)
        problem_of(response, 405)
        assert set(response.headers["allow"].split(", ")) == allowed

    def test_every_error_status_is_documented(self, client: TestClient) -> None:
        """Each operation lists the problems it can answer with."""
        paths = client.get("/openapi.json").json()["paths"]
        expected = {
            ("/users", "post"): {"400", "409", "413", "422", "429", "503"},
            ("/users", "get"): {"400", "422", "429"},
            ("/users/{user_id}", "get"): {"400", "404", "422", "429"},
            ("/users/{user_id}", "patch"): {"400", "404", "409", "413", "422", "429", "503"},
            ("/users/{user_id}", "delete"): {"400", "404", "422", "429", "503"},
            ("/health", "get"): {"400", "503"},
        }
        for (path, method), statuses in expected.items():
            documented = set(paths[path][method]["responses"])
            assert statuses <= documented, (path, method)
            for status in statuses:
                assert PROBLEM in paths[path][method]["responses"][status]["content"]


class TestHostsAndHeaders:
    def test_foreign_host_is_400(self, client: TestClient) -> None:
        """Host: attacker.example is refused (DNS rebinding) with a 400 problem."""
        response = client.get("/users", headers={"Host": "attacker.example"})
        assert problem_of(response, 400)["code"] == "unknown_host"

    def test_default_hosts(self, tmp_path: Path) -> None:
        """127.0.0.1, localhost and PMP_HOST are served without configuration."""
        settings = Settings(database_path=tmp_path / "u.db", host="api.internal")
        with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
            for host in ("127.0.0.1:8000", "localhost", "api.internal:8000", "[::1]:8000"):
                assert client.get("/health", headers={"Host": host}).status_code == 200
            assert client.get("/health", headers={"Host": "other"}).status_code == 400

    def test_security_headers(self, client: TestClient) -> None:
        """nosniff on every answer; the docs page has its own CSP; no server banner here."""
        answer = client.get("/users")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        docs = client.get("/docs")
        assert "script-src 'self'" in docs.headers["content-security-policy"]
        assert "server" not in answer.headers

    def test_metrics_and_docs_can_be_switched_off(self, tmp_path: Path, clock: ManualClock) -> None:
        """PMP_METRICS_ENABLED / PMP_DOCS_ENABLED false: those paths are 404."""
        with client_for(tmp_path, clock, metrics_enabled=False, docs_enabled=False) as off:
            for path in ("/metrics", "/docs", "/redoc", "/openapi.json"):
                problem_of(off.get(path), 404)
            assert off.get("/").json()["docs"] is None
            assert off.get("/health").status_code == 200

    def test_metrics_token(self, tmp_path: Path, clock: ManualClock) -> None:
        """With PMP_METRICS_TOKEN, /metrics needs the bearer token."""
        with client_for(tmp_path, clock, metrics_token="s3cret") as guarded:  # noqa: S106 - a test token
            response = guarded.get("/metrics")
            problem_of(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
            problem_of(guarded.get("/metrics", headers={"Authorization": "Bearer nope"}), 401)
            ok = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200


class TestReadLimit:
    def test_reads_have_their_own_limit(self, tmp_path: Path, clock: ManualClock) -> None:
        """Reads over PMP_READ_RATE_LIMIT get a 429; writes keep their own budget."""
        with client_for(tmp_path, clock, read_rate_limit=2) as limited:
            user = create(limited)
            assert limited.get("/users").status_code == 200
            assert limited.get(f"/users/{user['id']}").status_code == 200
            problem_of(limited.get("/users"), 429)
            assert limited.get("/health").status_code == 200
            create(limited, email="b@x.org")
            clock.advance(1)
            assert limited.get("/users").status_code == 200


class TestHealth:
    def repository(self, client: TestClient) -> SQLiteUserRepository:
        app = client.app
        assert isinstance(app, FastAPI)
        return get_container(app).resolve(SQLiteUserRepository)

    def test_deleted_database(self, tmp_path: Path, client: TestClient) -> None:
        """Delete the file: /health is 503 and writes are 503, not 201 into the void."""
        ada = create(client)
        database = make_settings(tmp_path).database_path
        backup = tmp_path / "backup.db"
        with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(backup)) as copy:
            source.backup(copy)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        body = problem_of(client.get("/health"), 503)
        assert body["code"] == "database_unavailable"
        assert str(database) not in json.dumps(body)
        problem_of(client.post("/users", json={**ADA, "email": "b@x.org"}), 503)
        # The operator puts the file back: the service recovers without a restart.
        backup.rename(database)
        assert client.get("/health").status_code == 200
        create(client, email="c@x.org")
        assert client.get(f"/users/{ada['id']}").status_code == 200

    def test_read_only_database_recovers(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A write on a read-only database is a 503 and recovers when it is writable again."""
        repository = self.repository(client)
        real_connect = sqlite3.connect

        def read_only(database: str, **kwargs: Any) -> sqlite3.Connection:
            connection: sqlite3.Connection = real_connect(
                database.replace("mode=rw", "mode=ro"), **kwargs
            )
            return connection

        monkeypatch.setattr(sqlite3, "connect", read_only)
        repository.reopen()
        problem_of(client.post("/users", json=ADA), 503)
        problem_of(client.get("/health"), 503)
        monkeypatch.setattr(sqlite3, "connect", real_connect)
        # No restart: the failed write made every connection reopen.
        create(client)
        assert client.get("/health").status_code == 200

    def test_permissions_checked(
        self, tmp_path: Path, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file or directory without write permission makes /health a 503 naming it."""
        database = make_settings(tmp_path).database_path
        for target, reason in ((database, "file"), (database.parent, "directory")):

            def access(path: Any, mode: int, _target: Path = target) -> bool:
                return Path(path) != _target

            monkeypatch.setattr(os, "access", access)
            body = problem_of(client.get("/health"), 503)
            assert reason in body["detail"]
        monkeypatch.undo()
        assert client.get("/health").status_code == 200

    def test_replaced_file_is_reopened(self, tmp_path: Path, client: TestClient) -> None:
        """A file replaced by another database is reopened by /health and by writes."""
        create(client)
        database = make_settings(tmp_path).database_path
        other = tmp_path / "other.db"
        with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(other)) as copy:
            source.backup(copy)
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        other.replace(database)
        assert client.get("/health").status_code == 200
        create(client, email="b@x.org")
        page = client.get("/users", params={"total": True}).json()
        assert page["total"] == 2

    def test_bad_path_fails_start_in_one_line(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A database path that cannot be opened stops the start with one line naming it."""
        (tmp_path / "file").write_text("")
        settings = make_settings(tmp_path, database_path=tmp_path / "file" / "users.db")
        app = create_app(settings)
        messages: list[dict[str, Any]] = []

        async def run() -> None:
            events = iter([{"type": "lifespan.startup"}])

            async def receive() -> dict[str, Any]:
                return next(events)

            async def send(message: dict[str, Any]) -> None:
                messages.append(message)

            with pytest.raises(Exception, match="cannot open the user database"):
                await app({"type": "lifespan", "state": {}}, receive, send)  # type: ignore[arg-type]

        import anyio

        anyio.run(run)
        (failed,) = messages
        assert failed["type"] == "lifespan.startup.failed"
        text = failed["message"]
        assert "\n" not in text
        assert str(tmp_path / "file" / "users.db") in text
        assert "Not a directory" in text or "exists" in text

    def test_other_start_failures_are_left_alone(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A start failure that is not about the file is raised as it is (a bug)."""

        def broken(self: SQLiteUserRepository) -> SQLiteUserRepository:
            raise RuntimeError("a bug")

        monkeypatch.setattr(SQLiteUserRepository, "open", broken)
        with (
            pytest.raises(Exception, match="a bug"),
            TestClient(create_app(make_settings(tmp_path))),
        ):
            pass  # pragma: no cover - the start fails

    def test_verbose_start_failure_keeps_the_traceback(self, tmp_path: Path) -> None:
        """At DEBUG (pmp -v serve) the whole traceback is kept."""
        import logging

        (tmp_path / "file").write_text("")
        settings = make_settings(tmp_path, database_path=tmp_path / "file" / "users.db")
        app = create_app(settings)
        messages: list[dict[str, Any]] = []

        async def run() -> None:
            async def receive() -> dict[str, Any]:
                return {"type": "lifespan.startup"}

            async def send(message: dict[str, Any]) -> None:
                messages.append(message)

            with pytest.raises(Exception, match="cannot open"):
                await app({"type": "lifespan", "state": {}}, receive, send)  # type: ignore[arg-type]

        import anyio

        logger = logging.getLogger("python_mastery_portfolio.service.app")
        previous = logger.level
        logger.setLevel(logging.DEBUG)
        try:
            anyio.run(run)
        finally:
            logger.setLevel(previous)
        assert "Traceback" in messages[0]["message"]


class TestWebSockets:
    def test_foreign_origin_is_refused(self, client: TestClient) -> None:
        """Origin: https://evil.example cannot subscribe (cross-site WebSocket hijacking)."""
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/ws/events", headers={"Origin": "https://evil.example"}),
        ):
            pass  # pragma: no cover - refused
        assert info.value.code == 1008
        assert client.get("/metrics").json()["websockets"]["refused_origin"] == 1

    def test_same_origin_and_allowed_origins(self, tmp_path: Path, clock: ManualClock) -> None:
        """The service's own origin and the configured ones are let in."""
        with client_for(tmp_path, clock, ws_allowed_origins="https://app.example/") as client:
            for n, origin in enumerate(("http://testserver", "https://app.example")):
                with client.websocket_connect("/ws/events", headers={"Origin": origin}) as ws:
                    create(client, email=f"u{n}@x.org")
                    assert json.loads(ws.receive_text())["type"] == "user.created"

    def test_subscriber_cap(self, tmp_path: Path, clock: ManualClock) -> None:
        """Past PMP_WS_MAX_SUBSCRIBERS a client is closed with 1013 (try again later)."""
        with (
            client_for(tmp_path, clock, ws_max_subscribers=1) as client,
            client.websocket_connect("/ws/events"),
        ):
            with client.websocket_connect("/ws/events") as second:
                with pytest.raises(WebSocketDisconnect) as info:
                    second.receive_text()
                assert info.value.code == 1013
            stats = client.get("/metrics").json()
            assert stats["websockets"]["refused_full"] == 1
            assert stats["events"]["subscribers"] == 1

    def test_oversized_message_closes_with_1009(self, tmp_path: Path, clock: ManualClock) -> None:
        """A client message over PMP_WS_MAX_MESSAGE_SIZE closes that client with 1009."""
        with client_for(tmp_path, clock, ws_max_message_size=10) as client:
            with client.websocket_connect("/ws/events") as ws:
                ws.send_text("small")
                ws.send_bytes(b"x" * 11)
                with pytest.raises(WebSocketDisconnect) as info:
                    ws.receive_text()
                assert info.value.code == 1009
            assert client.get("/metrics").json()["websockets"]["closed_too_big"] == 1


class TestEmails:
    @pytest.mark.parametrize(
        "email",
        ["a@t.test", "x@d.example.org", "first.last+tag@sub.domain.org"],
        ids=["test-tld", "plain", "plus"],
    )
    def test_schema_valid_addresses_are_accepted(self, client: TestClient, email: str) -> None:
        """An address the schema's pattern allows is accepted (was: .test refused)."""
        assert create(client, email=email)["email"] == email.lower()

    @pytest.mark.parametrize(
        "email",
        ["a@b", "ad\u00e9@x.org", "a b@x.org", "a@x.org\n", "a" * 250 + "@x.org"],
        ids=["no-dot", "non-ascii", "space", "newline", "too-long"],
    )
    def test_other_addresses_are_422(self, client: TestClient, email: str) -> None:
        """Anything else is a 422 naming the field."""
        problem = problem_of(client.post("/users", json={**ADA, "email": email}), 422)
        assert problem["errors"][0]["field"] == "email"


class TestStalledBody:
    async def test_half_a_body_is_408(self, tmp_path: Path) -> None:
        """A client that stops sending its body half-way gets a 408 problem, not a hang."""
        import asyncio
        from collections.abc import AsyncIterator

        import httpx

        app = create_app(make_settings(tmp_path, body_timeout=1e-9))  # fires at the next loop turn

        async def half() -> AsyncIterator[bytes]:
            yield b'{"email": "a@x.org", '
            await asyncio.Event().wait()  # the rest never comes

        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            response = await asyncio.wait_for(
                client.post("/users", content=half(), headers={"content-type": "application/json"}),
                5,
            )
        problem_of(response, 408)
