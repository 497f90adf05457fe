"""Tests of the request body limit middleware."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from python_mastery_portfolio.web.errors import install_error_handlers
from python_mastery_portfolio.web.limits import (
    BodyLimit,
    BodyLimitMiddleware,
    BodyTimeoutError,
    BodyTooLargeError,
    _Resumed,
)

# A body timeout that fires at the event loop's next turn: a test sees a timer started or not
# without waiting for real time to pass.
NEXT_TURN = 1e-9


async def turns(count: int = 3) -> None:
    """Let the event loop turn ``count`` times (a client that answers a little later)."""
    for _ in range(count):
        await asyncio.sleep(0)


def chunks(*parts: bytes) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length."""
    yield from parts


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> int:
        return len(await request.body())

    app.add_middleware(BodyLimitMiddleware, max_body_size=10)
    return TestClient(app)


class TestBodyLimit:
    def test_at_the_limit_is_served(self, client: TestClient) -> None:
        """A body of exactly the limit is read whole."""
        assert client.post("/echo", content=b"x" * 10).json() == 10

    def test_announced_too_large_is_413(self, client: TestClient) -> None:
        """A Content-Length over the limit is refused before the body is read."""
        response = client.post("/echo", content=b"x" * 11)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["connection"] == "close"
        assert response.json()["instance"] == "/echo"

    def test_chunked_too_large_is_413(self, client: TestClient) -> None:
        """A chunked body is refused as soon as it passes the limit."""
        response = client.post("/echo", content=chunks(b"x" * 6, b"x" * 6))
        assert response.status_code == 413
        assert response.json()["status"] == 413

    def test_chunked_within_limit(self, client: TestClient) -> None:
        """A chunked body within the limit is served."""
        assert client.post("/echo", content=chunks(b"x" * 4, b"x" * 4)).json() == 8

    def test_malformed_length_is_left_to_the_server(self, client: TestClient) -> None:
        """A Content-Length that is not a number is not ours to judge; the body is counted."""
        response = client.post("/echo", content=b"x" * 3, headers={"content-length": "abc"})
        assert response.status_code in (200, 400)

    def test_without_error_handlers(self) -> None:
        """An application that lets the error through still gets a 413 problem."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            while (await receive()).get("more_body"):
                pass

        client = TestClient(BodyLimitMiddleware(app, max_body_size=2))
        response = client.post("/", content=chunks(b"abc"))
        assert (response.status_code, response.json()["status"]) == (413, 413)

    def test_error_after_the_response_started_propagates(self) -> None:
        """Too late for a 413: the error is raised to the server."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await receive()

        client = TestClient(BodyLimitMiddleware(app, max_body_size=2))
        with pytest.raises(BodyTooLargeError):
            client.post("/", content=chunks(b"abc"))

    def test_other_scopes_pass(self) -> None:
        """WebSockets and lifespan pass through untouched."""
        app = FastAPI()

        @app.websocket("/ws")
        async def ws(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.send_text("hi")
            await websocket.close()

        app.add_middleware(BodyLimitMiddleware, max_body_size=1)
        with TestClient(app) as client, client.websocket_connect("/ws") as socket:
            assert socket.receive_text() == "hi"

    def test_limit_is_checked(self) -> None:
        """A limit below 1 is refused at construction."""
        with pytest.raises(ValueError, match="max_body_size"):
            BodyLimitMiddleware(FastAPI(), max_body_size=0)


class TestBodyTimeout:
    @staticmethod
    def stalled_receive() -> Any:
        """A client that sent part of its body and then nothing more."""
        calls = 0

        async def receive() -> dict[str, Any]:
            nonlocal calls
            calls += 1
            if calls == 1:
                return {"type": "http.request", "body": b"{", "more_body": True}
            await asyncio.Event().wait()  # the rest never comes
            return {}  # pragma: no cover - never reached

        return receive

    async def test_stalled_body_is_408(self) -> None:
        """A body that stops half-way is a 408 problem after body_timeout, not a hang."""
        app = FastAPI()
        install_error_handlers(app)

        @app.post("/echo")
        async def echo(request: Request) -> int:
            return len(await request.body())

        guarded = BodyLimitMiddleware(app, max_body_size=100, body_timeout=NEXT_TURN)
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/echo",
            "headers": [(b"host", b"x")],
            "query_string": b"",
        }
        await asyncio.wait_for(guarded(scope, self.stalled_receive(), send), 5)  # type: ignore[arg-type]
        assert sent[0]["status"] == 408

    async def test_stalled_body_without_error_handlers(self) -> None:
        """An application that lets the error through still gets a 408 problem."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            while (await receive()).get("more_body"):
                pass

        guarded = BodyLimitMiddleware(app, body_timeout=NEXT_TURN)
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        await asyncio.wait_for(guarded(scope, self.stalled_receive(), send), 5)  # type: ignore[arg-type]
        assert sent[0]["status"] == 408
        assert b"408" in sent[1]["body"]

    def test_timely_body_is_served(self) -> None:
        """With a timeout, a body that arrives is read as before."""
        app = FastAPI()

        @app.post("/echo")
        async def echo(request: Request) -> int:
            return len(await request.body())

        client = TestClient(BodyLimitMiddleware(app, body_timeout=5))
        assert client.post("/echo", content=b"abc").json() == 3

    async def test_the_timeout_ends_with_the_body(self) -> None:
        """Once the body is in, waiting for the client to leave is not a stalled body.

        A streaming response listens for the disconnect for as long as it streams; before,
        that wait was under body_timeout too, and a response longer than it was cut.
        """
        gone = asyncio.Event()
        heard: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            assert (await receive())["more_body"] is False
            heard.append((await receive())["type"])  # waits past body_timeout
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def receive() -> dict[str, Any]:
            if not heard and not gone.is_set():
                gone.set()
                return {"type": "http.request", "body": b"{}", "more_body": False}
            await turns()  # the client leaves after a body timeout would have fired
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        guarded = BodyLimitMiddleware(app, body_timeout=NEXT_TURN)
        await asyncio.wait_for(guarded(scope, receive, send), 5)  # type: ignore[arg-type]
        assert heard == ["http.disconnect"]
        assert sent[0]["status"] == 200

    async def test_a_part_that_comes_in_time_is_read(self) -> None:
        """A part the application has to wait for, arriving within the timeout, is served."""
        parts = [b"ab", b"cd"]

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(0)  # not there yet: the timer runs while it comes
            body = parts.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(parts)}

        read: list[bytes] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            while True:
                message = await receive()
                read.append(message["body"])
                if not message["more_body"]:
                    break

        async def send(message: dict[str, Any]) -> None:
            raise AssertionError("nothing is sent")  # pragma: no cover - must not happen

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        guarded = BodyLimitMiddleware(app, max_body_size=4, body_timeout=5)
        await guarded(scope, receive, send)  # type: ignore[arg-type]
        assert read == [b"ab", b"cd"]

    async def test_cancelled_while_waiting_for_a_part(self) -> None:
        """A cancellation while a part is awaited reaches the receive and goes on; no 408."""
        waiting = asyncio.Event()
        cleaned_up: list[bool] = []

        async def receive() -> dict[str, Any]:
            waiting.set()
            try:
                await asyncio.Event().wait()
            finally:
                cleaned_up.append(True)
            return {}  # pragma: no cover - never reached

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)  # pragma: no cover - must not happen

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        guarded = BodyLimitMiddleware(app, body_timeout=60)
        task = asyncio.ensure_future(guarded(scope, receive, send))  # type: ignore[arg-type]
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleaned_up == [True]
        assert sent == []

    async def test_a_receive_awaitable_that_is_only_an_iterator(self) -> None:
        """__await__ may return any iterator (PEP 492): one without send or throw works too."""
        message = {"type": "http.request", "body": b"abc", "more_body": False}

        class Polled:
            """Ready after a few polls; a bare iterator, as some servers' awaitables are."""

            def __init__(self, polls: int) -> None:
                self.polls = polls

            def __await__(self) -> Polled:
                return self

            def __iter__(self) -> Polled:
                return self

            def __next__(self) -> None:
                if self.polls == 0:
                    raise StopIteration(message)
                self.polls -= 1

        limit = BodyLimit(10, body_timeout=5)
        assert await limit.receiver(lambda: Polled(0))() == message  # type: ignore[arg-type, return-value]
        assert await limit.receiver(lambda: Polled(3))() == message  # type: ignore[arg-type, return-value]
        with pytest.raises(BodyTimeoutError):
            await BodyLimit(10, body_timeout=NEXT_TURN).receiver(lambda: Polled(10**9))()  # type: ignore[arg-type, return-value]
        task = asyncio.ensure_future(limit.receiver(lambda: Polled(10**9))())  # type: ignore[arg-type, return-value]
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    def test_resumed_passes_throw_and_close_on(self) -> None:
        """What is thrown in during the first wait reaches the awaitable as yield from would."""

        def receive(*, ends_on_error: bool) -> Generator[str, None, dict[str, Any]]:
            try:
                yield "first"
            except KeyError:
                if ends_on_error:
                    return {"type": "http.disconnect"}
                yield "handled"  # it handles the error and waits again
            yield "second"
            return {"type": "http.request"}

        def resumed(*, ends_on_error: bool) -> tuple[Any, Any]:
            steps = receive(ends_on_error=ends_on_error)
            first = next(steps)
            awaiting = _Resumed(steps, first).__await__()
            assert next(awaiting) == "first"
            return steps, awaiting

        _, awaiting = resumed(ends_on_error=True)
        with pytest.raises(StopIteration) as ended:
            awaiting.throw(KeyError("k"))
        assert ended.value.value == {"type": "http.disconnect"}

        _, awaiting = resumed(ends_on_error=False)
        assert awaiting.throw(KeyError("k")) == "handled"
        assert next(awaiting) == "second"  # from here on, yield from delegates
        with pytest.raises(StopIteration) as ended:
            next(awaiting)
        assert ended.value.value == {"type": "http.request"}

        steps, awaiting = resumed(ends_on_error=False)
        awaiting.close()  # GeneratorExit closes the awaitable too
        assert steps.gi_frame is None

    def test_resumed_without_throw_or_close_lets_the_exception_go_on(self) -> None:
        class Bare:
            def __iter__(self) -> Bare:
                return self

            def __next__(self) -> None:
                return None

        resumed = _Resumed(Bare(), None).__await__()  # type: ignore[arg-type]
        next(resumed)
        with pytest.raises(asyncio.CancelledError):
            resumed.throw(asyncio.CancelledError())
        resumed = _Resumed(Bare(), None).__await__()  # type: ignore[arg-type]
        next(resumed)
        resumed.close()

    def test_timeout_is_checked(self) -> None:
        """A timeout that is not positive is refused."""
        with pytest.raises(ValueError, match="body_timeout"):
            BodyLimitMiddleware(FastAPI(), body_timeout=0)
