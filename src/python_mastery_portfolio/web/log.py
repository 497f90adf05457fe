"""Logging for services: the request ID on every record, and a text or JSON format.

:func:`build_log_config` returns a :func:`logging.config.dictConfig` dict, which is also
what ``uvicorn.run(log_config=...)`` takes, so the server's own loggers (and a reloading
worker process) are formatted the same way as the application's.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any, Literal

from python_mastery_portfolio import logs
from python_mastery_portfolio.web.context import get_request_id

__all__ = [
    "LOG_FORMATS",
    "TEXT_FORMAT",
    "JsonFormatter",
    "LogFormat",
    "RequestIdFilter",
    "build_log_config",
    "configure_logging",
]

LogFormat = Literal["text", "json"]
"""The supported log formats."""

LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
"""Every supported log format."""

TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s [%(request_id)s] %(message)s"
"""The line format of the ``text`` log format."""

_NO_REQUEST = "-"


class RequestIdFilter(logging.Filter):
    """Put the current request ID on each record as ``record.request_id`` (``"-"`` if none).

    Attach it to handlers (a filter on a logger does not see records from its children).
    A record that already has a ``request_id`` (given through ``extra=``) keeps it.

    Example:
        >>> record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", (), None)
        >>> RequestIdFilter().filter(record), record.request_id
        (True, '-')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` to ``record`` and keep it."""
        if getattr(record, "request_id", None) is None:
            record.request_id = get_request_id() or _NO_REQUEST
        return True


class JsonFormatter(logs.JsonFormatter):
    """Format each record as one JSON object per line, with the current request's ID.

    The core :class:`python_mastery_portfolio.logs.JsonFormatter`, whose ``request_id``
    falls back to the ID of the request being handled. Members: ``time`` (ISO 8601, UTC),
    ``level``, ``logger``, ``message``, ``request_id`` (``null`` outside a request), every
    ``extra=`` field, and ``exc_info`` / ``stack_info`` as text when present. A value JSON
    cannot hold becomes its ``repr``.

    Example:
        >>> import json
        >>> record = logging.LogRecord("app", logging.INFO, __file__, 1, "hi %s", ("x",), None)
        >>> record.status = 200
        >>> data = json.loads(JsonFormatter().format(record))
        >>> data["message"], data["status"], data["request_id"]
        ('hi x', 200, None)
    """

    def request_id(self, record: logging.LogRecord) -> str | None:
        """Return the record's ``request_id``, else the current request's ID (or ``None``)."""
        return super().request_id(record) or get_request_id()


def _check(level: str | int, fmt: str) -> str:
    if fmt not in LOG_FORMATS:
        raise ValueError(f"fmt must be one of {LOG_FORMATS}, got {fmt!r}")
    name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    if name not in logging.getLevelNamesMapping():
        raise ValueError(f"level must be a logging level name or number, got {level!r}")
    return str(name)


def build_log_config(level: str | int = "INFO", fmt: LogFormat | str = "text") -> dict[str, Any]:
    """Return a ``dictConfig`` dict logging to stderr in ``fmt`` at ``level``.

    The root logger gets one handler with :class:`RequestIdFilter`; uvicorn's loggers
    propagate to it, and its access log is quietened because the request middleware
    already logs each request with its ID.

    Args:
        level: A level name (``"INFO"``, case-insensitive) or number.
        fmt: ``"text"`` or ``"json"``.

    Raises:
        ValueError: If ``level`` or ``fmt`` is unknown.

    Example:
        >>> config = build_log_config("debug", "json")
        >>> config["root"]["level"], config["handlers"]["default"]["formatter"]
        ('DEBUG', 'json')
    """
    level_name = _check(level, fmt)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {
            "text": {"format": TEXT_FORMAT},
            "json": {"()": f"{__name__}.JsonFormatter"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": fmt,
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level_name},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level_name},
            "uvicorn.access": {"handlers": [], "propagate": True, "level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level_name},
    }


def configure_logging(level: str | int = "INFO", fmt: LogFormat | str = "text") -> None:
    """Apply :func:`build_log_config` to the running process.

    Raises:
        ValueError: If ``level`` or ``fmt`` is unknown.
    """
    logging.config.dictConfig(build_log_config(level, fmt))
