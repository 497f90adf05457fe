"""Resolve FastAPI dependencies from the toolkit's :class:`DIContainer`.

``Inject(T)`` is a FastAPI dependency that resolves ``T`` from the container installed on the
application. Every HTTP request (and WebSocket session) that uses it gets one DI scope, shared
by all its ``Inject`` parameters: scoped services are built once per request, and their
generator factories are finalised after the response has been sent (an exception raised by
the endpoint is thrown into them, so a unit of work can roll back).

The dependency is one plain ``async def`` taking the connection, so FastAPI solves one level
and enters no generator per parameter. A singleton is handed out straight from the
container, without a scope (its lifetime is looked up on each request, so an override that
changes it is honoured). For a scoped or transient service, the request's scope is opened
by the first ``Inject`` of the request that needs one and kept in the ASGI scope for the
others, and its closing is pushed on FastAPI's per-request exit stack, which runs after
the response. Endpoints whose ``Inject`` parameters are all singletons, and endpoints
without ``Inject``, open no scope at all.

Example:
    >>> from typing import Annotated
    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
    >>> class Greeter:
    ...     def greet(self) -> str:
    ...         return "hello"
    >>> app = FastAPI()
    >>> install_container(app, DIContainer().register(Greeter, scope=LifecycleScope.SCOPED))
    >>> @app.get("/")
    ... async def root(greeter: Annotated[Greeter, Inject(Greeter)]) -> str:
    ...     return greeter.greet()
    >>> TestClient(app).get("/").json()
    'hello'
"""

from __future__ import annotations

import functools
import inspect
import typing
import weakref
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, TypeVar

from fastapi import Depends
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from python_mastery_portfolio._internal.sentinels import MISSING
from python_mastery_portfolio.di_container import DIContainer, LifecycleScope, Scope
from python_mastery_portfolio.exceptions import ConfigurationError

__all__ = ["Inject", "InjectRoute", "get_container", "install_container", "request_scope"]

T = TypeVar("T")

# The installed container, an attribute of the application object: one lookup per request
# (Starlette's app.state is a Python-level __getattr__, ten times slower).
_APP_ATTRIBUTE = "_pmp_container"
_SCOPE_KEY = "pmp.di_scope"  # the request's DI scope, in the ASGI scope
# FastAPI's per-request AsyncExitStack (>= 0.118): exited after the response was sent,
# with the endpoint's exception; FastAPI finalises its own yield dependencies on it.
_FASTAPI_STACK_KEY = "fastapi_inner_astack"
_SINGLETON = LifecycleScope.SINGLETON
# Each Inject dependency's function -> the service type it resolves (read by InjectRoute).
_INJECTED: weakref.WeakKeyDictionary[Callable[..., Any], Any] = weakref.WeakKeyDictionary()


def install_container(app: Starlette, container: DIContainer) -> None:
    """Make ``container`` the one :func:`Inject` resolves from in ``app``.

    Call it again (for example in the lifespan) to replace the container.

    Example:
        >>> from fastapi import FastAPI
        >>> from python_mastery_portfolio.di_container import DIContainer
        >>> app = FastAPI()
        >>> container = DIContainer().register(int, instance=7)
        >>> install_container(app, container)
        >>> get_container(app) is container
        True
    """
    setattr(app, _APP_ATTRIBUTE, container)


def get_container(app_or_connection: Starlette | HTTPConnection) -> DIContainer:
    """Return the container installed on an application (or a connection's application).

    Raises:
        ConfigurationError: If none was installed.
    """
    # Starlette first: a plain class, where HTTPConnection's isinstance goes through ABCMeta.
    app = (
        app_or_connection
        if isinstance(app_or_connection, Starlette)
        else app_or_connection.scope["app"]
    )
    container: DIContainer | None = getattr(app, _APP_ATTRIBUTE, None)
    if container is None:
        raise ConfigurationError(
            "No DIContainer is installed on this application; call install_container(app, ...)",
            config_key="install_container",
        )
    return container


async def request_scope(connection: HTTPConnection) -> Scope:
    """Return the DI scope of the current request, opening it on first use.

    One scope per request (or WebSocket session), shared by every :func:`Inject` of it;
    it is closed after the response has been sent, with the endpoint's exception (if
    any) thrown into its generator factories. Use it as ``Depends(request_scope)``.

    Raises:
        ConfigurationError: If no container is installed, or the connection is not being
            handled by a FastAPI route (which provides the per-request exit stack).
    """
    scope: Scope | None = connection.scope.get(_SCOPE_KEY)
    if scope is None:
        scope = _open_scope(connection, get_container(connection))
    return scope


def _open_scope(connection: HTTPConnection, container: DIContainer) -> Scope:
    asgi_scope = connection.scope
    stack = asgi_scope.get(_FASTAPI_STACK_KEY)
    if not isinstance(stack, AsyncExitStack):
        raise ConfigurationError(
            "Inject and request_scope need a FastAPI route (FastAPI >= 0.118): "
            "its per-request exit stack closes the DI scope after the response",
            config_key=_FASTAPI_STACK_KEY,
        )
    scope = container.scope()
    asgi_scope[_SCOPE_KEY] = scope
    stack.push_async_exit(functools.partial(_close, scope))
    return scope


async def _close(
    scope: Scope,
    exc_type: type[BaseException] | None,
    error: BaseException | None,
    traceback: TracebackType | None,
) -> bool:
    # Not shielded (an anyio CancelScope costs more than the rest of the bridge): only an
    # async generator factory can be interrupted, and only by a cancellation arriving while
    # it awaits in its clean-up; it then sees CancelledError, and the others still run.
    await scope.aclose(error)
    return False  # never swallow the endpoint's exception


def Inject(service_type: type[T] | Callable[..., T]) -> Any:  # noqa: N802 - reads like Depends
    """Return a FastAPI dependency that resolves ``service_type`` in the request's DI scope.

    Use it in ``Annotated[T, Inject(T)]`` (or as a parameter default, like ``Depends``).
    A singleton comes straight from the container: no scope is opened for it.

    Args:
        service_type: The registered service type.

    Example:
        >>> from typing import Annotated
        >>> from fastapi import FastAPI
        >>> from fastapi.testclient import TestClient
        >>> from python_mastery_portfolio.di_container import DIContainer
        >>> class Settings:
        ...     greeting = "hello"
        >>> app = FastAPI()
        >>> install_container(app, DIContainer().register(Settings, instance=Settings()))
        >>> @app.get("/greeting")
        ... async def greeting(settings: Annotated[Settings, Inject(Settings)]) -> str:
        ...     return settings.greeting
        >>> TestClient(app).get("/greeting").json()
        'hello'
    """

    async def resolve(connection: HTTPConnection) -> T:
        service: T = await _resolve(connection, service_type)
        return service

    resolve.__name__ = f"inject_{getattr(service_type, '__name__', 'service')}"
    _INJECTED[resolve] = service_type
    return Depends(resolve)


async def _resolve(connection: HTTPConnection, service_type: Any) -> Any:
    """Return ``service_type`` for this request: a built singleton at once, else resolved."""
    container = get_container(connection)
    # Looked up per request, not kept: an override or re-registration forgets it.
    service = container.built(service_type, MISSING)
    if service is not MISSING:
        return service
    scope: Scope | None = connection.scope.get(_SCOPE_KEY)
    if scope is None:
        if container.lifetime(service_type) is _SINGLETON:
            return await container.aresolve(service_type)
        scope = _open_scope(connection, container)
    return await scope.aresolve(service_type)


def _injected_service(parameter: inspect.Parameter) -> tuple[bool, Any]:
    """Return whether ``parameter`` is an ``Inject`` one, and the service it resolves."""
    candidates: list[Any] = [parameter.default]
    if typing.get_origin(parameter.annotation) is typing.Annotated:
        candidates.extend(parameter.annotation.__metadata__)
    for candidate in candidates:
        if isinstance(candidate, DependsParam):
            dependency = candidate.dependency
            if dependency is not None and dependency in _INJECTED:
                return True, _INJECTED[dependency]
    return False, None


def _direct(endpoint: Callable[..., Any]) -> Callable[..., Any] | None:
    """Return ``endpoint`` resolving its ``Inject`` parameters itself, or ``None`` if it cannot."""
    if not inspect.iscoroutinefunction(endpoint):
        return None
    try:
        signature = inspect.signature(endpoint, eval_str=True)
    except Exception:  # noqa: BLE001 - any failure: FastAPI's own way, which reports it
        return None
    kept: list[inspect.Parameter] = []
    injected: list[tuple[str, Any]] = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            return None
        found, service_type = _injected_service(parameter)
        if found:
            injected.append((parameter.name, service_type))
        else:
            kept.append(parameter)
    if not injected:
        return None
    connection_name = "pmp_connection"
    while connection_name in signature.parameters:
        connection_name += "_"
    kept.append(
        inspect.Parameter(
            connection_name, inspect.Parameter.KEYWORD_ONLY, annotation=HTTPConnection
        )
    )

    async def direct(**values: Any) -> Any:
        connection = values.pop(connection_name)
        for name, service_type in injected:
            values[name] = await _resolve(connection, service_type)
        return await endpoint(**values)

    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(direct, attribute, getattr(endpoint, attribute))
    # Not __wrapped__: FastAPI must read this signature, not the endpoint's.
    direct.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]  # read by inspect.signature
    return direct


class InjectRoute(APIRoute):
    """A FastAPI route that resolves the endpoint's :func:`Inject` parameters itself.

    FastAPI solves each dependency as a level of its own (its parameters, its cache key,
    its call), which costs about 10 us per request and parameter; this route class removes
    the endpoint's ``Inject`` parameters from what FastAPI solves and resolves them just
    before the endpoint runs, in one call per parameter: the same services, the same
    request scope (shared with ``Inject`` in nested dependencies and
    ``Depends(request_scope)``), finalised after the response as before. Differences:
    they are resolved after the request has been validated (a 422 resolves nothing), and
    ``app.dependency_overrides`` does not apply to them (override the service in the
    container: ``DIContainer.override``). Sync endpoints, endpoints with ``*args`` or
    ``**kwargs``, and endpoints whose annotations cannot be evaluated are left to FastAPI.

    Use it as ``app.router.route_class = InjectRoute`` before adding routes, or
    ``APIRouter(route_class=InjectRoute)``.

    Example:
        >>> from typing import Annotated
        >>> from fastapi import FastAPI
        >>> from fastapi.testclient import TestClient
        >>> from python_mastery_portfolio.di_container import DIContainer, LifecycleScope
        >>> class Greeter:
        ...     def greet(self) -> str:
        ...         return "hello"
        >>> app = FastAPI()
        >>> app.router.route_class = InjectRoute
        >>> install_container(app, DIContainer().register(Greeter, scope=LifecycleScope.SINGLETON))
        >>> @app.get("/")
        ... async def root(greeter: Annotated[Greeter, Inject(Greeter)]) -> str:
        ...     return greeter.greet()
        >>> TestClient(app).get("/").json()
        'hello'
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        direct = _direct(endpoint)
        super().__init__(path, endpoint if direct is None else direct, **kwargs)
