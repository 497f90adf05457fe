"""Tests of the DIContainer-to-FastAPI bridge: one DI scope per request."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from python_mastery_portfolio.di import Scope as DIScope
from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
from python_mastery_portfolio.exceptions import ConfigurationError
from python_mastery_portfolio.web.di import (
    Inject,
    InjectRoute,
    get_container,
    install_container,
    request_scope,
)
from python_mastery_portfolio.web.errors import install_error_handlers

_ids = itertools.count()


class Settings:
    def __init__(self) -> None:
        self.name = "demo"


class UnitOfWork:
    def __init__(self) -> None:
        self.id = next(_ids)


class Repo:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow


class AsyncClientThing:
    pass


class Resource:
    pass


class SentRecorder:
    """Pure ASGI middleware noting when the last body chunk has been sent."""

    def __init__(self, app: ASGIApp, log: list[str]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def recording(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.log.append("sent")

        await self.app(scope, receive, recording)


def repo_id(repo: Annotated[Repo, Inject(Repo)]) -> int:
    """A nested dependency (module level: FastAPI resolves annotations in module globals)."""
    return repo.uow.id


def make_app(log: list[str]) -> tuple[FastAPI, DIContainer]:
    def unit_of_work() -> Iterator[UnitOfWork]:
        uow = UnitOfWork()
        log.append(f"open {uow.id}")
        try:
            yield uow
        except Exception as error:
            log.append(f"rollback {type(error).__name__}")
            raise
        log.append(f"finalised {uow.id}")

    async def async_thing() -> AsyncIterator[AsyncClientThing]:
        yield AsyncClientThing()
        log.append("async finalised")

    container = (
        DIContainer()
        .register(Settings, scope=LifecycleScope.SINGLETON)
        .register(UnitOfWork, factory=unit_of_work, scope=LifecycleScope.SCOPED)
        .register(Repo)
        .register(AsyncClientThing, factory=async_thing, scope=LifecycleScope.SCOPED)
    )
    app = FastAPI()
    app.add_middleware(SentRecorder, log=log)
    install_error_handlers(app)
    install_container(app, container)

    @app.get("/ids")
    async def ids(
        uow: Annotated[UnitOfWork, Inject(UnitOfWork)],
        repo: Annotated[Repo, Inject(Repo)],
        nested: Annotated[int, Depends(repo_id)],
        settings: Annotated[Settings, Inject(Settings)],
    ) -> dict[str, object]:
        log.append("endpoint")
        return {"uow": uow.id, "repo": repo.uow.id, "nested": nested, "name": settings.name}

    @app.get("/fail")
    async def fail(uow: Annotated[UnitOfWork, Inject(UnitOfWork)]) -> None:
        raise HTTPException(409, detail="conflict")

    @app.get("/async")
    async def async_endpoint(thing: AsyncClientThing = Inject(AsyncClientThing)) -> str:  # noqa: B008 - FastAPI's default-style dependency
        return type(thing).__name__

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, uow: Annotated[UnitOfWork, Inject(UnitOfWork)]) -> None:
        await websocket.accept()
        await websocket.send_json({"uow": uow.id})
        await websocket.close()

    return app, container


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def client(log: list[str]) -> TestClient:
    return TestClient(make_app(log)[0])


class TestInject:
    def test_one_scope_per_request(self, client: TestClient) -> None:
        """Every Inject of one request shares its scoped services, nested ones included."""
        body = client.get("/ids").json()
        assert body["uow"] == body["repo"] == body["nested"]
        assert body["name"] == "demo"

    def test_scopes_differ_between_requests(self, client: TestClient) -> None:
        """Two requests get two scopes."""
        assert client.get("/ids").json()["uow"] != client.get("/ids").json()["uow"]

    def test_finalised_after_the_response_is_sent(self, client: TestClient, log: list[str]) -> None:
        """The scope's generators are finalised after the response body was sent."""
        uow = client.get("/ids").json()["uow"]
        assert log == [f"open {uow}", "endpoint", "sent", f"finalised {uow}"]

    def test_endpoint_error_is_thrown_into_the_scope(
        self, client: TestClient, log: list[str]
    ) -> None:
        """An exception from the endpoint reaches the generator (so it can roll back)."""
        response = client.get("/fail")
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert "rollback HTTPException" in log

    def test_async_factories(self, client: TestClient, log: list[str]) -> None:
        """Async generator factories are resolved and finalised too."""
        assert client.get("/async").json() == "AsyncClientThing"
        assert log[-1] == "async finalised"

    def test_websocket_sessions_get_a_scope(self, client: TestClient, log: list[str]) -> None:
        """A WebSocket session resolves in its own scope, finalised when it ends."""
        with client.websocket_connect("/ws") as ws:
            uow = ws.receive_json()["uow"]
        assert f"finalised {uow}" in log

    def test_missing_container_is_a_500(self) -> None:
        """Without an installed container the request fails as a server error."""
        app = FastAPI()
        install_error_handlers(app)

        @app.get("/")
        async def root(settings: Annotated[Settings, Inject(Settings)]) -> None:
            return None  # pragma: no cover - never reached

        response = TestClient(app, raise_server_exceptions=False).get("/")
        assert response.status_code == 500
        assert response.json()["code"] == "internal_error"

    def test_dependency_named_after_the_service(self) -> None:
        """The generated dependency is named for readable errors and docs."""
        assert Inject(Settings).dependency.__name__ == "inject_Settings"


class TestContainerAccess:
    def test_get_container_from_app(self, log: list[str]) -> None:
        """get_container accepts the application itself."""
        app, container = make_app(log)
        assert get_container(app) is container

    def test_install_replaces(self, log: list[str]) -> None:
        """Installing again replaces the container."""
        app, _ = make_app(log)
        other = DIContainer()
        install_container(app, other)
        assert get_container(app) is other

    def test_missing(self) -> None:
        """Asking an app without a container is a ConfigurationError."""
        with pytest.raises(ConfigurationError, match="install_container"):
            get_container(FastAPI())


class TestRequestScope:
    def test_shared_with_depends_request_scope(self, log: list[str]) -> None:
        """Depends(request_scope) sees the scope the Inject parameters resolved in."""
        app, _ = make_app(log)

        @app.get("/both")
        async def both(
            uow: Annotated[UnitOfWork, Inject(UnitOfWork)],
            scope: Annotated[DIScope, Depends(request_scope)],
        ) -> bool:
            return scope.resolve(UnitOfWork) is uow

        assert TestClient(app).get("/both").json() is True

    def test_request_scope_first(self, log: list[str]) -> None:
        """A scope opened by Depends(request_scope) is the one Inject resolves in."""
        app, _ = make_app(log)

        @app.get("/scope-first")
        async def scope_first(
            scope: Annotated[DIScope, Depends(request_scope)],
            uow: Annotated[UnitOfWork, Inject(UnitOfWork)],
        ) -> bool:
            return scope.resolve(UnitOfWork) is uow

        assert TestClient(app).get("/scope-first").json() is True
        assert log[-1].startswith("finalised")

    def test_no_scope_without_inject(self, log: list[str]) -> None:
        """An endpoint without Inject opens no DI scope."""
        app, _ = make_app(log)
        seen: list[object] = []

        @app.get("/plain")
        async def plain(request: Request) -> None:
            seen.append(request.scope.get("pmp.di_scope"))

        assert TestClient(app).get("/plain").status_code == 200
        assert seen == [None]

    def test_outside_a_fastapi_route(self, log: list[str]) -> None:
        """Without FastAPI's per-request exit stack the scope cannot be closed: refused."""
        _, container = make_app(log)
        app = Starlette()
        install_container(app, container)

        async def endpoint(request: Request) -> PlainTextResponse:
            await request_scope(request)
            return PlainTextResponse("unreachable")  # pragma: no cover - raised above

        app.add_route("/", endpoint)
        with pytest.raises(ConfigurationError, match="FastAPI route"):
            TestClient(app).get("/")

    def test_cancelled_request_still_finalises(self, log: list[str]) -> None:
        """A request cancelled mid-endpoint still finalises its scope, with the cancellation."""
        app, container = make_app(log)
        entered = asyncio.Event()

        def resource() -> Iterator[Resource]:
            try:
                yield Resource()
            except BaseException as error:
                log.append(f"closed by {type(error).__name__}")
                raise

        container.register(Resource, factory=resource, scope=LifecycleScope.SCOPED)

        @app.get("/hang")
        async def hang(held: Annotated[Resource, Inject(Resource)]) -> None:
            entered.set()
            await asyncio.Event().wait()

        async def run() -> None:
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/hang",
                "raw_path": b"/hang",
                "query_string": b"",
                "headers": [],
                "root_path": "",
            }

            async def receive() -> Message:
                await asyncio.Event().wait()
                raise AssertionError  # pragma: no cover - never returns

            async def send(message: Message) -> None:  # pragma: no cover - nothing is sent
                pass

            task = asyncio.ensure_future(app(scope, receive, send))
            await entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(run())
        assert log == ["closed by CancelledError"]

    def test_many_concurrent_requests_keep_their_scopes(self, log: list[str]) -> None:
        """Concurrent requests never share or leak a scope."""
        app, _ = make_app(log)

        async def run() -> list[int]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                responses = await asyncio.gather(*(client.get("/ids") for _ in range(50)))
            bodies = [response.json() for response in responses]
            assert all(b["uow"] == b["repo"] == b["nested"] for b in bodies)
            return [b["uow"] for b in bodies]

        uows = asyncio.run(run())
        assert len(set(uows)) == 50
        assert sum(entry.startswith("finalised") for entry in log) == 50


class TestSingletons:
    def test_singleton_only_endpoint_opens_no_scope(self, log: list[str]) -> None:
        """Singletons come straight from the container: no DI scope is opened."""
        app, container = make_app(log)
        seen: list[object] = []

        @app.get("/singleton")
        async def singleton(
            request: Request, settings: Annotated[Settings, Inject(Settings)]
        ) -> bool:
            seen.append(request.scope.get("pmp.di_scope"))
            return settings is container.resolve(Settings)

        client = TestClient(app)
        assert client.get("/singleton").json() is True
        assert client.get("/singleton").json() is True
        assert seen == [None, None]

    def test_singleton_after_a_scope_resolves_in_it(self, log: list[str]) -> None:
        """Once a request has a scope, a singleton resolved through it is the same object."""
        app, container = make_app(log)

        @app.get("/mixed")
        async def mixed(
            uow: Annotated[UnitOfWork, Inject(UnitOfWork)],
            settings: Annotated[Settings, Inject(Settings)],
            scope: Annotated[DIScope, Depends(request_scope)],
        ) -> bool:
            return settings is container.resolve(Settings) and scope.resolve(UnitOfWork) is uow

        assert TestClient(app).get("/mixed").json() is True

    def test_async_singleton(self) -> None:
        """A singleton with an async factory is awaited once and shared."""
        built: list[AsyncClientThing] = []

        async def make() -> AsyncClientThing:
            built.append(AsyncClientThing())
            return built[-1]

        container = DIContainer().register(
            AsyncClientThing, factory=make, scope=LifecycleScope.SINGLETON
        )
        app = FastAPI()
        install_container(app, container)

        @app.get("/")
        async def root(thing: Annotated[AsyncClientThing, Inject(AsyncClientThing)]) -> int:
            return built.index(thing)

        client = TestClient(app)
        assert [client.get("/").json() for _ in range(3)] == [0, 0, 0]
        assert len(built) == 1

    def test_override_to_scoped_is_honoured(self, log: list[str]) -> None:
        """An override that makes a singleton scoped gets a scope, one instance per request."""
        app, container = make_app(log)
        seen: list[object] = []
        instances: list[Settings] = []  # kept alive, so no two share an id()

        @app.get("/settings")
        async def settings_id(
            request: Request,
            first: Annotated[Settings, Inject(Settings)],
            second: Annotated[Settings, Inject(Settings)],
        ) -> bool:
            seen.append(request.scope.get("pmp.di_scope"))
            instances.append(first)
            return first is second

        client = TestClient(app)
        with container.override(Settings, Settings, scope=LifecycleScope.SCOPED):
            assert all(client.get("/settings").json() for _ in range(3))
        assert len({id(instance) for instance in instances}) == 3
        assert all(scope is not None for scope in seen)
        assert client.get("/settings").json() is True
        assert seen[-1] is None
        assert instances[-1] is container.resolve(Settings)


def module_endpoint(settings: Annotated[Settings, Inject(Settings)]) -> str:
    """A sync endpoint (module level): left to FastAPI."""
    return settings.name


def make_route_app(log: list[str]) -> tuple[FastAPI, DIContainer]:
    """make_app's container and routes, on InjectRoute."""
    app, container = make_app(log)
    direct = FastAPI()
    direct.router.route_class = InjectRoute
    direct.add_middleware(SentRecorder, log=log)
    install_error_handlers(direct)
    install_container(direct, container)
    for route in app.routes:
        if isinstance(route, APIRoute) and not route.path.startswith(("/docs", "/openapi")):
            direct.add_api_route(route.path, route.endpoint, methods=sorted(route.methods or ()))
    return direct, container


class TestInjectRoute:
    def test_same_answers_and_scopes(self, log: list[str]) -> None:
        """Inject parameters, nested Inject and singletons resolve as with APIRoute."""
        app, _ = make_route_app(log)
        body = TestClient(app).get("/ids").json()
        assert body["uow"] == body["repo"] == body["nested"]
        assert body["name"] == "demo"
        assert log == [f"open {body['uow']}", "endpoint", "sent", f"finalised {body['uow']}"]

    def test_endpoint_error_is_thrown_into_the_scope(self, log: list[str]) -> None:
        """The endpoint's exception still reaches the scope's generator factories."""
        app, _ = make_route_app(log)
        assert TestClient(app).get("/fail").status_code == 409
        assert "rollback HTTPException" in log

    def test_default_style_and_async_factories(self, log: list[str]) -> None:
        """Inject as a parameter default works, async factories are awaited and finalised."""
        app, _ = make_route_app(log)
        assert TestClient(app).get("/async").json() == "AsyncClientThing"
        assert "async finalised" in log

    def test_injected_parameters_leave_the_dependency_tree(self, log: list[str]) -> None:
        """FastAPI solves no dependency for Inject parameters; the schema is unchanged."""
        app, _ = make_route_app(log)
        plain, _ = make_app(log)
        route = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == "/ids")
        assert [d.name for d in route.dependant.dependencies] == ["nested"]
        assert route.name == "ids"
        paths = {path: ops for path, ops in app.openapi()["paths"].items() if path == "/ids"}
        assert paths == {"/ids": plain.openapi()["paths"]["/ids"]}

    def test_singletons_open_no_scope(self, log: list[str]) -> None:
        """A singleton-only endpoint opens no DI scope."""
        app, container = make_route_app(log)
        seen: list[object] = []

        @app.get("/singleton")
        async def singleton(
            request: Request, settings: Annotated[Settings, Inject(Settings)]
        ) -> bool:
            seen.append(request.scope.get("pmp.di_scope"))
            return settings is container.resolve(Settings)

        assert TestClient(app).get("/singleton").json() is True
        assert seen == [None]

    def test_validation_error_resolves_nothing(self, log: list[str]) -> None:
        """A request FastAPI refuses (422) opens no scope."""
        app, _ = make_route_app(log)

        @app.get("/count/{number}")
        async def count(number: int, uow: Annotated[UnitOfWork, Inject(UnitOfWork)]) -> int:
            return number  # pragma: no cover - never reached

        assert TestClient(app).get("/count/nan").status_code == 422
        assert log == ["sent"]  # no "open": the unit of work was never built

    def test_parameter_named_like_the_connection(self, log: list[str]) -> None:
        """An endpoint parameter named pmp_connection keeps its meaning."""
        app, _ = make_route_app(log)

        @app.get("/clash")
        async def clash(
            pmp_connection: str, settings: Annotated[Settings, Inject(Settings)]
        ) -> str:
            return pmp_connection + settings.name

        assert TestClient(app).get("/clash", params={"pmp_connection": "x-"}).json() == "x-demo"

    def test_left_to_fastapi(self, log: list[str]) -> None:
        """Sync endpoints, **kwargs, no Inject and unresolvable annotations keep APIRoute's way."""
        app, _ = make_route_app(log)

        async def with_kwargs(**kwargs: Any) -> None:  # pragma: no cover - never called
            return None

        async def unresolvable(thing: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821 - on purpose
            return None  # pragma: no cover - never called

        async def plain() -> str:
            return "plain"

        endpoints: list[Callable[..., Any]] = [module_endpoint, with_kwargs, unresolvable, plain]
        for endpoint in endpoints:
            route = InjectRoute("/x", endpoint)
            assert route.endpoint is endpoint
        app.add_api_route("/sync", module_endpoint)
        app.add_api_route("/plain", plain)
        client = TestClient(app)
        assert client.get("/sync").json() == "demo"
        assert client.get("/plain").json() == "plain"
