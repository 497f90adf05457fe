"""Logging set-up for tools and services: the seed's ``setup_logging`` and a JSON line format.

:func:`setup_logging` is seed 003's function with the same signature, plus ``json=True`` for
one JSON object per line (:class:`JsonFormatter`: every ``extra=`` field and the request ID
are members). It is safe to call again: it replaces only the handlers it installed itself, so
handlers installed by others (a test runner's, a server's) are left alone.

Standard library only, so the ``pmp`` command line and the service share it;
:mod:`python_mastery_portfolio.web.log` builds on the formatter and adds the request ID of
the request being handled.
"""

from __future__ import annotations

import json as _json
import logging
from datetime import UTC, datetime
from os import PathLike
from typing import Any

__all__ = ["SEED_DATE_FORMAT", "SEED_FORMAT", "JsonFormatter", "setup_logging"]

SEED_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
"""The text line format of :func:`setup_logging` (seed 003's)."""

SEED_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
"""The date format of :data:`SEED_FORMAT`'s ``asctime``."""

_NO_REQUEST = "-"
# Attributes every LogRecord has; anything else on a record came from ``extra=``
# (except uvicorn's ``color_message``, an ANSI-coloured copy of the message).
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys()
) | {"message", "asctime", "request_id", "color_message"}

# Marks the handlers setup_logging installed, so that a second call replaces only those.
_OWNED = "_pmp_setup_logging"


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object per line.

    Members: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``request_id``
    (from :meth:`request_id`; ``null`` when there is none), every ``extra=`` field, and
    ``exc_info`` / ``stack_info`` as text when present. A value JSON cannot hold becomes its
    ``repr``.

    Example:
        >>> import json, logging
        >>> record = logging.LogRecord("app", logging.INFO, __file__, 1, "hi %s", ("x",), None)
        >>> record.status = 200
        >>> data = json.loads(JsonFormatter().format(record))
        >>> data["message"], data["status"], data["request_id"]
        ('hi x', 200, None)
    """

    def request_id(self, record: logging.LogRecord) -> str | None:
        """Return the request ID to show for ``record``: its ``request_id`` attribute.

        Subclasses add other sources (the web integration reads the current request's ID).
        """
        value = getattr(record, "request_id", None)
        return None if value is None else str(value)

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as a JSON line."""
        request_id = self.request_id(record)
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id in (None, _NO_REQUEST) else request_id,
        }
        data.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        )
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        return _json.dumps(data, default=repr, ensure_ascii=False)


def setup_logging(
    verbose: bool = False,
    log_file: str | PathLike[str] | None = None,
    *,
    json: bool = False,
) -> None:
    """Configure the root logger: stderr at INFO (DEBUG when ``verbose``), optionally a file.

    The file, when given, receives every record down to DEBUG, whatever ``verbose`` says, so
    a problem can be investigated after the fact without re-running verbosely. Calling again
    replaces the handlers of the previous call (and closes them); other handlers stay.

    Args:
        verbose: Log DEBUG records to stderr too.
        log_file: A file to append every record to (created if missing).
        json: Write one JSON object per line (:class:`JsonFormatter`) instead of the seed's
            text lines (:data:`SEED_FORMAT`).

    Example:
        >>> import logging
        >>> root = logging.getLogger()
        >>> saved = root.handlers[:], root.level
        >>> setup_logging(verbose=True)
        >>> root.level == logging.DEBUG, len(root.handlers) == len(saved[0]) + 1
        (True, True)
        >>> setup_logging()  # replaces its own handler
        >>> root.level == logging.INFO, len(root.handlers) == len(saved[0]) + 1
        (True, True)
        >>> root.handlers[-1].close()  # put things back as they were
        >>> root.handlers[:] = saved[0]
        >>> root.setLevel(saved[1])
    """
    level = logging.DEBUG if verbose else logging.INFO
    formatter: logging.Formatter = (
        JsonFormatter() if json else logging.Formatter(SEED_FORMAT, datefmt=SEED_DATE_FORMAT)
    )
    console = logging.StreamHandler()
    console.setLevel(level)
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG)
        handlers.append(file_handler)
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if getattr(handler, _OWNED, False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _OWNED, True)
        root.addHandler(handler)
    # The root passes on what the most talkative handler wants; each handler filters further.
    root.setLevel(logging.DEBUG if log_file is not None else level)
