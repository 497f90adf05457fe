"""FastAPI integration of the toolkit (extra ``[web]``).

- :class:`RequestContextMiddleware`: request IDs (``X-Request-ID``), access logs, request
  metrics (and the ``http.*`` instrumentation hooks) and the last-resort 500, as pure
  ASGI; given a :class:`SecurityPolicy`, a :class:`BodyLimit` and :class:`RateLimitRules`,
  it also does what :class:`SecurityMiddleware`, :class:`BodyLimitMiddleware` and
  :class:`RateLimitMiddleware` do, in the same layer.
- :func:`install_error_handlers`: RFC 9457 ``application/problem+json`` for every error.
- :class:`RateLimit`: a dependency on the toolkit's ``RateLimiter``, keyed per client;
  :class:`RateLimitMiddleware` applies such limits (:class:`RateLimitRules`) to groups of
  paths and methods before routing, without a dependency level.
- :func:`Inject` / :func:`install_container`: resolve dependencies from a ``DIContainer``,
  one DI scope per request (singletons without one); :class:`InjectRoute` resolves an
  endpoint's ``Inject`` parameters without FastAPI's dependency solving.
- :func:`error_response`: the problem answer of a toolkit error, for pure-ASGI code.
- :func:`install_offline_docs`: ``/docs`` and ``/redoc`` without a CDN.
- :class:`BodyLimitMiddleware`: a 413 problem for bodies over a size, before parsing,
  chunked bodies too (and a 408 for a client that stalls mid-body).
- :class:`SecurityMiddleware`: serve only the given Host names (400 otherwise); nosniff,
  framing, referrer and CSP headers on every answer.
- :func:`build_log_config`, :class:`JsonFormatter`, :class:`RequestIdFilter`: logs that
  carry the request ID, as text or JSON; :class:`BackgroundHandler` formats and writes them
  off the event loop; :func:`escape_controls` / :class:`TextFormatter` keep a client's
  control characters from forging log lines.

The core package never imports this one, so ``import python_mastery_portfolio`` does not
need FastAPI; importing this one without it raises an ``ImportError`` naming the extra.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401  # pyright: ignore[reportUnusedImport]  # imported to check for the extra
except ImportError as error:  # the [web] extra is not installed
    raise ImportError(
        "python_mastery_portfolio.web needs FastAPI, which comes with the [web] extra: "
        'pip install "python-mastery-portfolio[web]"',
        name=error.name,
    ) from error

from python_mastery_portfolio.web.context import (
    get_request_id,
    is_safe_request_id,
    new_request_id,
    request_id_var,
)
from python_mastery_portfolio.web.di import (
    Inject,
    InjectRoute,
    get_container,
    install_container,
    request_scope,
)
from python_mastery_portfolio.web.docs import install_offline_docs
from python_mastery_portfolio.web.errors import (
    DEFAULT_MAX_ERRORS,
    PROBLEM_JSON,
    ProblemResponse,
    error_response,
    install_error_handlers,
    internal_error_problem,
    problem,
    retry_after_header,
)
from python_mastery_portfolio.web.limits import (
    DEFAULT_MAX_BODY_SIZE,
    BodyLimit,
    BodyLimitMiddleware,
    BodyTimeoutError,
    BodyTooLargeError,
)
from python_mastery_portfolio.web.log import (
    BackgroundHandler,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    build_log_config,
    configure_logging,
    escape_controls,
)
from python_mastery_portfolio.web.metrics import (
    UNMATCHED_ROUTE,
    RequestMetrics,
    RequestMetricsStats,
)
from python_mastery_portfolio.web.middleware import REQUEST_ID_HEADER, RequestContextMiddleware
from python_mastery_portfolio.web.ratelimit import (
    ClientAddress,
    RateLimit,
    RateLimitMiddleware,
    RateLimitRules,
    socket_address,
)
from python_mastery_portfolio.web.security import (
    API_CSP,
    DOCS_CSP,
    SecurityMiddleware,
    SecurityPolicy,
    host_name,
)

__all__ = [
    "API_CSP",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_ERRORS",
    "DOCS_CSP",
    "PROBLEM_JSON",
    "REQUEST_ID_HEADER",
    "UNMATCHED_ROUTE",
    "BackgroundHandler",
    "BodyLimit",
    "BodyLimitMiddleware",
    "BodyTimeoutError",
    "BodyTooLargeError",
    "ClientAddress",
    "Inject",
    "InjectRoute",
    "JsonFormatter",
    "ProblemResponse",
    "RateLimit",
    "RateLimitMiddleware",
    "RateLimitRules",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "RequestMetrics",
    "RequestMetricsStats",
    "SecurityMiddleware",
    "SecurityPolicy",
    "TextFormatter",
    "build_log_config",
    "configure_logging",
    "error_response",
    "escape_controls",
    "get_container",
    "get_request_id",
    "host_name",
    "install_container",
    "install_error_handlers",
    "install_offline_docs",
    "internal_error_problem",
    "is_safe_request_id",
    "new_request_id",
    "problem",
    "request_id_var",
    "request_scope",
    "retry_after_header",
    "socket_address",
]
