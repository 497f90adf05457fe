"""Resolve FastAPI dependencies from the toolkit's :class:`DIContainer`.

``Inject(T)`` is a FastAPI dependency that resolves ``T`` from the container installed on the
application. Every HTTP request (and WebSocket session) that uses it gets one DI scope, shared
by all its ``Inject`` parameters: scoped services are built once per request, and their
generator factories are finalised after the response has been sent (an exception raised by
the endpoint is thrown into them, so a unit of work can roll back).

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

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from python_mastery_portfolio.di_container import DIContainer, Scope
from python_mastery_portfolio.exceptions import ConfigurationError

__all__ = ["Inject", "get_container", "install_container", "request_scope"]

T = TypeVar("T")

_STATE_KEY = "pmp_container"


def install_container(app: Starlette, container: DIContainer) -> None:
    """Make ``container`` the one :func:`Inject` resolves from in ``app``.

    Call it again (for example in the lifespan) to replace the container.
    """
    setattr(app.state, _STATE_KEY, container)


def get_container(app_or_connection: Starlette | HTTPConnection) -> DIContainer:
    """Return the container installed on an application (or a connection's application).

    Raises:
        ConfigurationError: If none was installed.
    """
    app = (
        app_or_connection.app
        if isinstance(app_or_connection, HTTPConnection)
        else app_or_connection
    )
    container: DIContainer | None = getattr(app.state, _STATE_KEY, None)
    if container is None:
        raise ConfigurationError(
            "No DIContainer is installed on this application; call install_container(app, ...)",
            config_key="app.state." + _STATE_KEY,
        )
    return container


async def request_scope(connection: HTTPConnection) -> AsyncIterator[Scope]:
    """Yield the DI scope of the current request; FastAPI closes it after the response.

    FastAPI caches a dependency per request, so every :func:`Inject` of one request shares
    this scope.
    """
    async with get_container(connection).scope() as scope:
        yield scope


def Inject(service_type: type[T] | Callable[..., T]) -> Any:  # noqa: N802 - reads like Depends
    """Return a FastAPI dependency that resolves ``service_type`` in the request's DI scope.

    Use it in ``Annotated[T, Inject(T)]`` (or as a parameter default, like ``Depends``).

    Args:
        service_type: The registered service type.
    """

    async def resolve(scope: Annotated[Scope, Depends(request_scope)]) -> T:
        service: T = await scope.aresolve(service_type)
        return service

    resolve.__name__ = f"inject_{getattr(service_type, '__name__', 'service')}"
    return Depends(resolve)
