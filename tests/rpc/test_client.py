"""Tests of RpcClient: concurrency, dropped connections, reconnection, subscriptions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from python_mastery_portfolio.exceptions import ConnectionLostError, RpcError
from python_mastery_portfolio.retrying import RetryOptions
from python_mastery_portfolio.rpc import ConnectionState, RpcClient, RpcServer
from python_mastery_portfolio.testing import ManualClock
from tests.rpc.conftest import eventually


def make_server() -> tuple[RpcServer, asyncio.Event]:
    """Return a server (echo, shuffle, block, fail, mark) and the event ``block`` waits on."""
    server = RpcServer()
    release = asyncio.Event()

    @server.method
    async def echo(value: object) -> object:
        return value

    @server.method
    async def shuffle(value: int) -> int:
        for _ in range(value % 5):  # answers leave in another order than requests came
            await asyncio.sleep(0)
        return value

    @server.method
    async def block() -> str:
        await release.wait()
        return "released"

    @server.method
    def fail() -> None:
        raise RpcError(-32042, "nope", data={"why": "because"})

    return server, release


def policy(clock: ManualClock, attempts: int = 1_000_000) -> RetryOptions:
    return RetryOptions(
        max_attempts=attempts, delay=0.5, exceptions=OSError, max_delay=4.0, clock=clock
    )


class TestCalls:
    """Calls over one connection."""

    async def test_thousand_calls_from_fifty_tasks(self, sock_path: Path) -> None:
        """1,000 concurrent calls from 50 tasks: every answer reaches its caller."""
        server, _ = make_server()

        async def worker(client: RpcClient, index: int) -> list[tuple[int, object]]:
            values = [index * 1000 + k for k in range(20)]
            return [(value, await client.call("shuffle", value)) for value in values]

        async with server.serve_unix(sock_path), RpcClient.unix(sock_path, timeout=30) as client:
            results = await asyncio.gather(*(worker(client, index) for index in range(50)))
        pairs = [pair for result in results for pair in result]
        assert len(pairs) == 1000
        assert all(sent == got for sent, got in pairs)

    async def test_params_by_name_and_errors(self, sock_path: Path) -> None:
        """Named params work; an error response raises RpcError with code and data."""
        server, _ = make_server()
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            assert await client.call("echo", value=3) == 3
            with pytest.raises(RpcError) as caught:
                await client.call("fail")
            assert (caught.value.code, caught.value.message) == (-32042, "nope")
            assert caught.value.data == {"why": "because"}
            with pytest.raises(TypeError, match="not both"):
                await client.call("echo", 1, value=2)

    async def test_notify(self, sock_path: Path) -> None:
        """A notification runs the method; nothing comes back."""
        server = RpcServer()
        seen = asyncio.Event()

        @server.method
        async def mark() -> None:
            seen.set()

        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            await client.notify("mark")
            await asyncio.wait_for(seen.wait(), 10)

    async def test_batch(self, sock_path: Path) -> None:
        """A batch returns results in order, an error entry as its RpcError."""
        server, _ = make_server()
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            results = await client.batch([("echo", [1]), ("fail", None), ("echo", {"value": 2})])
            assert results[0] == 1
            assert isinstance(results[1], RpcError)
            assert results[2] == 2
            with pytest.raises(ValueError, match="empty"):
                await client.batch([])

    async def test_batch_fails_when_connection_drops(self, sock_path: Path) -> None:
        """A batch pending when the connection drops raises ConnectionLostError, not a list."""
        server, _ = make_server()
        async with server.serve_unix(sock_path):
            client = RpcClient.unix(sock_path)
            await client.connect()
            pending = asyncio.create_task(client.batch([("echo", [1]), ("block", None)]))
            await eventually(lambda: server.stats()["requests"] == 2)
        with pytest.raises(ConnectionLostError):
            await pending
        await client.aclose()

    async def test_timeout_and_late_answer(self, sock_path: Path) -> None:
        """A call past its timeout raises TimeoutError; its late answer is ignored."""
        server, release = make_server()
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            with pytest.raises(TimeoutError):
                await client.call("block", timeout=0)
            release.set()
            assert await client.call("echo", 1) == 1


class TestDroppedConnection:
    """A connection that drops fails what is pending."""

    async def test_killing_server_fails_pending_at_once(self, sock_path: Path) -> None:
        """Every pending call fails with ConnectionLostError when the server goes."""
        server, _ = make_server()
        states: list[ConnectionState] = []
        async with server.serve_unix(sock_path):
            client = RpcClient.unix(sock_path, on_state_change=states.append)
            await client.connect()
            pending = [asyncio.create_task(client.call("block")) for _ in range(10)]
            await eventually(lambda: server.stats()["requests"] == 10)
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        assert all(isinstance(outcome, ConnectionLostError) for outcome in outcomes)
        assert outcomes[0].path == str(sock_path)  # type: ignore[union-attr]  # checked above
        assert states == ["connecting", "connected", "closed"]
        with pytest.raises(ConnectionLostError):
            await client.call("echo", 1)
        await client.aclose()

    async def test_missing_socket(self, sock_path: Path) -> None:
        """Connecting to a missing socket raises ConnectionLostError naming the path."""
        with pytest.raises(ConnectionLostError) as caught:
            async with RpcClient.unix(sock_path):
                pass  # pragma: no cover - never entered
        assert caught.value.path == str(sock_path)
        assert isinstance(caught.value.__cause__, OSError)

    async def test_refused_tcp(self) -> None:
        """A refused TCP connection names the address."""
        async with RpcServer().serve_tcp("127.0.0.1", 0) as (host, port):
            pass  # the port is free again once serving ends
        with pytest.raises(ConnectionLostError) as caught:
            await RpcClient.tcp(host, port).connect()
        assert caught.value.address == (host, port)

    async def test_not_connected_yet(self) -> None:
        """A call on a client never connected raises ConnectionLostError."""
        with pytest.raises(ConnectionLostError, match="not connected"):
            await RpcClient.unix("/nonexistent").call("x")

    async def test_closed_client(self, sock_path: Path) -> None:
        """After aclose (twice is fine) calls fail and subscriptions end."""
        server, _ = make_server()
        async with server.serve_unix(sock_path):
            client = RpcClient.unix(sock_path)
            await client.connect()
            events = client.subscribe("e")
            await events.start()
            pending = asyncio.create_task(client.call("block"))
            await eventually(lambda: server.stats()["requests"] == 2)
            await client.aclose()
            await client.aclose()
            with pytest.raises(ConnectionLostError, match="closed"):
                await pending
            with pytest.raises(ConnectionLostError):
                await client.call("echo", 1)
            assert [payload async for payload in events] == []
            assert client.state is ConnectionState.CLOSED

    async def test_call_on_closing_transport(self, sock_path: Path) -> None:
        """A call on a transport already closing fails at once with ConnectionLostError."""
        server, _ = make_server()
        writers: list[asyncio.StreamWriter] = []

        async def open_connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_unix_connection(str(sock_path))
            writers.append(writer)
            return reader, writer

        async with server.serve_unix(sock_path):
            client = RpcClient(open_connection, context={"path": str(sock_path)})
            await client.connect()
            # The transport closes under the client (as it does after a failed write) before
            # the client's reader has noticed: the call must not write into it, nor hang.
            writers[0].close()
            with pytest.raises(ConnectionLostError) as caught:
                await client.call("echo", 1)
            assert isinstance(caught.value.__cause__, ConnectionResetError)
            assert caught.value.path == str(sock_path)
            await client.aclose()

    async def test_cancelled_call_then_close(self, sock_path: Path) -> None:
        """A call cancelled just before the client closes stays cancelled; the others fail."""
        server, _ = make_server()
        async with server.serve_unix(sock_path):
            client = RpcClient.unix(sock_path)
            await client.connect()
            cancelled = asyncio.create_task(client.call("block"))
            failing = asyncio.create_task(client.call("block"))
            await eventually(lambda: server.stats()["requests"] == 2)
            cancelled.cancel()
            # In the same turn of the loop: the cancelled call has not yet run its cleanup, so
            # closing finds its (cancelled) future still pending and must leave it alone.
            await client.aclose()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            with pytest.raises(ConnectionLostError, match="closed"):
                await failing

    @pytest.mark.parametrize("reconnect", [False, True], ids=["once", "reconnecting"])
    async def test_close_while_connecting(self, sock_path: Path, reconnect: bool) -> None:
        """aclose() during connect(): connect fails, and the late connection is closed."""
        server, _ = make_server()
        opening = asyncio.Event()
        proceed = asyncio.Event()

        async def open_connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            opening.set()
            await proceed.wait()
            return await asyncio.open_unix_connection(str(sock_path))

        client = RpcClient(
            open_connection, reconnect=reconnect, retry=policy(ManualClock(), attempts=3)
        )
        async with server.serve_unix(sock_path):
            connecting = asyncio.create_task(client.connect())
            await asyncio.wait_for(opening.wait(), 10)
            await client.aclose()
            proceed.set()
            with pytest.raises(ConnectionLostError, match="closed"):
                await connecting
            assert client.state is ConnectionState.CLOSED
            with pytest.raises(ConnectionLostError):
                await client.call("echo", 1)
            # The server saw the late connection and then its end: nothing was left open.
            await eventually(lambda: server.stats()["connections"] == 0)


class TestReconnection:
    """reconnect=True: backoff, resubscription, calls waiting for the connection."""

    async def test_resumes_with_subscriptions(self, sock_path: Path) -> None:
        """After the server returns the client reconnects, resubscribes, and serves waiters."""
        server, _ = make_server()
        clock = ManualClock()
        states: list[ConnectionState] = []
        connected = asyncio.Event()

        def on_state(state: ConnectionState) -> None:
            states.append(state)
            if state is ConnectionState.CONNECTED:
                connected.set()

        client = RpcClient.unix(
            sock_path, reconnect=True, retry=policy(clock), on_state_change=on_state
        )
        async with server.serve_unix(sock_path):
            await client.connect()
            events = client.subscribe("events")
            await events.start()
            pending = asyncio.create_task(client.call("block"))
            await eventually(lambda: server.stats()["requests"] == 2)
            connected.clear()
        with pytest.raises(ConnectionLostError):
            await pending  # failed at once, not retried
        await eventually(lambda: len(clock.sleeps) >= 3)  # backing off meanwhile
        waiting = asyncio.create_task(client.call("echo", "after", timeout=30))
        async with server.serve_unix(sock_path):
            await asyncio.wait_for(connected.wait(), 30)
            assert await waiting == "after"
            server.publish("events", {"user": 7})
            assert await asyncio.wait_for(anext(events), 30) == {"user": 7}
        await client.aclose()
        assert states[:5] == ["connecting", "connected", "disconnected", "connecting", "connected"]
        assert clock.sleeps[:3] == [0.5, 1.0, 2.0]

    async def test_call_while_disconnected_times_out(self, sock_path: Path) -> None:
        """A call made while disconnected waits only up to its timeout."""
        server, _ = make_server()
        client = RpcClient.unix(sock_path, reconnect=True, retry=policy(ManualClock()))
        async with server.serve_unix(sock_path):
            await client.connect()
        await eventually(lambda: client.state is not ConnectionState.CONNECTED)
        with pytest.raises(TimeoutError):
            await client.call("echo", 1, timeout=0.001)
        await client.aclose()

    async def test_gives_up(self, sock_path: Path) -> None:
        """When attempts run out, waiters and subscriptions fail with ConnectionLostError."""
        server, _ = make_server()
        clock = ManualClock()
        client = RpcClient.unix(sock_path, reconnect=True, retry=policy(clock, attempts=3))
        async with server.serve_unix(sock_path):
            await client.connect()
            events = client.subscribe("events")
            await events.start()
            waiting_for_server = asyncio.create_task(client.call("block"))
            await eventually(lambda: server.stats()["requests"] == 2)
        with pytest.raises(ConnectionLostError):
            await waiting_for_server
        with pytest.raises(ConnectionLostError):
            await client.call("echo", 1, timeout=30)
        with pytest.raises(ConnectionLostError):
            await anext(events)
        assert client.state is ConnectionState.CLOSED
        assert clock.sleeps == [0.5, 1.0]
        await client.aclose()

    async def test_first_connection_retried(self, sock_path: Path) -> None:
        """With reconnect, the first connection is retried too, then fails."""
        clock = ManualClock()
        client = RpcClient.unix(sock_path, reconnect=True, retry=policy(clock, attempts=2))
        with pytest.raises(ConnectionLostError):
            await client.connect()
        assert clock.sleeps == [0.5]

    async def test_resubscribe_failure_is_retried(self, sock_path: Path) -> None:
        """If the connection drops while resubscribing, the attempt is retried."""
        server, _ = make_server()
        clock = ManualClock()
        client = RpcClient.unix(sock_path, reconnect=True, retry=policy(clock, attempts=3))
        async with server.serve_unix(sock_path):
            await client.connect()
            await client.subscribe("events").start()
        # A server that closes every connection at once: subscribing again always fails.

        async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            del reader
            writer.close()

        raw = await asyncio.start_unix_server(slam, str(sock_path))
        try:
            await eventually(lambda: client.state is ConnectionState.CLOSED)
        finally:
            raw.close()
            await raw.wait_closed()
        await client.aclose()

    async def test_unsubscribed_while_disconnected_is_not_renewed(self, sock_path: Path) -> None:
        """A topic closed while reconnecting is not subscribed again on the new connection."""
        server, _ = make_server()
        client = RpcClient.unix(sock_path, reconnect=True, retry=policy(ManualClock()))
        async with server.serve_unix(sock_path):
            await client.connect()
            events = client.subscribe("events")
            await events.start()
        await eventually(lambda: client.state is not ConnectionState.CONNECTED)
        await events.aclose()  # nothing to send: there is no connection
        async with server.serve_unix(sock_path):
            # False: this connection never subscribed, so the topic was not renewed.
            assert await client.call("unsubscribe", "events", timeout=30) is False
        await client.aclose()


class TestSubscriptions:
    """client.subscribe."""

    async def test_two_subscribers_one_topic(self, sock_path: Path) -> None:
        """Two local subscriptions share one server subscription; both receive."""
        server, _ = make_server()
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            first, second = client.subscribe("t"), client.subscribe("t", queue_size=1)
            await first.start()
            await second.start()
            server.publish("t", 1)
            server.publish("t", 2)
            assert await anext(first) == 1
            assert await anext(first) == 2
            assert await anext(second) == 2  # its queue holds one: 1 was dropped
            assert second.dropped == 1
            await first.aclose()
            server.publish("t", 3)
            assert await anext(second) == 3
            await second.aclose()
            await second.aclose()
            server.publish("t", 4)
            await client.call("echo", 0)  # a round trip: anything pushed would be here now
            assert server.stats()["notifications_sent"] == 3  # 1, 2, 3: one per connection, not 4

    async def test_bad_topic(self) -> None:
        """A non-str topic is a TypeError; a bad queue_size a ValueError."""
        client = RpcClient.unix("/nonexistent")
        with pytest.raises(TypeError, match="topic"):
            client.subscribe(1)  # type: ignore[arg-type]  # wrong on purpose
        with pytest.raises(ValueError, match="queue_size"):
            client.subscribe("t", queue_size=0)

    async def test_failed_subscribe_is_forgotten(self, sock_path: Path) -> None:
        """A subscription the server refuses raises and is not kept."""
        server, _ = make_server()
        async with server.serve_unix(sock_path), RpcClient.unix(sock_path) as client:
            bad = client.subscribe("t")
            with pytest.raises(ConnectionLostError):
                await client.aclose()  # closing first: the subscribe call cannot go out
                await bad.start()

    async def test_closing_a_failed_subscription(self, sock_path: Path) -> None:
        """Closing a subscription whose start failed sends nothing and ends it."""
        server, _ = make_server()
        async with server.serve_unix(sock_path):
            client = RpcClient.unix(sock_path)
            await client.connect()
            other = client.subscribe("other")
            await other.start()
            await client.aclose()
            bad = client.subscribe("t")
            with pytest.raises(ConnectionLostError):
                await bad.start()
            await bad.aclose()
            assert [payload async for payload in bad] == []

    async def test_unclosed_subscription_unstarted(self) -> None:
        """Closing a subscription that never started sends nothing."""
        await RpcClient.unix("/nonexistent").subscribe("t").aclose()


class TestUnruly:
    """A server that sends odd things does not break the client."""

    async def test_odd_lines_ignored(
        self, sock_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Bad JSON, non-objects, foreign notifications and stray errors are logged."""

        async def odd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            writer.write(
                b"not json\n[1]\n"
                b'{"jsonrpc":"2.0","method":"other"}\n'
                b'{"jsonrpc":"2.0","method":"event","params":{"topic":5}}\n'
                b'{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}\n'
                b'{"jsonrpc":"2.0","result":"late","id":999}\n'
                b'{"jsonrpc":"2.0","result":"ok","id":1}\n'
            )
            await reader.read()
            writer.close()

        raw = await asyncio.start_unix_server(odd, str(sock_path))
        try:
            with caplog.at_level(logging.DEBUG, logger="python_mastery_portfolio.rpc"):
                async with RpcClient.unix(sock_path) as client:
                    assert await client.call("anything") == "ok"
        finally:
            raw.close()
            await raw.wait_closed()
        assert "invalid JSON" in caplog.text
        assert "non-object" in caplog.text

    @pytest.mark.parametrize(
        "error",
        [{"code": "-32000", "message": "text code"}, {"code": 1, "message": None}, "oops"],
        ids=["code-not-int", "message-not-str", "not-an-object"],
    )
    async def test_malformed_error_object(self, sock_path: Path, error: object) -> None:
        """A malformed error member still raises RpcError, as an internal error (-32603)."""

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = json.loads(await reader.readline())
            response = {"jsonrpc": "2.0", "error": error, "id": request["id"]}
            writer.write(json.dumps(response).encode() + b"\n")
            await reader.read()
            writer.close()

        raw = await asyncio.start_unix_server(answer, str(sock_path))
        try:
            async with RpcClient.unix(sock_path) as client:
                with pytest.raises(RpcError) as caught:
                    await client.call("anything")
        finally:
            raw.close()
            await raw.wait_closed()
        assert caught.value.code == -32603
        assert caught.value.message.startswith("malformed error object")

    async def test_answer_over_limit_drops_connection(self, sock_path: Path) -> None:
        """An answer longer than the client's limit ends the connection: the call fails."""
        server, _ = make_server()
        async with server.serve_unix(sock_path):
            client = RpcClient.unix(sock_path, max_message_size=50)
            await client.connect()
            with pytest.raises(ConnectionLostError):
                await client.call("echo", "x" * 100)
            await client.aclose()

    async def test_state_callback_errors_logged(
        self, sock_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failing on_state_change is logged, never raised into the client."""

        def broken(state: ConnectionState) -> None:
            raise RuntimeError(state)

        server, _ = make_server()
        async with server.serve_unix(sock_path):
            async with RpcClient.unix(sock_path, on_state_change=broken) as client:
                assert await client.call("echo", 1) == 1
        assert "on_state_change failed" in caplog.text


class TestOptions:
    """Constructor checks."""

    @pytest.mark.parametrize(
        ("options", "error"),
        [
            ({"timeout": -1}, ValueError),
            ({"retry": {"max_attempts": 3}}, TypeError),
        ],
        ids=["negative-timeout", "retry-not-options"],
    )
    def test_bad_options(self, options: dict[str, object], error: type[Exception]) -> None:
        """Bad options are refused at construction."""
        with pytest.raises(error):
            RpcClient.unix("/x", **options)  # type: ignore[arg-type]  # wrong on purpose

    def test_custom_opener(self) -> None:
        """Any coroutine opening streams serves as a transport."""
        opener: Callable[[], object] = lambda: None  # noqa: E731 - a stand-in
        client = RpcClient(opener)  # type: ignore[arg-type]  # not awaited here
        assert client.state is ConnectionState.CLOSED
