r"""The request ID of the current request, kept in a context variable.

The :class:`~python_mastery_portfolio.web.middleware.RequestContextMiddleware` sets it for
each HTTP request and WebSocket session, so anything running inside the request (endpoints,
dependencies, error handlers, worker threads started with ``asyncio.to_thread``, log
filters) can read it without passing it around.

Example:
    >>> is_safe_request_id("req-42.a_b"), is_safe_request_id("bad id\n")
    (True, False)
    >>> get_request_id() is None
    True
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from contextvars import ContextVar

__all__ = [
    "MAX_REQUEST_ID_LENGTH",
    "get_request_id",
    "is_safe_request_id",
    "new_request_id",
    "request_id_var",
]

MAX_REQUEST_ID_LENGTH = 128
"""The longest incoming request ID that is accepted as is."""

_SAFE_REQUEST_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_REQUEST_ID_LENGTH}}}")

request_id_var: ContextVar[str | None] = ContextVar("pmp_request_id", default=None)
"""The context variable holding the current request ID (``None`` outside a request)."""


def get_request_id() -> str | None:
    """Return the ID of the request being handled, or ``None`` outside a request.

    Example:
        >>> token = request_id_var.set("abc")
        >>> get_request_id()
        'abc'
        >>> request_id_var.reset(token)
    """
    return request_id_var.get()


def is_safe_request_id(value: str) -> bool:
    """Return whether ``value`` may be echoed back and logged as a request ID.

    A safe ID has 1 to 128 characters, each a letter, a digit, ``.``, ``_`` or ``-``, so
    it can neither split a header or a log line nor smuggle markup into a log viewer.

    Example:
        >>> is_safe_request_id("a" * 128), is_safe_request_id("a" * 129)
        (True, False)
    """
    return _SAFE_REQUEST_ID.fullmatch(value) is not None


class _IdSource:
    """A random per-process prefix and a counter: unique IDs for the cost of a format."""

    __slots__ = ("counter", "prefix")

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        # 64 random bits per process: two processes (or one restarted) share a prefix
        # with probability 2**-64 per pair; within one, the counter never repeats.
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()


_SOURCE = _IdSource()
# A forked child inherits the parent's prefix and counter: it must draw its own.
os.register_at_fork(after_in_child=_SOURCE.reseed)


def new_request_id() -> str:
    """Return a fresh request ID: 32 hexadecimal digits, unique across threads and processes.

    The first 16 digits are drawn at random once per process (again in a forked child),
    the last 16 count the IDs the process has made, so an ID costs a counter step and a
    format instead of a ``uuid4`` (an ``os.urandom`` call). IDs tell requests apart; they
    are not secrets (the next one is easy to guess).

    Example:
        >>> rid = new_request_id()
        >>> len(rid), is_safe_request_id(rid), rid != new_request_id()
        (32, True, True)
    """
    source = _SOURCE
    # next() on itertools.count is atomic under the GIL: threads never get the same number.
    return f"{source.prefix}{next(source.counter):016x}"
