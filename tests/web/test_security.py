"""Tests of the host check and security headers middleware."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.responses import RedirectResponse
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from python_mastery_portfolio.web.security import (
    API_CSP,
    DOCS_CSP,
    SecurityMiddleware,
    host_name,
)


def make_app(*hosts: str) -> FastAPI:
    app = FastAPI()

    @app.get("/docs")
    async def docs() -> str:
        return "docs"

    @app.get("/go")
    async def go() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app.add_middleware(SecurityMiddleware, allowed_hosts=hosts or ("localhost",))
    return app


class TestHosts:
    @pytest.mark.parametrize(
        ("value", "name"),
        [
            ("localhost", "localhost"),
            ("LOCALHOST:80", "localhost"),
            ("[::1]:8000", "::1"),
            ("::1", "::1"),
            ("example.org.", "example.org"),
        ],
        ids=["plain", "port", "ipv6-port", "ipv6", "trailing-dot"],
    )
    def test_host_name(self, value: str, name: str) -> None:
        """Host values are compared by name, without port, brackets or case."""
        assert host_name(value) == name

    def test_served_host_with_port(self) -> None:
        """A served host on any port is served."""
        client = TestClient(make_app(), base_url="http://localhost:8123")
        assert client.get("/docs").status_code == 200

    def test_foreign_host_is_400_and_not_reflected(self) -> None:
        """Host: attacker.example is a 400 problem; no Location names it (DNS rebinding)."""
        client = TestClient(make_app(), base_url="http://localhost")
        response = client.get("/go", headers={"Host": "attacker.example"}, follow_redirects=False)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unknown_host"
        assert "location" not in response.headers
        assert "attacker" not in response.text
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_missing_host_is_400(self) -> None:
        """A request without Host (HTTP/1.0) is not for this service."""
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}  # pragma: no cover - not read

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/docs", "headers": []}
        await make_app()(scope, receive, send)  # type: ignore[arg-type]
        assert sent[0]["status"] == 400

    def test_any_host(self) -> None:
        """'*' serves every host."""
        client = TestClient(make_app("*"), base_url="http://whatever.example")
        assert client.get("/docs").status_code == 200

    def test_foreign_host_websocket_is_closed(self) -> None:
        """A WebSocket to a foreign host is closed before the handshake completes."""
        client = TestClient(make_app(), base_url="http://attacker.example")
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
            pass  # pragma: no cover - the connection is refused
        assert info.value.code == 1008

    def test_served_websocket(self) -> None:
        """A WebSocket to a served host works."""
        client = TestClient(make_app(), base_url="http://localhost")
        with client.websocket_connect("ws://localhost/ws") as socket:
            assert socket.receive_text() == "hi"

    def test_one_string_is_refused(self) -> None:
        """allowed_hosts must be a list, not one string (its letters would be hosts)."""
        with pytest.raises(TypeError, match="allowed_hosts"):
            SecurityMiddleware(FastAPI(), allowed_hosts="localhost")

    def test_lifespan_passes(self) -> None:
        """The lifespan reaches the application through the middleware."""
        started: list[bool] = []

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            started.append(True)
            yield

        app = FastAPI(lifespan=lifespan)
        app.add_middleware(SecurityMiddleware, allowed_hosts=["localhost"])
        with TestClient(app):
            assert started == [True]


class TestHeaders:
    def test_api_answers(self) -> None:
        """Every answer has nosniff, DENY framing, no referrer and a strict CSP."""
        response = TestClient(make_app(), base_url="http://localhost").get("/missing")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == API_CSP

    def test_docs_csp(self) -> None:
        """The docs pages get their own CSP, which allows only local assets."""
        response = TestClient(make_app(), base_url="http://localhost").get("/docs")
        assert response.headers["content-security-policy"] == DOCS_CSP
        assert "http" not in DOCS_CSP
