"""The floor of the service benchmark: a bare FastAPI app with the reference app's endpoints.

It serves ``GET /health``, ``GET /users/{id}``, ``GET /users`` and ``POST /users`` with the
same models and the same storage as the reference service, reached the same way (async
endpoints, the synchronous SQLite repository on a 4-thread pool), and nothing else: no
middleware, no dependency injection, no rate limit, no cache, no events, no error handlers
beyond FastAPI's own. What the reference app costs on top of this is the toolkit's overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, HTTPException, Query, Response
from fastapi import Path as PathParam

from python_mastery_portfolio.service.models import Health, User, UserCreate, UserPage
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

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> Health:
        await run(repository.ping)
        return Health(status="ok", database="ok")

    @app.get("/users/{user_id}")
    async def get_user(user_id: UserId) -> User:
        user = await run(repository.get, user_id)
        if user is None:
            raise HTTPException(404, detail="no such user")
        return user

    @app.get("/users")
    async def list_users(
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> UserPage:
        items, total = await run(repository.page, limit=limit, offset=offset)
        return UserPage(items=items, total=total, limit=limit, offset=offset)

    @app.post("/users", status_code=201)
    async def create_user(body: UserCreate, response: Response) -> User:
        user = await run(repository.add, email=body.email, name=body.name, age=body.age)
        response.headers["Location"] = f"/users/{user.id}"
        return user

    return app
