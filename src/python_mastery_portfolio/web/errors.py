"""RFC 9457 problem+json responses for every error a FastAPI application can raise.

:func:`install_error_handlers` maps:

- a :class:`~python_mastery_portfolio.exceptions.PortfolioError` to its ``http_status`` and
  :meth:`~python_mastery_portfolio.exceptions.PortfolioError.to_problem_details`, with
  ``Retry-After`` (whole seconds, rounded up) when the error carries ``retry_after``
  (``RateLimitError``, ``CircuitOpenError``); an error whose status is 500 is internal and
  answered like any unexpected exception;
- FastAPI's request validation errors to 422 with an ``errors`` member listing each field
  (at most ``max_errors`` of them, the total in ``error_count``); a body that is not UTF-8
  is answered like broken JSON (422 ``json_invalid``), not with FastAPI's 400;
- ``HTTPException`` (including Starlette's own 404 and 405) to its status and headers; a
  405 lists in ``Allow`` every method the path has, not only those of the first route;
- any other exception to a 500 that reveals nothing internal, logged with its traceback.

Every problem carries ``instance`` (the request path), ``code`` and ``request_id``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from python_mastery_portfolio._internal.checks import require_count
from python_mastery_portfolio.exceptions import PortfolioError, RateLimitError
from python_mastery_portfolio.web.context import get_request_id

__all__ = [
    "DEFAULT_MAX_ERRORS",
    "PROBLEM_JSON",
    "ProblemResponse",
    "error_response",
    "install_error_handlers",
    "internal_error_problem",
    "problem",
    "retry_after_header",
]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
"""The media type of RFC 9457 problem details."""

DEFAULT_MAX_ERRORS = 20
"""The most field errors a 422 problem lists by default."""


class ProblemResponse(JSONResponse):
    """A JSON response served as ``application/problem+json``, its status taken from the body.

    Args:
        content: The problem object; its ``status`` member is the HTTP status.
        headers: Extra response headers.

    Example:
        >>> response = ProblemResponse(problem(404, detail="no such user"))
        >>> response.status_code, response.media_type
        (404, 'application/problem+json')
    """

    media_type = PROBLEM_JSON

    def __init__(
        self, content: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(dict(content), status_code=int(content["status"]), headers=headers)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def problem(
    status: int,
    *,
    detail: str | None = None,
    code: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """Return a problem details object for ``status``.

    Args:
        status: The HTTP status.
        detail: A human-readable explanation; defaults to the status phrase.
        code: A machine-readable code; defaults to the phrase in snake case.
        instance: The request path.
        request_id: The request ID; defaults to the current one.
        **extensions: Extra members.

    Returns:
        A JSON-ready dict with ``type``, ``title``, ``status``, ``detail``, ``instance``
        (when given), ``code``, ``request_id`` and the extensions.

    Example:
        >>> problem(404, instance="/users/1", request_id="r1")
        ... # doctest: +NORMALIZE_WHITESPACE
        {'type': 'about:blank', 'title': 'Not Found', 'status': 404, 'detail': 'Not Found',
         'instance': '/users/1', 'code': 'not_found', 'request_id': 'r1'}
    """
    title = _title(status)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail if detail is not None else title,
    }
    if instance is not None:
        body["instance"] = instance
    body["code"] = code if code is not None else _snake(title)
    body["request_id"] = request_id if request_id is not None else get_request_id()
    body.update(extensions)
    return body


def internal_error_problem(
    instance: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """Return the 500 problem for an unexpected error: it says nothing about the cause.

    Example:
        >>> internal_error_problem("/x", "r1")["detail"]
        'The server failed to handle the request; quote the request_id when reporting it.'
    """
    return problem(
        500,
        detail="The server failed to handle the request; quote the request_id when reporting it.",
        code="internal_error",
        instance=instance,
        request_id=request_id,
    )


def retry_after_header(seconds: float | None) -> str | None:
    """Return a ``Retry-After`` value: whole seconds, rounded up, never negative.

    Example:
        >>> retry_after_header(0.2), retry_after_header(3.0), retry_after_header(None)
        ('1', '3', None)
    """
    if seconds is None or not math.isfinite(seconds):
        return None
    return str(max(0, math.ceil(seconds)))


def _request_id(request: Request) -> str | None:
    # Outside the middleware's context (a handler run by ServerErrorMiddleware) the context
    # variable is already reset, but the middleware also left the ID in the request state.
    return get_request_id() or getattr(request.state, "request_id", None)


async def _handle_portfolio_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, PortfolioError)  # noqa: S101 - registered for PortfolioError only
    if exc.http_status == 500:
        return await _handle_unexpected(request, exc)
    return error_response(exc, request.url.path, _request_id(request))


def error_response(
    exc: PortfolioError, instance: str, request_id: str | None = None
) -> ProblemResponse:
    """Return the problem response for a toolkit error (and log it once).

    What :func:`install_error_handlers` answers a ``PortfolioError`` with (other than
    one whose status is 500): its ``http_status`` and problem details, ``Retry-After``
    when it carries ``retry_after``, and the ``RateLimit-*`` headers of a
    ``RateLimitError``. For code that answers before the application's handlers run
    (a pure-ASGI middleware).

    Args:
        exc: The error.
        instance: The request path.
        request_id: The request ID; defaults to the current one.

    Example:
        >>> from python_mastery_portfolio.exceptions import RateLimitError
        >>> response = error_response(RateLimitError("slow down", retry_after=1.5, limit=10), "/x")
        >>> response.status_code, response.headers["retry-after"]
        (429, '2')
        >>> response.headers["ratelimit-limit"], response.headers["ratelimit-remaining"]
        ('10', '0')
    """
    body = exc.to_problem_details(instance, request_id=request_id or get_request_id())
    headers: dict[str, str] = {}
    retry_after = retry_after_header(getattr(exc, "retry_after", None))
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if isinstance(exc, RateLimitError) and exc.limit is not None:
        headers["RateLimit-Limit"] = str(math.floor(exc.limit))
        remaining = exc.context.get("remaining", 0)
        headers["RateLimit-Remaining"] = str(remaining if isinstance(remaining, int) else 0)
    level = logging.WARNING if exc.http_status >= 500 else logging.INFO
    logger.log(level, "%s: %s (%s)", type(exc).__name__, exc.message, exc.code)
    return ProblemResponse(body, headers=headers)


_NO_BODY_STATUSES = frozenset({204, 205, 304})


def _allowed_methods(request: Request) -> str | None:
    """Return every method the request's path has, over all the application's routes."""
    router = request.scope.get("router")
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    methods: set[str] = set()
    for route in getattr(router, "routes", ()):
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods)) if methods else None


def _not_utf8(exc: StarletteHTTPException) -> bool:
    return exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError)


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
    if _not_utf8(exc):
        # FastAPI answers broken JSON with a 422 but undecodable bytes with a 400: one answer.
        error = {
            "field": "",
            "location": "body",
            "message": "The body is not UTF-8 JSON",
            "type": "json_invalid",
        }
        return _validation_problem(request, [error], 1)
    headers = exc.headers
    if exc.status_code == 405:
        allow = _allowed_methods(request)
        if allow is not None:
            headers = {**(headers or {}), "Allow": allow}
    if exc.status_code < 200 or exc.status_code in _NO_BODY_STATUSES:
        # HTTP forbids a body on these; strict servers reject a response that has one.
        return Response(status_code=exc.status_code, headers=headers)
    extensions: dict[str, Any] = {}
    # Starlette types detail as str; FastAPI's HTTPException accepts any JSON value.
    detail: Any = exc.detail
    if not isinstance(detail, str):
        extensions["errors"] = detail
        detail = None
    body = problem(
        exc.status_code,
        detail=detail,
        instance=request.url.path,
        request_id=_request_id(request),
        **extensions,
    )
    return ProblemResponse(body, headers=headers)


def _field_errors(exc: RequestValidationError, limit: int) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for error in exc.errors()[:limit]:
        loc = [str(part) for part in error.get("loc", ())]
        # The input values are left out: they may be passwords or other secrets.
        errors.append(
            {
                "field": ".".join(loc[1:]) or ".".join(loc),
                "location": loc[0] if loc else "",
                "message": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return errors


def _validation_problem(
    request: Request, errors: list[dict[str, Any]], count: int
) -> ProblemResponse:
    noun = "field" if count == 1 else "fields"
    extensions: dict[str, Any] = {"errors": errors}
    if count > len(errors):
        extensions["error_count"] = count
    body = problem(
        422,
        detail=f"The request has {count} invalid {noun}.",
        code="validation_error",
        instance=request.url.path,
        request_id=_request_id(request),
        **extensions,
    )
    return ProblemResponse(body)


def _validation_handler(max_errors: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
        count = len(exc.errors())
        return _validation_problem(request, _field_errors(exc, max_errors), count)

    return handle_validation_error


async def _handle_unexpected(request: Request, exc: Exception) -> ProblemResponse:
    request_id = _request_id(request)
    logger.error(
        "Unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"request_id": request_id or "-"},
    )
    return ProblemResponse(internal_error_problem(request.url.path, request_id))


def install_error_handlers(app: FastAPI, *, max_errors: int = DEFAULT_MAX_ERRORS) -> None:
    """Make every error response of ``app`` an RFC 9457 ``application/problem+json`` body.

    Unexpected exceptions are answered by
    :class:`~python_mastery_portfolio.web.middleware.RequestContextMiddleware` when it is
    installed (so the response carries the request ID); the handler registered here for
    ``Exception`` covers applications without it.

    Args:
        app: The application to configure.
        max_errors: The most field errors a 422 lists (a body of a million unknown fields
            must not make a response of a million errors); ``error_count`` gives the total.

    Raises:
        ValueError: If ``max_errors`` is below 1.

    Example:
        >>> from fastapi import FastAPI
        >>> from fastapi.testclient import TestClient
        >>> app = FastAPI()
        >>> install_error_handlers(app)
        >>> response = TestClient(app).get("/missing")
        >>> response.status_code, response.headers["content-type"], response.json()["code"]
        (404, 'application/problem+json', 'not_found')
    """
    app.add_exception_handler(PortfolioError, _handle_portfolio_error)
    require_count("max_errors", max_errors, 1)
    app.add_exception_handler(RequestValidationError, _validation_handler(max_errors))
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(Exception, _handle_unexpected)
