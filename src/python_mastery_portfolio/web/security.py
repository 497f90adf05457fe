"""Pure-ASGI host check and security headers, in one cheap layer.

:class:`SecurityMiddleware` answers a request whose ``Host`` is not one the service
serves with a 400 problem (a WebSocket is closed before its handshake completes): that
stops DNS rebinding, where a page on ``attacker.example`` resolves its own name to
``127.0.0.1`` and talks to the service as if it were same-origin, and keeps a foreign
``Host`` out of every URL the application builds (redirects' ``Location``).

Every HTTP response gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer`` and a ``Content-Security-Policy``: ``default-src 'none'``
for API answers, and for the documentation pages one that lets their own (local) scripts,
styles and images run and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from python_mastery_portfolio.web.errors import ProblemResponse, problem

__all__ = ["API_CSP", "DOCS_CSP", "SecurityMiddleware", "host_name"]

API_CSP = "default-src 'none'; frame-ancestors 'none'"
"""The Content-Security-Policy of API answers: they load nothing and are never framed."""

DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'"
)
"""The Content-Security-Policy of the documentation pages (Swagger UI's inline start-up)."""

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def host_name(host: str) -> str:
    """Return the name part of a ``Host`` value, lowercased, without port or IPv6 brackets.

    Example:
        >>> host_name("LocalHost:8000"), host_name("[::1]:8000"), host_name("127.0.0.1")
        ('localhost', '::1', '127.0.0.1')
    """
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host.rstrip(".")


class SecurityMiddleware:
    """Serve only the given ``Host`` names and add security headers to every response.

    Args:
        app: The ASGI application to wrap.
        allowed_hosts: The host names served (``"*"`` serves any); compared without port.
        docs_paths: Path prefixes whose pages get :data:`DOCS_CSP` instead of
            :data:`API_CSP`.

    Example:
        >>> from fastapi import FastAPI
        >>> from fastapi.testclient import TestClient
        >>> app = FastAPI()
        >>> app.add_middleware(SecurityMiddleware, allowed_hosts=["localhost"])
        >>> client = TestClient(app, base_url="http://localhost:8000")
        >>> client.get("/missing").headers["x-content-type-options"]
        'nosniff'
        >>> client.get("/", headers={"Host": "attacker.example"}).status_code
        400
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str],
        docs_paths: Iterable[str] = ("/docs", "/redoc", "/static/docs"),
    ) -> None:
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts must be an iterable of strings, not one string")
        hosts = frozenset(host_name(host) for host in allowed_hosts)
        self.app = app
        self._any_host = "*" in hosts
        self._hosts = hosts
        self._docs = tuple(docs_paths)

    def _host_allowed(self, scope: Scope) -> bool:
        if self._any_host:
            return True
        for name, value in scope["headers"]:
            if name == b"host":
                return host_name(value.decode("latin-1")) in self._hosts
        return False  # HTTP/1.1 requires Host; a request without one is not for us

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        kind = scope["type"]
        if kind == "websocket":
            if not self._host_allowed(scope):
                await send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
                return
            await self.app(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = DOCS_CSP if path.startswith(self._docs) else API_CSP
        added = (*_COMMON, (b"content-security-policy", csp.encode("ascii")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        if not self._host_allowed(scope):
            body = problem(400, detail="The Host header names a host this service does not serve.")
            body["code"] = "unknown_host"
            body["instance"] = path
            await ProblemResponse(body)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
