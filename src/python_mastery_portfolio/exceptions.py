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
    ├── PoolTimeoutError                (also TimeoutError) 503  no pooled connection in time
    ├── LockHeldError                                       409  another process holds the lock
    ├── ConnectionLostError             (also ConnectionError) 503  reconnect, or retry later
    ├── RpcError                                            502  a JSON-RPC peer answered an error
    ├── RegistryError                                       500  a registry refused a name
    │   ├── NotRegisteredError          (also KeyError)     404  nothing under that name
    │   └── DuplicateRegistrationError  (also ValueError)   409  the name is taken
    └── DependencyError                                     500  fix the DI registrations
        ├── ServiceNotRegisteredError   (also LookupError)
        ├── CircularDependencyError
        ├── LifetimeError                                        scope / lifetime mismatch
        └── ResolutionError                                      a constructor or factory failed

Defining your own errors:
    Subclass :class:`PortfolioError` (or the error a caller should catch it as) and declare
    the keyword fields once, in ``fields``. Each field becomes a keyword argument of the
    constructor (``None`` when not given), an attribute, and an entry of ``context`` (so of
    ``to_dict()`` and ``to_problem_details()``) when it is not ``None``; the subclass inherits
    its parents' fields. Annotate the fields for type checkers and for ``help()``. Any other
    keyword goes into ``context``. Validate or derive values in ``__post_init__``, which runs
    at the end of ``__init__`` (as :class:`APIError` does with ``status_code``). Every error
    pickles as its class (by its import path, so define it at module level) plus its state,
    whatever the class's ``__init__`` takes.

    A subclass written the older way, with its own ``__init__`` that calls
    ``super().__init__(message, code=code, **context)``, keeps working; its fields are then the
    keywords it passes on.

    >>> class PaymentDeclinedError(PortfolioError):
    ...     '''A card payment was declined; ``reason`` says why.'''
    ...
    ...     default_code = "payment_declined"
    ...     http_status = 402
    ...     fields = ("card_last4", "reason")
    ...     card_last4: str | None
    ...     reason: str | None
    >>> error = PaymentDeclinedError("card declined", card_last4="4242", order="o-17")
    >>> error.card_last4, error.reason
    ('4242', None)
    >>> error.context
    {'order': 'o-17', 'card_last4': '4242'}
    >>> error.to_dict()["code"], error.to_problem_details()["status"]
    ('payment_declined', 402)

This module imports nothing else of the package, so anything may import it.
"""

from __future__ import annotations

import copyreg
import inspect
import keyword
import math
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, ClassVar, cast

__all__ = [
    "APIError",
    "CircuitOpenError",
    "CircularDependencyError",
    "ConfigurationError",
    "ConnectionLostError",
    "DataProcessingError",
    "DependencyError",
    "DuplicateRegistrationError",
    "LifetimeError",
    "LockHeldError",
    "NotRegisteredError",
    "PoolTimeoutError",
    "PortfolioError",
    "RateLimitError",
    "RegistryError",
    "ResolutionError",
    "RetryExhaustedError",
    "RpcError",
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
        mapping = cast("dict[object, object]", value)
        return {
            (key if isinstance(key, str) else repr(key)): _json_safe(item, depth + 1)
            for key, item in mapping.items()
        }
    if isinstance(value, list | tuple):
        sequence = cast("list[object] | tuple[object, ...]", value)
        return [_json_safe(item, depth + 1) for item in sequence]
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


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
    fields: ClassVar[tuple[str, ...]] = ()
    """The keyword fields: attributes that are also ``context`` entries (inherited ones first)."""
    __signature__: ClassVar[inspect.Signature | None]

    message: str
    code: str
    context: dict[str, Any]
    timestamp: datetime

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        merged: dict[str, None] = {}  # ordered set: inherited fields first, then this class's
        for base in cls.__bases__:
            if issubclass(base, PortfolioError):
                merged.update(dict.fromkeys(base.fields))
        merged.update(dict.fromkeys(_declared_fields(cls)))
        cls.fields = tuple(merged)
        # help() and inspect.signature() show the field keywords that the shared __init__
        # accepts; a class with an __init__ of its own describes itself.
        cls.__signature__ = _signature(cls) if cls.__init__ is PortfolioError.__init__ else None

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        for name in self.fields:
            value = context.pop(name, None)
            setattr(self, name, value)
            if value is not None:
                context[name] = value  # after the other entries, in declaration order
        self.context = context
        self.timestamp = datetime.now(UTC)
        self.__post_init__()

    def __post_init__(self) -> None:
        """Check or derive field values; called at the end of ``__init__``. Does nothing here.

        Raises:
            ValueError: In a subclass, when a field's value is not acceptable.
        """

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt as cls.__new__(cls, message) plus the state, never through __init__, which in
        # a subclass may take other arguments. copyreg.__newobj__ is pickle's NEWOBJ opcode, so
        # the pickle names only the class, by its public path.
        newobj = cast("Callable[..., object]", copyreg.__newobj__)  # type: ignore[attr-defined]  # in copyreg, not in typeshed
        return (newobj, (type(self), self.message), dict(self.__dict__))

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        if state:
            self.__dict__.update(state)

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


_RESERVED_FIELDS = frozenset({"message", "code", "context", "timestamp", *dir(PortfolioError)})


def _declared_fields(cls: type[PortfolioError]) -> tuple[str, ...]:
    """Return the ``fields`` a class body declares, checked; ``()`` when it declares none.

    ``_fields``, the spelling of the first releases, is read the same way, so subclasses
    written against it keep their attributes.
    """
    if "fields" in cls.__dict__ and "_fields" in cls.__dict__:
        raise TypeError(f"{cls.__qualname__} declares both fields and _fields: keep fields")
    declared: object = cls.__dict__.get("fields", cls.__dict__.get("_fields", ()))
    items = cast("tuple[object, ...] | list[object]", declared)  # checked on the next line
    if not isinstance(declared, tuple | list) or not all(isinstance(n, str) for n in items):
        raise TypeError(f"{cls.__qualname__}.fields must be a tuple of names, got {declared!r}")
    names = cast("tuple[str, ...] | list[str]", declared)  # checked just above
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise TypeError(f"{cls.__qualname__}.fields: {name!r} is not a public identifier")
        if name in _RESERVED_FIELDS:
            raise TypeError(f"{cls.__qualname__}.fields: {name!r} would hide PortfolioError.{name}")
    return tuple(names)


def _signature(cls: type[PortfolioError]) -> inspect.Signature:
    """Return the signature of the shared ``__init__`` as ``cls`` fills it in."""
    annotations: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(inspect.get_annotations(klass))
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [
            inspect.Parameter("message", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="str"),
            *(
                inspect.Parameter(
                    name,
                    keyword_only,
                    default=None,
                    annotation=annotations.get(name, inspect.Parameter.empty),
                )
                for name in cls.fields
            ),
            inspect.Parameter("code", keyword_only, default=None, annotation="str | None"),
            inspect.Parameter("context", inspect.Parameter.VAR_KEYWORD, annotation="Any"),
        ],
        return_annotation="None",
    )


class ValidationError(PortfolioError, ValueError):
    """Input failed validation; the caller should fix ``field``.

    Example:
        >>> error = ValidationError("Age cannot be negative", field="age", value=-1)
        >>> error.field, error.value, error.http_status
        ('age', -1, 422)
    """

    default_code = "validation_error"
    http_status = 422
    fields = ("field", "value")
    field: str | None
    value: Any


class RateLimitError(PortfolioError):
    """A rate limit was exceeded; retry after ``retry_after`` seconds.

    Example:
        >>> RateLimitError("Too many requests", retry_after=60.0, limit=10).retry_after
        60.0
    """

    default_code = "rate_limit_exceeded"
    http_status = 429
    fields = ("retry_after", "limit")
    retry_after: float | None
    limit: int | float | None


class CircuitOpenError(PortfolioError):
    """A circuit breaker is open and failed the call fast; retry after ``retry_after``.

    Example:
        >>> CircuitOpenError("open", retry_after=5.0, breaker="db").context
        {'retry_after': 5.0, 'breaker': 'db'}
    """

    default_code = "circuit_open"
    http_status = 503
    fields = ("retry_after", "breaker")
    retry_after: float | None
    breaker: str | None


class ConfigurationError(PortfolioError):
    """The deployment is misconfigured; ``config_key`` names the setting.

    Example:
        >>> ConfigurationError("Missing variable", config_key="API_KEY").config_key
        'API_KEY'
    """

    default_code = "configuration_error"
    fields = ("config_key",)
    config_key: str | None


class DataProcessingError(PortfolioError):
    """A processing step failed; ``step`` and ``row_index`` say where.

    Example:
        >>> DataProcessingError("bad row", step="validation", row_index=42).row_index
        42
    """

    default_code = "data_processing_error"
    fields = ("step", "row_index")
    step: str | None
    row_index: int | None


class APIError(PortfolioError):
    """A call to an upstream API failed; the status is ``status_code`` (when 4xx/5xx) or 502.

    Raises:
        ValueError: If ``status_code`` is given and is not an HTTP status (an ``int`` in
            100-599).

    Example:
        >>> APIError("upstream down", status_code=503, endpoint="/v1").http_status
        503
        >>> APIError("upstream down").http_status
        502
    """

    default_code = "api_error"
    http_status = 502
    fields = ("status_code", "endpoint")
    status_code: int | None
    endpoint: str | None

    def __post_init__(self) -> None:
        status: object = self.status_code  # checked at run time: callers may pass anything
        if status is None:
            return
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise ValueError(f"status_code must be an HTTP status (100-599), got {status!r}")
        # An upstream's 4xx/5xx is relayed; anything else still means the upstream failed.
        if status >= 400:
            self.http_status = status


class RetryExhaustedError(PortfolioError):
    """Every attempt returned a result that ``retry_on_result`` rejected.

    Example:
        >>> RetryExhaustedError("still pending", last_result="pending", attempts=3).attempts
        3
    """

    default_code = "retry_exhausted"
    fields = ("last_result", "attempts")
    last_result: Any
    attempts: int | None


class UnwrapError(PortfolioError, ValueError):
    """A ``Failure`` whose error is not an exception was unwrapped; ``failure`` holds it.

    Example:
        >>> UnwrapError("unwrapped a failure", failure="boom").failure
        'boom'
    """

    default_code = "unwrap_error"
    fields = ("failure",)
    failure: Any


class PoolTimeoutError(PortfolioError, TimeoutError):
    """No connection became available within ``acquire_timeout``; ``pool`` names the pool.

    Also a :class:`TimeoutError`, so code that already catches timeouts keeps working.

    Example:
        >>> error = PoolTimeoutError("no connection", pool="db", max_connections=10, timeout=2.0)
        >>> error.pool, error.max_connections, isinstance(error, TimeoutError)
        ('db', 10, True)
    """

    default_code = "pool_timeout"
    http_status = 503
    fields = ("pool", "max_connections", "timeout")
    pool: str | None
    max_connections: int | None
    timeout: float | None


class LockHeldError(PortfolioError):
    """Another live process holds the lock at ``path``; ``pid`` is that process (if known).

    Example:
        >>> error = LockHeldError("already running", pid=4242, path="/run/tool.pid")
        >>> error.pid, error.path, error.http_status
        (4242, '/run/tool.pid', 409)
    """

    default_code = "lock_held"
    http_status = 409
    fields = ("pid", "path")
    pid: int | None
    path: str | None


class ConnectionLostError(PortfolioError, ConnectionError):
    """A connection could not be made, or dropped; ``path`` or ``address`` names the peer.

    Also a :class:`ConnectionError` (so an :class:`OSError`), so code that already catches
    connection failures keeps working. Raised by the JSON-RPC client for every call pending
    when the connection drops, and when it cannot connect at all.

    Example:
        >>> error = ConnectionLostError("daemon went away", path="/run/pmp.sock")
        >>> error.path, isinstance(error, ConnectionError), error.http_status
        ('/run/pmp.sock', True, 503)
    """

    default_code = "connection_lost"
    http_status = 503
    fields = ("path", "address")
    path: str | None
    address: tuple[str, int] | None

    def __str__(self) -> str:
        # OSError's own __str__ would show the args tuple's pieces; the message is the text.
        return self.message


class RpcError(PortfolioError):
    """A JSON-RPC error object: ``code`` (an int), ``message`` and optional ``data``.

    A method served by :class:`~python_mastery_portfolio.rpc.RpcServer` raises it to choose the
    error object it answers; the client raises it for every error response it receives. Unlike
    other errors, ``code`` here is the JSON-RPC integer code (``-32601`` for an unknown
    method, ``-32000`` to ``-32099`` for server-defined errors), as the specification names it.

    Args:
        code: The JSON-RPC error code.
        message: A short description; ``str(error)`` returns it.
        data: Extra facts, any JSON value (``None`` for none).
        **context: Further context entries.

    Example:
        >>> error = RpcError(-32001, "user not found", data={"user_id": 7})
        >>> error.code, error.message, error.data
        (-32001, 'user not found', {'user_id': 7})
        >>> error.to_dict()["code"], error.http_status
        (-32001, 502)
    """

    default_code = "rpc_error"
    http_status = 502
    fields = ("data",)
    code: int  # type: ignore[assignment]  # JSON-RPC error codes are integers, by the spec
    data: Any

    def __init__(self, code: int, message: str, data: Any = None, **context: Any) -> None:
        if isinstance(code, bool) or not isinstance(code, int):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"code must be an int, got {code!r}")
        super().__init__(message, code=code, data=data, **context)  # type: ignore[arg-type]  # an int code, see above


class RegistryError(PortfolioError):
    """A :class:`~python_mastery_portfolio.Registry` refused a name; ``registry`` names it."""

    default_code = "registry_error"
    fields: ClassVar[tuple[str, ...]] = ("registry", "key")
    registry: str | None
    key: Any


class NotRegisteredError(RegistryError, KeyError):
    """Nothing is registered under ``key``; ``known`` lists the registered names.

    Also a :class:`KeyError` (so a :class:`LookupError`), as a mapping's missing key is.

    Example:
        >>> error = NotRegisteredError("plugins: no sms", registry="plugins", key="sms")
        >>> str(error), isinstance(error, LookupError), error.http_status
        ('plugins: no sms', True, 404)
    """

    default_code = "not_registered"
    http_status = 404
    fields = ("known",)
    known: tuple[Any, ...] | None

    def __str__(self) -> str:
        # KeyError's own __str__ shows the repr of its argument, quotes included.
        return self.message


class DuplicateRegistrationError(RegistryError, ValueError):
    """``key`` is already registered to ``existing``; ``new`` asked for it too.

    Also a :class:`ValueError`.

    Example:
        >>> error = DuplicateRegistrationError("taken", registry="plugins", key="email")
        >>> error.key, isinstance(error, ValueError), error.http_status
        ('email', True, 409)
    """

    default_code = "duplicate_registration"
    http_status = 409
    fields = ("existing", "new")
    existing: Any
    new: Any


class DependencyError(PortfolioError):
    """Base of the dependency-injection errors; ``chain`` names the path of services.

    Example:
        >>> DependencyError("failed", chain=("Root", "Leaf")).chain
        ('Root', 'Leaf')
    """

    default_code = "dependency_error"
    fields = ("chain",)
    chain: tuple[str, ...] | None


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
