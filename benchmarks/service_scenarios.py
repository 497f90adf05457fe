"""The service rows of ``make bench``: the reference app against a bare FastAPI app.

Both apps run in this process and are called through raw ASGI (the scope, ``receive`` and
``send`` are built here: no socket, no HTTP client), so the figure is the apps' own cost per
request and stays stable on a shared machine. The reference app is
:func:`python_mastery_portfolio.service.create_app` with a temporary database, the admin
socket off and rate limits too high to refuse anything; the floor is
:mod:`benchmarks.bare_app`, the same endpoints on the same storage with nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bare_app import create_bare_app
from benchmarks.harness import OURS, Contender, Prepared, Scenario

GOAL = 1.10
"""The most the reference app may cost per request, as a multiple of the bare app."""

SEEDED_USERS = 40
"""Users stored before timing: enough for a page of 20 and a cycle of reads."""

_HOST = b"localhost"


class AsgiDriver:
    """Drive an ASGI application in process: its lifespan, then one request at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._lifespan: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[dict[str, Any]] | None = None
        self._from_app: asyncio.Queue[dict[str, Any]] | None = None

    async def start(self) -> None:
        """Run the lifespan's start-up; raise if it failed."""
        self._to_app, self._from_app = asyncio.Queue(), asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._lifespan = asyncio.ensure_future(
            self.app(scope, self._to_app.get, self._from_app.put)
        )
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"start-up failed: {message}")

    async def stop(self) -> None:
        """Run the lifespan's shutdown."""
        if self._lifespan is None or self._to_app is None or self._from_app is None:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        await self._lifespan

    async def request(
        self, method: str, path: str, query: bytes = b"", body: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request; return the response's status and body."""
        headers = [(b"host", _HOST), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*")]
        if body:
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": self.state.copy(),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:  # pragma: no cover - only if an app reads past the body
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def _seed(database: Path) -> list[str]:
    from python_mastery_portfolio.service.repository import SQLiteUserRepository

    with SQLiteUserRepository(database) as repository:
        return [
            repository.add(email=f"seed{n}@example.org", name=f"Seed {n}", age=30).id
            for n in range(SEEDED_USERS)
        ]


def _ours(database: Path) -> Any:
    from python_mastery_portfolio.service import create_app
    from python_mastery_portfolio.service.settings import Settings

    settings = Settings(
        database_path=database,
        admin_socket="",
        # Limits too high to refuse anything: the benchmark measures serving, not refusing.
        write_rate_limit=1e6,
        read_rate_limit=1e6,
        # One entry, read in a cycle of many IDs: every GET by ID misses (the cache is off).
        cache_maxsize=1,
    )
    return create_app(settings)


def _bare(database: Path) -> Any:
    return create_bare_app(database)


def _contender(
    build: Callable[[Path], Any],
    call: Callable[[AsgiDriver, list[str], itertools.count[int]], Any],
    expected: int,
    check: Callable[[bytes, list[str]], None],
) -> Prepared:
    directory = Path(tempfile.mkdtemp(prefix="pmp-bench-"))
    database = directory / "users.db"
    ids = _seed(database)
    driver = AsgiDriver(build(database))
    counter = itertools.count()
    statuses: set[int] = set()
    last: list[bytes] = []
    started = False

    async def op() -> None:
        nonlocal started
        if not started:
            await driver.start()
            started = True
        status, body = await call(driver, ids, counter)
        statuses.add(status)
        if not last:
            last.append(body)

    def verify() -> None:
        assert statuses == {expected}, f"expected {expected}, got {sorted(statuses)}"
        check(last[0], ids)

    async def close() -> None:
        try:
            await driver.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    return Prepared(op, verify, is_async=True, close=close)


async def _health(driver: AsgiDriver, ids: list[str], counter: itertools.count[int]) -> Any:
    return await driver.request("GET", "/health")


async def _get_user(driver: AsgiDriver, ids: list[str], counter: itertools.count[int]) -> Any:
    return await driver.request("GET", f"/users/{ids[next(counter) % len(ids)]}")


async def _list_users(driver: AsgiDriver, ids: list[str], counter: itertools.count[int]) -> Any:
    return await driver.request("GET", "/users", b"limit=20")


async def _create_user(driver: AsgiDriver, ids: list[str], counter: itertools.count[int]) -> Any:
    body = json.dumps({"email": f"user{next(counter)}@example.org", "name": "Ada", "age": 36})
    return await driver.request("POST", "/users", body=body.encode())


def _check_health(body: bytes, ids: list[str]) -> None:
    assert json.loads(body) == {"status": "ok", "database": "ok"}


def _check_user(body: bytes, ids: list[str]) -> None:
    assert json.loads(body)["id"] == ids[0]


def _check_page(body: bytes, ids: list[str]) -> None:
    page = json.loads(body)
    assert [item["id"] for item in page["items"]] == ids[:20], page


def _check_created(body: bytes, ids: list[str]) -> None:
    assert json.loads(body)["email"] == "user0@example.org"


def _scenario(  # noqa: PLR0917 - a private table-row builder, read row by row below
    name: str,
    title: str,
    call: Callable[[AsgiDriver, list[str], itertools.count[int]], Any],
    expected: int,
    check: Callable[[bytes, list[str]], None],
    note: str,
) -> Scenario:
    return Scenario(
        name,
        title,
        [
            Contender(OURS, lambda: _contender(_ours, call, expected, check)),
            Contender(
                "bare FastAPI",
                lambda: _contender(_bare, call, expected, check),
                "fastapi",
                GOAL,
            ),
        ],
        note=note,
    )


def service_scenarios() -> list[Scenario]:
    """Return the four service scenarios: health, read by ID, list and create."""
    common = (
        "In process through raw ASGI (no sockets), the reference service against a bare "
        "FastAPI app with the same endpoints, models and SQLite storage work (reads on a "
        "4-thread pool, writes on one writer thread)."
    )
    return [
        _scenario("service_health", "Service GET /health", _health, 200, _check_health, common),
        _scenario(
            "service_get_user",
            "Service GET /users/{id} (cache off)",
            _get_user,
            200,
            _check_user,
            common + " Reads cycle over 40 users through a one-entry cache, so each misses.",
        ),
        _scenario(
            "service_list_users",
            "Service GET /users?limit=20",
            _list_users,
            200,
            _check_page,
            common,
        ),
        _scenario(
            "service_create_user",
            "Service POST /users",
            _create_user,
            201,
            _check_created,
            common + " The write limit is set too high to refuse anything.",
        ),
    ]
