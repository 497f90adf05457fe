"""The floor of the service benchmark: a bare FastAPI app with the reference app's endpoints.

It has the reference service's routes, in the same order (FastAPI routes a request by
trying them in turn, so the table's length is part of each request's cost), with the same
models and the same storage reached the same way (async endpoints, the synchronous SQLite
repository on a 4-thread pool), and nothing else: no middleware, no dependency injection,
no rate limit, no cache, no events, no error handlers beyond FastAPI's own. The four the
benchmark calls (``GET /health``, ``GET /users/{id}``, ``GET /users``, ``POST /users``) do
the same work as the reference's; the others only fill the table. What the reference app
costs on top of this is the toolkit's overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, HTTPException, Query, Response, WebSocket
from fastapi import Path as PathParam

from python_mastery_portfolio.service.models import (
    Health,
    User,
    UserCreate,
    UserPage,
    UserUpdate,
)
from python_mastery_portfolio.service.repository import SQLiteUserRepository

T = TypeVar("T")

UserId = Annotated[str, PathParam(min_length=1, max_length=64)]


def create_bare_app(database: Path, *, workers: int = 4) -> FastAPI:
    """Return the bare app storing users in ``database``."""
    repository = SQLiteUserRepository(database)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bare-db")

    async def run(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(func, *args, **kwargs))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        repository.open()
        try:
            yield
        finally:
            executor.shutdown(wait=True)
            repository.close()

    # FastAPI's own /openapi.json, /docs, /docs/oauth2-redirect and /redoc come first, as
    # the reference's documentation routes do.
    app = FastAPI(lifespan=lifespan)

    @app.post("/users", status_code=201)
    async def create_user(body: UserCreate, response: Response) -> User:
        user = await run(repository.add, email=body.email, name=body.name, age=body.age)
        response.headers["Location"] = f"/users/{user.id}"
        return user

    @app.get("/users")
    async def list_users(
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> UserPage:
        items, total = await run(repository.page, limit=limit, offset=offset)
        return UserPage(items=items, total=total, limit=limit, offset=offset)

    @app.get("/users/{user_id}")
    async def get_user(user_id: UserId) -> User:
        user = await run(repository.get, user_id)
        if user is None:
            raise HTTPException(404, detail="no such user")
        return user

    @app.patch("/users/{user_id}")
    async def update_user(  # only fills the route table
        user_id: UserId, body: UserUpdate
    ) -> User:
        user = await run(repository.update, user_id, body.changes())
        if user is None:
            raise HTTPException(404, detail="no such user")
        return user

    @app.delete("/users/{user_id}", status_code=204)
    async def delete_user(user_id: UserId) -> Response:  # only fills the route table
        if await run(repository.remove, user_id) is None:
            raise HTTPException(404, detail="no such user")
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, str]:  # only fills the route table
        return {"service": "bare"}

    @app.get("/health")
    async def health() -> Health:
        await run(repository.ping)
        return Health(status="ok", database="ok")

    @app.get("/metrics")
    async def metrics() -> dict[str, Any]:  # only fills the route table
        return {}

    @app.websocket("/ws/events")
    async def events(websocket: WebSocket) -> None:  # only fills the route table
        await websocket.accept()
        await websocket.close()

    return app
