"""Tests of the request-context middleware, the request-ID context and request metrics."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.web.context import (
    get_request_id,
    is_safe_request_id,
    new_request_id,
    request_id_var,
)
from python_mastery_portfolio.web.errors import install_error_handlers
from python_mastery_portfolio.web.metrics import UNMATCHED_ROUTE, RequestMetrics
from python_mastery_portfolio.web.middleware import RequestContextMiddleware
from tests.conftest import raise_first, run_threads

HEX32 = re.compile(r"[0-9a-f]{32}")
MIDDLEWARE_LOGGER = "python_mastery_portfolio.web.middleware"


def make_app(metrics: RequestMetrics | None = None, clock: ManualClock | None = None) -> FastAPI:
    clock = clock or ManualClock()
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware, metrics=metrics, clock=clock)
    install_error_handlers(app)

    @app.get("/id")
    async def show_id(request: Request) -> dict[str, Any]:
        return {"context": get_request_id(), "state": request.state.request_id}

    @app.get("/sync-id")
    def show_id_in_thread() -> dict[str, Any]:
        return {"context": get_request_id()}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        clock.advance(0.25)
        return {}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret database password is hunter2")

    @app.get("/own-header")
    async def own_header() -> JSONResponse:
        return JSONResponse({}, headers={"X-Request-ID": "forged"})

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            yield b"first"
            raise RuntimeError("broke mid-stream")

        return StreamingResponse(chunks())

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(get_request_id() or "")
        await websocket.close()

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app())


class TestRequestIdContext:
    def test_outside_a_request_there_is_none(self) -> None:
        """get_request_id() is None when no request is being handled."""
        assert get_request_id() is None

    def test_new_ids_are_unique_hex(self) -> None:
        """new_request_id makes distinct 32-digit hexadecimal IDs."""
        ids = {new_request_id() for _ in range(1000)}
        assert len(ids) == 1000
        assert all(HEX32.fullmatch(rid) for rid in ids)

    @pytest.mark.parametrize(
        ("value", "safe"),
        [
            ("abc-123_X.y", True),
            ("a" * 128, True),
            ("a" * 129, False),
            ("", False),
            ("a b", False),
            ("a/b", False),
            ("<script>", False),
            ("caf\u00e9", False),
            ("line\nbreak", False),
        ],
        ids=["ok", "max", "too-long", "empty", "space", "slash", "markup", "non-ascii", "newline"],
    )
    def test_is_safe_request_id(self, value: str, safe: bool) -> None:
        """Only 1-128 letters, digits, '.', '_' and '-' are safe."""
        assert is_safe_request_id(value) is safe


class TestRequestIdRoundTrip:
    def test_safe_incoming_id_is_echoed(self, client: TestClient) -> None:
        """A safe incoming X-Request-ID is kept and returned."""
        response = client.get("/id", headers={"X-Request-ID": "client-42"})
        assert response.headers["X-Request-ID"] == "client-42"
        assert response.json() == {"context": "client-42", "state": "client-42"}

    def test_missing_id_is_generated(self, client: TestClient) -> None:
        """Without an incoming ID a fresh one is made and returned."""
        response = client.get("/id")
        rid = response.headers["X-Request-ID"]
        assert HEX32.fullmatch(rid)
        assert response.json()["context"] == rid

    @pytest.mark.parametrize(
        "incoming",
        ["a" * 129, "a b", "<script>alert(1)</script>", "caf\u00e9".encode("latin-1"), ""],
        ids=["too-long", "space", "markup", "latin1", "empty"],
    )
    def test_unsafe_incoming_id_is_replaced(self, client: TestClient, incoming: Any) -> None:
        """An unsafe incoming ID is never echoed; a new one replaces it."""
        response = client.get("/id", headers={"X-Request-ID": incoming})
        rid = response.headers["X-Request-ID"]
        assert rid != incoming
        assert HEX32.fullmatch(rid)

    def test_each_request_gets_its_own_id(self, client: TestClient) -> None:
        """Two requests without an incoming ID get different IDs."""
        first = client.get("/id").headers["X-Request-ID"]
        second = client.get("/id").headers["X-Request-ID"]
        assert first != second

    def test_sync_endpoint_in_thread_sees_the_id(self, client: TestClient) -> None:
        """A def endpoint run in a worker thread still sees the request ID."""
        response = client.get("/sync-id", headers={"X-Request-ID": "t1"})
        assert response.json() == {"context": "t1"}

    def test_app_set_header_is_replaced_not_duplicated(self, client: TestClient) -> None:
        """A response's own X-Request-ID is replaced by the real one, never duplicated."""
        response = client.get("/own-header", headers={"X-Request-ID": "real"})
        assert response.headers.get_list("X-Request-ID") == ["real"]

    def test_not_found_carries_the_id(self, client: TestClient) -> None:
        """Responses produced by the framework (a 404) carry the ID too."""
        response = client.get("/nowhere", headers={"X-Request-ID": "nf"})
        assert response.status_code == 404
        assert response.headers["X-Request-ID"] == "nf"

    def test_context_is_reset_after_the_request(self, client: TestClient) -> None:
        """The request ID does not leak out of the request."""
        client.get("/id", headers={"X-Request-ID": "gone"})
        assert get_request_id() is None

    def test_websocket_session_gets_an_id(self, client: TestClient) -> None:
        """A WebSocket session runs with the incoming (or a new) request ID."""
        with client.websocket_connect("/ws", headers={"X-Request-ID": "ws-1"}) as ws:
            assert ws.receive_text() == "ws-1"

    def test_custom_header_name(self) -> None:
        """header_name selects another header."""
        app = FastAPI()
        app.add_middleware(RequestContextMiddleware, header_name="X-Correlation-ID")

        @app.get("/")
        async def root() -> dict[str, str | None]:
            return {"id": get_request_id()}

        response = TestClient(app).get("/", headers={"X-Correlation-ID": "corr"})
        assert response.headers["X-Correlation-ID"] == "corr"
        assert response.json() == {"id": "corr"}

    @pytest.mark.parametrize("name", ["", "X-\u00e9"], ids=["empty", "non-ascii"])
    def test_bad_header_name_is_refused(self, name: str) -> None:
        """An empty or non-ASCII header name is a ValueError naming the parameter."""
        with pytest.raises(ValueError, match="header_name"):
            RequestContextMiddleware(FastAPI(), header_name=name)


class TestUnhandledErrors:
    def test_unhandled_error_gives_problem_500_with_id(
        self, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An escaping exception becomes a problem+json 500 that carries the request ID."""
        with caplog.at_level(logging.ERROR, logger=MIDDLEWARE_LOGGER):
            response = client.get("/boom", headers={"X-Request-ID": "err-1"})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["X-Request-ID"] == "err-1"
        body = response.json()
        assert body["status"] == 500
        assert body["request_id"] == "err-1"
        assert body["instance"] == "/boom"
        assert body["code"] == "internal_error"

    def test_unhandled_error_reveals_nothing(self, client: TestClient) -> None:
        """The 500 body names neither the exception type nor its message."""
        text = client.get("/boom").text
        assert "hunter2" not in text
        assert "RuntimeError" not in text
        assert "Traceback" not in text

    def test_unhandled_error_is_logged_once_with_traceback_and_id(
        self, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The error is logged once, with its traceback, while the request ID is set."""
        with caplog.at_level(logging.INFO):
            client.get("/boom", headers={"X-Request-ID": "err-2"})
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert errors[0].exc_info is not None
        assert isinstance(errors[0].exc_info[1], RuntimeError)
        assert errors[0].__dict__["request_id"] == "err-2"

    async def test_through_asgi_transport(self) -> None:
        """A real request through httpx's ASGI transport gets the 500 with the header."""
        transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/boom", headers={"X-Request-ID": "asgi-1"})
        assert response.status_code == 500
        assert response.headers["X-Request-ID"] == "asgi-1"
        assert response.headers["content-type"] == "application/problem+json"

    def test_not_reraised_to_the_server(self) -> None:
        """The middleware answered the error, so the server sees no exception to log again."""
        client = TestClient(make_app(), raise_server_exceptions=True)
        assert client.get("/boom").status_code == 500

    def test_error_after_response_started_is_logged_and_reraised(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failure mid-stream cannot change the status: it is logged and re-raised."""
        client = TestClient(make_app(), raise_server_exceptions=True)
        with (
            caplog.at_level(logging.ERROR, logger=MIDDLEWARE_LOGGER),
            pytest.raises(RuntimeError, match="mid-stream"),
        ):
            client.get("/stream")
        assert any("after the response" in r.getMessage() for r in caplog.records)


class TestAccessLog:
    def test_request_is_logged_with_method_path_status_duration(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Each request is logged at INFO with method, path, status and duration."""
        client = TestClient(make_app())
        with caplog.at_level(logging.INFO, logger=MIDDLEWARE_LOGGER):
            client.get("/slow?secret=1", headers={"X-Request-ID": "log-1"})
        (record,) = [r for r in caplog.records if r.name == MIDDLEWARE_LOGGER]
        assert record.levelno == logging.INFO
        assert record.__dict__["method"] == "GET"
        assert record.__dict__["path"] == "/slow"
        assert record.__dict__["status"] == 200
        assert record.__dict__["duration_ms"] == 250.0
        assert "secret" not in record.getMessage()

    def test_client_controls_escaped_in_the_record(self, caplog: pytest.LogCaptureFixture) -> None:
        """The path the client sent is logged (message and extra field) with CR LF escaped."""
        client = TestClient(make_app())
        with caplog.at_level(logging.INFO, logger=MIDDLEWARE_LOGGER):
            client.get("/x%0d%0aforged%1b%5b2J")
        (record,) = [r for r in caplog.records if r.name == MIDDLEWARE_LOGGER]
        assert record.__dict__["path"] == "/x\\r\\nforged\\x1b[2J"
        assert "\n" not in record.getMessage()

    def test_error_log_escapes_the_path(self, caplog: pytest.LogCaptureFixture) -> None:
        """The unhandled-error line escapes the client's path too."""
        app = make_app()

        @app.get("/boom/{rest}")
        async def boom_rest(rest: str) -> None:
            raise RuntimeError("broken")

        with caplog.at_level(logging.ERROR, logger=MIDDLEWARE_LOGGER):
            TestClient(app).get("/boom/a%0d%0ab")
        (record,) = caplog.records
        assert record.getMessage() == "Unhandled error on GET /boom/a\\r\\nb"

    def test_nothing_built_when_info_is_off(self) -> None:
        """With INFO disabled for the middleware's logger no access record is made."""
        records: list[logging.LogRecord] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record)  # pragma: no cover - must not be called

        log = logging.getLogger(MIDDLEWARE_LOGGER)
        handler, level = Keep(), log.level
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        try:
            assert TestClient(make_app()).get("/id").status_code == 200
        finally:
            log.removeHandler(handler)
            log.setLevel(level)
        assert records == []


class TestMetricsRecording:
    def test_status_and_duration_are_recorded(self) -> None:
        """The middleware records each request's status and duration."""
        metrics = RequestMetrics()
        client = TestClient(make_app(metrics=metrics))
        client.get("/slow")
        client.get("/nowhere")
        client.get("/boom")
        assert metrics.by_status() == {"200": 1, "404": 1, "500": 1}
        assert metrics.stats()["latency_p99_ms"] == 250.0

    async def test_cancelled_request_counts_as_499(self) -> None:
        """A request cancelled before responding is recorded as 499 and still cancelled."""
        metrics = RequestMetrics()

        async def cancelled_app(scope: Scope, receive: Receive, send: Send) -> None:
            raise asyncio.CancelledError

        middleware = RequestContextMiddleware(cancelled_app, metrics=metrics)
        with pytest.raises(asyncio.CancelledError):
            await middleware(http_scope(), no_receive, no_send)
        assert metrics.by_status() == {"499": 1}

    async def test_cancelled_after_start_keeps_the_status(self) -> None:
        """A request cancelled mid-body is recorded with the status it had started."""
        metrics = RequestMetrics()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            await RequestContextMiddleware(app, metrics=metrics)(http_scope(), no_receive, no_send)
        assert metrics.by_status() == {"200": 1}

    async def test_other_scopes_pass_through(self) -> None:
        """Lifespan (and other non-HTTP) scopes reach the app untouched."""
        seen: list[Scope] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope)

        scope: Scope = {"type": "lifespan", "state": {}}
        await RequestContextMiddleware(app)(scope, no_receive, no_send)
        assert seen == [{"type": "lifespan", "state": {}}]

    async def test_shared_state_is_not_mutated(self) -> None:
        """The request ID goes into a copy of the scope's state, never a shared dict."""
        shared: dict[str, Any] = {"db": "x"}
        captured: list[dict[str, Any]] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            captured.append(scope["state"])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        scope = http_scope()
        scope["state"] = shared
        await RequestContextMiddleware(app)(scope, no_receive, no_send)
        assert shared == {"db": "x"}
        assert captured[0]["db"] == "x"
        assert "request_id" in captured[0]


def http_scope() -> Scope:
    return {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}


async def no_receive() -> Message:  # pragma: no cover - the test apps never read the body
    return {"type": "http.disconnect"}


async def no_send(message: Message) -> None:
    return None


class TestRequestMetrics:
    def test_empty_stats(self) -> None:
        """Before any request the counts are zero and percentiles 0.0."""
        assert RequestMetrics().stats() == {
            "requests": 0,
            "samples": 0,
            "latency_p50_ms": 0.0,
            "latency_p90_ms": 0.0,
            "latency_p99_ms": 0.0,
        }

    def test_nearest_rank_percentiles(self) -> None:
        """Percentiles follow the nearest-rank method over 1..100 ms."""
        metrics = RequestMetrics()
        for ms in range(100, 0, -1):
            metrics.record(200, ms / 1000)
        stats = metrics.stats()
        assert (stats["latency_p50_ms"], stats["latency_p90_ms"], stats["latency_p99_ms"]) == (
            50.0,
            90.0,
            99.0,
        )

    def test_window_bounds_the_samples(self) -> None:
        """Only the last `window` durations count for percentiles; counts keep growing."""
        metrics = RequestMetrics(window=3)
        for ms in (1000, 1, 2, 3):
            metrics.record(200, ms / 1000)
        stats = metrics.stats()
        assert stats["requests"] == 4
        assert stats["samples"] == 3
        assert stats["latency_p99_ms"] == 3.0

    def test_by_status_is_sorted(self) -> None:
        """by_status is keyed by the status as text, in ascending order."""
        metrics = RequestMetrics()
        for status in (500, 200, 404, 200):
            metrics.record(status, 0.0)
        assert list(metrics.by_status().items()) == [("200", 2), ("404", 1), ("500", 1)]

    def test_reset(self) -> None:
        """reset forgets everything."""
        metrics = RequestMetrics()
        metrics.record(200, 0.1)
        metrics.reset()
        assert metrics.stats()["requests"] == 0
        assert metrics.by_status() == {}

    @pytest.mark.parametrize(
        ("window", "error"),
        [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)],
        ids=["zero", "negative", "float", "bool"],
    )
    def test_bad_window(self, window: Any, error: type[Exception]) -> None:
        """window must be an int >= 1."""
        with pytest.raises(error, match="window"):
            RequestMetrics(window=window)

    def test_counts_are_exact_under_threads(self) -> None:
        """64 threads recording at once lose no request."""
        metrics = RequestMetrics(window=100)

        def work(_: int) -> None:
            for _ in range(500):
                metrics.record(200, 0.001)

        raise_first(run_threads(64, work))
        assert metrics.stats()["requests"] == 64 * 500
        assert metrics.by_status() == {"200": 64 * 500}
        assert metrics.stats()["samples"] == 100


def test_request_id_var_default() -> None:
    """The context variable defaults to None."""
    assert request_id_var.get() is None


class TestRouteMetrics:
    def test_keyed_by_template_not_path(self) -> None:
        """Requests count under their route's template; unmatched ones under one key."""
        metrics = RequestMetrics()
        app = make_app(metrics=metrics)

        @app.get("/users/{user_id}")
        async def user(user_id: str) -> str:
            return user_id

        client = TestClient(app)
        for n in range(50):
            assert client.get(f"/users/{n}").status_code == 200
        client.get("/nowhere/1")
        client.get("/nowhere/2")
        assert metrics.by_route() == {"/users/{user_id}": 50, UNMATCHED_ROUTE: 2}

    def test_reset_forgets_routes(self) -> None:
        """reset() clears the route counts too."""
        metrics = RequestMetrics()
        metrics.record(200, 0.1, route="/a")
        metrics.reset()
        assert metrics.by_route() == {}
