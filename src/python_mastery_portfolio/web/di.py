"""Resolve FastAPI dependencies from the toolkit's :class:`DIContainer`.

``Inject(T)`` is a FastAPI dependency that resolves ``T`` from the container installed on the
application. Every HTTP request (and WebSocket session) that uses it gets one DI scope, shared
by all its ``Inject`` parameters: scoped services are built once per request, and their
generator factories are finalised after the response has been sent (an exception raised by
the endpoint is thrown into them, so a unit of work can roll back).

The dependency is one plain ``async def`` taking the connection, so FastAPI solves one level
and enters no generator per parameter: the request's scope is opened by the first
``Inject`` of the request that runs and kept in the ASGI scope for the others, and its
closing is pushed on FastAPI's per-request exit stack, which runs after the response.
Endpoints without ``Inject`` open no scope at all.

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
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, TypeVar

from fastapi import Depends
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from python_mastery_portfolio.di_container import DIContainer, Scope
from python_mastery_portfolio.exceptions import ConfigurationError

__all__ = ["Inject", "get_container", "install_container", "request_scope"]

T = TypeVar("T")

_STATE_KEY = "pmp_container"
_SCOPE_KEY = "pmp.di_scope"  # the request's DI scope, in the ASGI scope
# FastAPI's per-request AsyncExitStack (>= 0.118): exited after the response was sent,
# with the endpoint's exception; FastAPI finalises its own yield dependencies on it.
_FASTAPI_STACK_KEY = "fastapi_inner_astack"


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


async def request_scope(connection: HTTPConnection) -> Scope:
    """Return the DI scope of the current request, opening it on first use.

    One scope per request (or WebSocket session), shared by every :func:`Inject` of it;
    it is closed after the response has been sent, with the endpoint's exception (if
    any) thrown into its generator factories. Use it as ``Depends(request_scope)``.

    Raises:
        ConfigurationError: If no container is installed, or the connection is not being
            handled by a FastAPI route (which provides the per-request exit stack).
    """
    asgi_scope = connection.scope
    scope: Scope | None = asgi_scope.get(_SCOPE_KEY)
    if scope is None:
        stack = asgi_scope.get(_FASTAPI_STACK_KEY)
        if not isinstance(stack, AsyncExitStack):
            raise ConfigurationError(
                "Inject and request_scope need a FastAPI route (FastAPI >= 0.118): "
                "its per-request exit stack closes the DI scope after the response",
                config_key=_FASTAPI_STACK_KEY,
            )
        scope = get_container(connection).scope()
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

    Args:
        service_type: The registered service type.
    """

    async def resolve(connection: HTTPConnection) -> T:
        scope: Scope | None = connection.scope.get(_SCOPE_KEY)
        if scope is None:
            scope = await request_scope(connection)
        service: T = await scope.aresolve(service_type)
        return service

    resolve.__name__ = f"inject_{getattr(service_type, '__name__', 'service')}"
    return Depends(resolve)
