"""A FastAPI rate-limit dependency on the toolkit's :class:`RateLimiter`, keyed per client.

The client is its socket address by default. ``X-Forwarded-For`` is believed only when the
connection comes from a configured trusted proxy, and then only as far back as the chain
of trusted proxies goes: the client is the nearest address that is not a trusted proxy, so
a client cannot choose its own key by sending the header itself.

Example:
    >>> from fastapi import Depends, FastAPI
    >>> from fastapi.testclient import TestClient
    >>> from python_mastery_portfolio.resilience import RateLimiter
    >>> from python_mastery_portfolio.testing import ManualClock
    >>> from python_mastery_portfolio.web.errors import install_error_handlers
    >>> app = FastAPI()
    >>> install_error_handlers(app)
    >>> limit = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
    >>> @app.post("/things", dependencies=[Depends(limit)])
    ... async def create() -> str:
    ...     return "ok"
    >>> client = TestClient(app)
    >>> first = client.post("/things")
    >>> first.headers["RateLimit-Limit"], first.headers["RateLimit-Remaining"]
    ('1', '0')
    >>> second = client.post("/things")
    >>> second.status_code, second.headers["Retry-After"]
    (429, '60')
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Callable, Iterable
from typing import TypeAlias

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from python_mastery_portfolio._internal.checks import require_positive
from python_mastery_portfolio.exceptions import RateLimitError
from python_mastery_portfolio.resilience import (
    AsyncRateLimitStore,
    RateLimiter,
    RateLimitVerdict,
)
from python_mastery_portfolio.web.errors import error_response

__all__ = ["ClientAddress", "RateLimit", "RateLimitMiddleware", "RateLimitRules", "socket_address"]

_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN_CLIENT = "unknown"


def socket_address(connection: HTTPConnection) -> str:
    """Return the connection's socket address (``"unknown"`` without one).

    The key :class:`RateLimit` uses when no proxy is trusted: one lookup in the ASGI scope,
    without parsing the address or looking at any header.

    Example:
        >>> from starlette.requests import Request
        >>> socket_address(Request({"type": "http", "client": ("203.0.113.9", 1234)}))
        '203.0.113.9'
        >>> socket_address(Request({"type": "http", "client": None}))
        'unknown'
    """
    return _scope_socket_address(connection.scope)


def _scope_socket_address(scope: Scope) -> str:
    client = scope.get("client")
    if client is None or not client[0]:
        return UNKNOWN_CLIENT
    host: str = client[0]
    return host


def _key_of_scope(key: Callable[[Request], str], scope: Scope) -> str:
    """Return ``key``'s bucket key for an ASGI request (a key function takes a Request)."""
    return key(Request(scope))


def _parse_address(text: str) -> _Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class ClientAddress:
    """Find the client's address, believing ``X-Forwarded-For`` only from trusted proxies.

    Args:
        trusted_proxies: Addresses or networks (``"10.0.0.0/8"``) of the proxies in front of
            the service. Empty (the default) means the socket address is always the client.

    Raises:
        ValueError: If an entry is not an IP address or network.

    Example:
        >>> from starlette.requests import Request
        >>> scope = {
        ...     "type": "http",
        ...     "client": ("10.0.0.5", 1234),
        ...     "headers": [(b"x-forwarded-for", b"203.0.113.9, 10.0.0.7")],
        ... }
        >>> ClientAddress()(Request(scope))
        '10.0.0.5'
        >>> ClientAddress(["10.0.0.0/8"])(Request(scope))
        '203.0.113.9'
    """

    __slots__ = ("_networks",)

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        if isinstance(trusted_proxies, str):
            raise TypeError("trusted_proxies must be an iterable of strings, not one string")
        networks: list[_Network] = []
        for entry in trusted_proxies:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError as error:
                raise ValueError(f"trusted_proxies has an invalid entry {entry!r}") from error
        self._networks = tuple(networks)

    def _trusted(self, address: _Address) -> bool:
        return any(address in network for network in self._networks)

    def __call__(self, connection: HTTPConnection) -> str:
        """Return the address of the client behind ``connection``."""
        client = connection.client
        if client is None or not client.host:
            return UNKNOWN_CLIENT
        peer = _parse_address(client.host)
        if peer is None or not self._networks or not self._trusted(peer):
            return client.host
        hops = [
            hop
            for header in connection.headers.getlist("x-forwarded-for")
            for hop in header.split(",")
        ]
        address = peer
        # Walk from the nearest hop back; stop at the first address no trusted proxy vouches for.
        for hop in reversed(hops):
            parsed = _parse_address(hop)
            if parsed is None:
                break
            address = parsed
            if not self._trusted(parsed):
                break
        return str(address)


class RateLimit:
    """A FastAPI dependency that spends ``cost`` tokens of the caller's bucket per request.

    Over the limit it raises :class:`~python_mastery_portfolio.exceptions.RateLimitError`,
    which :func:`~python_mastery_portfolio.web.errors.install_error_handlers` turns into a
    429 with ``Retry-After``, ``RateLimit-Limit`` and ``RateLimit-Remaining: 0``. Allowed
    responses carry ``RateLimit-Limit`` (the bucket's capacity, ``burst``) and
    ``RateLimit-Remaining`` (whole tokens left).

    Args:
        limiter: The limiter; each client gets its own bucket in it.
        cost: Tokens one request spends (> 0, at most the limiter's ``burst``).
        key: Maps a request to its bucket. By default the client's address: the socket
            address (:func:`socket_address`) when no proxy is trusted, else a
            :class:`ClientAddress` that believes ``X-Forwarded-For`` from those proxies;
            the choice is made here, once.
        trusted_proxies: The proxies the default key believes (not with ``key``).
        prefix: Prepended to every key, so several dependencies can share one limiter.

    Raises:
        ValueError: If ``cost`` is out of range, or both ``key`` and ``trusted_proxies``
            are given.

    Example:
        >>> from fastapi import Depends, FastAPI
        >>> from fastapi.testclient import TestClient
        >>> from python_mastery_portfolio.resilience import RateLimiter
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> from python_mastery_portfolio.web.errors import install_error_handlers
        >>> app = FastAPI()
        >>> install_error_handlers(app)
        >>> once_a_minute = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
        >>> @app.post("/orders", dependencies=[Depends(once_a_minute)])
        ... async def order() -> str:
        ...     return "ok"
        >>> client = TestClient(app)
        >>> client.post("/orders").status_code, client.post("/orders").status_code
        (200, 429)
        >>> client.post("/orders").headers["Retry-After"]
        '60'
    """

    __slots__ = (
        "_cost",
        "_does_io",
        "_key",
        "_limit",
        "_limit_header",
        "_limiter",
        "_prefix",
        "_scope_key",
    )

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        cost: float = 1,
        key: Callable[[Request], str] | None = None,
        trusted_proxies: Iterable[str] = (),
        prefix: str = "",
    ) -> None:
        require_positive("cost", cost)
        if cost > limiter.burst:
            raise ValueError(
                f"cost must be <= the limiter's burst ({limiter.burst!r}), got {cost!r}"
            )
        trusted = tuple(trusted_proxies)
        if key is not None and trusted:
            raise ValueError("give either key or trusted_proxies, not both")
        self._limiter = limiter
        self._cost = cost
        # The key of an ASGI request, chosen once: the socket address is read from the scope
        # without building a Request; any other key gets the Request it was written for.
        if key is None and not trusted:
            key = socket_address
            self._scope_key: Callable[[Scope], str] = _scope_socket_address
        else:
            if key is None:
                key = ClientAddress(trusted)
            self._scope_key = functools.partial(_key_of_scope, key)
        self._key: Callable[[Request], str] = key
        self._prefix = prefix
        self._limit = str(math.floor(limiter.burst))
        self._limit_header = (b"ratelimit-limit", self._limit.encode("ascii"))
        self._does_io = isinstance(limiter.store, AsyncRateLimitStore)

    @property
    def limiter(self) -> RateLimiter:
        """The limiter this dependency spends tokens from."""
        return self._limiter

    @property
    def does_io(self) -> bool:
        """Whether the limiter's store does I/O (Redis): on an event loop, await its decisions.

        Then :meth:`aspend` and :meth:`aspend_asgi` await the store; otherwise the synchronous
        :meth:`spend` and :meth:`spend_asgi` never block, and save a coroutine per request.
        """
        return self._does_io

    async def __call__(self, request: Request, response: Response) -> None:
        """Spend the request's tokens, or raise ``RateLimitError`` (a 429)."""
        limit, remaining = await self.aspend(request)
        headers = response.headers
        headers["RateLimit-Limit"] = limit
        headers["RateLimit-Remaining"] = remaining

    def spend(self, request: Request) -> tuple[str, str]:
        """Spend the request's tokens; return the ``RateLimit-Limit`` and ``-Remaining`` values.

        What the dependency does, without FastAPI, for synchronous code: one decision of
        the limiter (:meth:`RateLimiter.take`), so a refusal counts once. On the event
        loop use :meth:`aspend`, which awaits a store doing I/O (Redis).

        Raises:
            RateLimitError: If the client's bucket lacks the tokens (a 429).

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> from starlette.requests import Request
            >>> limit = RateLimit(RateLimiter(2, per=60, clock=ManualClock()))
            >>> limit.spend(Request({"type": "http", "client": ("203.0.113.9", 1)}))
            ('2', '1')
        """
        return self._answer(self._limiter.take(self._cost, key=self._prefix + self._key(request)))

    async def aspend(self, request: Request) -> tuple[str, str]:
        """Spend the request's tokens without blocking the loop; as :meth:`spend` otherwise.

        :class:`RateLimitMiddleware`, the dependency and
        :class:`~python_mastery_portfolio.web.middleware.RequestContextMiddleware` await it:
        it asks :meth:`RateLimiter.atake`, which awaits an
        :class:`~python_mastery_portfolio.resilience.AsyncRateLimitStore` (Redis) and calls
        any other store directly (decided once, when the limiter is built).

        Raises:
            RateLimitError: If the client's bucket lacks the tokens (a 429).

        Example:
            >>> import asyncio
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> from starlette.requests import Request
            >>> limit = RateLimit(RateLimiter(2, per=60, clock=ManualClock()))
            >>> asyncio.run(limit.aspend(Request({"type": "http", "client": ("::1", 1)})))
            ('2', '1')
        """
        key = self._prefix + self._key(request)
        return self._answer(await self._limiter.atake(self._cost, key=key))

    def spend_asgi(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """Spend an ASGI request's tokens; return the ``RateLimit-*`` headers to add.

        What pure-ASGI layers call (:class:`RateLimitMiddleware`,
        :class:`~python_mastery_portfolio.web.middleware.RequestContextMiddleware`): the
        key comes from the scope (no ``Request`` is built for the default key) and the
        headers are the lower-case bytes an ``http.response.start`` message carries. It
        never blocks unless the store does I/O (:attr:`does_io`: use :meth:`aspend_asgi`).

        Raises:
            RateLimitError: If the client's bucket lacks the tokens (a 429).

        Example:
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limit = RateLimit(RateLimiter(2, per=60, clock=ManualClock()))
            >>> limit.spend_asgi({"type": "http", "client": ("203.0.113.9", 1)})
            [(b'ratelimit-limit', b'2'), (b'ratelimit-remaining', b'1')]
        """
        key = self._prefix + self._scope_key(scope)
        return self._headers(self._limiter.take(self._cost, key=key))

    async def aspend_asgi(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """Spend an ASGI request's tokens without blocking the loop; as :meth:`spend_asgi`.

        Raises:
            RateLimitError: If the client's bucket lacks the tokens (a 429).

        Example:
            >>> import asyncio
            >>> from python_mastery_portfolio.testing import ManualClock
            >>> limit = RateLimit(RateLimiter(2, per=60, clock=ManualClock()))
            >>> asyncio.run(limit.aspend_asgi({"type": "http", "client": ("::1", 1)}))
            [(b'ratelimit-limit', b'2'), (b'ratelimit-remaining', b'1')]
        """
        key = self._prefix + self._scope_key(scope)
        return self._headers(await self._limiter.atake(self._cost, key=key))

    def _headers(self, verdict: RateLimitVerdict) -> list[tuple[bytes, bytes]]:
        """Return the ASGI headers of an allowed verdict, or raise the 429's error."""
        remaining = self._remaining(verdict)
        return [self._limit_header, (b"ratelimit-remaining", b"%d" % remaining)]

    def _answer(self, verdict: RateLimitVerdict) -> tuple[str, str]:
        """Return the headers' values of an allowed verdict, or raise the 429's error."""
        return self._limit, str(self._remaining(verdict))

    def _remaining(self, verdict: RateLimitVerdict) -> int:
        """Return the whole tokens left after an allowed verdict, or raise the 429's error."""
        # The epsilon absorbs float error: 0.9999999 tokens left is one token.
        remaining = math.floor(verdict.remaining + 1e-9)
        if not verdict.allowed:
            # Report the same limit as RateLimit-Limit on allowed responses: the capacity;
            # a request costing several tokens can be refused while a few remain.
            raise RateLimitError(
                "Too many requests; retry after the number of seconds in Retry-After",
                retry_after=verdict.retry_after,
                limit=self._limiter.burst,
                remaining=remaining,
            )
        return remaining


class RateLimitRules:
    """Which :class:`RateLimit` applies to a request, by method and path prefix.

    The rules of :class:`RateLimitMiddleware`, apart from it so that one pure-ASGI layer
    can apply them together with others
    (:class:`~python_mastery_portfolio.web.middleware.RequestContextMiddleware` takes
    them as ``rate_limits=``). Each rule names a limit, the methods it applies to and
    path prefixes (``"/users"`` covers ``/users`` and everything under ``/users/``; ``"/"``
    covers every path); the first rule that matches a request applies.

    Args:
        rules: ``(limit, methods, path_prefixes)`` triples, tried in order.

    Raises:
        ValueError: If a rule has no methods or no prefixes, or a prefix does not start
            with ``/``.

    Example:
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> writes = RateLimit(RateLimiter(1, clock=ManualClock()))
        >>> rules = RateLimitRules([(writes, ["POST", "DELETE"], ["/users"])])
        >>> rules.limit_for({"method": "POST", "path": "/users/1"}) is writes
        True
        >>> rules.limit_for({"method": "GET", "path": "/users"}), rules.limit_for(
        ...     {"method": "POST", "path": "/users-archive"}
        ... )
        (None, None)
    """

    __slots__ = ("_rules",)

    def __init__(self, rules: Iterable[tuple[RateLimit, Iterable[str], Iterable[str]]]) -> None:
        compiled: list[tuple[RateLimit, frozenset[str], tuple[str, ...], tuple[str, ...]]] = []
        for limit, methods, prefixes in rules:
            method_set = frozenset(method.upper() for method in methods)
            paths = tuple(prefix.rstrip("/") or "/" for prefix in prefixes)
            if not method_set or not paths:
                raise ValueError("each rule needs at least one method and one path prefix")
            for path in paths:
                if not path.startswith("/"):
                    raise ValueError(f"path prefixes start with '/', got {path!r}")
            # "/" covers every path; "/users" covers "/users" and "/users/...".
            subtrees = tuple("/" if path == "/" else path + "/" for path in paths)
            compiled.append((limit, method_set, paths, subtrees))
        self._rules = tuple(compiled)

    def limit_for(self, scope: Scope) -> RateLimit | None:
        """Return the limit of an HTTP request's ASGI scope, or ``None`` if no rule matches."""
        method: str = scope["method"]
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        for limit, methods, paths, subtrees in self._rules:
            if method in methods and (path in paths or path.startswith(subtrees)):
                return limit
        return None


class RateLimitMiddleware:
    """Spend rate-limit tokens for groups of paths and methods, before routing, in one layer.

    The pure-ASGI form of :class:`RateLimit` dependencies, on :class:`RateLimitRules`:
    each rule names a :class:`RateLimit`, the methods it applies to and path prefixes
    (``"/users"`` covers ``/users`` and everything under ``/users/``). The first rule that
    matches a request spends its tokens; a request no rule matches passes untouched.
    Allowed responses carry ``RateLimit-Limit`` and ``RateLimit-Remaining``; a refused
    request is answered at once with the 429 problem (``Retry-After``, ``RateLimit-*``)
    that :func:`~python_mastery_portfolio.web.errors.install_error_handlers` gives a
    ``RateLimitError``, before its body is read or parsed.

    A FastAPI dependency costs a level of FastAPI's dependency solving on every request
    (about 10 us); this costs a prefix test. Unlike the dependency it also counts requests
    that match no route under the prefixes (a 404 spends tokens too).

    Args:
        app: The ASGI application to wrap.
        rules: ``(limit, methods, path_prefixes)`` triples, tried in order.

    Raises:
        ValueError: If a rule has no methods or no prefixes, or a prefix does not start
            with ``/``.

    Example:
        >>> from fastapi import FastAPI
        >>> from fastapi.testclient import TestClient
        >>> from python_mastery_portfolio.testing import ManualClock
        >>> app = FastAPI()
        >>> @app.post("/things")
        ... async def create() -> str:
        ...     return "ok"
        >>> writes = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
        >>> app.add_middleware(RateLimitMiddleware, rules=[(writes, ["POST"], ["/things"])])
        >>> client = TestClient(app)
        >>> client.post("/things").headers["RateLimit-Remaining"]
        '0'
        >>> refused = client.post("/things")
        >>> refused.status_code, refused.headers["Retry-After"]
        (429, '60')
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rules: Iterable[tuple[RateLimit, Iterable[str], Iterable[str]]],
    ) -> None:
        self.app = app
        self.rules = RateLimitRules(rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        limit = self.rules.limit_for(scope) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        try:
            added = await limit.aspend_asgi(scope) if limit.does_io else limit.spend_asgi(scope)
        except RateLimitError as error:
            await error_response(error, scope["path"])(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
