"""The Users API: ``create_app()`` wires the toolkit's parts into a FastAPI application.

Everything is registered in one :class:`~python_mastery_portfolio.di_container.DIContainer`
built at start-up (in the lifespan): the settings, the SQLite repository, the user service,
the event hub, the rate limiter and the request metrics. The repository is opened (the
database and table created) before the first request, and every resource is closed at
shutdown, in reverse order, by closing the container.

The lifespan also serves the admin JSON-RPC endpoint (:mod:`~.admin`) on the Unix socket
``PMP_ADMIN_SOCKET`` (by default ``pmp.sock`` next to the database; empty: off), which
``pmp status``, ``pmp events`` and ``pmp top`` talk to.

Hardening (each a setting, see :mod:`~.settings`): request bodies over
``PMP_MAX_BODY_SIZE`` are a 413 before they are parsed; a 422 lists at most
``PMP_MAX_VALIDATION_ERRORS`` errors; a ``Host`` outside the served hosts is a 400; every
answer has security headers; reads and writes have their own rate limits; ``/ws/events``
checks the ``Origin``, caps its subscribers and closes clients that do not read; ``/health``
checks what a write needs; ``/metrics`` and the docs can be switched off or protected.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Response, WebSocket
from fastapi import Path as PathParam
from starlette.types import Message, Receive, Scope, Send

from python_mastery_portfolio import __version__
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
from python_mastery_portfolio.resilience import RateLimiter
from python_mastery_portfolio.service.admin import (
    admin_endpoint,
    build_admin_server,
    service_stats,
)
from python_mastery_portfolio.service.errors import DatabaseUnavailableError, ServiceStartError
from python_mastery_portfolio.service.events import EventHub
from python_mastery_portfolio.service.metrics import add_metrics_route
from python_mastery_portfolio.service.models import (
    Health,
    Problem,
    User,
    UserCreate,
    UserPage,
    UserUpdate,
)
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.service.settings import Settings
from python_mastery_portfolio.service.streams import EventStreams
from python_mastery_portfolio.service.users import ChangeFeed, UserService
from python_mastery_portfolio.web.di import Inject, InjectRoute, install_container
from python_mastery_portfolio.web.docs import install_offline_docs
from python_mastery_portfolio.web.errors import PROBLEM_JSON, install_error_handlers
from python_mastery_portfolio.web.limits import BodyLimit
from python_mastery_portfolio.web.metrics import RequestMetrics
from python_mastery_portfolio.web.middleware import RequestContextMiddleware
from python_mastery_portfolio.web.ratelimit import RateLimit, RateLimitRules
from python_mastery_portfolio.web.security import SecurityPolicy

if TYPE_CHECKING:
    from python_mastery_portfolio.service.cluster import RedisChangeFeed

__all__ = ["MAX_OFFSET", "build_container", "create_app"]

logger = logging.getLogger(__name__)

Users = Annotated[UserService, Inject(UserService)]
UserId = Annotated[str, PathParam(min_length=1, max_length=64)]

MAX_OFFSET = 1_000_000_000
"""The largest ``offset`` of ``GET /users`` (use ``cursor`` to go further, and faster)."""


# -- the container -------------------------------------------------------------------------


def _event_hub(settings: Settings) -> Iterator[EventHub]:
    hub = EventHub(
        queue_size=settings.events_queue_size, max_subscribers=settings.ws_max_subscribers
    )
    try:
        yield hub
    finally:
        hub.close()


def build_container(
    settings: Settings,
    *,
    clock: Clock = SYSTEM_CLOCK,
    metrics: RequestMetrics | None = None,
    limiter: RateLimiter | None = None,
    feed: ChangeFeed | None = None,
) -> DIContainer:
    """Register every part of the service in a new container.

    Args:
        settings: The service's settings.
        clock: The clock of the cache TTL, the rate limiter and the database's retries.
        metrics: The request metrics (new ones by default).
        limiter: The write rate limiter (built from ``settings`` by default).
        feed: The change feed to the other workers, when there are several.

    Example:
        >>> container = build_container(Settings())
        >>> container.resolve(Settings).port
        8000
    """

    def user_service(
        settings: Settings, repository: SQLiteUserRepository, events: EventHub
    ) -> Iterator[UserService]:
        service = UserService(
            repository,
            events,
            blocked_domains=settings.blocked_email_domains,
            cache_ttl=settings.cache_ttl,
            cache_maxsize=settings.cache_maxsize,
            clock=clock,
            feed=feed,
        )
        try:
            yield service
        finally:
            service.close()

    def repository(settings: Settings) -> Iterator[SQLiteUserRepository]:
        opened = SQLiteUserRepository(settings.database_path.expanduser().resolve(), clock=clock)
        opened.open()
        try:
            yield opened
        finally:
            opened.close()
            logger.info("Closed user database %s", opened.path)

    if limiter is None:
        limiter = RateLimiter(
            settings.write_rate_limit,
            per=settings.write_rate_period,
            burst=settings.write_burst,
            clock=clock,
        )

    def event_streams(settings: Settings, hub: EventHub) -> EventStreams:
        return EventStreams(
            hub,
            allowed_origins=settings.ws_allowed_origins,
            send_timeout=settings.ws_send_timeout,
            max_message_size=settings.ws_max_message_size,
            clock=clock,
        )

    singleton = LifecycleScope.SINGLETON
    return (
        DIContainer()
        .register(Settings, instance=settings)
        .register(RequestMetrics, instance=metrics if metrics is not None else RequestMetrics())
        .register(RateLimiter, instance=limiter)
        .register(EventHub, factory=_event_hub, scope=singleton)
        .register(SQLiteUserRepository, factory=repository, scope=singleton)
        .register(UserService, factory=user_service, scope=singleton)
        .register(EventStreams, factory=event_streams, scope=singleton)
    )


# -- the application -----------------------------------------------------------------------


def _short_start_failures(app: FastAPI) -> None:
    """Turn the traceback of a failed start into its last line (not at DEBUG).

    Starlette reports a lifespan failure with the whole traceback, which uvicorn logs (and
    a chained cause doubles): the operator needs the one line that names the path and
    the cause; ``pmp -v serve`` shows the rest. Done on the router's lifespan handler
    rather than in a middleware or an ``__call__`` override, so HTTP requests do not pass
    through one more layer for a lifespan-only job.
    """
    handle_lifespan = app.router.lifespan

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_short(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and not logger.isEnabledFor(
                logging.DEBUG
            ):
                lines = str(message.get("message", "")).strip().splitlines()
                message = {**message, "message": lines[-1] if lines else ""}
            await send(message)

        await handle_lifespan(scope, receive, send_short)

    # The router calls self.lifespan for lifespan messages only: an instance attribute
    # wraps it for this app alone.
    app.router.lifespan = lifespan  # type: ignore[method-assign]  # per-instance wrapper


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": _WHY[status]}
        for status in sorted({400, *statuses})
    }


_WHY = {
    400: "The Host header names a host the service does not serve",
    401: "The token is missing or wrong",
    404: "No user has the ID",
    408: "The body did not arrive within PMP_BODY_TIMEOUT",
    406: "Prometheus text was asked for, and the [prometheus] extra is not installed",
    409: "Another user has the e-mail address",
    413: "The body is larger than PMP_MAX_BODY_SIZE",
    422: "A parameter or the body is invalid (including a body that is not UTF-8 JSON)",
    429: "The client's rate limit is spent; see Retry-After",
    503: "The database cannot take writes now",
}


def _add_index(app: FastAPI, *, docs: bool) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, str | None]:
        return {"service": app.title, "version": __version__, "docs": "/docs" if docs else None}


def _add_user_routes(app: FastAPI) -> None:
    @app.post(
        "/users",
        status_code=201,
        responses=_problems(408, 409, 413, 422, 429, 503),
        summary="Create a user",
    )
    async def create_user(body: UserCreate, users: Users, response: Response) -> User:
        user = await users.create(body)
        response.headers["Location"] = f"/users/{user.id}"
        return user

    @app.get("/users", summary="List users", responses=_problems(422, 429))
    async def list_users(
        users: Users,
        limit: Annotated[int, Query(ge=1, le=100, description="Users per page")] = 50,
        offset: Annotated[
            int, Query(ge=0, le=MAX_OFFSET, description="Users to skip (after the cursor)")
        ] = 0,
        cursor: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=64,
                pattern="^[A-Za-z0-9_-]+$",
                description="The previous page's next_cursor",
            ),
        ] = None,
        total: Annotated[bool, Query(description="Count all users (scans the table)")] = False,
    ) -> UserPage:
        return await users.page(limit=limit, offset=offset, cursor=cursor, total=total)

    @app.get(
        "/users/{user_id}",
        summary="Get a user",
        responses=_problems(404, 422, 429),
    )
    async def get_user(user_id: UserId, users: Users) -> User:
        return await users.get(user_id)

    @app.patch(
        "/users/{user_id}",
        responses=_problems(404, 408, 409, 413, 422, 429, 503),
        summary="Change some of a user's fields",
    )
    async def update_user(user_id: UserId, body: UserUpdate, users: Users) -> User:
        return await users.update(user_id, body)

    @app.delete(
        "/users/{user_id}",
        status_code=204,
        responses=_problems(404, 422, 429, 503),
        summary="Delete a user",
    )
    async def delete_user(user_id: UserId, users: Users) -> Response:
        await users.delete(user_id)
        return Response(status_code=204)


def _add_health(app: FastAPI) -> None:
    @app.get(
        "/health",
        summary="Check the service and what a write needs",
        responses=_problems(503),
    )
    async def health(users: Users) -> Health:
        try:
            await users.check_writable()
        except DatabaseUnavailableError as error:
            logger.warning("Health check failed: %s (%s)", error, error.path)
            raise
        except Exception as error:
            logger.exception("Health check failed")
            raise HTTPException(503, detail="The database is not answering") from error
        return Health(status="ok", database="ok")


def _limiters(settings: Settings, clock: Clock) -> tuple[RateLimiter, RateLimiter]:
    """Return the write and read limiters: their buckets in Redis (shared) if configured.

    Named ``writes`` and ``reads`` (the ``limiter`` label of their metrics); in Redis under
    distinct namespaces, so a read never spends a write's token.
    """

    def limiter(kind: str, rate: float, per: float, burst: float | None) -> RateLimiter:
        if settings.redis_url is None:
            return RateLimiter(rate, per=per, burst=burst, clock=clock, name=kind)
        from python_mastery_portfolio.redis import (  # noqa: PLC0415 - only with Redis
            RedisRateLimiter,
        )

        return RedisRateLimiter(
            rate,
            per,
            url=settings.redis_url,
            namespace=f"{settings.redis_namespace}:{kind}",
            burst=burst,
            clock=clock,
            name=kind,
        )

    return (
        limiter(
            "writes", settings.write_rate_limit, settings.write_rate_period, settings.write_burst
        ),
        limiter("reads", settings.read_rate_limit, settings.read_rate_period, settings.read_burst),
    )


def _close_limiters(*limiters: RateLimiter) -> None:
    for limiter in limiters:
        close = getattr(limiter.store, "close", None)
        if close is not None:
            close()


async def _aclose_limiters(*limiters: RateLimiter) -> None:
    """Close the loop's connections of stores the requests awaited (Redis), on the loop."""
    for limiter in limiters:
        aclose = getattr(limiter.store, "aclose", None)
        if aclose is not None:
            await aclose()


async def _start_around(
    stack: contextlib.AsyncExitStack,
    *,
    settings: Settings,
    container: DIContainer,
    feed: RedisChangeFeed | None,
    registry: _Registry | None,
    metrics: RequestMetrics,
    limiter: RateLimiter,
    read_limiter: RateLimiter,
) -> None:
    """Start what runs beside the API until ``stack`` closes: metrics, the feed, the socket."""
    stack.callback(_close_limiters, limiter, read_limiter)
    # Run first (the stack unwinds backwards): the rate limits await their store's asyncio
    # client, whose connections must close before this loop ends.
    stack.push_async_callback(_aclose_limiters, limiter, read_limiter)
    _instrument(stack, settings, registry, eager=feed is not None)
    users = await container.aresolve(UserService)
    hub = await container.aresolve(EventHub)
    streams = await container.aresolve(EventStreams)
    if feed is not None:
        figures = functools.partial(
            service_stats, metrics, users, limiter, hub, read_limiter=read_limiter, streams=streams
        )

        def report() -> dict[str, Any]:
            text = None if registry is None else registry.render()
            return {"json": figures(), "prometheus": text}

        await stack.enter_async_context(
            feed.running(on_change=users.apply_change, on_sync=users.feed_synced, report=report)
        )
    socket = settings.admin_socket_path
    if socket is not None:
        server = build_admin_server(
            users=users,
            hub=hub,
            metrics=metrics,
            limiter=limiter,
            read_limiter=read_limiter,
            streams=streams,
        )
        await stack.enter_async_context(
            admin_endpoint(socket, server, hub, shared=feed is not None)
        )


def _instrument(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    registry: _Registry | None,
    *,
    eager: bool,
) -> None:
    """Report the toolkit's metrics to ``registry`` and, with ``PMP_OTEL``, OpenTelemetry."""
    if registry is not None:
        # Counting costs every request: from the first scrape on, except with several
        # workers, where another worker's scrape shows this one's series too.
        registry.acquire(eager=eager)
        stack.callback(registry.release)
    if settings.otel:
        try:
            from python_mastery_portfolio.observability import (  # noqa: PLC0415 - [otel]
                install_opentelemetry,
            )

            handle = install_opentelemetry()
        except ImportError as error:
            raise ServiceStartError(f"PMP_OTEL is on, OpenTelemetry is missing: {error}") from error
        stack.callback(handle.uninstall)


def _trace_requests(app: FastAPI) -> None:
    """Give every request a server span (OpenTelemetry's FastAPI instrumentation), if present.

    Added at the outside of the middleware stack, so the toolkit's spans and span events
    (retries, breaker and limiter decisions) nest under the request's span.
    """
    try:
        from opentelemetry.instrumentation.fastapi import (  # noqa: PLC0415 - [otel]
            FastAPIInstrumentor,
        )
    except ImportError:
        logger.warning(
            "PMP_OTEL is on but opentelemetry-instrumentation-fastapi is not installed "
            '(pip install "python-mastery-portfolio[web,otel]"): no request spans, only the '
            "toolkit's"
        )
        return
    FastAPIInstrumentor.instrument_app(app)


class _Registry:
    """The app's own Prometheus registry, its metrics installed from the first scrape on.

    Installed lazily: every part's instrumentation reports cost every request a few
    microseconds, so the instrument goes in on the first Prometheus-format scrape of
    ``/metrics`` (once, under a lock: scrapes may race), or at start-up when ``eager`` (with
    several workers, whose reports carry this worker's text for any worker's scrape). It is
    uninstalled when the last lifespan ends. Counted: a test may run two lifespans of one
    app at once (two clients).
    """

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._users = 0
        self._handle: Any = None
        self._lock = threading.Lock()

    @classmethod
    def new(cls) -> _Registry | None:
        """Return a new one, or ``None`` without the [prometheus] extra."""
        try:
            from prometheus_client import CollectorRegistry  # noqa: PLC0415 - optional extra
        except ImportError:
            return None
        return cls(CollectorRegistry())

    def acquire(self, *, eager: bool) -> None:
        """Count one more lifespan; install the metrics now if ``eager``."""
        with self._lock:
            self._users += 1
            if eager and self._handle is None:
                self._install()

    def release(self) -> None:
        """Count one lifespan less; the last one uninstalls the metrics, if installed."""
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._handle is not None:
                self._handle.uninstall()
                self._handle = None

    def _install(self) -> None:
        """Install the metrics (the lock is held, and they are not installed)."""
        from python_mastery_portfolio.observability import (  # noqa: PLC0415 - [prometheus]
            install_prometheus,
        )

        self._handle = install_prometheus(self.registry)

    def scrape(self) -> str:
        """Return the exposition, installing the metrics first if a lifespan runs."""
        # Always under the lock: scrapes are rare, and the first ones may race.
        with self._lock:
            if self._users and self._handle is None:
                self._install()
        return self.render()

    def render(self) -> str:
        """Return the exposition as it stands (empty of the toolkit's series until scraped)."""
        from python_mastery_portfolio.observability import (  # noqa: PLC0415 - [prometheus]
            render_prometheus,
        )

        return render_prometheus(self.registry)


def _feed(settings: Settings, clock: Clock) -> RedisChangeFeed | None:
    if settings.redis_url is None:
        return None
    from python_mastery_portfolio.service.cluster import (  # noqa: PLC0415 - only with Redis
        RedisChangeFeed,
    )

    return RedisChangeFeed(
        settings.redis_url,
        namespace=settings.redis_namespace,
        report_interval=settings.worker_report_interval,
        clock=clock,
    )


def create_app(settings: Settings | None = None, *, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """Return the Users API application.

    Args:
        settings: The settings; read from ``PMP_*`` environment variables when ``None``.
        clock: The clock of request timing, the cache TTL, the rate limiters and the
            WebSocket send timeout (tests pass a
            :class:`~python_mastery_portfolio.testing.ManualClock`).

    Example:
        >>> import tempfile
        >>> from fastapi.testclient import TestClient
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     app = create_app(Settings(database_path=f"{tmp}/users.db"))
        ...     with TestClient(app, base_url="http://localhost") as client:
        ...         body = {"email": "ada@example.org", "name": "Ada"}
        ...         created = client.post("/users", json=body).json()
        ...         client.get(f"/users/{created['id']}").json()["name"]
        'Ada'
    """
    settings = settings if settings is not None else Settings()
    metrics = RequestMetrics()
    limiter, read_limiter = _limiters(settings, clock)
    feed = _feed(settings, clock)
    # One registry per app (tests build several); its metrics are installed on the first
    # Prometheus scrape while a lifespan runs.
    registry = _Registry.new() if settings.metrics_enabled else None
    write_limit = RateLimit(limiter, trusted_proxies=settings.trusted_proxies)
    read_limit = RateLimit(read_limiter, trusted_proxies=settings.trusted_proxies)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        container = build_container(
            settings, clock=clock, metrics=metrics, limiter=limiter, feed=feed
        )
        install_container(app, container)
        try:
            # Open the database (and fail fast on a bad path) before the first request.
            try:
                await container.aresolve(UserService)
            except Exception as error:
                cause = _root_cause(error)
                if not isinstance(cause, OSError | sqlite3.Error):
                    raise
                path = settings.database_path.expanduser().resolve()
                raise ServiceStartError(f"cannot open the user database {path}: {cause}") from error
            async with contextlib.AsyncExitStack() as stack:
                await _start_around(
                    stack,
                    settings=settings,
                    container=container,
                    feed=feed,
                    registry=registry,
                    metrics=metrics,
                    limiter=limiter,
                    read_limiter=read_limiter,
                )
                logger.info("Users API ready")
                yield
        finally:
            await container.aclose()

    docs = settings.docs_enabled
    app = FastAPI(
        title="python_mastery_portfolio Users API",
        version=__version__,
        description="The reference service built from the python_mastery_portfolio toolkit.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    _short_start_failures(app)
    schema_routes = list(app.router.routes)  # FastAPI's own: /openapi.json
    # Inject parameters are resolved by the route itself: no FastAPI dependency level each.
    app.router.route_class = InjectRoute
    # Added innermost first. One layer sees every answer: request IDs, logs and metrics,
    # the Host check and security headers, the body limits, and the rate limits (spent for
    # every request under /users before it is routed or its body read).
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        clock=clock,
        security=SecurityPolicy(settings.served_hosts),
        body_limit=BodyLimit(settings.max_body_size, body_timeout=settings.body_timeout),
        rate_limits=RateLimitRules(
            [
                (read_limit, ["GET"], ["/users"]),
                (write_limit, ["POST", "PATCH", "DELETE"], ["/users"]),
            ]
        ),
    )
    install_error_handlers(app, max_errors=settings.max_validation_errors)
    if settings.otel:
        _trace_requests(app)
    # Routes are tried in order (each one tried costs a regular-expression match): the
    # probe first, the API next, the docs last.
    _add_health(app)
    _add_user_routes(app)
    _add_index(app, docs=docs)
    add_metrics_route(
        app,
        settings=settings,
        metrics=metrics,
        limiter=limiter,
        read_limiter=read_limiter,
        feed=feed,
        render=None if registry is None else registry.scrape,
        problems=_problems,
    )

    @app.websocket("/ws/events")
    async def events(
        websocket: WebSocket, streams: Annotated[EventStreams, Inject(EventStreams)]
    ) -> None:
        await streams.serve(websocket)

    if docs:
        install_offline_docs(app)
    routes = app.router.routes
    routes[:] = [route for route in routes if route not in schema_routes] + schema_routes
    return app
