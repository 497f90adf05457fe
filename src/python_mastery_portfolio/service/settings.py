"""The service's settings, read from environment variables prefixed ``PMP_``.

``pmp serve --help`` lists every variable with its default and meaning (generated from
:class:`Settings` by :func:`settings_help`, so the list cannot drift). The groups:

- **where**: ``PMP_DATABASE_PATH``, ``PMP_HOST``, ``PMP_PORT``, ``PMP_ADMIN_SOCKET``;
- **logs**: ``PMP_LOG_LEVEL``, ``PMP_LOG_FORMAT``;
- **rate limits**: ``PMP_WRITE_RATE_LIMIT``, ``PMP_WRITE_RATE_PERIOD``, ``PMP_WRITE_BURST``,
  ``PMP_READ_RATE_LIMIT``, ``PMP_READ_RATE_PERIOD``, ``PMP_READ_BURST``;
- **cache and rules**: ``PMP_CACHE_TTL``, ``PMP_CACHE_MAXSIZE``,
  ``PMP_BLOCKED_EMAIL_DOMAINS``;
- **who may talk to it**: ``PMP_TRUSTED_PROXIES``, ``PMP_ALLOWED_HOSTS`` (besides
  ``127.0.0.1``, ``localhost``, ``::1`` and ``PMP_HOST``), ``PMP_WS_ALLOWED_ORIGINS``,
  ``PMP_METRICS_ENABLED``, ``PMP_METRICS_TOKEN``, ``PMP_DOCS_ENABLED``;
- **limits** (safe defaults): ``PMP_MAX_BODY_SIZE`` (1 MiB), ``PMP_BODY_TIMEOUT`` (30 s),
  ``PMP_MAX_VALIDATION_ERRORS``
  (20), ``PMP_MAX_HEADER_SIZE`` (16 KiB), ``PMP_HEADER_TIMEOUT`` (10 s),
  ``PMP_LIMIT_CONCURRENCY`` (512),
  ``PMP_TIMEOUT_KEEP_ALIVE`` (5 s), ``PMP_SHUTDOWN_TIMEOUT`` (5 s);
- **WebSockets**: ``PMP_EVENTS_QUEUE_SIZE``, ``PMP_WS_MAX_SUBSCRIBERS``,
  ``PMP_WS_SEND_TIMEOUT``, ``PMP_WS_MAX_MESSAGE_SIZE`` (64 KiB),
  ``PMP_WS_PER_MESSAGE_DEFLATE`` (off);
- **several workers**: ``PMP_REDIS_URL`` (shared rate limits, cache invalidation, events
  and figures through Redis: needed by ``pmp serve --workers N``), ``PMP_REDIS_NAMESPACE``,
  ``PMP_WORKER_REPORT_INTERVAL``;
- **observability**: ``PMP_OTEL`` (OpenTelemetry on).

The admin socket defaults to ``pmp.sock`` in the database's directory (``data/pmp.sock`` with
the default database), so ``pmp status`` run with the same environment finds it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal, cast

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ADMIN_SOCKET_NAME", "DEFAULT_HOSTS", "Settings", "settings_help"]

ADMIN_SOCKET_NAME = "pmp.sock"
"""The admin socket's file name when ``PMP_ADMIN_SOCKET`` is not set."""

DEFAULT_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Host names always served (besides ``PMP_HOST`` and ``PMP_ALLOWED_HOSTS``)."""

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

_LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


def _split(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Configuration of the Users service; every field reads ``PMP_<FIELD>`` from the environment.

    Example:
        >>> settings = Settings(port=9000, blocked_email_domains="Spam.test, example.com")
        >>> settings.port, settings.host, settings.blocked_email_domains
        (9000, '127.0.0.1', ('spam.test', 'example.com'))
    """

    model_config = SettingsConfigDict(env_prefix="PMP_", extra="ignore", frozen=True)

    database_path: Path = Field(
        default=Path("data/users.db"), description="SQLite file (relative to the working dir)"
    )
    host: str = Field(default="127.0.0.1", description="address `pmp serve` listens on")
    port: int = Field(default=8000, ge=0, le=65535, description="port `pmp serve` listens on")
    log_level: _LogLevel = Field(default="INFO", description="root log level")
    log_format: Literal["text", "json"] = Field(default="text", description="text or json")
    write_rate_limit: float = Field(
        default=10.0, gt=0, description="writes per client per PMP_WRITE_RATE_PERIOD"
    )
    write_rate_period: float = Field(default=1.0, gt=0, description="seconds")
    write_burst: int | None = Field(
        default=None, ge=1, description="writes a client may make at once (default: the rate)"
    )
    read_rate_limit: float = Field(
        default=200.0, gt=0, description="reads per client per PMP_READ_RATE_PERIOD"
    )
    read_rate_period: float = Field(default=1.0, gt=0, description="seconds")
    read_burst: int | None = Field(
        default=None, ge=1, description="reads a client may make at once (default: the rate)"
    )
    cache_ttl: float = Field(default=30.0, gt=0, description="seconds a cached user stays fresh")
    cache_maxsize: int = Field(
        default=1024, ge=0, description="users kept in the cache (0: no cache)"
    )
    blocked_email_domains: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("example.com",), description="comma-separated domains refused at sign-up"
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="comma-separated proxy IPs or networks"
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated Host names served, besides 127.0.0.1, localhost, ::1 "
        "and PMP_HOST; * serves any",
    )
    ws_allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated WebSocket Origins accepted besides the service's own",
    )
    events_queue_size: int = Field(
        default=100, ge=1, description="events buffered per WebSocket client"
    )
    ws_max_subscribers: int = Field(
        default=100, ge=1, description="WebSocket clients connected at once"
    )
    ws_send_timeout: float = Field(
        default=10.0, gt=0, description="seconds a WebSocket client may take to read an event"
    )
    ws_max_message_size: int = Field(
        default=64 * 1024, ge=1, description="bytes of one WebSocket message"
    )
    ws_per_message_deflate: bool = Field(
        default=False, description="allow WebSocket compression (off: no zip bombs)"
    )
    max_body_size: int = Field(
        default=1024 * 1024, ge=1, description="bytes of a request body; more is a 413"
    )
    body_timeout: float = Field(
        default=30.0, gt=0, description="seconds a client may pause while sending a body; 408"
    )
    max_validation_errors: int = Field(
        default=20, ge=1, description="errors listed in a 422 answer"
    )
    limit_concurrency: int = Field(
        default=512, ge=1, description="connections and tasks served at once; more get a 503"
    )
    timeout_keep_alive: float = Field(
        default=5.0, gt=0, description="seconds an idle connection is kept open"
    )
    max_header_size: int = Field(
        default=16 * 1024, ge=1024, description="bytes of a request's header block; more: 431"
    )
    header_timeout: float = Field(
        default=10.0, gt=0, description="seconds a client has to send a request's headers"
    )
    shutdown_timeout: float = Field(
        default=5.0, gt=0, description="seconds running requests get to finish at shutdown"
    )
    metrics_enabled: bool = Field(default=True, description="serve GET /metrics")
    metrics_token: SecretStr | None = Field(
        default=None, description="when set, /metrics needs `Authorization: Bearer <token>`"
    )
    docs_enabled: bool = Field(default=True, description="serve /docs, /redoc and /openapi.json")
    redis_url: str | None = Field(
        default=None,
        description="Redis for several workers: shared limits, cache invalidation, events",
    )
    redis_namespace: str = Field(
        default="users", min_length=1, description="separates services sharing one Redis"
    )
    worker_report_interval: float = Field(
        default=1.0, gt=0, description="seconds between two reports of a worker's figures"
    )
    otel: bool = Field(default=False, description="turn on OpenTelemetry (the app brings the SDK)")
    admin_socket: str | None = Field(
        default=None,
        description="admin JSON-RPC Unix socket (default: next to the database); empty: off",
    )
    """The admin socket as configured: ``None`` (unset) or ``""`` (off) or a path."""

    @property
    def served_hosts(self) -> frozenset[str]:
        """The Host names the service answers: the defaults, ``PMP_HOST`` and ``PMP_ALLOWED_HOSTS``.

        Example:
            >>> sorted(Settings(host="api.test", allowed_hosts="Other.test").served_hosts)
            ['127.0.0.1', '::1', 'api.test', 'localhost', 'other.test']
        """
        return frozenset({*DEFAULT_HOSTS, self.host.lower(), *self.allowed_hosts})

    @property
    def admin_socket_path(self) -> Path | None:
        """The admin endpoint's Unix socket, or ``None`` when switched off.

        ``PMP_ADMIN_SOCKET`` when set (an empty value switches the endpoint off), else
        ``pmp.sock`` next to the database.

        Example:
            >>> Settings().admin_socket_path
            PosixPath('data/pmp.sock')
            >>> Settings(database_path="/srv/users.db").admin_socket_path
            PosixPath('/srv/pmp.sock')
            >>> Settings(admin_socket="").admin_socket_path is None
            True
        """
        if self.admin_socket is None:
            return self.database_path.parent / ADMIN_SOCKET_NAME
        return Path(self.admin_socket) if self.admin_socket else None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_REDIS_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(_REDIS_SCHEMES)}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("blocked_email_domains", mode="before")
    @classmethod
    def _domains(cls, value: object) -> object:
        value = _split(value)
        if isinstance(value, list | tuple):
            items = cast("Sequence[object]", value)
            return tuple(str(item).strip().lower().lstrip("@") for item in items)
        return value

    @field_validator("allowed_hosts", "ws_allowed_origins", mode="before")
    @classmethod
    def _lowercase_list(cls, value: object) -> object:
        value = _split(value)
        if isinstance(value, list | tuple):
            items = cast("Sequence[object]", value)
            return tuple(str(item).strip().lower().rstrip("/") for item in items)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        value = _split(value)
        if isinstance(value, list | tuple):
            items = cast("Sequence[object]", value)
            for item in items:
                ipaddress.ip_network(str(item), strict=False)
            return items
        return value


def settings_help() -> str:
    """Return one line per setting: its variable, default and meaning (for ``pmp serve --help``).

    Generated from the :class:`Settings` model, so it cannot drift from what is read.

    Example:
        >>> print(settings_help().splitlines()[0])
        PMP_DATABASE_PATH  (default: data/users.db)  SQLite file (relative to the working dir)
    """
    rows: list[tuple[str, str, str]] = []
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, tuple):
            shown = ",".join(str(item) for item in cast("tuple[object, ...]", default)) or "none"
        elif default is None:
            shown = "none"
        else:
            shown = str(default)
        rows.append((f"PMP_{name.upper()}", f"(default: {shown})", field.description or ""))
    width = max(len(row[0]) for row in rows)
    widths = max(len(row[1]) for row in rows)
    return "\n".join(f"{a:<{width}}  {b:<{widths}}  {c}".rstrip() for a, b, c in rows)
