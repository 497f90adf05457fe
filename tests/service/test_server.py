"""Tests of the header timeout and header size limit, on real loopback sockets in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from python_mastery_portfolio.service.server import HeaderTimeoutProtocol

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


@pytest.fixture
def limits() -> Iterator[None]:
    """Short limits for these tests, restored afterwards."""
    saved = HeaderTimeoutProtocol.header_timeout, HeaderTimeoutProtocol.max_header_size
    HeaderTimeoutProtocol.header_timeout = 0.05
    HeaderTimeoutProtocol.max_header_size = 1024
    yield
    HeaderTimeoutProtocol.header_timeout, HeaderTimeoutProtocol.max_header_size = saved


@pytest.fixture
async def port(limits: None) -> AsyncIterator[int]:
    config = uvicorn.Config(hello, lifespan="off", log_config=None, timeout_keep_alive=60)
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HeaderTimeoutProtocol(config=config, server_state=state, app_state={}),
        "127.0.0.1",
        0,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for connection in list(state.connections):
            connection.shutdown()
        server.close()
        await server.wait_closed()


async def closed(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes the connection (bounded: a hang fails the test)."""
    return await asyncio.wait_for(reader.read(), timeout=5)


class TestHeaderTimeout:
    async def test_silent_client_is_dropped(self, port: int) -> None:
        """A client that connects and sends nothing is disconnected."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed(reader) == b""
        writer.close()
        await writer.wait_closed()

    async def test_half_a_request_is_dropped(self, port: int) -> None:
        """A client that stops in the middle of its headers is disconnected."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: loc")
        assert await closed(reader) == b""
        writer.close()
        await writer.wait_closed()

    async def test_a_timely_request_is_served_then_the_next_is_timed(self, port: int) -> None:
        """A complete request is answered; the clock restarts for the next request."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        answer = await closed(reader)
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"\r\nhi\r\n" in answer
        writer.close()
        await writer.wait_closed()

    async def test_connection_close_is_not_rearmed(self, port: int) -> None:
        """A request with Connection: close ends the connection after its answer."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert (await closed(reader)).startswith(b"HTTP/1.1 200")
        writer.close()
        await writer.wait_closed()


class TestHeaderSize:
    async def test_huge_headers_are_431(self, port: int) -> None:
        """Headers over max_header_size are refused with a 431 and the connection closed."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"x" * 2000)
        answer = await closed(reader)
        assert answer.startswith(b"HTTP/1.1 431")
        writer.close()
        await writer.wait_closed()

    async def test_a_body_does_not_count_as_headers(self, port: int) -> None:
        """A large body sent with small headers is not mistaken for large headers."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b"x" * 4000
        writer.write(
            b"POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert (await closed(reader)).startswith(b"HTTP/1.1 200")
        writer.close()
        await writer.wait_closed()
