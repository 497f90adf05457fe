"""Tests of the rate-limit dependency and of client address resolution."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.requests import Request

from python_mastery_portfolio.exceptions import RateLimitError
from python_mastery_portfolio.resilience import RateLimiter
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.web.errors import install_error_handlers
from python_mastery_portfolio.web.middleware import RequestContextMiddleware
from python_mastery_portfolio.web.ratelimit import (
    ClientAddress,
    RateLimit,
    RateLimitMiddleware,
    RateLimitRules,
    socket_address,
)
from tests.resilience.doubles import StrictRateLimitStore


def request(client: tuple[str, int] | None = ("203.0.113.5", 4000), *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope: dict[str, Any] = {"type": "http", "client": client, "headers": headers}
    return Request(scope)


class TestClientAddress:
    def test_socket_address_by_default(self) -> None:
        """Without trusted proxies the socket address is the client."""
        assert ClientAddress()(request(("203.0.113.5", 1))) == "203.0.113.5"

    def test_forwarded_for_ignored_without_trust(self) -> None:
        """A client cannot pick its key by sending X-Forwarded-For."""
        assert ClientAddress()(request(("203.0.113.5", 1), "1.2.3.4")) == "203.0.113.5"

    def test_forwarded_for_ignored_from_untrusted_peer(self) -> None:
        """X-Forwarded-For from a peer that is not a trusted proxy is ignored."""
        address = ClientAddress(["10.0.0.0/8"])
        assert address(request(("203.0.113.5", 1), "1.2.3.4")) == "203.0.113.5"

    @pytest.mark.parametrize(
        ("forwarded", "client"),
        [
            (("198.51.100.7",), "198.51.100.7"),
            (("6.6.6.6, 198.51.100.7",), "198.51.100.7"),
            (("198.51.100.7, 10.0.0.9",), "198.51.100.7"),
            (("6.6.6.6", "198.51.100.7, 10.1.1.1"), "198.51.100.7"),
            (("10.0.0.3, 10.0.0.9",), "10.0.0.3"),
            (("garbage, 10.0.0.9",), "10.0.0.9"),
            (("198.51.100.7, not-an-ip",), "10.0.0.1"),
            ((), "10.0.0.1"),
        ],
        ids=[
            "one-hop",
            "spoofed-left-part-ignored",
            "proxy-chain",
            "several-headers",
            "all-trusted",
            "garbage-stops-walk",
            "garbage-nearest",
            "no-header",
        ],
    )
    def test_trusted_proxy_chain(self, forwarded: tuple[str, ...], client: str) -> None:
        """Behind trusted proxies the client is the nearest untrusted forwarded address."""
        address = ClientAddress(["10.0.0.0/8"])
        assert address(request(("10.0.0.1", 1), *forwarded)) == client

    def test_ipv6(self) -> None:
        """IPv6 proxies and clients work."""
        address = ClientAddress(["::1"])
        assert address(request(("::1", 1), "2001:db8::7")) == "2001:db8::7"

    def test_non_ip_peer(self) -> None:
        """A peer that is not an IP address (a test client's name) is used as is."""
        assert ClientAddress(["10.0.0.0/8"])(request(("testclient", 1), "1.2.3.4")) == "testclient"

    def test_no_client(self) -> None:
        """Without a socket address (some servers, unix sockets) the key is 'unknown'."""
        assert ClientAddress()(request(None)) == "unknown"

    def test_invalid_trusted_entry(self) -> None:
        """An entry that is neither an address nor a network is a ValueError naming it."""
        with pytest.raises(ValueError, match="not-a-network"):
            ClientAddress(["10.0.0.0/8", "not-a-network"])

    def test_single_string_refused(self) -> None:
        """A lone string (iterable of characters) is a TypeError, not a silent mistake."""
        with pytest.raises(TypeError, match="trusted_proxies"):
            ClientAddress("10.0.0.1")


def limited_app(limit: RateLimit) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things", dependencies=[Depends(limit)])
    async def create() -> dict[str, str]:
        return {}

    return TestClient(app)


class TestRateLimit:
    def test_allowed_requests_carry_the_limit(self) -> None:
        """Allowed responses carry RateLimit-Limit (the burst)."""
        client = limited_app(RateLimit(RateLimiter(5, burst=3, clock=ManualClock())))
        response = client.post("/things")
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"

    def test_remaining_counts_down_and_refills(self) -> None:
        """RateLimit-Remaining is the whole number of tokens left after the request."""
        clock = ManualClock()
        client = limited_app(RateLimit(RateLimiter(3, per=3.0, clock=clock)))
        remaining = [client.post("/things").headers["RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        clock.advance(1.5)
        assert client.post("/things").headers["RateLimit-Remaining"] == "0"
        clock.advance(3.0)
        assert client.post("/things").headers["RateLimit-Remaining"] == "2"

    def test_over_the_limit_is_429(self) -> None:
        """Past the burst a 429 problem with Retry-After (rounded up) is returned."""
        clock = ManualClock()
        client = limited_app(RateLimit(RateLimiter(2, per=5.0, clock=clock)))
        assert [client.post("/things").status_code for _ in range(3)] == [200, 200, 429]
        response = client.post("/things")
        assert response.headers["Retry-After"] == "3"
        assert response.headers["RateLimit-Limit"] == "2"
        assert response.headers["RateLimit-Remaining"] == "0"
        assert response.headers["content-type"] == "application/problem+json"
        clock.advance(2.5)
        assert client.post("/things").status_code == 200

    async def test_error_carries_retry_after_and_limit(self) -> None:
        """The raised RateLimitError has retry_after and the burst as limit."""
        limit = RateLimit(RateLimiter(1, per=10, burst=2, clock=ManualClock()), cost=2)
        response: Any = type("R", (), {"headers": {}})()
        await limit(request(), response)
        with pytest.raises(RateLimitError) as info:
            await limit(request(), response)
        assert info.value.retry_after == pytest.approx(20.0)
        assert info.value.limit == 2
        # It comes from the limiter's one decision (was: chained to the limiter's own error,
        # raised by a second call): one allowed, one rejected.
        stats = limit.limiter.stats()
        assert (stats["allowed"], stats["rejected"]) == (1, 1)

    def test_refusal_reports_tokens_left(self) -> None:
        """A costly request refused while some tokens remain reports them, not 0."""
        clock = ManualClock()
        client = limited_app(RateLimit(RateLimiter(1, per=10, burst=3, clock=clock), cost=2))
        assert client.post("/things").status_code == 200
        refused = client.post("/things")
        assert refused.status_code == 429
        assert refused.headers["RateLimit-Remaining"] == "1"

    def test_custom_key(self) -> None:
        """key= chooses the bucket, e.g. per API key."""
        limit = RateLimit(
            RateLimiter(1, per=60, clock=ManualClock()),
            key=lambda req: req.headers.get("x-api-key", "anonymous"),
        )
        client = limited_app(limit)
        assert client.post("/things", headers={"x-api-key": "a"}).status_code == 200
        assert client.post("/things", headers={"x-api-key": "b"}).status_code == 200
        assert client.post("/things", headers={"x-api-key": "a"}).status_code == 429

    async def test_prefix_separates_dependencies_sharing_a_limiter(self) -> None:
        """Two dependencies with different prefixes keep separate buckets in one limiter."""
        limiter = RateLimiter(1, per=60, clock=ManualClock())
        response: Any = type("R", (), {"headers": {}})()
        await RateLimit(limiter, prefix="read:")(request(), response)
        await RateLimit(limiter, prefix="write:")(request(), response)
        assert limiter.stats()["keys"] == 2

    def test_limiter_property(self) -> None:
        """The limiter is exposed for stats."""
        limiter = RateLimiter(1, clock=ManualClock())
        assert RateLimit(limiter).limiter is limiter

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"cost": 0}, ValueError, "cost"),
            ({"cost": 5}, ValueError, "burst"),
            ({"key": str, "trusted_proxies": ["10.0.0.1"]}, ValueError, "either"),
            ({"trusted_proxies": ["nope"]}, ValueError, "nope"),
        ],
        ids=["zero-cost", "cost-over-burst", "key-and-proxies", "bad-proxy"],
    )
    def test_bad_configuration(
        self, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        """Configuration errors surface when the dependency is built."""
        with pytest.raises(error, match=match):
            RateLimit(RateLimiter(2, clock=ManualClock()), **kwargs)


class TestDefaultKey:
    def test_socket_address_keys_without_proxies(self) -> None:
        """Without trusted proxies each socket address has its own bucket; headers are ignored."""
        limiter = RateLimiter(1, per=60, clock=ManualClock())
        limit = RateLimit(limiter)
        response: Any = type("R", (), {"headers": {}})()

        async def spend(client: tuple[str, int] | None, *forwarded: str) -> None:
            await limit(request(client, *forwarded), response)

        async def run() -> None:
            await spend(("203.0.113.5", 1))
            await spend(("203.0.113.6", 1), "203.0.113.5")
            await spend(None)
            with pytest.raises(RateLimitError):
                await spend(("203.0.113.5", 2), "198.51.100.1")
            with pytest.raises(RateLimitError):
                await spend(("", 0))

        asyncio.run(run())
        assert limiter.stats()["keys"] == 3

    def test_trusted_proxies_key_by_forwarded_address(self) -> None:
        """With trusted proxies the forwarded client address is the key."""
        limiter = RateLimiter(1, per=60, clock=ManualClock())
        limit = RateLimit(limiter, trusted_proxies=["10.0.0.0/8"])
        response: Any = type("R", (), {"headers": {}})()

        async def run() -> None:
            await limit(request(("10.0.0.1", 1), "198.51.100.7"), response)
            await limit(request(("10.0.0.1", 1), "198.51.100.8"), response)
            with pytest.raises(RateLimitError):
                await limit(request(("10.0.0.2", 1), "198.51.100.7"), response)

        asyncio.run(run())

    def test_socket_address_function(self) -> None:
        """socket_address reads the ASGI scope's client, 'unknown' without one."""
        assert socket_address(request(("2001:db8::1", 1))) == "2001:db8::1"
        assert socket_address(request(None)) == "unknown"


class TestAsgiSpend:
    """spend_asgi / aspend_asgi: the pure-ASGI layers' way, keyed from the scope."""

    @staticmethod
    def scope(client: tuple[str, int] | None, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"type": "http", "client": client, "headers": list(headers)}

    def test_socket_address_buckets_and_headers(self) -> None:
        """Each socket address has its bucket; the headers are ASGI bytes; over it, a 429."""
        limit = RateLimit(RateLimiter(2, per=60, clock=ManualClock()), prefix="api:")
        assert not limit.does_io
        first = self.scope(("203.0.113.5", 1), (b"x-forwarded-for", b"198.51.100.1"))
        assert limit.spend_asgi(first) == [
            (b"ratelimit-limit", b"2"),
            (b"ratelimit-remaining", b"1"),
        ]
        assert limit.spend_asgi(first)[1] == (b"ratelimit-remaining", b"0")
        with pytest.raises(RateLimitError) as refused:
            limit.spend_asgi(self.scope(("203.0.113.5", 2)))
        assert refused.value.retry_after == 30
        assert limit.spend_asgi(self.scope(None))[1] == (b"ratelimit-remaining", b"1")
        assert limit.limiter.available(key="api:203.0.113.5") == 0

    async def test_custom_key_is_given_a_request(self) -> None:
        """A key function written for a Request gets one built on the scope."""
        limiter = RateLimiter(1, per=60, clock=ManualClock())
        limit = RateLimit(limiter, key=lambda request: request.headers["x-api-key"])
        await limit.aspend_asgi(self.scope(("203.0.113.5", 1), (b"x-api-key", b"k1")))
        await limit.aspend_asgi(self.scope(("203.0.113.5", 1), (b"x-api-key", b"k2")))
        with pytest.raises(RateLimitError):
            await limit.aspend_asgi(self.scope(("203.0.113.6", 1), (b"x-api-key", b"k1")))

    def test_trusted_proxies_key_by_forwarded_address(self) -> None:
        """With trusted proxies the forwarded client is the key, as for the dependency."""
        limit = RateLimit(
            RateLimiter(1, per=60, clock=ManualClock()), trusted_proxies=["10.0.0.0/8"]
        )
        limit.spend_asgi(self.scope(("10.0.0.1", 1), (b"x-forwarded-for", b"198.51.100.7")))
        limit.spend_asgi(self.scope(("10.0.0.1", 1), (b"x-forwarded-for", b"198.51.100.8")))
        with pytest.raises(RateLimitError):
            limit.spend_asgi(self.scope(("10.0.0.2", 1), (b"x-forwarded-for", b"198.51.100.7")))


def middleware_app(*rules: Any, root_path: str = "") -> TestClient:
    """An app with reads and writes under /users, limited by RateLimitMiddleware."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/users")
    async def users() -> list[str]:
        return []

    @app.post("/users")
    async def create() -> str:
        return "created"

    @app.get("/users/{user_id}")
    async def user(user_id: str) -> str:
        return user_id

    @app.get("/users-archive")
    async def archive() -> str:
        return "not under /users"

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.websocket("/users/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app.add_middleware(RateLimitMiddleware, rules=rules)
    app.add_middleware(RequestContextMiddleware)
    return TestClient(app, root_path=root_path)


class TestRateLimitMiddleware:
    def test_allowed_requests_carry_the_limit(self) -> None:
        """Matching requests spend tokens and carry RateLimit-Limit and -Remaining."""
        reads = RateLimit(RateLimiter(3, per=60, clock=ManualClock()))
        client = middleware_app((reads, ["GET"], ["/users"]))
        remaining = [
            client.get(path).headers["RateLimit-Remaining"] for path in ("/users", "/users/7")
        ]
        assert remaining == ["2", "1"]
        assert client.get("/users").headers["RateLimit-Limit"] == "3"

    def test_refused_is_the_429_problem(self) -> None:
        """Past the limit: the same 429 problem as the dependency's, with the request ID."""
        reads = RateLimit(RateLimiter(1, per=5, clock=ManualClock()))
        client = middleware_app((reads, ["GET"], ["/users/"]))
        assert client.get("/users/1").status_code == 200
        refused = client.get("/users/1", headers={"X-Request-ID": "r-9"})
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["Retry-After"] == "5"
        assert refused.headers["RateLimit-Limit"] == "1"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.json()["instance"] == "/users/1"
        assert refused.json()["request_id"] == "r-9"

    def test_refused_before_the_body_is_read(self) -> None:
        """A refused write is answered before its body is parsed (no 422 for a bad one)."""
        writes = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
        client = middleware_app((writes, ["post"], ["/users"]))
        assert client.post("/users", content=b"{").status_code == 200
        assert client.post("/users", content=b"{").status_code == 429

    def test_rules_are_tried_in_order_and_keep_their_buckets(self) -> None:
        """Reads and writes have their own limits; other paths and methods pass untouched."""
        reads = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
        writes = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
        client = middleware_app((reads, ["GET"], ["/users"]), (writes, ["POST"], ["/users"]))
        assert [client.get("/users").status_code for _ in range(2)] == [200, 429]
        assert [client.post("/users").status_code for _ in range(2)] == [200, 429]
        for path in ("/health", "/users-archive"):
            response = client.get(path)
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers

    def test_root_prefix_covers_everything(self) -> None:
        """The prefix '/' covers every path."""
        limit = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
        client = middleware_app((limit, ["GET"], ["/"]))
        assert client.get("/health").status_code == 200
        assert client.get("/users").status_code == 429

    def test_root_path_is_left_out(self) -> None:
        """Behind a root path, prefixes are matched against the path under it."""
        limit = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
        client = middleware_app((limit, ["GET"], ["/users"]), root_path="/api")
        assert client.get("/api/users").headers["RateLimit-Remaining"] == "0"
        assert "RateLimit-Limit" not in client.get("/api/health").headers

    def test_websockets_pass(self) -> None:
        """WebSocket sessions are not rate limited by the middleware."""
        limit = RateLimit(RateLimiter(1, per=60, clock=ManualClock()))
        client = middleware_app((limit, ["GET"], ["/users"]))
        for _ in range(2):
            with client.websocket_connect("/users/ws") as socket:
                assert socket.receive_text() == "hi"

    @pytest.mark.parametrize(
        ("rule", "match"),
        [
            ((), "method"),
            (("/users",), "method"),
            (("users",), "start with"),
        ],
        ids=["no-prefix", "no-method", "relative-prefix"],
    )
    def test_bad_rules(self, rule: tuple[str, ...], match: str) -> None:
        """A rule without methods or prefixes, or with a relative prefix, is refused."""
        limit = RateLimit(RateLimiter(1, clock=ManualClock()))
        methods: list[str] = [] if match == "method" and rule else ["GET"]
        with pytest.raises(ValueError, match=match):
            RateLimitMiddleware(FastAPI(), rules=[(limit, methods, rule)])


class TestAwaitedStore:
    """A limiter over a store doing I/O (Redis) is awaited on every web path."""

    @staticmethod
    def strict_limit() -> tuple[RateLimit, StrictRateLimitStore]:
        store = StrictRateLimitStore()
        limit = RateLimit(RateLimiter(1, per=60, store=store, clock=ManualClock()))
        store.armed = True  # its sync side raises from now on
        return limit, store

    def test_dependency_and_middlewares_await_the_store(self) -> None:
        """The dependency, RateLimitMiddleware and the request layer's rules await ``atake``."""
        dependency, first = self.strict_limit()
        ruled, second = self.strict_limit()
        layered, third = self.strict_limit()
        app = FastAPI()
        install_error_handlers(app)

        @app.post("/things", dependencies=[Depends(dependency)])
        async def create() -> str:
            return "ok"

        @app.post("/ruled")
        async def ruled_route() -> str:
            return "ok"

        @app.post("/layered")
        async def layered_route() -> str:
            return "ok"

        app.add_middleware(RateLimitMiddleware, rules=[(ruled, ["POST"], ["/ruled"])])
        app.add_middleware(
            RequestContextMiddleware,
            rate_limits=RateLimitRules([(layered, ["POST"], ["/layered"])]),
        )
        client = TestClient(app)
        for path in ("/things", "/ruled", "/layered"):
            assert client.post(path).status_code == 200
            refused = client.post(path)
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "60"
        assert dependency.does_io
        assert ruled.does_io
        assert layered.does_io
        for store in (first, second, third):
            assert store.async_calls == ["atake", "atake"]
            store.armed = False
            stats = store.stats(0)
            assert (stats["granted"], stats["refused"]) == (1, 1)
