"""``RpcServer``: registration, newline-delimited JSON over Unix sockets and TCP, publishing."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypedDict, TypeVar, overload

from python_mastery_portfolio._internal.checks import require_count
from python_mastery_portfolio.rpc._dispatch import Dispatcher
from python_mastery_portfolio.rpc._protocol import (
    INVALID_REQUEST,
    encode_error,
    encode_notification,
)

__all__ = ["RpcServer", "RpcServerStats"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

_F = TypeVar("_F", bound=Callable[..., Any])


class RpcServerStats(TypedDict):
    """What :meth:`RpcServer.stats` reports.

    Attributes:
        connections: Clients connected now, over every transport.
        requests: Request objects and notifications handled (a batch counts its entries).
        errors: Error responses sent, plus notifications whose method failed.
        notifications_sent: Pushed notifications written to subscribers.
        notifications_dropped: Pushed notifications dropped because a subscriber's queue was
            full (the oldest goes first).
    """

    connections: int
    requests: int
    errors: int
    notifications_sent: int
    notifications_dropped: int


class _Hub:
    """Who receives which topic, and the counts of pushed notifications (loop thread only)."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[_Connection]] = {}
        self.sent = 0
        self.dropped = 0

    def add(self, topic: str, connection: _Connection) -> None:
        self.subscribers.setdefault(topic, set()).add(connection)

    def remove(self, topic: str, connection: _Connection) -> None:
        subscribers = self.subscribers[topic]
        subscribers.discard(connection)
        if not subscribers:
            del self.subscribers[topic]

    def deliver(self, topic: str, frame: bytes) -> None:
        for connection in tuple(self.subscribers.get(topic, ())):
            if not connection.push(frame):
                self.dropped += 1


class _Handlers:
    """The connection tasks of one served socket, and whether it is shutting down."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False


class _Connection:
    """One client: its subscriptions and its bounded queue of pushed notifications."""

    def __init__(self, hub: _Hub, writer: asyncio.StreamWriter, queue_size: int) -> None:
        self.hub = hub
        self.writer = writer
        self.topics: set[str] = set()
        self.pushed: deque[bytes] = deque(maxlen=queue_size)
        self.wake = asyncio.Event()

    def subscribe(self, topic: str) -> bool:
        """Add ``topic``; ``False`` if this connection already had it."""
        if topic in self.topics:
            return False
        self.topics.add(topic)
        self.hub.add(topic, self)
        return True

    def unsubscribe(self, topic: str) -> bool:
        """Remove ``topic``; ``False`` if this connection did not have it."""
        if topic not in self.topics:
            return False
        self.topics.discard(topic)
        self.hub.remove(topic, self)
        return True

    def push(self, frame: bytes) -> bool:
        """Queue a notification; return ``False`` when the oldest one was dropped for it."""
        kept = len(self.pushed) < (self.pushed.maxlen or 0)
        self.pushed.append(frame)
        self.wake.set()
        return kept

    def send(self, frame: bytes) -> None:
        """Write one frame unless the connection is closing."""
        if not self.writer.is_closing():
            self.writer.write(frame)

    async def pump(self) -> None:
        """Write queued notifications as the client reads them; a slow client waits alone."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pushed:
                self.send(self.pushed.popleft())
                self.hub.sent += 1
                await self.writer.drain()


def _clear_stale_socket(path: str) -> None:
    """Remove a socket file nobody listens on; refuse a live socket or any other file.

    Raises:
        OSError: ``EADDRINUSE`` if a server answers at ``path``.
        FileExistsError: If ``path`` exists and is not a socket (never deleted).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(errno.EEXIST, "not a socket, left in place", path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)  # a local connect answers at once; the bound is for safety
        probe.connect(path)
    except OSError:
        # Refused: the server that made the file is gone. (Removing it races only with
        # another server starting at the same path at the same moment.)
        logger.warning("removing stale socket file %s", path)
        os.unlink(path)
    else:
        raise OSError(errno.EADDRINUSE, "a server is already listening", path)
    finally:
        probe.close()


class RpcServer:
    """A JSON-RPC 2.0 server: register methods, then serve them over sockets.

    Methods may be ``def`` (run in a worker thread, never on the event loop) or ``async def``.
    Params are bound to the function's signature by position or by name; a mismatch, or a
    value that does not match an annotation (checked with
    :func:`~python_mastery_portfolio.validation.validate_types`), answers ``-32602 Invalid
    params`` with ``data.detail`` naming the parameter. A method raising
    :class:`~python_mastery_portfolio.exceptions.RpcError` answers its code, message and data;
    any other ``PortfolioError`` answers ``-32000``, its message and ``data`` = ``to_dict()``;
    any other exception ``-32603 Internal error`` (the traceback is logged, never sent).

    Each connection's requests run concurrently, at most ``max_concurrency`` at a time (the
    connection stops reading until one finishes). Clients call the built-in
    ``subscribe(topic)`` / ``unsubscribe(topic)`` to receive what :meth:`publish` sends.

    Args:
        max_message_size: Largest message accepted, in bytes; a longer line is answered with
            ``-32600`` and the connection is closed.
        queue_size: Pushed notifications held per subscriber; when full the oldest is
            dropped (and counted).
        max_concurrency: Requests run at once per connection.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If an argument is below 1.

    Example:
        >>> import asyncio
        >>> server = RpcServer()
        >>> @server.method
        ... def subtract(minuend: int, subtrahend: int) -> int:
        ...     return minuend - subtrahend
        >>> asyncio.run(server.handle_message(
        ...     '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}'))
        '{"jsonrpc":"2.0","result":19,"id":1}'
    """

    def __init__(
        self,
        *,
        max_message_size: int = 1_048_576,
        queue_size: int = 1000,
        max_concurrency: int = 64,
    ) -> None:
        require_count("max_message_size", max_message_size, 1)
        require_count("queue_size", queue_size, 1)
        require_count("max_concurrency", max_concurrency, 1)
        self._max_message_size = max_message_size
        self._queue_size = queue_size
        self._max_concurrency = max_concurrency
        self._dispatcher = Dispatcher()
        self._hub = _Hub()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._serving = 0
        self._connections = 0

    @overload
    def method(self, func: _F, /) -> _F: ...
    @overload
    def method(self, name: str, /) -> Callable[[_F], _F]: ...
    def method(self, target: Any, /) -> Any:
        """Register a function, under its own name (``@server.method``) or a given one.

        Returns:
            The function itself, unchanged (so it can still be called directly), or a
            decorator registering it under the name.

        Raises:
            TypeError: If the target is neither a name nor a callable.
            ValueError: If the name is empty, taken, reserved (``rpc.*``) or a built-in
                (``subscribe``, ``unsubscribe``).

        Example:
            >>> server = RpcServer()
            >>> @server.method("users.count")
            ... async def users_count() -> int:
            ...     return 3
            >>> server.methods()
            ['users.count']
        """
        if isinstance(target, str):
            given = target

            def register(func: _F) -> _F:
                self._dispatcher.register(given, func)
                return func

            return register
        name = getattr(target, "__name__", None)
        if not callable(target) or not isinstance(name, str):
            raise TypeError(f"method expects a name or a named callable, got {target!r}")
        self._dispatcher.register(name, target)
        return target

    def methods(self) -> list[str]:
        """Return the registered method names, sorted (the built-ins are not listed)."""
        return self._dispatcher.names()

    async def handle_message(self, text: str | bytes) -> str | None:
        """Answer one message, without a transport; ``None`` when no response is due.

        The built-ins ``subscribe``/``unsubscribe`` need a connection, so here they answer
        ``-32601 Method not found``.

        Example:
            >>> import asyncio
            >>> asyncio.run(RpcServer().handle_message('{"jsonrpc": "2.0", "method": "x"}'))
        """
        return await self._dispatcher.handle(text)

    def stats(self) -> RpcServerStats:
        """Return the counters (safe to call from any thread).

        Example:
            >>> RpcServer().stats()["connections"]
            0
        """
        return {
            "connections": self._connections,
            "requests": self._dispatcher.requests,
            "errors": self._dispatcher.errors,
            "notifications_sent": self._hub.sent,
            "notifications_dropped": self._hub.dropped,
        }

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, topic: str, payload: object) -> None:
        """Push ``payload`` to every client subscribed to ``topic``; safe from any thread.

        Never blocks: each subscriber has a bounded queue and a full one drops its oldest
        notification. Publishing while nothing is served does nothing.

        Raises:
            TypeError: If ``topic`` is not a str or ``payload`` is not JSON-serializable.
            ValueError: If ``payload`` holds NaN or an infinity.
        """
        if not isinstance(topic, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"topic must be a str, got {topic!r}")
        frame = encode_notification(topic, payload).encode() + b"\n"
        loop = self._loop
        if loop is None:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._hub.deliver(topic, frame)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody to tell
            loop.call_soon_threadsafe(self._hub.deliver, topic, frame)

    # -- transports ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve_unix(self, path: str | os.PathLike[str]) -> AsyncGenerator[str, None]:
        """Serve on a Unix socket at ``path`` until the block ends, then remove the file.

        A socket file left by a server that is gone is replaced; a live one is not.

        Yields:
            The socket path, as a str.

        Raises:
            OSError: ``EADDRINUSE`` if a server already listens at ``path``.
            FileExistsError: If ``path`` is a file that is not a socket.
        """
        where = os.fspath(path)
        _clear_stale_socket(where)
        handlers = _Handlers()
        server = await asyncio.start_unix_server(
            self._handler(handlers), where, limit=self._max_message_size + 1
        )
        inode = os.stat(where).st_ino
        try:
            async with self._running(server, handlers):
                yield where
        finally:
            # Remove only our own file: another server may have taken the path since.
            with contextlib.suppress(FileNotFoundError):
                if os.stat(where).st_ino == inode:
                    os.unlink(where)

    @contextlib.asynccontextmanager
    async def serve_tcp(self, host: str, port: int) -> AsyncGenerator[tuple[str, int], None]:
        """Serve on TCP at ``host``:``port`` until the block ends (port 0 picks a free one).

        Yields:
            The ``(host, port)`` actually bound.
        """
        handlers = _Handlers()
        server = await asyncio.start_server(
            self._handler(handlers), host, port, limit=self._max_message_size + 1
        )
        bound = server.sockets[0].getsockname()
        async with self._running(server, handlers):
            yield str(bound[0]), int(bound[1])

    @contextlib.asynccontextmanager
    async def _running(
        self, server: asyncio.Server, handlers: _Handlers
    ) -> AsyncGenerator[None, None]:
        self._loop = asyncio.get_running_loop()
        self._serving += 1
        try:
            yield
        finally:
            handlers.closing = True
            # A client whose connection waits in the listen backlog is told nothing when the
            # listener closes: accept it first (one poll), so that it is closed and sees EOF.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            server.close()
            for task in tuple(handlers.tasks):
                task.cancel()
            await asyncio.gather(*handlers.tasks, return_exceptions=True)
            await server.wait_closed()
            self._serving -= 1
            if not self._serving:
                self._loop = None

    def _handler(
        self, handlers: _Handlers
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The connection runs in a task of its own, which shutdown cancels: asyncio's
            # stream callback would report the cancellation of its task as an error.
            if handlers.closing:
                writer.close()  # accepted just as serving ended: never served
                return
            task = asyncio.create_task(self._serve_connection(reader, writer))
            handlers.tasks.add(task)
            try:
                await asyncio.wait({task})
            finally:
                handlers.tasks.discard(task)

        return handle

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = _Connection(self._hub, writer, self._queue_size)
        self._connections += 1
        pump = asyncio.create_task(connection.pump())
        running: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(self._max_concurrency)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as end:
                    line = end.partial  # a last message without its newline still counts
                    if line.strip():
                        await slots.acquire()
                        await self._answer(connection, line, slots)
                    break
                except asyncio.LimitOverrunError:
                    self._dispatcher.errors += 1
                    error = encode_error(
                        None,
                        INVALID_REQUEST,
                        "Invalid Request",
                        {"detail": f"message longer than {self._max_message_size} bytes"},
                    )
                    connection.send(error.encode() + b"\n")
                    break
                except ConnectionError:
                    break
                if not line.strip():
                    continue  # blank lines between messages are allowed and ignored
                await slots.acquire()
                task = asyncio.create_task(self._answer(connection, line, slots))
                running.add(task)
                task.add_done_callback(running.discard)
            # The client finished sending: answer what is under way before closing.
            await asyncio.gather(*running, return_exceptions=True)
        finally:
            # Everything that must happen is done before the first await: shutdown may
            # cancel this task again while it waits below.
            writer.close()
            for topic in tuple(connection.topics):
                connection.unsubscribe(topic)
            self._connections -= 1
            for task in (pump, *running):
                task.cancel()
            await asyncio.gather(pump, *running, return_exceptions=True)
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, connection: _Connection, line: bytes, slots: asyncio.Semaphore) -> None:
        try:
            response = await self._dispatcher.handle(line, connection)
            if response is not None:
                connection.send(response.encode() + b"\n")
                await connection.writer.drain()
        except ConnectionError:
            pass  # the client went away; the read loop sees it too
        finally:
            slots.release()
