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

from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from python_mastery_portfolio.web.errors import ProblemResponse, problem

__all__ = [
    "API_CSP",
    "DEFAULT_DOCS_PATHS",
    "DOCS_CSP",
    "SecurityMiddleware",
    "SecurityPolicy",
    "host_name",
]

API_CSP = "default-src 'none'; frame-ancestors 'none'"
"""The Content-Security-Policy of API answers: they load nothing and are never framed."""

DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'"
)
"""The Content-Security-Policy of the documentation pages (Swagger UI's inline start-up)."""

DEFAULT_DOCS_PATHS = ("/docs", "/redoc", "/static/docs")
"""The path prefixes of the documentation pages :func:`~.docs.install_offline_docs` serves."""

_MAX_KNOWN_HOSTS = 64  # raw Host values remembered as served; bounded, whatever clients send

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


class SecurityPolicy:
    """The rules of :class:`SecurityMiddleware`: the hosts served and each answer's headers.

    Apart from the middleware so that one pure-ASGI layer can apply them together with
    others (:class:`~python_mastery_portfolio.web.middleware.RequestContextMiddleware`
    takes one as ``security=``); the headers are built once, here.

    Args:
        allowed_hosts: The host names served (``"*"`` serves any); compared without port.
        docs_paths: Path prefixes whose pages get :data:`DOCS_CSP` instead of
            :data:`API_CSP`.

    Raises:
        TypeError: If ``allowed_hosts`` is one string.

    Example:
        >>> policy = SecurityPolicy(["localhost"])
        >>> policy.allows(b"LocalHost:8000"), policy.allows(b"attacker.example")
        (True, False)
        >>> policy.allows(None)
        False
        >>> dict(policy.headers("/docs"))[b"content-security-policy"] == DOCS_CSP.encode()
        True
    """

    __slots__ = ("_any_host", "_api_headers", "_docs", "_docs_headers", "_hosts", "_known")

    def __init__(
        self, allowed_hosts: Iterable[str], *, docs_paths: Iterable[str] = DEFAULT_DOCS_PATHS
    ) -> None:
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts must be an iterable of strings, not one string")
        hosts = frozenset(host_name(host) for host in allowed_hosts)
        self._any_host = "*" in hosts
        self._hosts = hosts
        self._docs = tuple(docs_paths)
        self._api_headers = (*_COMMON, (b"content-security-policy", API_CSP.encode("ascii")))
        self._docs_headers = (*_COMMON, (b"content-security-policy", DOCS_CSP.encode("ascii")))
        # Raw Host values already found served: most requests skip parsing theirs.
        self._known: dict[bytes, bool] = {}

    def allows(self, host: bytes | None) -> bool:
        """Return whether a request with this raw ``Host`` value (``None``: none) is served."""
        if self._any_host:
            return True
        if host is None:
            return False  # HTTP/1.1 requires Host; a request without one is not for us
        known = self._known
        if host in known:
            return True
        allowed = host_name(host.decode("latin-1")) in self._hosts
        if allowed and len(known) < _MAX_KNOWN_HOSTS:
            known[host] = True
        return allowed

    def headers(self, path: str) -> Sequence[tuple[bytes, bytes]]:
        """Return the security headers of the answer to ``path`` (built once, shared)."""
        return self._docs_headers if path.startswith(self._docs) else self._api_headers

    @staticmethod
    def refusal(path: str) -> ProblemResponse:
        """Return the 400 problem that answers a request for a host that is not served."""
        body = problem(400, detail="The Host header names a host this service does not serve.")
        body["code"] = "unknown_host"
        body["instance"] = path
        return ProblemResponse(body)


def find_host(scope: Scope) -> bytes | None:
    """Return the raw ``Host`` header of an ASGI connection, or ``None`` without one.

    Example:
        >>> find_host({"headers": [(b"host", b"localhost:8000")]}), find_host({"headers": []})
        (b'localhost:8000', None)
    """
    for name, value in scope["headers"]:
        if name == b"host":
            host: bytes = value
            return host
    return None


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
        docs_paths: Iterable[str] = DEFAULT_DOCS_PATHS,
    ) -> None:
        self.app = app
        self.policy = SecurityPolicy(allowed_hosts, docs_paths=docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        kind = scope["type"]
        policy = self.policy
        if kind == "websocket":
            if not policy.allows(find_host(scope)):
                await send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
                return
            await self.app(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        added = policy.headers(path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        if not policy.allows(find_host(scope)):
            await policy.refusal(path)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
