"""A pure-ASGI request body limit: an oversized body is a 413 before anything parses it.

A body announced too large by ``Content-Length`` is refused before a byte of it is read;
a body without ``Content-Length`` (chunked) is counted as it arrives and refused as soon
as it passes the limit, so a client cannot make the server buffer more than the limit.
With ``body_timeout``, a client that stops sending its body half-way gets a 408 instead of
holding the request for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from python_mastery_portfolio._internal.checks import require_count, require_positive
from python_mastery_portfolio.web.errors import ProblemResponse, problem

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "BodyLimit",
    "BodyLimitMiddleware",
    "BodyTimeoutError",
    "BodyTooLargeError",
    "find_content_length",
]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
"""1 MiB: the default largest request body."""


class BodyTooLargeError(HTTPException):
    """The request body passed the limit while it was being read (a 413).

    An ``HTTPException``, so frameworks that read the body (FastAPI) let it through to the
    error handlers instead of turning it into a 400 "error parsing the body".

    Example:
        >>> error = BodyTooLargeError(10)
        >>> error.status_code, error.detail
        (413, 'The request body is larger than 10 bytes.')
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=_detail(limit))


class BodyTimeoutError(HTTPException):
    """The client stopped sending its body for longer than the timeout (a 408).

    Example:
        >>> BodyTimeoutError(30.0).status_code
        408
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(408, detail=f"The request body did not arrive within {seconds:g} s.")


def _detail(limit: int) -> str:
    return f"The request body is larger than {limit} bytes."


class BodyLimit:
    """The rules of :class:`BodyLimitMiddleware`: the largest body and how long its parts may take.

    Apart from the middleware so that one pure-ASGI layer can apply them together with
    others (:class:`~python_mastery_portfolio.web.middleware.RequestContextMiddleware`
    takes one as ``body_limit=``).

    Args:
        max_body_size: The largest body accepted, in bytes.
        body_timeout: Seconds the application may wait for each part of the body; ``None``
            waits as long as the client takes.

    Raises:
        ValueError: If ``max_body_size`` is below 1 or ``body_timeout`` is not positive.

    Example:
        >>> import asyncio
        >>> limit = BodyLimit(4)
        >>> limit.announced_too_large(b"5"), limit.announced_too_large(None)
        (True, False)
        >>> async def receive():
        ...     return {"type": "http.request", "body": b"12345", "more_body": False}
        >>> try:
        ...     asyncio.run(limit.receiver(receive)())
        ... except BodyTooLargeError as error:
        ...     error.status_code
        413
    """

    __slots__ = ("body_timeout", "max_body_size")

    def __init__(
        self, max_body_size: int = DEFAULT_MAX_BODY_SIZE, *, body_timeout: float | None = None
    ) -> None:
        require_count("max_body_size", max_body_size, 1)
        if body_timeout is not None:
            require_positive("body_timeout", body_timeout)
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout

    def announced_too_large(self, content_length: bytes | None) -> bool:
        """Return whether a raw ``Content-Length`` value (``None``: none) is over the limit."""
        if content_length is None:
            return False
        try:
            return int(content_length) > self.max_body_size
        except ValueError:
            return False  # the server refuses a malformed length before we are called

    def receiver(self, receive: Receive) -> Callable[[], Awaitable[Message]]:
        """Wrap ``receive``: raise :class:`BodyTooLargeError` / :class:`BodyTimeoutError`.

        The timeout applies to each part of the body, and only while the body is arriving:
        once its last part is in, ``receive()`` waits for the client to leave (a streaming
        response listens so), which may take as long as the response does. A timer is
        started only when a part has not arrived yet: the usual body, read with the
        headers, costs none.
        """
        limit = self.max_body_size
        timeout = self.body_timeout
        received = 0
        complete = False

        async def counting_receive() -> Message:
            nonlocal received, complete
            if timeout is None or complete:
                message = await receive()
            else:
                message = await _within(receive(), timeout)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
                complete = not message.get("more_body", False)
            return message

        return counting_receive

    def refusal(self, path: str, error: HTTPException | None = None) -> ProblemResponse:
        """Return the problem (413, or ``error``'s) that answers a refused body.

        The connection is closed after it: the unread body must not be taken for the next
        request.
        """
        if error is None:
            error = BodyTooLargeError(self.max_body_size)
        body = problem(error.status_code, detail=error.detail, instance=path)
        return ProblemResponse(body, headers={"Connection": "close"})


async def _within(awaitable: Awaitable[Message], seconds: float) -> Message:
    """Await ``awaitable``; raise :class:`BodyTimeoutError` if it waits more than ``seconds``.

    It is first run up to where it would wait: ready at once, it returns without a timer
    (``asyncio.timeout`` costs more than the rest of a request's body handling).
    """
    steps = awaitable.__await__()
    try:
        # next(), not send(None): __await__ need only return an iterator (PEP 492).
        waiting_on = next(steps)
    except StopIteration as done:
        message: Message = done.value
        return message
    try:
        async with asyncio.timeout(seconds):
            return await _Resumed(steps, waiting_on)
    except TimeoutError:
        raise BodyTimeoutError(seconds) from None


class _Resumed:
    """The rest of an awaitable already run up to its first wait.

    Its first wait is handed to the task; what the task throws in meanwhile (a
    cancellation, the timeout's) goes to the awaitable as ``yield from`` would pass it
    (``GeneratorExit`` closes it; an iterator without ``throw`` lets the exception go on);
    from the first resumption on, ``yield from`` itself delegates.
    """

    __slots__ = ("_steps", "_waiting_on")

    def __init__(self, steps: Generator[Any, None, Message], waiting_on: object) -> None:
        self._steps = steps
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, Message]:
        steps = self._steps
        waiting_on = self._waiting_on
        while True:
            try:
                yield waiting_on
            except GeneratorExit:
                close = getattr(steps, "close", None)
                if close is not None:
                    close()
                raise
            except BaseException as error:
                throw = getattr(steps, "throw", None)
                if throw is None:
                    raise
                try:
                    waiting_on = throw(error)
                except StopIteration as done:
                    thrown_result: Message = done.value
                    return thrown_result
            else:
                break
        result: Message = yield from steps
        return result


def find_content_length(scope: Scope) -> bytes | None:
    """Return the raw ``Content-Length`` of an ASGI request, or ``None`` without one.

    Example:
        >>> find_content_length({"headers": [(b"content-length", b"12")]})
        b'12'
    """
    for name, value in scope["headers"]:
        if name == b"content-length":
            length: bytes = value
            return length
    return None


class BodyLimitMiddleware:
    """Refuse HTTP request bodies larger than ``max_body_size`` bytes with a 413 problem.

    Args:
        app: The ASGI application to wrap.
        max_body_size: The largest body accepted, in bytes.
        body_timeout: Seconds the application may wait for each part of the body; ``None``
            waits as long as the client takes.

    Raises:
        ValueError: If ``max_body_size`` is below 1 or ``body_timeout`` is not positive.

    Example:
        >>> from fastapi import FastAPI, Request
        >>> from fastapi.testclient import TestClient
        >>> app = FastAPI()
        >>> @app.post("/echo")
        ... async def echo(request: Request) -> int:
        ...     return len(await request.body())
        >>> app.add_middleware(BodyLimitMiddleware, max_body_size=4)
        >>> client = TestClient(app)
        >>> client.post("/echo", content=b"1234").json()
        4
        >>> response = client.post("/echo", content=b"12345")
        >>> response.status_code, response.headers["content-type"]
        (413, 'application/problem+json')
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        body_timeout: float | None = None,
    ) -> None:
        self.limit = BodyLimit(max_body_size, body_timeout=body_timeout)
        self.app = app

    @property
    def max_body_size(self) -> int:
        """The largest body accepted, in bytes."""
        return self.limit.max_body_size

    @property
    def body_timeout(self) -> float | None:
        """Seconds the application may wait for each part of the body (``None``: no limit)."""
        return self.limit.body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        path: str = scope.get("path", "")
        if limit.announced_too_large(find_content_length(scope)):
            await limit.refusal(path)(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limit.receiver(receive), tracking_send)
        except (BodyTooLargeError, BodyTimeoutError) as error:
            # Raised past an application that does not handle HTTPException itself.
            if started:
                raise
            await limit.refusal(path, error)(scope, receive, send)
