"""The floor of the service benchmark: a bare FastAPI app with the reference app's endpoints.

It has the reference service's routes, in the same order (FastAPI routes a request by
trying them in turn, so the table's length is part of each request's cost), with the same
models and the same storage reached the same way (async endpoints, the synchronous SQLite
repository with reads on a 4-thread pool and writes on one writer thread), and nothing
else: no middleware, no dependency injection, no rate limit, no cache, no events, no error
handlers beyond FastAPI's own. The four the benchmark calls do the same storage work as
the reference's: ``GET /users/{id}`` reads the row, ``GET /users`` takes the same query
parameters and reads a keyset page (``next_cursor``, no count unless ``total=true``),
``POST /users`` inserts on the writer thread, and ``GET /health`` checks what a write
needs as the reference's does (the file checks on the loop, then the repository's
database checks in one trip to a read thread); the other routes only fill the table.
What the reference app costs on top of this is the toolkit's overhead. The threads are
reached with ``loop.run_in_executor`` on ``ThreadPoolExecutor``s, the standard library's way
and what a FastAPI app without the toolkit does; the reference app uses the toolkit's
``WorkerPool.asubmit``, whose cheaper hand-off is part of what the toolkit brings.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, HTTPException, Query, Response, WebSocket
from fastapi import Path as PathParam

from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.service.models import (
    Health,
    User,
    UserCreate,
    UserPage,
    UserUpdate,
)
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.service.users import decode_cursor, encode_cursor

T = TypeVar("T")

UserId = Annotated[str, PathParam(min_length=1, max_length=64)]


def bare_app_from_env() -> FastAPI:
    """Return the bare app on the database named by ``PMP_DATABASE_PATH`` (a uvicorn factory)."""
    return create_bare_app(Path(os.environ["PMP_DATABASE_PATH"]))


def create_bare_app(database: Path, *, workers: int = 4) -> FastAPI:
    """Return the bare app storing users in ``database``."""
    repository = SQLiteUserRepository(database)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bare-db")
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bare-db-write")

    async def run(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(func, *args, **kwargs))

    async def write(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(writer, functools.partial(func, *args, **kwargs))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        repository.open()
        try:
            yield
        finally:
            writer.shutdown(wait=True)
            executor.shutdown(wait=True)
            repository.close()

    app = FastAPI(lifespan=lifespan)
    # FastAPI's own /openapi.json, /docs, /docs/oauth2-redirect and /redoc go last, as the
    # reference's schema and documentation routes do; /health comes first, as there.
    documentation = list(app.router.routes)

    @app.get("/health")
    async def health() -> Health:
        repository.check_files()
        await run(repository.check_database)
        return Health(status="ok", database="ok")

    @app.post("/users", status_code=201)
    async def create_user(body: UserCreate, response: Response) -> User:
        user = await write(repository.add, email=body.email, name=body.name, age=body.age)
        response.headers["Location"] = f"/users/{user.id}"
        return user

    @app.get("/users")
    async def list_users(
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
        cursor: Annotated[
            str | None, Query(min_length=1, max_length=64, pattern="^[A-Za-z0-9_-]+$")
        ] = None,
        total: bool = False,
    ) -> UserPage:
        try:
            after = 0 if cursor is None else decode_cursor(cursor)
        except ValidationError as error:  # pragma: no cover - the benchmark sends no cursor
            raise HTTPException(422, detail=str(error)) from error
        items, count, end = await run(
            repository.list_page, limit=limit, offset=offset, after=after, with_total=total
        )
        return UserPage(
            items=items,
            total=count,
            limit=limit,
            offset=offset,
            next_cursor=None if end is None else encode_cursor(end),
        )

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
        user = await write(repository.update, user_id, body.changes())
        if user is None:
            raise HTTPException(404, detail="no such user")
        return user

    @app.delete("/users/{user_id}", status_code=204)
    async def delete_user(user_id: UserId) -> Response:  # only fills the route table
        if await write(repository.remove, user_id) is None:
            raise HTTPException(404, detail="no such user")
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, str]:  # only fills the route table
        return {"service": "bare"}

    @app.get("/metrics")
    async def metrics() -> dict[str, Any]:  # only fills the route table
        return {}

    @app.websocket("/ws/events")
    async def events(websocket: WebSocket) -> None:  # only fills the route table
        await websocket.accept()
        await websocket.close()

    routes = app.router.routes
    routes[:] = [route for route in routes if route not in documentation] + documentation
    return app
