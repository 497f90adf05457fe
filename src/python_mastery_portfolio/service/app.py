"""The Users API: ``create_app()`` wires the toolkit's parts into a FastAPI application.

Everything is registered in one :class:`~python_mastery_portfolio.di_container.DIContainer`
built at start-up (in the lifespan): the settings, the SQLite repository, the user service,
the event hub, the rate limiter and the request metrics. The repository is opened (the
database and table created) before the first request, and every resource is closed at
shutdown, in reverse order, by closing the container.

The lifespan also serves the admin JSON-RPC endpoint (:mod:`~.admin`) on the Unix socket
``PMP_ADMIN_SOCKET`` (by default ``pmp.sock`` next to the database; empty: off), which
``pmp status``, ``pmp events`` and ``pmp top`` talk to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Response, WebSocket
from fastapi import Path as PathParam
from starlette.websockets import WebSocketDisconnect

from python_mastery_portfolio import __version__
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
from python_mastery_portfolio.resilience import RateLimiter
from python_mastery_portfolio.service.admin import (
    admin_endpoint,
    build_admin_server,
    service_stats,
)
from python_mastery_portfolio.service.events import EventHub, Subscription
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
from python_mastery_portfolio.service.users import UserService
from python_mastery_portfolio.web.di import Inject, install_container
from python_mastery_portfolio.web.docs import install_offline_docs
from python_mastery_portfolio.web.errors import PROBLEM_JSON, install_error_handlers
from python_mastery_portfolio.web.metrics import RequestMetrics
from python_mastery_portfolio.web.middleware import RequestContextMiddleware
from python_mastery_portfolio.web.ratelimit import RateLimit

__all__ = ["build_container", "create_app"]

logger = logging.getLogger(__name__)

Users = Annotated[UserService, Inject(UserService)]
UserId = Annotated[str, PathParam(min_length=1, max_length=64)]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "A problem"}
        for status in statuses
    }


# -- the container -------------------------------------------------------------------------


def _repository(settings: Settings) -> Iterator[SQLiteUserRepository]:
    repository = SQLiteUserRepository(settings.database_path.expanduser().resolve())
    repository.open()
    try:
        yield repository
    finally:
        repository.close()
        logger.info("Closed user database %s", repository.path)


def _event_hub(settings: Settings) -> Iterator[EventHub]:
    hub = EventHub(queue_size=settings.events_queue_size)
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
) -> DIContainer:
    """Register every part of the service in a new container.

    Args:
        settings: The service's settings.
        clock: The clock of the cache TTL and the rate limiter.
        metrics: The request metrics (new ones by default).
        limiter: The write rate limiter (built from ``settings`` by default).

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
        )
        try:
            yield service
        finally:
            service.close()

    if limiter is None:
        limiter = RateLimiter(
            settings.write_rate_limit,
            per=settings.write_rate_period,
            burst=settings.write_burst,
            clock=clock,
        )
    singleton = LifecycleScope.SINGLETON
    return (
        DIContainer()
        .register(Settings, instance=settings)
        .register(RequestMetrics, instance=metrics if metrics is not None else RequestMetrics())
        .register(RateLimiter, instance=limiter)
        .register(EventHub, factory=_event_hub, scope=singleton)
        .register(SQLiteUserRepository, factory=_repository, scope=singleton)
        .register(UserService, factory=user_service, scope=singleton)
    )


# -- the application -----------------------------------------------------------------------


def create_app(settings: Settings | None = None, *, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """Return the Users API application.

    Args:
        settings: The settings; read from ``PMP_*`` environment variables when ``None``.
        clock: The clock of request timing, the cache TTL and the rate limiter (tests pass a
            :class:`~python_mastery_portfolio.testing.ManualClock`).

    Example:
        >>> import tempfile
        >>> from fastapi.testclient import TestClient
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     app = create_app(Settings(database_path=f"{tmp}/users.db"))
        ...     with TestClient(app) as client:
        ...         body = {"email": "ada@example.org", "name": "Ada"}
        ...         created = client.post("/users", json=body).json()
        ...         client.get(f"/users/{created['id']}").json()["name"]
        'Ada'
    """
    settings = settings if settings is not None else Settings()
    metrics = RequestMetrics()
    limiter = RateLimiter(
        settings.write_rate_limit,
        per=settings.write_rate_period,
        burst=settings.write_burst,
        clock=clock,
    )
    write_limit = RateLimit(limiter, trusted_proxies=settings.trusted_proxies)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        container = build_container(settings, clock=clock, metrics=metrics, limiter=limiter)
        install_container(app, container)
        try:
            # Open the database (and fail fast on a bad path) before the first request.
            users = await container.aresolve(UserService)
            async with contextlib.AsyncExitStack() as stack:
                socket = settings.admin_socket_path
                if socket is not None:
                    hub = await container.aresolve(EventHub)
                    server = build_admin_server(
                        users=users, hub=hub, metrics=metrics, limiter=limiter
                    )
                    await stack.enter_async_context(admin_endpoint(socket, server, hub))
                logger.info("Users API ready")
                yield
        finally:
            await container.aclose()

    app = FastAPI(
        title="python_mastery_portfolio Users API",
        version=__version__,
        description="The reference service built from the python_mastery_portfolio toolkit.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics, clock=clock)
    install_error_handlers(app)
    install_offline_docs(app)
    writes = [Depends(write_limit)]

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, str]:
        return {"service": app.title, "version": __version__, "docs": "/docs"}

    @app.post(
        "/users",
        status_code=201,
        dependencies=writes,
        responses=_problems(409, 422, 429),
        summary="Create a user",
    )
    async def create_user(body: UserCreate, users: Users, response: Response) -> User:
        user = await users.create(body)
        response.headers["Location"] = f"/users/{user.id}"
        return user

    @app.get("/users", summary="List users", responses=_problems(422))
    async def list_users(
        users: Users,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> UserPage:
        return await users.page(limit=limit, offset=offset)

    @app.get("/users/{user_id}", summary="Get a user", responses=_problems(404, 422))
    async def get_user(user_id: UserId, users: Users) -> User:
        return await users.get(user_id)

    @app.patch(
        "/users/{user_id}",
        dependencies=writes,
        responses=_problems(404, 409, 422, 429),
        summary="Change some of a user's fields",
    )
    async def update_user(user_id: UserId, body: UserUpdate, users: Users) -> User:
        return await users.update(user_id, body)

    @app.delete(
        "/users/{user_id}",
        status_code=204,
        dependencies=writes,
        responses=_problems(404, 422, 429),
        summary="Delete a user",
    )
    async def delete_user(user_id: UserId, users: Users) -> Response:
        await users.delete(user_id)
        return Response(status_code=204)

    @app.get("/health", summary="Check the service and its database", responses=_problems(503))
    async def health(users: Users) -> Health:
        try:
            await users.ping()
        except Exception as error:
            logger.exception("Health check failed")
            raise HTTPException(503, detail="The database is not answering") from error
        return Health(status="ok", database="ok")

    @app.get("/metrics", summary="Request, cache, rate-limit and event statistics")
    async def get_metrics(
        users: Users,
        hub: Annotated[EventHub, Inject(EventHub)],
    ) -> dict[str, Any]:
        return service_stats(metrics, users, limiter, hub)

    @app.websocket("/ws/events")
    async def events(websocket: WebSocket, hub: Annotated[EventHub, Inject(EventHub)]) -> None:
        await _stream_events(websocket, hub)

    return app


async def _forward(subscription: Subscription, websocket: WebSocket) -> None:
    while (text := await subscription.get()) is not None:
        await websocket.send_text(text)


async def _until_disconnect(websocket: WebSocket) -> None:
    # Messages from the client are ignored; this only notices that it went away.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _stream_events(websocket: WebSocket, hub: EventHub) -> None:
    """Send every event to the client until it disconnects or the hub closes."""
    # Subscribe before accepting, so a client that saw the handshake misses no event.
    with hub.subscribe() as subscription:
        await websocket.accept()
        sender = asyncio.create_task(_forward(subscription, websocket))
        watcher = asyncio.create_task(_until_disconnect(websocket))
        try:
            await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, watcher):
                task.cancel()
            await asyncio.wait({sender, watcher})
        for task in (sender, watcher):
            error = None if task.cancelled() else task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect):
                logger.debug("Event stream ended: %r", error)
        if sender.done() and not sender.cancelled() and sender.exception() is None:
            # The hub closed (the server is stopping): say goodbye properly.
            await websocket.close(code=1001)
