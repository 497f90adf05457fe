"""RequestContextMiddleware with ``security=``, ``body_limit=`` and ``rate_limits=``: one layer.

Each behaviour runs against the four middlewares stacked (context outside, then security,
the body limit and the rate limit) and against the one fused layer, which must answer the
same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.resilience import RateLimiter
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.web.errors import install_error_handlers
from python_mastery_portfolio.web.limits import (
    BodyLimit,
    BodyLimitMiddleware,
    BodyTooLargeError,
    find_content_length,
)
from python_mastery_portfolio.web.metrics import UNMATCHED_ROUTE, RequestMetrics
from python_mastery_portfolio.web.middleware import RequestContextMiddleware
from python_mastery_portfolio.web.ratelimit import RateLimit, RateLimitMiddleware, RateLimitRules
from python_mastery_portfolio.web.security import (
    API_CSP,
    DOCS_CSP,
    SecurityMiddleware,
    SecurityPolicy,
    find_host,
)

HOSTS = ("localhost",)
Build = Callable[..., ASGIApp]


def one_a_minute() -> list[tuple[RateLimit, list[str], list[str]]]:
    """POST /limited: one request a minute per client."""
    return [(RateLimit(RateLimiter(1, per=60, clock=ManualClock())), ["POST"], ["/limited"])]


def stacked(app: ASGIApp, *, max_body_size: int = 10, body_timeout: float | None = None) -> ASGIApp:
    app = RateLimitMiddleware(app, rules=one_a_minute())
    limited = BodyLimitMiddleware(app, max_body_size=max_body_size, body_timeout=body_timeout)
    return RequestContextMiddleware(SecurityMiddleware(limited, allowed_hosts=HOSTS))


def fused(app: ASGIApp, *, max_body_size: int = 10, body_timeout: float | None = None) -> ASGIApp:
    return RequestContextMiddleware(
        app,
        security=SecurityPolicy(HOSTS),
        body_limit=BodyLimit(max_body_size, body_timeout=body_timeout),
        rate_limits=RateLimitRules(one_a_minute()),
    )


@pytest.fixture(params=[stacked, fused], ids=["stacked", "fused"])
def build(request: pytest.FixtureRequest) -> Build:
    wrap: Build = request.param
    return wrap


def chunks(*parts: bytes) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length."""
    yield from parts


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> int:
        return len(await request.body())

    @app.get("/docs")
    async def docs() -> str:
        return "docs"

    @app.post("/limited")
    async def limited(request: Request) -> int:
        return len(await request.body())

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    return app


def client_for(build: Build, app: ASGIApp | None = None, **kwargs: Any) -> TestClient:
    return TestClient(build(app or make_app(), **kwargs), base_url="http://localhost")


class TestSameAnswers:
    def test_served_request_has_every_header(self, build: Build) -> None:
        """A served answer carries the request ID and the security headers."""
        response = client_for(build).post("/echo", content=b"abc", headers={"X-Request-ID": "r1"})
        assert response.json() == 3
        assert response.headers["x-request-id"] == "r1"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"] == API_CSP

    def test_docs_csp(self, build: Build) -> None:
        """The docs pages get the docs CSP."""
        response = client_for(build).get("/docs")
        assert response.headers["content-security-policy"] == DOCS_CSP

    def test_foreign_host(self, build: Build) -> None:
        """A foreign Host is a 400 problem with the ID and the security headers."""
        response = client_for(build).get("/docs", headers={"Host": "attacker.example"})
        assert response.status_code == 400
        assert response.json()["code"] == "unknown_host"
        assert response.json()["request_id"] == response.headers["x-request-id"]
        assert response.headers["x-content-type-options"] == "nosniff"

    def test_announced_too_large(self, build: Build) -> None:
        """A Content-Length over the limit is a 413 that closes the connection."""
        response = client_for(build).post("/echo", content=b"x" * 11)
        assert response.status_code == 413
        assert response.headers["connection"] == "close"
        assert response.headers["x-frame-options"] == "DENY"
        assert "x-request-id" in response.headers

    def test_chunked_too_large(self, build: Build) -> None:
        """A chunked body is counted and refused once it passes the limit."""
        response = client_for(build).post("/echo", content=chunks(b"x" * 6, b"x" * 6))
        assert response.status_code == 413

    def test_chunked_too_large_without_error_handlers(self, build: Build) -> None:
        """An application that lets the error through still gets a 413 problem."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            while (await receive()).get("more_body"):
                pass

        response = client_for(build, app).post("/", content=chunks(b"abc" * 4))
        assert (response.status_code, response.json()["status"]) == (413, 413)

    def test_too_large_after_the_response_started(self, build: Build) -> None:
        """Too late for a 413: the error reaches the server."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await receive()

        with pytest.raises(BodyTooLargeError):
            client_for(build, app).post("/", content=chunks(b"x" * 11))

    async def test_stalled_body_is_408(self, build: Build) -> None:
        """A body that stops half-way is a 408 problem after body_timeout."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            while (await receive()).get("more_body"):
                pass

        calls = 0

        async def receive() -> Message:
            nonlocal calls
            calls += 1
            if calls == 1:
                return {"type": "http.request", "body": b"{", "more_body": True}
            await asyncio.Event().wait()  # the rest never comes
            return {}  # pragma: no cover - never reached

        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "headers": [(b"host", b"localhost")],
        }
        guarded = build(app, body_timeout=1e-9)  # fires at the loop's next turn: no real wait
        await asyncio.wait_for(guarded(scope, receive, send), 5)
        assert sent[0]["status"] == 408

    @pytest.mark.parametrize(
        ("version", "headers", "expected"),
        [
            ("2", [], 413),  # HTTP/2: a body needs no length header, so it is counted
            ("1.1", [(b"transfer-encoding", b"chunked")], 413),
            (None, [], 413),  # the server does not say: counted
            ("1.1", [(b"content-length", b"0")], 200),  # announced empty: nothing to watch
            # Transfer-Encoding wins over Content-Length (h11 frames it so): still counted.
            ("1.1", [(b"content-length", b"0"), (b"transfer-encoding", b"chunked")], 413),
        ],
        ids=["http2", "chunked", "no-version", "length-0", "length-0-and-chunked"],
    )
    async def test_bodies_are_counted_unless_certainly_empty(
        self,
        build: Build,
        version: str | None,
        headers: list[tuple[bytes, bytes]],
        expected: int,
    ) -> None:
        """A body no header announces is still counted where it can exist; no false 413."""
        parts = [b"x" * 8, b"x" * 8]

        async def receive() -> Message:
            if expected == 200:
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": parts.pop(), "more_body": bool(parts)}

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        scope: dict[str, Any] = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "headers": [(b"host", b"localhost"), *headers],
        }
        if version is not None:
            scope["http_version"] = version
        await build(app)(scope, receive, send)
        assert sent[0]["status"] == expected

    def test_rate_limit(self, build: Build) -> None:
        """The rate limit's headers, then its 429 problem with the ID and security headers."""
        client = client_for(build)
        allowed = client.post("/limited", content=b"ab")
        assert (allowed.json(), allowed.headers["ratelimit-remaining"]) == (2, "0")
        assert allowed.headers["ratelimit-limit"] == "1"
        refused = client.post("/limited", content=b"ab", headers={"X-Request-ID": "r-2"})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
        assert refused.json()["request_id"] == "r-2"
        assert refused.headers["x-frame-options"] == "DENY"
        assert "ratelimit-limit" not in client.post("/echo").headers

    def test_refused_before_the_rate_limit(self, build: Build) -> None:
        """A foreign host or an announced oversized body is refused without spending a token."""
        client = client_for(build)
        assert client.post("/limited", headers={"Host": "attacker.example"}).status_code == 400
        assert client.post("/limited", content=b"x" * 11).status_code == 413
        assert client.post("/limited").status_code == 200

    def test_foreign_host_websocket_is_closed(self, build: Build) -> None:
        """A WebSocket to a foreign host is closed before the handshake completes."""
        client = TestClient(build(make_app()), base_url="http://attacker.example")
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
            pass  # pragma: no cover - the connection is refused
        assert info.value.code == 1008

    def test_served_websocket(self, build: Build) -> None:
        """A WebSocket to a served host works."""
        with client_for(build).websocket_connect("ws://localhost/ws") as socket:
            assert socket.receive_text() == "hi"


class TestPolicies:
    def test_any_host_allows_no_host(self) -> None:
        """'*' serves every request, even one without Host."""
        assert SecurityPolicy(["*"]).allows(None)

    def test_remembered_hosts_are_bounded(self) -> None:
        """Served Host values are remembered up to a bound; past it they are still served."""
        policy = SecurityPolicy(["localhost"])
        answers = [policy.allows(f"localhost:{port}".encode()) for port in range(200)]
        assert all(answers)
        assert policy.allows(b"localhost:150")
        assert not policy.allows(b"other:150")

    def test_one_string_is_refused(self) -> None:
        """allowed_hosts must be a list, not one string."""
        with pytest.raises(TypeError, match="allowed_hosts"):
            SecurityPolicy("localhost")

    def test_body_limit_checks(self) -> None:
        """BodyLimit checks its arguments and judges raw Content-Length values."""
        with pytest.raises(ValueError, match="max_body_size"):
            BodyLimit(0)
        with pytest.raises(ValueError, match="body_timeout"):
            BodyLimit(body_timeout=0)
        limit = BodyLimit(10)
        assert not limit.announced_too_large(b"abc")
        assert not limit.announced_too_large(b"10")

    async def test_disconnect_passes_the_counter(self) -> None:
        """A disconnect message is handed on and counts no bytes."""

        async def receive() -> Message:
            return {"type": "http.disconnect"}

        assert await BodyLimit(1).receiver(receive)() == {"type": "http.disconnect"}

    def test_finders(self) -> None:
        """find_host and find_content_length return the raw header or None."""
        assert find_host({"headers": [(b"a", b"b")]}) is None
        assert find_content_length({"headers": []}) is None

    def test_middleware_exposes_its_limits(self) -> None:
        """BodyLimitMiddleware keeps its max_body_size and body_timeout attributes."""
        middleware = BodyLimitMiddleware(FastAPI(), max_body_size=5, body_timeout=2.0)
        assert (middleware.max_body_size, middleware.body_timeout) == (5, 2.0)


class TestBodilessRequests:
    async def test_a_request_without_a_body_gets_the_servers_receive(self) -> None:
        """HTTP/1.1 without Content-Length or Transfer-Encoding has no body: nothing wraps it."""
        seen: list[Receive] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(receive)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}  # pragma: no cover

        async def send(message: Message) -> None:
            pass

        layer = fused(app, body_timeout=1)
        for method in ("GET", "POST"):
            scope = {
                "type": "http",
                "method": method,
                "path": "/",
                "http_version": "1.1",
                "headers": [(b"host", b"localhost")],
            }
            await layer(scope, receive, send)
        assert seen == [receive, receive]


class TestInstruments:
    def make_client(self, metrics: RequestMetrics | None = None) -> TestClient:
        app = FastAPI()

        @app.get("/users/{user_id}")
        async def user(user_id: str) -> str:
            return user_id

        app.add_middleware(RequestContextMiddleware, metrics=metrics, clock=ManualClock())
        return TestClient(app)

    def test_requests_by_route_template(self) -> None:
        """http.requests and http.duration carry the route template, never the raw path."""
        recorder = RecordingInstrument()
        client = self.make_client()
        with install(recorder):
            client.get("/users/1")
            client.get("/users/2")
            client.get("/nowhere")
        assert recorder.total("http.requests", route="/users/{user_id}", method="GET") == 2
        assert recorder.total("http.requests", route="/users/{user_id}", status=200) == 2
        assert recorder.total("http.requests", route=UNMATCHED_ROUTE, status=404) == 1
        assert recorder.observations("http.duration", route="/users/{user_id}") == [0.0, 0.0]
        assert not recorder.select(route="/users/1")

    def test_unknown_methods_are_bounded(self) -> None:
        """A method outside the standard ones is reported as _OTHER."""
        recorder = RecordingInstrument()
        client = self.make_client()
        with install(recorder):
            client.request("BREW", "/users/1")
        assert recorder.total("http.requests", method="_OTHER") == 1

    def test_nothing_reported_without_instruments(self) -> None:
        """With no instrument installed the metrics still count and nothing else happens."""
        metrics = RequestMetrics()
        recorder = RecordingInstrument()
        self.make_client(metrics).get("/users/1")
        assert metrics.by_route() == {"/users/{user_id}": 1}
        assert recorder.select() == []
