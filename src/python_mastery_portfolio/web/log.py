"""Logging for services: the request ID on every record, and a text or JSON format.

:func:`build_log_config` returns a :func:`logging.config.dictConfig` dict, which is also
what ``uvicorn.run(log_config=...)`` takes, so the server's own loggers (and a reloading
worker process) are formatted the same way as the application's. With ``queue=True`` the
records are formatted and written by a background thread (:class:`BackgroundHandler`), so
the event loop never waits on a formatter or on stderr.

Text logs escape control characters that came from a client (:func:`escape_controls`):
a request for ``/x%0d%0aforged`` cannot write a second, forged line.
"""

from __future__ import annotations

import logging
import logging.config
import logging.handlers
import os
import queue
import threading
import weakref
from typing import IO, Any, Literal

from python_mastery_portfolio import logs
from python_mastery_portfolio.web.context import get_request_id

__all__ = [
    "LOG_FORMATS",
    "TEXT_FORMAT",
    "BackgroundHandler",
    "JsonFormatter",
    "LogFormat",
    "RequestIdFilter",
    "TextFormatter",
    "build_log_config",
    "configure_logging",
    "escape_controls",
]

LogFormat = Literal["text", "json"]
"""The supported log formats."""

LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
"""Every supported log format."""

TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s [%(request_id)s] %(message)s"
"""The line format of the ``text`` log format."""

_NO_REQUEST = "-"

# C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional controls
# (which reorder what a terminal or log viewer shows: "Trojan Source"), as escapes.
_ESCAPES: dict[int, str] = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))},
    **{ord(char): escaped for char, escaped in (("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))},
    **{
        code: f"\\u{code:04x}"
        for code in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F))
    },
    **{code: f"\\u{code:04x}" for code in range(0x2066, 0x206A)},
}


def escape_controls(text: str) -> str:
    r"""Return ``text`` with control, separator and bidi characters as visible escapes.

    For text that came from a client (a path, a header) before it goes into a log line:
    CR and LF would start a forged line, ESC a terminal escape sequence, and the bidi
    controls reorder what a viewer shows. Printable text is returned as is, after one
    ``str.isprintable`` check.

    Example:
        >>> escape_controls("/users/1\r\n2026-01-01 INFO forged")
        '/users/1\\r\\n2026-01-01 INFO forged'
        >>> escape_controls("\x1b[31mred\u202e"), escape_controls("/plain")
        ('\\x1b[31mred\\u202e', '/plain')
    """
    if text.isprintable():
        return text
    return text.translate(_ESCAPES)


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


class TextFormatter(logging.Formatter):
    r"""The ``text`` format's formatter: string arguments have their controls escaped.

    Messages are usually a constant format with the variable parts as arguments (``%s``),
    and the variable parts are what a client may have sent, so every ``str`` argument
    goes through :func:`escape_controls`: a client cannot start a line of its own. The
    format string itself and tracebacks are left as they are. The record other handlers
    see is not changed.

    Example:
        >>> record = logging.LogRecord("x", logging.INFO, "", 1, "GET %s", ("/a\r\nb",), None)
        >>> TextFormatter("%(message)s").format(record)
        'GET /a\\r\\nb'
    """

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` with its string arguments escaped."""
        args = record.args
        if isinstance(args, tuple) and any(
            isinstance(arg, str) and not arg.isprintable() for arg in args
        ):
            record = logging.makeLogRecord(record.__dict__)
            record.args = tuple(
                escape_controls(arg) if isinstance(arg, str) else arg for arg in args
            )
        return super().format(record)


class BackgroundHandler(logging.handlers.QueueHandler):
    r"""Hand each record to a thread that formats and writes it, so the caller never waits.

    A :class:`~logging.handlers.QueueHandler` in front of ``handler`` (by default a
    ``StreamHandler`` on ``stream``, stderr when ``None``) and a
    :class:`~logging.handlers.QueueListener` thread behind it. The handler's filters run
    in the calling thread (so :class:`RequestIdFilter` still sees the request's context
    variable); its formatter (``setFormatter``, or ``"formatter"`` in ``dictConfig``) is
    the inner handler's and runs in the listener thread, as does the write. Unlike the
    standard ``QueueHandler`` it does not format the message before queuing it, which is
    the point: arguments are formatted later, so pass values that do not change.

    ``close()`` (called by ``logging.shutdown`` at exit and by ``dictConfig`` when it
    replaces the configuration) writes what is queued and stops the thread. A forked child
    gets a thread of its own.

    Args:
        handler: Where the records are written (it is closed with this one).
        stream: The stream of the default ``StreamHandler`` (not with ``handler``).

    Raises:
        ValueError: If both ``handler`` and ``stream`` are given.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> handler = BackgroundHandler(stream=out)
        >>> handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        >>> record = logging.LogRecord("x", logging.INFO, "", 1, "hi %s", ("there",), None)
        >>> handler.handle(record)
        True
        >>> handler.close()
        >>> out.getvalue()
        'INFO hi there\n'
    """

    def __init__(
        self, handler: logging.Handler | None = None, *, stream: IO[str] | None = None
    ) -> None:
        if handler is not None and stream is not None:
            raise ValueError("give either handler or stream, not both")
        super().__init__(queue.SimpleQueue())
        self.handler = handler if handler is not None else logging.StreamHandler(stream)
        self._state_lock = threading.Lock()
        self._listener: logging.handlers.QueueListener | None = None
        self._start()
        _LIVE_HANDLERS.add(self)

    def _start(self) -> None:
        self.queue = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(
            self.queue, self.handler, respect_handler_level=True
        )
        listener.start()
        self._listener = listener

    def restart_after_fork(
        self,
    ) -> None:  # pragma: no cover - runs in forked children (tested there)
        """Start a new thread and queue in a forked child (it has none of its parent's threads).

        Called for every live handler by an ``os.register_at_fork`` hook; do not call it
        in the process that started the handler.
        """
        self._state_lock = threading.Lock()
        if self._listener is not None:
            self._start()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """Queue the record as it is: formatting is the listener thread's work."""
        return record

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 - logging's name
        """Set the formatter of the inner handler, which formats in the listener thread."""
        self.handler.setFormatter(fmt)

    def close(self) -> None:
        """Write every queued record, stop the thread and close the inner handler."""
        with self._state_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            self.handler.close()
        super().close()


_LIVE_HANDLERS: weakref.WeakSet[BackgroundHandler] = weakref.WeakSet()


def _restart_handlers_after_fork() -> None:  # pragma: no cover - runs in forked children
    for handler in list(_LIVE_HANDLERS):
        handler.restart_after_fork()


os.register_at_fork(after_in_child=_restart_handlers_after_fork)


def _check(level: str | int, fmt: str) -> str:
    if fmt not in LOG_FORMATS:
        raise ValueError(f"fmt must be one of {LOG_FORMATS}, got {fmt!r}")
    name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    if name not in logging.getLevelNamesMapping():
        raise ValueError(f"level must be a logging level name or number, got {level!r}")
    return str(name)


def build_log_config(
    level: str | int = "INFO", fmt: LogFormat | str = "text", *, queue: bool = False
) -> dict[str, Any]:
    """Return a ``dictConfig`` dict logging to stderr in ``fmt`` at ``level``.

    The root logger gets one handler with :class:`RequestIdFilter`; uvicorn's loggers
    propagate to it, and its access log is quietened because the request middleware
    already logs each request with its ID. The ``text`` format escapes control
    characters in message arguments (:class:`TextFormatter`).

    Args:
        level: A level name (``"INFO"``, case-insensitive) or number.
        fmt: ``"text"`` or ``"json"``.
        queue: Format and write in a background thread (:class:`BackgroundHandler`), so
            logging never blocks the event loop on a formatter or on stderr. The lines
            are the same; they appear a moment later.

    Raises:
        ValueError: If ``level`` or ``fmt`` is unknown.

    Example:
        >>> config = build_log_config("debug", "json")
        >>> config["root"]["level"], config["handlers"]["default"]["formatter"]
        ('DEBUG', 'json')
    """
    level_name = _check(level, fmt)
    handler: dict[str, Any] = (
        {"()": f"{__name__}.BackgroundHandler", "stream": "ext://sys.stderr"}
        if queue
        else {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {
            "text": {"()": f"{__name__}.TextFormatter", "format": TEXT_FORMAT},
            "json": {"()": f"{__name__}.JsonFormatter"},
        },
        "handlers": {"default": {**handler, "formatter": fmt, "filters": ["request_id"]}},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level_name},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level_name},
            "uvicorn.access": {"handlers": [], "propagate": True, "level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level_name},
    }


def configure_logging(
    level: str | int = "INFO", fmt: LogFormat | str = "text", *, queue: bool = False
) -> None:
    """Apply :func:`build_log_config` to the running process.

    Raises:
        ValueError: If ``level`` or ``fmt`` is unknown.
    """
    logging.config.dictConfig(build_log_config(level, fmt, queue=queue))
