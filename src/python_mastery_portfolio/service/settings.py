"""The service's settings, read from environment variables prefixed ``PMP_``.

=============================  ===================  =========================================
variable                       default              meaning
=============================  ===================  =========================================
``PMP_DATABASE_PATH``          ``data/users.db``    SQLite file (relative to the working dir)
``PMP_HOST``                   ``127.0.0.1``        address ``pmp serve`` listens on
``PMP_PORT``                   ``8000``             port ``pmp serve`` listens on
``PMP_LOG_LEVEL``              ``INFO``             root log level
``PMP_LOG_FORMAT``             ``text``             ``text`` or ``json``
``PMP_WRITE_RATE_LIMIT``       ``10``               writes per client per ``PMP_WRITE_RATE_PERIOD``
``PMP_WRITE_RATE_PERIOD``      ``1.0``              seconds
``PMP_WRITE_BURST``            (the rate)           writes a client may make at once
``PMP_CACHE_TTL``              ``30``               seconds a cached user stays fresh
``PMP_CACHE_MAXSIZE``          ``1024``             users kept in the cache
``PMP_BLOCKED_EMAIL_DOMAINS``  ``example.com``      comma-separated domains refused at sign-up
``PMP_TRUSTED_PROXIES``        (none)               comma-separated proxy IPs or networks
``PMP_EVENTS_QUEUE_SIZE``      ``100``              events buffered per WebSocket client
``PMP_ADMIN_SOCKET``           (next to database)   admin JSON-RPC Unix socket; empty: off
=============================  ===================  =========================================

The admin socket defaults to ``pmp.sock`` in the database's directory (``data/pmp.sock`` with
the default database), so ``pmp status`` run with the same environment finds it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal, cast

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ADMIN_SOCKET_NAME", "Settings"]

ADMIN_SOCKET_NAME = "pmp.sock"
"""The admin socket's file name when ``PMP_ADMIN_SOCKET`` is not set."""

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

    database_path: Path = Path("data/users.db")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: _LogLevel = "INFO"
    log_format: Literal["text", "json"] = "text"
    write_rate_limit: float = Field(default=10.0, gt=0)
    write_rate_period: float = Field(default=1.0, gt=0)
    write_burst: int | None = Field(default=None, ge=1)
    cache_ttl: float = Field(default=30.0, gt=0)
    cache_maxsize: int = Field(default=1024, ge=1)
    blocked_email_domains: Annotated[tuple[str, ...], NoDecode] = ("example.com",)
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    events_queue_size: int = Field(default=100, ge=1)
    admin_socket: str | None = None
    """The admin socket as configured: ``None`` (unset) or ``""`` (off) or a path."""

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
