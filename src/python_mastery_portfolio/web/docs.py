"""Interactive API docs (Swagger UI and ReDoc) that work without internet access.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN. :func:`install_offline_docs`
serves the same pages with the assets shipped in the ``fastapi-offline`` package instead,
and turns off Swagger UI's online validator badge, so the page makes no outside request.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

__all__ = ["ASSETS_PACKAGE", "install_offline_docs"]

ASSETS_PACKAGE = "fastapi_offline"
"""The package whose ``static`` directory holds the Swagger UI and ReDoc assets."""


def _route_path(route: BaseRoute) -> str | None:
    return route.path if isinstance(route, Route) else None


def install_offline_docs(
    app: FastAPI,
    *,
    docs_url: str | None = "/docs",
    redoc_url: str | None = "/redoc",
    static_url: str = "/static/docs",
) -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url`` from local assets.

    FastAPI's own CDN-backed pages, if the app has them, are removed first.

    Args:
        app: The application; its ``openapi_url`` must be set.
        docs_url: Path of the Swagger UI page, or ``None`` for none.
        redoc_url: Path of the ReDoc page, or ``None`` for none.
        static_url: Path the assets are mounted at.

    Raises:
        ValueError: If the app has no OpenAPI schema to document.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> app = FastAPI()
        >>> install_offline_docs(app)
        >>> page = TestClient(app).get("/docs").text
        >>> "cdn." in page, "/static/docs/swagger-ui-bundle.js" in page
        (False, True)
    """
    if app.openapi_url is None:
        raise ValueError("app.openapi_url is None: there is no schema to document")
    openapi_url = app.openapi_url
    replaced = {app.docs_url, app.redoc_url} - {None}
    app.router.routes[:] = [
        route for route in app.router.routes if _route_path(route) not in replaced
    ]
    app.docs_url, app.redoc_url = docs_url, redoc_url
    static = static_url.rstrip("/")
    app.mount(
        static, StaticFiles(packages=[(ASSETS_PACKAGE, "static")]), name="offline-docs-assets"
    )
    parameters = {"validatorUrl": None, **(app.swagger_ui_parameters or {})}

    if docs_url is not None:

        async def swagger_ui(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            return get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{static}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{static}/swagger-ui.css",
                swagger_favicon_url=f"{root}{static}/favicon.png",
                oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=parameters,
            )

        app.add_api_route(docs_url, swagger_ui, methods=["GET"], include_in_schema=False)
        redirect_url = app.swagger_ui_oauth2_redirect_url
        paths = {_route_path(route) for route in app.router.routes}
        if redirect_url is not None and redirect_url not in paths:

            async def oauth2_redirect() -> HTMLResponse:
                return get_swagger_ui_oauth2_redirect_html()

            app.add_api_route(
                redirect_url, oauth2_redirect, methods=["GET"], include_in_schema=False
            )

    if redoc_url is not None:

        async def redoc(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            return get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{static}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{static}/favicon.png",
                with_google_fonts=False,
            )

        app.add_api_route(redoc_url, redoc, methods=["GET"], include_in_schema=False)
