"""End-to-end tests of the Users API against a real SQLite file in a temporary directory."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from python_mastery_portfolio.di_container import DIContainer
from python_mastery_portfolio.service.app import build_container, create_app
from python_mastery_portfolio.service.events import EventHub
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.service.settings import Settings
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.web.di import get_container

PROBLEM = "application/problem+json"
ADA = {"email": "Ada@Example.org", "name": "Ada", "age": 36}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_path": tmp_path / "data" / "users.db",
        "write_rate_limit": 10_000,
        "read_rate_limit": 10_000,
        # The test clients' host names (TestClient: testserver; httpx: test).
        "allowed_hosts": ["testserver", "test"],
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> FastAPI:
    return create_app(make_settings(tmp_path), clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
async def aclient(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An async client over ASGITransport, with the app's lifespan running."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as test_client,
    ):
        yield test_client


def problem_of(response: Any, status: int) -> dict[str, Any]:
    """Check the problem+json shape of a TestClient (httpx2) or httpx response."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "code", "request_id"} <= set(body)
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/users", json={**ADA, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCreate:
    def test_created(self, client: TestClient) -> None:
        """POST /users stores the user (e-mail lowercased) and answers 201 with Location."""
        response = client.post("/users", json=ADA)
        assert response.status_code == 201
        body = response.json()
        assert (body["email"], body["name"], body["age"]) == ("ada@example.org", "Ada", 36)
        assert response.headers["Location"] == f"/users/{body['id']}"
        assert response.headers["X-Request-ID"]

    def test_duplicate_email_is_409(self, client: TestClient) -> None:
        """A second user with the same e-mail (in any case) is a 409 problem."""
        create(client)
        body = problem_of(client.post("/users", json={**ADA, "email": "ADA@example.ORG"}), 409)
        assert body["code"] == "duplicate_email"
        assert body["instance"] == "/users"

    @pytest.mark.parametrize(
        "email", ["bob@example.com", "bob@mail.EXAMPLE.com"], ids=["domain", "subdomain"]
    )
    def test_blocked_domain_is_422(self, client: TestClient, email: str) -> None:
        """A blocked domain (or its subdomain) is a 422 problem naming the field."""
        body = problem_of(client.post("/users", json={**ADA, "email": email}), 422)
        assert body["code"] == "validation_error"
        assert body["context"]["field"] == "email"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"email": "nope", "name": "A"}, "email"),
            ({"email": "a@example.org", "name": ""}, "name"),
            ({"email": "a@example.org", "name": "x" * 101}, "name"),
            ({"email": "a@example.org", "name": "A", "age": 151}, "age"),
            ({"email": "a@example.org", "name": "A", "age": -1}, "age"),
            ({"email": "a@example.org", "name": "A", "role": "admin"}, "role"),
            ({"email": "a@example.org", "name": "A", "age": True}, "age"),
            ({"email": "a@example.org", "name": "A", "age": "36"}, "age"),
        ],
        ids=[
            "email",
            "empty-name",
            "long-name",
            "old",
            "negative-age",
            "extra-field",
            "bool-age",
            "string-age",
        ],
    )
    def test_invalid_body_is_422(
        self, client: TestClient, body: dict[str, Any], field: str
    ) -> None:
        """An invalid body is a 422 problem listing the field."""
        problem = problem_of(client.post("/users", json=body), 422)
        assert [error["field"] for error in problem["errors"]] == [field]

    def test_not_json_is_422(self, client: TestClient) -> None:
        """A body that is not JSON is a 422 problem."""
        response = client.post(
            "/users", content=b"{not json", headers={"content-type": "application/json"}
        )
        problem_of(response, 422)


class TestRateLimit:
    @pytest.fixture
    def limited(self, tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
        settings = make_settings(tmp_path, write_rate_limit=2, write_rate_period=1.0)
        with TestClient(create_app(settings, clock=clock)) as test_client:
            yield test_client

    def test_writes_over_the_limit_get_429(self, limited: TestClient) -> None:
        """The third write in a second is a 429 with Retry-After in whole seconds."""
        for n in range(2):
            response = limited.post("/users", json={**ADA, "email": f"u{n}@example.org"})
            assert response.headers["RateLimit-Limit"] == "2"
            assert response.headers["RateLimit-Remaining"] == str(1 - n)
        response = limited.post("/users", json={**ADA, "email": "u3@example.org"})
        body = problem_of(response, 429)
        assert body["code"] == "rate_limit_exceeded"
        assert response.headers["Retry-After"] == "1"
        assert response.headers["RateLimit-Limit"] == "2"
        assert response.headers["RateLimit-Remaining"] == "0"

    def test_limit_refills_with_time(self, limited: TestClient, clock: ManualClock) -> None:
        """After waiting (on the manual clock) writes are allowed again."""
        for n in range(2):
            limited.post("/users", json={**ADA, "email": f"u{n}@example.org"})
        clock.advance(0.5)
        response = limited.post("/users", json={**ADA, "email": "later@example.org"})
        assert response.status_code == 201

    def test_reads_are_not_limited(self, limited: TestClient) -> None:
        """Only writes spend tokens."""
        for _ in range(10):
            assert limited.get("/users").status_code == 200

    def test_every_write_kind_is_limited(self, limited: TestClient) -> None:
        """PATCH and DELETE share the client's write budget."""
        user = create(limited)
        assert limited.patch(f"/users/{user['id']}", json={"age": 1}).status_code == 200
        problem_of(limited.delete(f"/users/{user['id']}"), 429)

    def test_clients_have_separate_buckets(self, tmp_path: Path, clock: ManualClock) -> None:
        """Each client address has its own budget."""
        settings = make_settings(tmp_path, write_rate_limit=1)
        app = create_app(settings, clock=clock)
        with (
            TestClient(app, client=("10.0.0.1", 1)) as first,
            TestClient(app, client=("10.0.0.2", 1)) as second,
        ):
            assert first.post("/users", json={**ADA, "email": "a@x.org"}).status_code == 201
            assert second.post("/users", json={**ADA, "email": "b@x.org"}).status_code == 201
            assert first.post("/users", json={**ADA, "email": "c@x.org"}).status_code == 429

    def test_forwarded_for_ignored_without_trusted_proxy(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """A client cannot escape its budget by sending X-Forwarded-For."""
        app = create_app(make_settings(tmp_path, write_rate_limit=1), clock=clock)
        with TestClient(app, client=("10.0.0.1", 1)) as test_client:
            test_client.post("/users", json={**ADA, "email": "a@x.org"})
            response = test_client.post(
                "/users",
                json={**ADA, "email": "b@x.org"},
                headers={"X-Forwarded-For": "198.51.100.7"},
            )
            assert response.status_code == 429

    def test_forwarded_for_used_behind_trusted_proxy(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """Behind a configured proxy each forwarded client gets its own budget."""
        settings = make_settings(tmp_path, write_rate_limit=1, trusted_proxies=["10.0.0.0/8"])
        with TestClient(create_app(settings, clock=clock), client=("10.0.0.1", 1)) as proxy:
            for n, address in enumerate(["198.51.100.7", "198.51.100.8"]):
                response = proxy.post(
                    "/users",
                    json={**ADA, "email": f"u{n}@x.org"},
                    headers={"X-Forwarded-For": address},
                )
                assert response.status_code == 201


class TestRead:
    def test_get(self, client: TestClient) -> None:
        """GET /users/{id} returns the stored user."""
        user = create(client)
        assert client.get(f"/users/{user['id']}").json() == user

    def test_missing_is_404(self, client: TestClient) -> None:
        """An unknown ID is a 404 problem."""
        body = problem_of(client.get("/users/nobody"), 404)
        assert body["code"] == "user_not_found"
        assert body["instance"] == "/users/nobody"

    def test_overlong_id_is_422(self, client: TestClient) -> None:
        """IDs longer than 64 characters are refused before any lookup."""
        problem_of(client.get("/users/" + "x" * 65), 422)

    def test_pagination(self, client: TestClient) -> None:
        """limit and offset page through users in creation order, with the total."""
        ids = [create(client, email=f"u{n}@example.org")["id"] for n in range(5)]
        # The total is counted only when asked for (issue 18).
        page = client.get("/users", params={"limit": 2, "offset": 3, "total": True}).json()
        assert [user["id"] for user in page["items"]] == ids[3:5]
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, 3)

    def test_default_page(self, client: TestClient) -> None:
        """Without parameters the first 50 users are returned (and no total: issue 18)."""
        page = client.get("/users").json()
        assert (page["items"], page["total"], page["limit"], page["offset"]) == ([], None, 50, 0)
        page = client.get("/users", params={"total": True}).json()
        assert page["total"] == 0

    @pytest.mark.parametrize(
        "params",
        [{"limit": 0}, {"limit": 101}, {"limit": -1}, {"offset": -1}, {"limit": "ten"}],
        ids=["limit-0", "limit-101", "limit-negative", "offset-negative", "limit-text"],
    )
    def test_pagination_bounds(self, client: TestClient, params: dict[str, Any]) -> None:
        """limit outside 1-100 or a negative offset is a 422 problem."""
        body = problem_of(client.get("/users", params=params), 422)
        assert body["errors"][0]["location"] == "query"

    @pytest.mark.parametrize("limit", [1, 100], ids=["min", "max"])
    def test_pagination_limits_accepted(self, client: TestClient, limit: int) -> None:
        """The bounds themselves are accepted."""
        assert client.get("/users", params={"limit": limit}).status_code == 200


class TestPatch:
    def test_partial_update(self, client: TestClient) -> None:
        """Only the fields sent change."""
        user = create(client)
        response = client.patch(f"/users/{user['id']}", json={"name": "Ada Lovelace"})
        assert response.status_code == 200
        body = response.json()
        assert (body["name"], body["email"], body["age"]) == ("Ada Lovelace", user["email"], 36)
        assert body["updated_at"] >= user["updated_at"]

    def test_age_null_clears_it(self, client: TestClient) -> None:
        """age: null removes the age."""
        user = create(client)
        assert client.patch(f"/users/{user['id']}", json={"age": None}).json()["age"] is None

    def test_email_is_lowercased(self, client: TestClient) -> None:
        """A new e-mail address is stored lowercased."""
        user = create(client)
        body = client.patch(f"/users/{user['id']}", json={"email": "NEW@Example.org"}).json()
        assert body["email"] == "new@example.org"

    def test_empty_patch_changes_nothing(self, client: TestClient) -> None:
        """An empty body returns the user unchanged."""
        user = create(client)
        assert client.patch(f"/users/{user['id']}", json={}).json() == user

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": None}, "name"),
            ({"email": None}, "email"),
            ({"name": ""}, "name"),
            ({"age": 200}, "age"),
            ({"email": "bad"}, "email"),
            ({"id": "other"}, "id"),
        ],
        ids=["null-name", "null-email", "empty-name", "old", "bad-email", "unknown-field"],
    )
    def test_invalid_patch_is_422(
        self, client: TestClient, body: dict[str, Any], field: str
    ) -> None:
        """A patch follows the create rules; name and email cannot be null."""
        user = create(client)
        problem = problem_of(client.patch(f"/users/{user['id']}", json=body), 422)
        assert problem["errors"][0]["field"] == field
        assert client.get(f"/users/{user['id']}").json() == user

    def test_blocked_domain(self, client: TestClient) -> None:
        """Changing to a blocked domain is a 422 problem."""
        user = create(client)
        body = problem_of(
            client.patch(f"/users/{user['id']}", json={"email": "a@example.com"}), 422
        )
        assert body["context"]["field"] == "email"

    def test_duplicate_email_is_409(self, client: TestClient) -> None:
        """Taking another user's e-mail is a 409 problem and changes nothing."""
        create(client)
        grace = create(client, email="grace@example.org", name="Grace")
        response = client.patch(
            f"/users/{grace['id']}", json={"email": "ada@example.org", "name": "X"}
        )
        problem_of(response, 409)
        assert client.get(f"/users/{grace['id']}").json() == grace

    def test_missing_user_is_404(self, client: TestClient) -> None:
        """Patching an unknown user is a 404 problem."""
        problem_of(client.patch("/users/nobody", json={"name": "X"}), 404)
        problem_of(client.patch("/users/nobody", json={}), 404)


class TestDelete:
    def test_delete(self, client: TestClient) -> None:
        """DELETE answers 204 with no body; the user is gone."""
        user = create(client)
        response = client.delete(f"/users/{user['id']}")
        assert response.status_code == 204
        assert response.content == b""
        problem_of(client.get(f"/users/{user['id']}"), 404)

    def test_delete_missing_is_404(self, client: TestClient) -> None:
        """Deleting an unknown (or already deleted) user is a 404 problem."""
        problem_of(client.delete("/users/nobody"), 404)


class TestCache:
    def cache(self, client: TestClient) -> dict[str, Any]:
        stats: dict[str, Any] = client.get("/metrics").json()["cache"]
        return stats

    def test_second_read_is_a_hit(self, client: TestClient) -> None:
        """Reading a user twice hits the cache the second time."""
        user = create(client)
        client.get(f"/users/{user['id']}")
        client.get(f"/users/{user['id']}")
        assert (self.cache(client)["hits"], self.cache(client)["misses"]) == (1, 1)

    def test_no_stale_read_after_update(self, client: TestClient) -> None:
        """A read after an update returns the new data, not the cached old one."""
        user = create(client)
        client.get(f"/users/{user['id']}")
        client.patch(f"/users/{user['id']}", json={"name": "Changed"})
        assert client.get(f"/users/{user['id']}").json()["name"] == "Changed"

    def test_no_stale_read_after_delete(self, client: TestClient) -> None:
        """A read after a delete is a 404, not the cached user."""
        user = create(client)
        client.get(f"/users/{user['id']}")
        client.delete(f"/users/{user['id']}")
        problem_of(client.get(f"/users/{user['id']}"), 404)

    def test_entries_expire(self, client: TestClient, clock: ManualClock) -> None:
        """After the TTL (on the manual clock) the user is read from the database again."""
        user = create(client)
        client.get(f"/users/{user['id']}")
        clock.advance(30)
        client.get(f"/users/{user['id']}")
        stats = self.cache(client)
        assert (stats["hits"], stats["misses"], stats["expirations"]) == (0, 2, 1)

    def test_missing_users_are_not_cached(self, client: TestClient) -> None:
        """A 404 is not remembered: a user created afterwards is found."""
        problem_of(client.get("/users/later"), 404)
        assert self.cache(client)["size"] == 0


class TestEvents:
    def test_changes_are_streamed_with_request_ids(self, client: TestClient) -> None:
        """Each write sends an event with the user and the request ID of the write."""
        with client.websocket_connect("/ws/events") as ws:
            created = client.post("/users", json=ADA, headers={"X-Request-ID": "req-create"})
            user_id = created.json()["id"]
            client.patch(f"/users/{user_id}", json={"age": 37}, headers={"X-Request-ID": "req-up"})
            client.delete(f"/users/{user_id}", headers={"X-Request-ID": "req-del"})
            events = [json.loads(ws.receive_text()) for _ in range(3)]
        assert [e["type"] for e in events] == ["user.created", "user.updated", "user.deleted"]
        assert [e["request_id"] for e in events] == ["req-create", "req-up", "req-del"]
        assert all(e["user"]["id"] == user_id for e in events)
        assert events[1]["user"]["age"] == 37

    def test_every_client_gets_every_event(self, client: TestClient) -> None:
        """Two connected clients both receive the event."""
        with (
            client.websocket_connect("/ws/events") as first,
            client.websocket_connect("/ws/events") as second,
        ):
            create(client)
            assert json.loads(first.receive_text())["type"] == "user.created"
            assert json.loads(second.receive_text())["type"] == "user.created"

    def test_failed_writes_send_nothing(self, client: TestClient) -> None:
        """A refused write publishes no event."""
        with client.websocket_connect("/ws/events"):
            client.post("/users", json={**ADA, "email": "bad"})
            problem_of(client.delete("/users/nobody"), 404)
            assert client.get("/metrics").json()["events"]["published"] == 0

    def test_disconnect_is_cleaned_up(self, client: TestClient) -> None:
        """A client that disconnects is unsubscribed."""
        with client.websocket_connect("/ws/events"):
            assert client.get("/metrics").json()["events"]["subscribers"] == 1
        assert client.get("/metrics").json()["events"]["subscribers"] == 0
        create(client)  # publishing with nobody listening is fine

    def test_client_messages_are_ignored(self, client: TestClient) -> None:
        """Text sent by a client does not disturb its stream."""
        with client.websocket_connect("/ws/events") as ws:
            ws.send_text("hello?")
            create(client)
            assert json.loads(ws.receive_text())["type"] == "user.created"

    def test_server_shutdown_closes_streams(self, app: FastAPI, client: TestClient) -> None:
        """When the hub closes (server stopping), clients get a 1001 close."""
        from starlette.websockets import WebSocketDisconnect

        hub = get_container(app).resolve(EventHub)
        with client.websocket_connect("/ws/events") as ws:
            assert client.portal is not None
            client.portal.call(hub.close)
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_text()
        assert info.value.code == 1001


class TestHealthAndMetrics:
    def test_health(self, client: TestClient) -> None:
        """/health checks the database."""
        assert client.get("/health").json() == {"status": "ok", "database": "ok"}

    def test_health_fails_when_database_does(
        self, app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A database that does not answer makes /health a 503 problem."""
        repository = get_container(app).resolve(SQLiteUserRepository)

        def broken() -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(repository, "ping", broken)
        body = problem_of(client.get("/health"), 503)
        assert "disk" not in body["detail"]

    def test_metrics_shape(self, client: TestClient) -> None:
        """/metrics reports requests by status, latency percentiles, cache and limiter stats."""
        create(client)
        client.get("/users/nobody")
        metrics = client.get("/metrics").json()
        assert metrics["requests"]["by_status"] == {"201": 1, "404": 1}
        assert {"latency_p50_ms", "latency_p90_ms", "latency_p99_ms"} <= set(metrics["requests"])
        assert {"hits", "misses", "hit_rate", "size"} <= set(metrics["cache"])
        assert metrics["rate_limiter"]["allowed"] == 1
        assert metrics["events"]["published"] == 1

    def test_index(self, client: TestClient) -> None:
        """The root points newcomers at the docs."""
        assert client.get("/").json()["docs"] == "/docs"

    def test_docs_work_offline(self, client: TestClient) -> None:
        """The service's /docs page loads no CDN asset, and its assets are served."""
        page = client.get("/docs").text
        assert "cdn." not in page
        assert "https://" not in page
        assert client.get("/static/docs/swagger-ui-bundle.js").status_code == 200

    def test_openapi_documents_problems(self, client: TestClient) -> None:
        """The schema documents the problem+json error responses."""
        schema = client.get("/openapi.json").json()
        responses = schema["paths"]["/users"]["post"]["responses"]
        assert PROBLEM in responses["409"]["content"]
        assert "Problem" in schema["components"]["schemas"]


class TestLifecycle:
    def test_data_survives_restart(self, tmp_path: Path, clock: ManualClock) -> None:
        """A new app on the same database file sees the data written before."""
        settings = make_settings(tmp_path)
        with TestClient(create_app(settings, clock=clock)) as first:
            user = create(first)
        with TestClient(create_app(settings, clock=clock)) as second:
            assert second.get(f"/users/{user['id']}").json() == user

    def test_database_created_on_start(self, tmp_path: Path) -> None:
        """Starting creates the directory, the database file (WAL) and the table."""
        settings = make_settings(tmp_path)
        with TestClient(create_app(settings)):
            assert settings.database_path.exists()

    def test_app_restarts_in_the_same_object(self, app: FastAPI) -> None:
        """Running the lifespan twice on one app works (resources reopened)."""
        for _ in range(2):
            with TestClient(app) as test_client:
                assert test_client.get("/health").status_code == 200

    def test_container_is_consistent(self, tmp_path: Path) -> None:
        """The service's DI graph validates."""
        container = build_container(make_settings(tmp_path))
        assert isinstance(container, DIContainer)
        container.validate()


class TestConcurrency:
    async def test_200_concurrent_creates(self, aclient: httpx.AsyncClient) -> None:
        """200 creates at once are all stored, none fails."""
        responses = await asyncio.gather(
            *(
                aclient.post("/users", json={"email": f"user{n}@example.org", "name": f"U{n}"})
                for n in range(200)
            )
        )
        assert sorted({r.status_code for r in responses}) == [201]
        page = (await aclient.get("/users", params={"limit": 100, "total": True})).json()
        assert page["total"] == 200
        ids = {r.json()["id"] for r in responses}
        assert len(ids) == 200

    async def test_200_concurrent_creates_of_one_email(self, aclient: httpx.AsyncClient) -> None:
        """200 creates of one e-mail at once: exactly one 201, the rest 409, no 500."""
        responses = await asyncio.gather(
            *(
                aclient.post("/users", json={"email": "same@example.org", "name": f"U{n}"})
                for n in range(200)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 199
