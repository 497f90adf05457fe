"""Tests of the socket transports: framing, size limit, stale sockets, publishing."""

# The socket files are local and tiny: pathlib in the async tests blocks for no time.
# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import errno
import json
import socket
import threading
from pathlib import Path

import pytest

from python_mastery_portfolio.rpc import RpcClient, RpcServer
from tests.rpc.conftest import eventually


def echo_server(**options: int) -> RpcServer:
    server = RpcServer(**options)

    @server.method
    async def echo(value: object) -> object:
        return value

    return server


class TestUnixTransport:
    """Serving on a Unix socket."""

    async def test_call_and_socket_removed(self, sock_path: Path) -> None:
        """A client calls over the socket; the file is gone when serving ends."""
        server = echo_server()
        async with server.serve_unix(sock_path) as where:
            assert where == str(sock_path)
            async with RpcClient.unix(sock_path) as client:
                assert await client.call("echo", [1, "a"]) == [1, "a"]
                assert server.stats()["connections"] == 1
        assert not sock_path.exists()
        assert server.stats()["connections"] == 0

    async def test_stale_socket_replaced(self, sock_path: Path) -> None:
        """A socket file nobody listens on is replaced."""
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(sock_path))
        stale.close()  # the file stays, with nobody behind it
        async with echo_server().serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            assert await client.call("echo", 1) == 1

    async def test_live_socket_refused(self, sock_path: Path) -> None:
        """A second server on a live socket fails with EADDRINUSE; the first keeps serving."""
        server = echo_server()
        async with server.serve_unix(sock_path):
            with pytest.raises(OSError, match="already listening") as caught:
                async with echo_server().serve_unix(sock_path):
                    pass  # pragma: no cover - never entered
            assert caught.value.errno == errno.EADDRINUSE
            async with RpcClient.unix(sock_path) as client:
                assert await client.call("echo", 2) == 2

    async def test_regular_file_left_alone(self, sock_path: Path) -> None:
        """A path holding a regular file is refused and the file is kept."""
        sock_path.write_text("precious")
        with pytest.raises(FileExistsError):
            async with echo_server().serve_unix(sock_path):
                pass  # pragma: no cover - never entered
        assert sock_path.read_text() == "precious"

    async def test_only_own_socket_removed(self, sock_path: Path) -> None:
        """A file put in place of ours while serving is left; a vanished one is no error."""
        async with echo_server().serve_unix(sock_path):
            sock_path.unlink()
            sock_path.write_text("someone else's")
        assert sock_path.read_text() == "someone else's"
        sock_path.unlink()
        async with echo_server().serve_unix(sock_path):
            sock_path.unlink()
        assert not sock_path.exists()


class TestFraming:
    """Newline-delimited JSON on the wire."""

    async def test_oversized_message(self, sock_path: Path) -> None:
        """A line over max_message_size is answered -32600, then the connection closes."""
        server = echo_server(max_message_size=100)
        async with server.serve_unix(sock_path):
            reader, writer = await asyncio.open_unix_connection(str(sock_path))
            writer.write(b'{"jsonrpc":"2.0","method":"echo","params":["' + b"x" * 200 + b'"]}\n')
            response = json.loads(await reader.readline())
            assert response["error"]["code"] == -32600
            assert response["id"] is None
            assert await reader.read() == b""  # closed by the server
            writer.close()
            await writer.wait_closed()
        assert server.stats()["errors"] == 1

    async def test_message_at_the_limit_is_served(self, sock_path: Path) -> None:
        """A line of exactly max_message_size bytes is accepted."""
        message = b'{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}'
        async with echo_server(max_message_size=len(message)).serve_unix(sock_path):
            reader, writer = await asyncio.open_unix_connection(str(sock_path))
            writer.write(message + b"\n")
            assert json.loads(await reader.readline())["result"] == 1
            writer.close()
            await writer.wait_closed()

    async def test_blank_lines_and_last_line_without_newline(self, sock_path: Path) -> None:
        """Blank lines are skipped; a last message cut by EOF is still answered."""
        async with echo_server().serve_unix(sock_path):
            reader, writer = await asyncio.open_unix_connection(str(sock_path))
            writer.write(b"\n  \n" + b'{"jsonrpc":"2.0","method":"echo","params":[5],"id":7}')
            writer.write_eof()
            assert json.loads(await reader.readline()) == {"jsonrpc": "2.0", "result": 5, "id": 7}
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()

    async def test_notification_gets_no_line(self, sock_path: Path) -> None:
        """A notification is run and never answered on the wire."""
        async with echo_server().serve_unix(sock_path):
            reader, writer = await asyncio.open_unix_connection(str(sock_path))
            writer.write(b'{"jsonrpc":"2.0","method":"echo","params":[1]}\n')
            writer.write_eof()
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()

    async def test_requests_on_one_connection_run_concurrently(self, sock_path: Path) -> None:
        """A request waiting on a later one of the same connection does not deadlock."""
        server = RpcServer()
        released = asyncio.Event()

        @server.method
        async def wait() -> str:
            await released.wait()
            return "waited"

        @server.method
        async def release() -> str:
            released.set()
            return "released"

        async with server.serve_unix(sock_path), RpcClient.unix(sock_path, timeout=10) as client:
            first = asyncio.create_task(client.call("wait"))
            assert await client.call("release") == "released"
            assert await first == "waited"

    async def test_reset_by_peer(self) -> None:
        """A TCP reset from a client ends its connection quietly."""
        server = echo_server()
        async with server.serve_tcp("127.0.0.1", 0) as (host, port):
            raw = socket.create_connection((host, port))
            await eventually(lambda: server.stats()["connections"] == 1)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            raw.close()  # linger 0: a reset, not a FIN
            await eventually(lambda: server.stats()["connections"] == 0)

    async def test_client_gone_before_answers(self, sock_path: Path) -> None:
        """Answers finishing after the client closed its socket are dropped quietly."""
        server = RpcServer()
        release = asyncio.Event()

        @server.method
        async def slow(value: int) -> int:
            await release.wait()
            return value

        async with server.serve_unix(sock_path):
            _, writer = await asyncio.open_unix_connection(str(sock_path))
            writer.write(
                b'{"jsonrpc":"2.0","method":"slow","params":[1],"id":1}\n'
                b'{"jsonrpc":"2.0","method":"slow","params":[2],"id":2}\n'
            )
            await eventually(lambda: server.stats()["requests"] == 2)
            writer.close()
            await writer.wait_closed()  # the socket is gone: writing to it fails (EPIPE)
            # The first answer's write fails and closes the transport; the second finds it
            # closing and writes nothing. Neither error escapes; the connection ends.
            release.set()
            await eventually(lambda: server.stats()["connections"] == 0)
            async with RpcClient.unix(sock_path) as client:  # the server serves on
                assert await client.call("slow", 3) == 3
        assert server.stats()["errors"] == 0


class TestTcpTransport:
    """Serving on TCP."""

    async def test_port_zero_and_call(self) -> None:
        """Port 0 binds a free port, which the context manager yields."""
        async with echo_server().serve_tcp("127.0.0.1", 0) as (host, port):
            assert host == "127.0.0.1"
            assert port > 0
            async with RpcClient.tcp(host, port) as client:
                assert await client.call("echo", {"k": 1}) == {"k": 1}


class TestPublish:
    """Server-pushed notifications."""

    async def test_subscriber_receives(self, sock_path: Path) -> None:
        """Published payloads reach the subscribers of the topic only."""
        server = echo_server()
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            async with client.subscribe("events") as events:
                server.publish("other", 0)
                server.publish("events", {"n": 1})
                assert await anext(events) == {"n": 1}
            assert server.stats()["notifications_sent"] == 1

    async def test_slow_subscriber_drops_oldest(self, sock_path: Path) -> None:
        """A full queue drops its oldest notifications, counted; the newest arrive."""
        server = echo_server(queue_size=3)
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            async with client.subscribe("ticks") as ticks:
                for number in range(10):  # all in one turn of the loop: none written yet
                    server.publish("ticks", number)
                assert [await anext(ticks) for _ in range(3)] == [7, 8, 9]
            stats = server.stats()
            assert (stats["notifications_sent"], stats["notifications_dropped"]) == (3, 7)

    async def test_publish_from_threads(self, sock_path: Path) -> None:
        """publish is safe from other threads."""
        server = echo_server()
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            async with client.subscribe("t") as events:
                threads = [
                    threading.Thread(target=server.publish, args=("t", n)) for n in range(20)
                ]
                for thread in threads:
                    thread.start()
                received = [await anext(events) for _ in range(20)]
                for thread in threads:
                    thread.join()
        assert sorted(received) == list(range(20))  # type: ignore[type-var]  # ints

    async def test_one_of_two_subscribers_leaves(self, sock_path: Path) -> None:
        """When one client unsubscribes, the other subscriber of the topic still receives."""
        server = echo_server()
        async with (
            server.serve_unix(sock_path),
            RpcClient.unix(sock_path) as staying,
            RpcClient.unix(sock_path) as leaving,
        ):
            events = staying.subscribe("t")
            await events.start()
            await leaving.subscribe("t").start()
            assert await leaving.call("unsubscribe", "t") is True
            server.publish("t", 1)
            assert await anext(events) == 1
            await leaving.call("echo", 0)  # a round trip: a push to it would be here now
            assert server.stats()["notifications_sent"] == 1

    async def test_two_transports_end_one(self, sock_path: Path) -> None:
        """Ending one of two served sockets leaves publishing to the other working."""
        server = echo_server()
        async with server.serve_tcp("127.0.0.1", 0) as (host, port):
            async with RpcClient.tcp(host, port) as client, client.subscribe("t") as events:
                async with server.serve_unix(sock_path):
                    pass
                server.publish("t", "still here")
                assert await anext(events) == "still here"
        server.publish("t", "nobody")  # nothing served now: ignored
        assert server.stats()["notifications_sent"] == 1

    async def test_unsubscribe_and_resubscribe(self, sock_path: Path) -> None:
        """The built-ins answer whether they changed anything."""
        server = echo_server()
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            assert await client.call("subscribe", "a") is True
            assert await client.call("subscribe", "a") is False
            assert await client.call("unsubscribe", "a") is True
            assert await client.call("unsubscribe", "a") is False

    def test_publish_while_not_serving(self) -> None:
        """With nothing served, publish does nothing; a bad topic is still a TypeError."""
        server = RpcServer()
        server.publish("events", 1)
        with pytest.raises(TypeError, match="topic"):
            server.publish(3, 1)  # type: ignore[arg-type]  # wrong on purpose

    async def test_closed_connection_unsubscribed(self, sock_path: Path) -> None:
        """A client that goes away is no longer published to."""
        server = echo_server()
        async with server.serve_unix(sock_path):
            async with RpcClient.unix(sock_path) as client:
                await client.subscribe("x").start()
            await eventually(lambda: server.stats()["connections"] == 0)
            server.publish("x", 1)
            assert server.stats()["notifications_sent"] == 0
