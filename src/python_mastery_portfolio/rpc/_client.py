"""``RpcClient``: concurrent calls over one connection, subscriptions, reconnection."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from python_mastery_portfolio._internal.checks import require_at_least, require_count
from python_mastery_portfolio.exceptions import ConnectionLostError, RpcError
from python_mastery_portfolio.instrumentation import HOOKS
from python_mastery_portfolio.retrying import RetryOptions
from python_mastery_portfolio.rpc._protocol import (
    EVENT_METHOD,
    Params,
    encode_request,
    rpc_error_from,
)
from python_mastery_portfolio.rpc._reconnect import DEFAULT_RECONNECT, ConnectionState, with_retry

__all__ = ["RpcClient", "Subscription"]

logger = logging.getLogger(__package__)  # the subpackage is the public logger name

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Link:
    """One open connection: its streams, the calls awaiting an answer on it, its reader task."""

    def __init__(
        self,
        streams: Streams,
        on_message: Callable[[_Link, bytes], None],
        on_lost: Callable[[_Link], None],
    ) -> None:
        self.reader, self.writer = streams
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.on_message = on_message
        self.on_lost = on_lost
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            while line := await self.reader.readline():
                self.on_message(self, line)
        except (OSError, ValueError) as error:  # a reset, or a line over the size limit
            logger.warning("JSON-RPC connection failed: %r", error)
        self.on_lost(self)

    async def send(self, frame: bytes) -> None:
        if self.writer.is_closing():
            raise ConnectionResetError("the connection is closing")
        self.writer.write(frame)
        await self.writer.drain()

    def fail_pending(self, make_error: Callable[[], Exception]) -> None:
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(make_error())

    async def close(self) -> None:
        self.writer.close()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class _ClosedWhileConnectingError(Exception):
    """``aclose()`` ran while a connection was being made (internal signal, never retried)."""


class Subscription:
    """An async iterator of the payloads pushed for one topic; end it with :meth:`aclose`.

    The server is asked to ``subscribe`` when iteration starts; ``async with`` (or
    :meth:`aclose`) unsubscribes. At most ``queue_size`` payloads wait unread (the oldest is
    dropped first, counted in :attr:`dropped`). When the connection drops for good the
    iterator raises :class:`~python_mastery_portfolio.exceptions.ConnectionLostError`; when
    the client closes it simply ends.
    """

    def __init__(
        self,
        topic: str,
        queue_size: int,
        start: Callable[[Subscription], Awaitable[None]],
        stop: Callable[[Subscription], Awaitable[None]],
    ) -> None:
        self.topic = topic
        self.dropped = 0
        self._items: deque[object] = deque(maxlen=queue_size)
        self._wake = asyncio.Event()
        self._start = start
        self._stop = stop
        self._started = False
        self._ended = False
        self._error: Exception | None = None

    def put(self, payload: object) -> None:
        """Queue a pushed payload (the client calls this)."""
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(payload)
        self._wake.set()

    def end(self, error: Exception | None = None) -> None:
        """End the iteration after what is queued; with ``error``, raise it instead."""
        self._ended = True
        self._error = error
        self._wake.set()

    async def start(self) -> None:
        """Subscribe on the server, if not done yet (iteration does it for you)."""
        if not self._started:
            self._started = True
            await self._start(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> object:
        await self.start()
        while not self._items:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            await self._wake.wait()
            self._wake.clear()
        return self._items.popleft()

    async def aclose(self) -> None:
        """Unsubscribe and end the iteration."""
        if not self._ended:
            self.end()
            if self._started:
                await self._stop(self)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class RpcClient:
    """A JSON-RPC 2.0 client over one connection, safe for many concurrent calls.

    Requests carry their own ids and each answer goes to its caller, whatever the order the
    server answers in. When the connection drops, every pending call fails at once with
    :class:`~python_mastery_portfolio.exceptions.ConnectionLostError`. With
    ``reconnect=True`` the client then reconnects under ``retry`` (exponential backoff with
    jitter; pass a ``RetryOptions`` with a ``ManualClock`` in tests), subscribes again to
    every active topic, and releases the calls made meanwhile, each of which waits up to its
    timeout (then ``TimeoutError``). When attempts run out the client is closed.

    Build one with :meth:`unix` or :meth:`tcp` and use it as an async context manager.

    Args:
        open_connection: Opens the streams (for another transport, pass your own).
        reconnect: Reconnect after a drop (and retry the first connection too).
        timeout: Default time limit of each call, in seconds (``None``: no limit).
        retry: The reconnection policy; only ``OSError`` is retried by default.
        on_state_change: Called with each new :class:`ConnectionState` (errors are logged).
        queue_size: Payloads each subscription keeps unread.
        context: ``path`` or ``address``, for the errors' context.
    """

    def __init__(
        self,
        open_connection: Callable[[], Awaitable[Streams]],
        *,
        reconnect: bool = False,
        timeout: float | None = None,
        retry: RetryOptions | None = None,
        on_state_change: Callable[[ConnectionState], object] | None = None,
        queue_size: int = 1000,
        context: Mapping[str, object] | None = None,
    ) -> None:
        if timeout is not None:
            require_at_least("timeout", timeout, 0)
        if retry is not None and not isinstance(retry, RetryOptions):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"retry must be a RetryOptions or None, got {retry!r}")
        require_count("queue_size", queue_size, 1)
        self._open = open_connection
        self._reconnect = reconnect
        self._timeout = timeout
        self._retry = retry if retry is not None else DEFAULT_RECONNECT
        self._on_state_change = on_state_change
        self._queue_size = queue_size
        self._context: dict[str, Any] = dict(context or {})
        self._ids = itertools.count(1)
        self._link: _Link | None = None
        self._ready: asyncio.Future[None] | None = None
        self._state = ConnectionState.CLOSED
        self._closed = False
        self._reconnecting: asyncio.Task[None] | None = None
        self._subscriptions: dict[str, list[Subscription]] = {}

    @classmethod
    def unix(
        cls,
        path: str | os.PathLike[str],
        *,
        reconnect: bool = False,
        timeout: float | None = None,
        retry: RetryOptions | None = None,
        on_state_change: Callable[[ConnectionState], object] | None = None,
        max_message_size: int = 1_048_576,
    ) -> RpcClient:
        """Return a client of the server listening on the Unix socket at ``path``."""
        where = os.fspath(path)

        def open_connection() -> Awaitable[Streams]:
            return asyncio.open_unix_connection(where, limit=max_message_size + 1)

        return cls(
            open_connection,
            reconnect=reconnect,
            timeout=timeout,
            retry=retry,
            on_state_change=on_state_change,
            context={"path": where},
        )

    @classmethod
    def tcp(
        cls,
        host: str,
        port: int,
        *,
        reconnect: bool = False,
        timeout: float | None = None,
        retry: RetryOptions | None = None,
        on_state_change: Callable[[ConnectionState], object] | None = None,
        max_message_size: int = 1_048_576,
    ) -> RpcClient:
        """Return a client of the server listening on TCP at ``host``:``port``."""

        def open_connection() -> Awaitable[Streams]:
            return asyncio.open_connection(host, port, limit=max_message_size + 1)

        return cls(
            open_connection,
            reconnect=reconnect,
            timeout=timeout,
            retry=retry,
            on_state_change=on_state_change,
            context={"address": (host, port)},
        )

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState`."""
        return self._state

    # -- connecting ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection (``async with`` calls this).

        Raises:
            ConnectionLostError: If no connection could be made (after the retries, with
                ``reconnect``); the cause is the last ``OSError``.
        """
        loop = asyncio.get_running_loop()
        self._closed = False
        self._ready = loop.create_future()
        self._set_state(ConnectionState.CONNECTING)
        try:
            if self._reconnect:
                await with_retry(self._establish, self._retry)
            else:
                await self._establish()
        except _ClosedWhileConnectingError:
            raise self._lost("client closed") from None
        except OSError as error:
            self._give_up(error)
            raise self._lost("cannot connect") from error

    async def _establish(self) -> None:
        """Open streams, subscribe again to the active topics, then release waiting calls."""
        link = _Link(await self._open(), self._on_message, self._on_link_lost)
        self._link = link
        try:
            for topic in tuple(self._subscriptions):
                await self._request(link, "subscribe", [topic])
        except BaseException:
            self._link = None
            await link.close()
            raise
        if self._closed:
            # aclose() ran while the streams were opening: it has already failed the waiters
            # and ended the subscriptions; this late connection must not live on.
            self._link = None
            await link.close()
            raise _ClosedWhileConnectingError
        self._set_state(ConnectionState.CONNECTED)
        assert self._ready is not None  # noqa: S101 - connect() or _on_link_lost() made it
        self._ready.set_result(None)

    def _on_link_lost(self, link: _Link) -> None:
        link.fail_pending(lambda: self._lost("connection lost"))
        if link is not self._link or self._state is not ConnectionState.CONNECTED:
            return  # lost while being established: connect()'s retry loop deals with it
        self._link = None
        link.writer.close()
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        if self._reconnect and not self._closed:
            self._set_state(ConnectionState.DISCONNECTED)
            self._reconnecting = asyncio.create_task(self._reconnect_loop())
        else:
            self._give_up(None)

    async def _reconnect_loop(self) -> None:
        self._set_state(ConnectionState.CONNECTING)
        try:
            await with_retry(self._establish, self._retry)
        except OSError as error:
            logger.warning("JSON-RPC reconnection gave up: %r", error)
            self._give_up(error)

    def _give_up(self, cause: BaseException | None) -> None:
        """Close for good: waiting calls and subscriptions fail with ConnectionLostError."""
        self._closed = True
        error = self._lost("connection lost")
        error.__cause__ = cause
        self._fail_ready(error)
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.end(self._lost("connection lost"))
        self._set_state(ConnectionState.CLOSED)

    def _fail_ready(self, error: ConnectionLostError) -> None:
        """Make every call waiting for a connection, and every later one, fail with ``error``."""
        ready = self._ready
        if ready is None or ready.done():
            ready = self._ready = asyncio.get_running_loop().create_future()
        ready.set_exception(error)
        ready.exception()  # marked as retrieved: nobody may be waiting on it

    def _lost(self, what: str) -> ConnectionLostError:
        where = self._context.get("path", self._context.get("address"))
        return ConnectionLostError(f"JSON-RPC {what}: {where}", **self._context)

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._on_state_change is not None:
            try:
                self._on_state_change(state)
            except Exception:
                logger.exception("on_state_change failed for %s", state)

    async def aclose(self) -> None:
        """Close the connection: pending calls fail, subscriptions end. Safe to repeat."""
        self._closed = True
        task, self._reconnecting = self._reconnecting, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        link, self._link = self._link, None
        if link is not None:
            link.fail_pending(lambda: self._lost("client closed"))
            await link.close()
        self._fail_ready(self._lost("client closed"))
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.end()
        self._subscriptions.clear()
        self._set_state(ConnectionState.CLOSED)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- calling ------------------------------------------------------------------------------

    async def _ready_link(self) -> _Link:
        """Return the open link, waiting (for a reconnecting client) until there is one."""
        while True:
            link = self._link
            if link is not None and self._state is ConnectionState.CONNECTED:
                return link
            if self._ready is None:
                raise self._lost("client is not connected")
            await asyncio.shield(self._ready)

    def _on_message(self, link: _Link, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            logger.warning("JSON-RPC server sent invalid JSON: %r", line[:200])
            return
        # isinstance() on decoded JSON leaves the type arguments unknown: a JSON object's keys
        # are strings, its values anything.
        for item in message if isinstance(message, list) else (message,):  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(item, dict):
                logger.warning("JSON-RPC server sent a non-object: %r", item)  # pyright: ignore[reportUnknownArgumentType]
            elif "method" in item:
                self._on_notification(item)  # pyright: ignore[reportUnknownArgumentType]
            else:
                self._on_response(link, item)  # pyright: ignore[reportUnknownArgumentType]

    def _on_response(self, link: _Link, response: dict[str, Any]) -> None:
        request_id = response.get("id")
        future = link.pending.pop(request_id, None) if isinstance(request_id, int) else None
        if future is None or future.done():
            # An error about no request in particular (a parse error, an oversized
            # message), or an answer to a call that timed out.
            if "error" in response:
                logger.warning("JSON-RPC server error: %r", response["error"])
            return
        if "error" in response:
            future.set_exception(rpc_error_from(response["error"]))
        else:
            future.set_result(response.get("result"))

    def _on_notification(self, message: dict[str, Any]) -> None:
        params = message.get("params")
        if message["method"] != EVENT_METHOD or not isinstance(params, dict):
            logger.debug("JSON-RPC notification ignored: %r", message)
            return
        # params is a decoded JSON object: isinstance() leaves its type arguments unknown.
        topic = params.get("topic")  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
        for subscription in self._subscriptions.get(topic if isinstance(topic, str) else "", ()):
            subscription.put(params.get("payload"))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]

    async def _request(self, link: _Link, method: str, params: Params) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        link.pending[request_id] = future
        try:
            await self._send(link, encode_request(method, params, request_id))
            return await future
        finally:
            link.pending.pop(request_id, None)

    async def _send(self, link: _Link, text: str) -> None:
        try:
            await link.send(text.encode() + b"\n")
        except OSError as error:
            raise self._lost("connection lost") from error

    async def call(
        self,
        method: str,
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 - the agreed API; applied by asyncio.timeout
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` with params by position or by name, and return its result.

        Args:
            method: The method's name.
            *args: Params by position.
            timeout: Seconds to wait, connecting included; ``None`` for the client's
                default. (So a param named ``timeout`` cannot be passed by name.)
            **kwargs: Params by name.

        Raises:
            RpcError: The server answered an error object (``code``, ``message``, ``data``).
            ConnectionLostError: The connection dropped before the answer came.
            TimeoutError: No answer within the timeout.
            TypeError: If params are given both by position and by name.
        """
        params = _params(args, kwargs)
        try:
            async with asyncio.timeout(self._timeout if timeout is None else timeout):
                result = await self._request(await self._ready_link(), method, params)
        except BaseException:
            if HOOKS.active:
                HOOKS.count(
                    "rpc.calls", 1, {"side": "client", "method": method, "outcome": "error"}
                )
            raise
        if HOOKS.active:
            HOOKS.count("rpc.calls", 1, {"side": "client", "method": method, "outcome": "ok"})
        return result

    async def notify(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Send a notification: no answer comes back, not even an error."""
        params = _params(args, kwargs)
        async with asyncio.timeout(self._timeout):
            await self._send(await self._ready_link(), encode_request(method, params, None))

    async def batch(
        self,
        calls: Iterable[tuple[str, Params]],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - as call(); applied by asyncio.timeout
    ) -> list[Any]:
        """Send ``(method, params)`` calls as one batch; return results in the same order.

        An entry the server answered with an error holds that :class:`RpcError` instead of a
        result, so one failure does not hide the other results.

        Raises:
            ValueError: If ``calls`` is empty (the spec makes an empty batch invalid).
            ConnectionLostError: The connection dropped before every answer came.
            TimeoutError: Not every answer came within the timeout.
        """
        entries = list(calls)
        if not entries:
            raise ValueError("calls must not be empty")
        async with asyncio.timeout(self._timeout if timeout is None else timeout):
            link = await self._ready_link()
            loop = asyncio.get_running_loop()
            ids = [next(self._ids) for _ in entries]
            futures = [loop.create_future() for _ in entries]
            link.pending.update(zip(ids, futures, strict=True))
            try:
                frames = (
                    encode_request(method, params, request_id)
                    for (method, params), request_id in zip(entries, ids, strict=True)
                )
                await self._send(link, f"[{','.join(frames)}]")
                outcomes = await asyncio.gather(*futures, return_exceptions=True)
            finally:
                for request_id in ids:
                    link.pending.pop(request_id, None)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, RpcError):
                raise outcome
        return outcomes

    def subscribe(self, topic: str, *, queue_size: int | None = None) -> Subscription:
        """Return an async iterator of the payloads the server publishes on ``topic``.

        Args:
            topic: The topic to receive.
            queue_size: Payloads kept unread (oldest dropped first); the client's default
                when ``None``.
        """
        if not isinstance(topic, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
            raise TypeError(f"topic must be a str, got {topic!r}")
        size = self._queue_size if queue_size is None else queue_size
        require_count("queue_size", size, 1)
        return Subscription(topic, size, self._start_subscription, self._stop_subscription)

    async def _start_subscription(self, subscription: Subscription) -> None:
        subscribers = self._subscriptions.setdefault(subscription.topic, [])
        subscribers.append(subscription)
        if len(subscribers) == 1:
            try:
                await self.call("subscribe", subscription.topic)
            except BaseException:
                subscribers.remove(subscription)
                del self._subscriptions[subscription.topic]
                raise

    async def _stop_subscription(self, subscription: Subscription) -> None:
        subscribers = self._subscriptions.get(subscription.topic, [])
        if subscription in subscribers:
            subscribers.remove(subscription)
            if not subscribers:
                del self._subscriptions[subscription.topic]
                if self._state is not ConnectionState.CONNECTED:
                    return  # the server forgets it with the connection; nothing to send
                with contextlib.suppress(ConnectionLostError, RpcError):
                    await self.call("unsubscribe", subscription.topic)


def _params(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Params:
    if args and kwargs:
        raise TypeError("pass params by position or by name, not both")
    return kwargs or (list(args) if args else None)
