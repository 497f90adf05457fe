"""Pure-ASGI request context: request IDs, access logging, metrics and the last-resort 500.

Written against ASGI directly rather than Starlette's ``BaseHTTPMiddleware``, which runs the
endpoint in another task (so context variables set inside do not flow back) and buffers
streaming responses. It can also apply a :class:`~.security.SecurityPolicy` and a
:class:`~.limits.BodyLimit` in the same layer: each ASGI layer costs a few microseconds per
request (a call, a ``send`` wrapper, a copy of the response's headers), so the service
stacks one instead of three.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock, now_reader
from python_mastery_portfolio.exceptions import RateLimitError
from python_mastery_portfolio.instrumentation import HOOKS
from python_mastery_portfolio.web.context import (
    is_safe_request_id,
    new_request_id,
    request_id_var,
)
from python_mastery_portfolio.web.errors import (
    ProblemResponse,
    error_response,
    internal_error_problem,
)
from python_mastery_portfolio.web.limits import BodyTimeoutError, BodyTooLargeError
from python_mastery_portfolio.web.log import escape_controls
from python_mastery_portfolio.web.metrics import UNMATCHED_ROUTE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.responses import Response

    from python_mastery_portfolio.web.limits import BodyLimit
    from python_mastery_portfolio.web.metrics import RequestMetrics
    from python_mastery_portfolio.web.ratelimit import RateLimitRules
    from python_mastery_portfolio.web.security import SecurityPolicy

__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware"]

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
"""The header that carries the request ID in both directions."""

# The methods reported to instruments as they are; any other is "_OTHER" (a client can
# send any token, and an attribute's values must stay bounded).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})

# The HTTP versions whose request bodies are announced by Content-Length or Transfer-Encoding.
_FRAMED_BY_HEADERS = frozenset({"1.0", "1.1"})


class RequestContextMiddleware:
    """Give every request an ID, log it, time it, and answer unhandled errors with a 500.

    For each HTTP request and WebSocket session it:

    - takes the incoming ``X-Request-ID`` when it is safe (1 to 128 letters, digits, ``.``,
      ``_`` or ``-``), otherwise makes a new one;
    - keeps it in :data:`~python_mastery_portfolio.web.context.request_id_var` and in
      ``request.state.request_id``;
    - sets ``X-Request-ID`` on the response, whatever produced it;
    - logs method, path, status and duration at INFO and records them in ``metrics``
      (the record is only built when INFO is enabled for this module's logger; the
      method and path came from the client, so their control characters are escaped);
    - reports ``http.requests`` and ``http.duration`` to the instrumentation hooks
      (:data:`~python_mastery_portfolio.instrumentation.HOOKS`) by route template, never
      the raw path (:data:`~.metrics.UNMATCHED_ROUTE` when no route matched); with no
      instrument installed this costs one check;
    - answers an exception that escaped the application, before a response started, with
      a 500 ``application/problem+json`` that reveals nothing internal, and logs it once
      with its traceback and the request ID. The exception is not re-raised, so the
      server does not log it a second time; an exception after the response started is
      logged and re-raised, so the server closes the connection.

    With ``security``, it also does what :class:`~.security.SecurityMiddleware` does
    (a foreign ``Host`` is a 400, or a closed WebSocket; security headers on every
    answer), with ``body_limit`` what :class:`~.limits.BodyLimitMiddleware` does (a
    413 for a body over the limit, a 408 for a stalled one), and with ``rate_limits``
    what :class:`~.ratelimit.RateLimitMiddleware` does (a 429 problem, or the
    ``RateLimit-*`` headers), as if they were stacked inside it in that order, in one
    layer.

    Args:
        app: The ASGI application to wrap.
        header_name: The request-ID header.
        metrics: Where to record each request's status and duration.
        clock: The clock that times requests.
        id_factory: Makes new request IDs.
        security: The hosts served and the security headers (none: every host, no headers).
        body_limit: The request body limits (none: no limit).
        rate_limits: Rate limits by method and path (none: no limit).

    Example:
        >>> from fastapi import FastAPI
        >>> from fastapi.testclient import TestClient
        >>> from python_mastery_portfolio.web.limits import BodyLimit
        >>> from python_mastery_portfolio.web.security import SecurityPolicy
        >>> app = FastAPI()
        >>> app.add_middleware(RequestContextMiddleware)
        >>> TestClient(app).get("/", headers={"X-Request-ID": "abc"}).headers["X-Request-ID"]
        'abc'
        >>> app = FastAPI()
        >>> app.add_middleware(
        ...     RequestContextMiddleware,
        ...     security=SecurityPolicy(["localhost"]),
        ...     body_limit=BodyLimit(1024),
        ... )
        >>> client = TestClient(app, base_url="http://localhost")
        >>> client.get("/").headers["x-frame-options"]
        'DENY'
        >>> client.post("/", content=b"x" * 2000).status_code
        413
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = REQUEST_ID_HEADER,
        metrics: RequestMetrics | None = None,
        clock: Clock = SYSTEM_CLOCK,
        id_factory: Callable[[], str] = new_request_id,
        security: SecurityPolicy | None = None,
        body_limit: BodyLimit | None = None,
        rate_limits: RateLimitRules | None = None,
    ) -> None:
        if not header_name or not header_name.isascii():
            raise ValueError(f"header_name must be a non-empty ASCII string, got {header_name!r}")
        self.app = app
        self._header = header_name.lower().encode("latin-1")
        self._metrics = metrics
        self._now = now_reader(clock)  # bound once: read twice per request
        self._id_factory = id_factory
        self._security = security
        self._body_limit = body_limit
        self._rate_limits = rate_limits

    def _request_id(self, value: bytes) -> str:
        """Return the client's request ID if it is safe, else a new one."""
        incoming = value.decode("latin-1")
        if is_safe_request_id(incoming):
            return incoming
        logger.debug("Replacing an unsafe incoming request ID")
        return self._id_factory()

    async def __call__(  # noqa: PLR0912, PLR0915 - the hot path: one frame per request
        self, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Handle one ASGI connection."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":  # noqa: PLR1714 - faster than a tuple
            await self.app(scope, receive, send)
            return
        # One pass over the headers for everything this layer reads.
        name = self._header
        incoming = host = length = None
        chunked = False
        for header, value in scope.get("headers", ()):
            if header == b"host":
                host = value
            elif header == b"content-length":
                length = value
            elif header == name and incoming is None:
                incoming = value
            elif header == b"transfer-encoding":
                chunked = True
        request_id = self._id_factory() if incoming is None else self._request_id(incoming)
        # A copy, so the ID never leaks into a state dict shared with other requests.
        shared: dict[str, Any] | None = scope.get("state")
        state = {} if shared is None else shared.copy()
        state["request_id"] = request_id
        scope["state"] = state
        token = request_id_var.set(request_id)
        security = self._security
        if kind != "http":
            try:
                if security is not None and not security.allows(host):
                    await send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
                else:
                    await self.app(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return
        # HTTP, inline (one coroutine per request, not two).
        path: str = scope.get("path", "")
        id_header = (name, request_id.encode("latin-1"))
        # Every header this layer adds, built once per request: the app's own ID is dropped.
        added: list[tuple[bytes, bytes]] = (
            [id_header] if security is None else [*security.headers(path), id_header]
        )
        status = 500
        started = False

        # A plain function handing back send's awaitable: no coroutine of its own per message.
        def send_with_id(message: Message) -> Awaitable[None]:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                # A new list (the app may reuse its own); an ID the app set is replaced.
                headers = [item for item in message.get("headers", ()) if item[0] != name]
                headers += added
                message = {**message, "headers": headers}
            return send(message)

        now = self._now
        start = now()
        try:
            limit = self._body_limit
            # The refusals in the order of the stacked middlewares: the host, the announced
            # body size, then the rate limit (awaited, as its store may do I/O: Redis; its
            # headers join ``added`` when it allows).
            refusal: Response | None = None
            if security is not None and not security.allows(host):
                refusal = security.refusal(path)
            elif limit is not None and length is not None and limit.announced_too_large(length):
                refusal = limit.refusal(path)
            elif (rules := self._rate_limits) is not None and (rate := rules.limit_for(scope)):
                try:
                    added += (
                        await rate.aspend_asgi(scope) if rate.does_io else rate.spend_asgi(scope)
                    )
                except RateLimitError as error:
                    refusal = error_response(error, path)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
            elif limit is None or _bodiless(scope, length, chunked=chunked):
                await self.app(scope, receive, send_with_id)
            else:
                try:
                    await self.app(scope, limit.receiver(receive), send_with_id)
                except (BodyTooLargeError, BodyTimeoutError) as error:
                    # Raised past an application that does not handle HTTPException itself.
                    if started:
                        raise
                    await limit.refusal(path, error)(scope, receive, send_with_id)
        except Exception:
            method, logged_path = escape_controls(scope["method"]), escape_controls(path)
            context = {"request_id": request_id}
            if started:
                logger.exception(
                    "Error after the response to %s %s started",
                    method,
                    logged_path,
                    extra=context,
                )
                raise
            logger.exception("Unhandled error on %s %s", method, logged_path, extra=context)
            response = ProblemResponse(internal_error_problem(path, request_id))
            await response(scope, receive, send_with_id)
        except BaseException:
            # Cancelled (the client went away) or interrupted: nginx's "client closed request".
            if not started:
                status = 499
            raise
        finally:
            try:
                self._finish(scope, request_id, status, now() - start)
            finally:
                request_id_var.reset(token)

    def _finish(self, scope: Scope, request_id: str, status: int, elapsed: float) -> None:
        """Record, report and log one finished request."""
        metrics = self._metrics
        if metrics is not None or HOOKS.active:
            # The template of the route that matched (FastAPI puts it in the scope):
            # bounded, unlike the raw path.
            route: str | None = getattr(scope.get("route"), "path", None)
            if metrics is not None:
                metrics.record(status, elapsed, route=route)
            if HOOKS.active:
                _report(route, scope["method"], status, elapsed)
        # Checked first: a disabled access log costs this one (cached) test.
        if logger.isEnabledFor(logging.INFO):
            self._log_access(scope, request_id, status, elapsed)

    @staticmethod
    def _log_access(scope: Scope, request_id: str, status: int, elapsed: float) -> None:
        method = escape_controls(scope["method"])
        path = escape_controls(scope.get("path", ""))
        logger.info(
            "%s %s %d %.1fms",
            method,
            path,
            status,
            elapsed * 1000,
            extra={
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
            },
        )


def _bodiless(scope: Scope, length: bytes | None, *, chunked: bool) -> bool:
    """Return whether an HTTP request certainly has no body (nothing for a body limit to watch).

    In HTTP/1.x a request without ``Content-Length`` and ``Transfer-Encoding`` has none
    (RFC 9112, 6.3); in HTTP/2 and 3 a body needs neither header, so there (and when the
    server does not say which version) it is only ``Content-Length: 0``.
    """
    if chunked:
        # Transfer-Encoding wins over a Content-Length sent with it (RFC 9112, 6.3), as some
        # servers (h11) frame it: "Content-Length: 0" with a chunked body is still a body.
        return False
    if length is not None:
        return length == b"0"
    return scope.get("http_version") in _FRAMED_BY_HEADERS


def _report(route: str | None, method: str, status: int, elapsed: float) -> None:
    """Report one request to the instrumentation hooks (``http.requests``, ``http.duration``)."""
    template = UNMATCHED_ROUTE if route is None else route
    method = method if method in _METHODS else "_OTHER"
    HOOKS.count("http.requests", 1, {"route": template, "method": method, "status": status})
    HOOKS.observe("http.duration", elapsed, {"route": template, "method": method})
