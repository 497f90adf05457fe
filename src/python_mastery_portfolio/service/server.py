"""The HTTP protocol ``pmp serve`` runs: uvicorn's httptools one, plus a header timeout.

uvicorn times out idle keep-alive connections, but not a client that connects and sends
nothing, or sends half a request line and stops: each holds a connection (and a file
descriptor) for ever, and enough of them starve the service. :class:`HeaderTimeoutProtocol`
closes a connection whose request headers are not complete ``header_timeout`` seconds
after it opened (or after its previous response ended), and answers headers larger than
``max_header_size`` bytes with a 431 (uvicorn's own header limit applies to h11 only).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["DEFAULT_HEADER_TIMEOUT", "DEFAULT_MAX_HEADER_SIZE", "HeaderTimeoutProtocol"]

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a client has to send a request's headers."""

DEFAULT_MAX_HEADER_SIZE = 16 * 1024
"""Bytes of a request line and headers."""

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8"
    b"\r\nconnection: close\r\ncontent-length: 34\r\n\r\nRequest header fields too large.\r\n"
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that drops clients slow to send their headers.

    Pass the class as uvicorn's ``http`` option; ``pmp serve`` sets :attr:`header_timeout`
    from ``PMP_HEADER_TIMEOUT`` first.

    Example:
        >>> HeaderTimeoutProtocol.header_timeout
        10.0
    """

    header_timeout: ClassVar[float] = DEFAULT_HEADER_TIMEOUT
    """Seconds from the connection (or the previous response) to the end of the headers."""

    max_header_size: ClassVar[int] = DEFAULT_MAX_HEADER_SIZE
    """Bytes of a request line and headers before the request is refused with a 431."""

    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self.transport.close()  # does nothing on a transport already closing

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows it too
        """Start the connection and the clock of its first request's headers."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Count the bytes of headers still coming; refuse too many."""
        waiting = self._header_timer is not None
        self._header_bytes += len(data)  # reset when the clock starts for a request
        super().data_received(data)
        # Still no end of headers (a body in the same read does not count against them).
        if waiting and self._header_timer is not None and self._header_bytes > self.max_header_size:
            self._disarm()
            self.transport.write(_TOO_LARGE)
            self.transport.close()

    def on_headers_complete(self) -> None:
        """The headers are in: the request runs with the application's own limits."""
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The next request on this connection gets the same time for its headers."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock with the connection."""
        self._disarm()
        super().connection_lost(exc)
