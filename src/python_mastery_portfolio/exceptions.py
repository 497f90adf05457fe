"""The error hierarchy every part of the toolkit raises.

Errors are grouped by what the caller can do about them. Each carries a machine-readable
``code``, a ``context`` dict, a UTC ``timestamp`` and an ``http_status`` for the web layer,
and turns into JSON (:meth:`PortfolioError.to_dict`) or an RFC 9457 problem object
(:meth:`PortfolioError.to_problem_details`)::

    PortfolioError                      (Exception)         500
    ├── ValidationError                 (also ValueError)   422  fix the input
    ├── RateLimitError                                      429  wait ``retry_after``
    ├── CircuitOpenError                                    503  wait ``retry_after``
    ├── ConfigurationError                                  500  fix the deployment
    ├── DataProcessingError                                 500  see ``step`` / ``row_index``
    ├── APIError                                            502  an upstream failed
    ├── RetryExhaustedError                                 500  results stayed unacceptable
    ├── UnwrapError                     (also ValueError)   500  a Failure was unwrapped
    └── DependencyError                                     500  fix the DI registrations
        ├── ServiceNotRegisteredError   (also LookupError)
        ├── CircularDependencyError
        ├── LifetimeError                                        scope / lifetime mismatch
        └── ResolutionError                                      a constructor or factory failed

This module imports nothing else of the package, so anything may import it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, ClassVar

__all__ = [
    "APIError",
    "CircuitOpenError",
    "CircularDependencyError",
    "ConfigurationError",
    "DataProcessingError",
    "DependencyError",
    "LifetimeError",
    "PortfolioError",
    "RateLimitError",
    "ResolutionError",
    "RetryExhaustedError",
    "ServiceNotRegisteredError",
    "UnwrapError",
    "ValidationError",
]

_STANDARD_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})
_MAX_JSON_DEPTH = 32


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Return a copy of ``value`` that ``json.dumps`` accepts; anything else becomes its repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # NaN and infinities are not JSON; json.dumps would emit invalid tokens for them.
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_JSON_DEPTH:
        return repr(value)
    if isinstance(value, dict):
        return {
            (key if isinstance(key, str) else repr(key)): _json_safe(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_json_safe(item, depth + 1) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def _restore(cls: type[PortfolioError], message: str, state: dict[str, Any]) -> PortfolioError:
    """Rebuild a pickled error without calling a subclass ``__init__`` that may need arguments."""
    error = cls.__new__(cls, message)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class PortfolioError(Exception):
    """Base of every error the toolkit raises, with a code, context and timestamp.

    Args:
        message: Human-readable description; ``str(error)`` returns it.
        code: Machine-readable code; defaults to the class's ``default_code``.
        **context: Extra facts about the failure, kept in :attr:`context`.

    Example:
        >>> error = PortfolioError("disk full", code="disk_full", path="/var")
        >>> error.to_dict()["context"]
        {'path': '/var'}
        >>> str(error)
        'disk full'
    """

    default_code: ClassVar[str] = "portfolio_error"
    http_status: int = 500
    problem_type: ClassVar[str] = "about:blank"
    # Keyword fields a subclass exposes both as attributes and inside ``context``.
    _fields: ClassVar[tuple[str, ...]] = ()

    message: str
    code: str
    context: dict[str, Any]
    timestamp: datetime

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        for name in self._fields:
            value = context.pop(name, None)
            setattr(self, name, value)
            if value is not None:
                context[name] = value
        self.context = context
        self.timestamp = datetime.now(UTC)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.message, dict(self.__dict__)))

    def __repr__(self) -> str:
        parts = [repr(self.message)]
        parts.extend(f"{key}={value!r}" for key, value in self.context.items())
        return f"{type(self).__name__}({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a dict that ``json.dumps`` always accepts.

        Returns:
            A dict with ``error`` (the class name), ``code``, ``message``, ``context``,
            ``timestamp`` (ISO 8601), ``notes`` and, when raised ``from`` another
            exception, ``cause`` with that exception's ``type`` and ``message``.

        Example:
            >>> import json
            >>> data = ValidationError("bad", field="age", value=object()).to_dict()
            >>> data["context"]["field"], json.dumps(data) is not None
            ('age', True)
        """
        data: dict[str, Any] = {
            "error": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "context": _json_safe(self.context),
            "timestamp": self.timestamp.isoformat(),
            "notes": [str(note) for note in getattr(self, "__notes__", ())],
        }
        cause = self.__cause__
        if cause is not None:
            data["cause"] = {"type": type(cause).__name__, "message": str(cause)}
        return data

    def to_problem_details(self, instance: str | None = None, **extensions: Any) -> dict[str, Any]:
        """Return the error as an RFC 9457 problem details object.

        Args:
            instance: URI reference of this occurrence (for example the request path).
            **extensions: Extra members; one named like a standard member is dropped,
                so an extension can never overwrite ``type``, ``title``, ``status``,
                ``detail`` or ``instance``.

        Returns:
            A JSON-safe dict with ``type``, ``title``, ``status``, ``detail``,
            ``instance`` (when given) and the extension members ``code`` and ``context``.

        Example:
            >>> problem = RateLimitError("slow down", retry_after=2.0).to_problem_details("/x")
            >>> problem["status"], problem["title"], problem["instance"]
            (429, 'Too Many Requests', '/x')
        """
        status = self.http_status
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = type(self).__name__
        problem: dict[str, Any] = {
            "type": self.problem_type,
            "title": title,
            "status": status,
            "detail": self.message,
        }
        if instance is not None:
            problem["instance"] = instance
        members = {"code": self.code, "context": self.context, **extensions}
        for key, value in members.items():
            if key not in _STANDARD_PROBLEM_MEMBERS:
                problem[key] = _json_safe(value)
        return problem


class ValidationError(PortfolioError, ValueError):
    """Input failed validation; the caller should fix ``field``.

    Example:
        >>> error = ValidationError("Age cannot be negative", field="age", value=-1)
        >>> error.field, error.value, error.http_status
        ('age', -1, 422)
    """

    default_code = "validation_error"
    http_status = 422
    _fields = ("field", "value")
    field: str | None
    value: Any

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, code=code, field=field, value=value, **context)


class RateLimitError(PortfolioError):
    """A rate limit was exceeded; retry after ``retry_after`` seconds.

    Example:
        >>> RateLimitError("Too many requests", retry_after=60.0, limit=10).retry_after
        60.0
    """

    default_code = "rate_limit_exceeded"
    http_status = 429
    _fields = ("retry_after", "limit")
    retry_after: float | None
    limit: int | float | None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        limit: float | None = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, code=code, retry_after=retry_after, limit=limit, **context)


class CircuitOpenError(PortfolioError):
    """A circuit breaker is open and failed the call fast; retry after ``retry_after``.

    Example:
        >>> CircuitOpenError("open", retry_after=5.0, breaker="db").context
        {'retry_after': 5.0, 'breaker': 'db'}
    """

    default_code = "circuit_open"
    http_status = 503
    _fields = ("retry_after", "breaker")
    retry_after: float | None
    breaker: str | None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        breaker: str | None = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, code=code, retry_after=retry_after, breaker=breaker, **context)


class ConfigurationError(PortfolioError):
    """The deployment is misconfigured; ``config_key`` names the setting.

    Example:
        >>> ConfigurationError("Missing variable", config_key="API_KEY").config_key
        'API_KEY'
    """

    default_code = "configuration_error"
    _fields = ("config_key",)
    config_key: str | None

    def __init__(
        self,
        message: str,
        *,
        config_key: str | None = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, code=code, config_key=config_key, **context)


class DataProcessingError(PortfolioError):
    """A processing step failed; ``step`` and ``row_index`` say where.

    Example:
        >>> DataProcessingError("bad row", step="validation", row_index=42).row_index
        42
    """

    default_code = "data_processing_error"
    _fields = ("step", "row_index")
    step: str | None
    row_index: int | None

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        row_index: int | None = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, code=code, step=step, row_index=row_index, **context)


class APIError(PortfolioError):
    """A call to an upstream API failed; the status is ``status_code`` (when 4xx/5xx) or 502.

    Example:
        >>> APIError("upstream down", status_code=503, endpoint="/v1").http_status
        503
        >>> APIError("upstream down").http_status
        502
    """

    default_code = "api_error"
    http_status = 502
    _fields = ("status_code", "endpoint")
    status_code: int | None
    endpoint: str | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        endpoint: str | None = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        status: object = status_code  # checked at run time: callers may pass anything
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
        ):
            raise ValueError(f"status_code must be an HTTP status (100-599), got {status_code!r}")
        super().__init__(message, code=code, status_code=status_code, endpoint=endpoint, **context)
        # An upstream's 4xx/5xx is relayed; anything else still means the upstream failed.
        if status_code is not None and status_code >= 400:
            self.http_status = status_code


class RetryExhaustedError(PortfolioError):
    """Every attempt returned a result that ``retry_on_result`` rejected.

    Example:
        >>> RetryExhaustedError("still pending", last_result="pending", attempts=3).attempts
        3
    """

    default_code = "retry_exhausted"
    _fields = ("last_result", "attempts")
    last_result: Any
    attempts: int | None

    def __init__(
        self,
        message: str,
        *,
        last_result: Any = None,
        attempts: int | None = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, code=code, last_result=last_result, attempts=attempts, **context)


class UnwrapError(PortfolioError, ValueError):
    """A ``Failure`` whose error is not an exception was unwrapped; ``failure`` holds it.

    Example:
        >>> UnwrapError("unwrapped a failure", failure="boom").failure
        'boom'
    """

    default_code = "unwrap_error"
    _fields = ("failure",)
    failure: Any

    def __init__(
        self, message: str, *, failure: Any = None, code: str | None = None, **context: Any
    ) -> None:
        super().__init__(message, code=code, failure=failure, **context)


class DependencyError(PortfolioError):
    """Base of the dependency-injection errors; ``chain`` names the path of services.

    Example:
        >>> DependencyError("failed", chain=("Root", "Leaf")).chain
        ('Root', 'Leaf')
    """

    default_code = "dependency_error"
    _fields = ("chain",)
    chain: tuple[str, ...] | None

    def __init__(
        self,
        message: str,
        *,
        chain: tuple[str, ...] | None = None,
        code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, code=code, chain=chain, **context)


class ServiceNotRegisteredError(DependencyError, LookupError):
    """A service (or one of its dependencies) has no registration."""

    default_code = "service_not_registered"


class CircularDependencyError(DependencyError):
    """Services depend on each other in a cycle."""

    default_code = "circular_dependency"


class LifetimeError(DependencyError):
    """A lifetime rule was broken (a scoped service outside a scope, or held by a singleton)."""

    default_code = "lifetime_error"


class ResolutionError(DependencyError):
    """A constructor or factory raised while a service was being built."""

    default_code = "resolution_error"
