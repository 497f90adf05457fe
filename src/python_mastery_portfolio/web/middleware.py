"""Pure-ASGI request context: request IDs, access logging, metrics and the last-resort 500.

Written against ASGI directly rather than Starlette's ``BaseHTTPMiddleware``, which runs the
endpoint in another task (so context variables set inside do not flow back) and buffers
streaming responses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.web.context import (
    is_safe_request_id,
    new_request_id,
    request_id_var,
)
from python_mastery_portfolio.web.errors import ProblemResponse, internal_error_problem
from python_mastery_portfolio.web.log import escape_controls

if TYPE_CHECKING:
    from collections.abc import Callable

    from python_mastery_portfolio.web.metrics import RequestMetrics

__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware"]

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
"""The header that carries the request ID in both directions."""


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
    - answers an exception that escaped the application, before a response started, with
      a 500 ``application/problem+json`` that reveals nothing internal, and logs it once
      with its traceback and the request ID. The exception is not re-raised, so the
      server does not log it a second time; an exception after the response started is
      logged and re-raised, so the server closes the connection.

    Args:
        app: The ASGI application to wrap.
        header_name: The request-ID header.
        metrics: Where to record each request's status and duration.
        clock: The clock that times requests.
        id_factory: Makes new request IDs.

    Example:
        >>> from fastapi import FastAPI
        >>> from fastapi.testclient import TestClient
        >>> app = FastAPI()
        >>> app.add_middleware(RequestContextMiddleware)
        >>> TestClient(app).get("/", headers={"X-Request-ID": "abc"}).headers["X-Request-ID"]
        'abc'
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = REQUEST_ID_HEADER,
        metrics: RequestMetrics | None = None,
        clock: Clock = SYSTEM_CLOCK,
        id_factory: Callable[[], str] = new_request_id,
    ) -> None:
        if not header_name or not header_name.isascii():
            raise ValueError(f"header_name must be a non-empty ASCII string, got {header_name!r}")
        self.app = app
        self._header = header_name.lower().encode("latin-1")
        self._metrics = metrics
        self._clock = clock
        self._id_factory = id_factory

    def _request_id(self, scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name == self._header:
                incoming: str = value.decode("latin-1")
                if is_safe_request_id(incoming):
                    return incoming
                logger.debug("Replacing an unsafe incoming request ID")
                break
        return self._id_factory()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        # A copy, so the ID never leaks into a state dict shared with other requests.
        scope["state"] = {**scope.get("state", {}), "request_id": request_id}
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "http":
                await self._http(scope, receive, send, request_id)
            else:
                await self.app(scope, receive, send)
        finally:
            request_id_var.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        name = self._header
        header = (name, request_id.encode("latin-1"))
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                # A new list (the app may reuse its own); an ID the app set is replaced.
                headers = [item for item in message.get("headers", ()) if item[0] != name]
                headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        start = self._clock.now()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            path = scope.get("path", "")
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
            elapsed = self._clock.now() - start
            if self._metrics is not None:
                # The template of the route that matched (FastAPI puts it in the scope):
                # bounded, unlike the raw path.
                route = getattr(scope.get("route"), "path", None)
                self._metrics.record(status, elapsed, route=route)
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
