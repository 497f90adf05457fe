"""Tests of the offline Swagger UI and ReDoc pages."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from python_mastery_portfolio.web.docs import install_offline_docs

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture
def client() -> TestClient:
    app = FastAPI(title="Demo")
    install_offline_docs(app)
    return TestClient(app)


class TestOfflineDocs:
    @pytest.mark.parametrize("page", ["/docs", "/redoc"], ids=["swagger", "redoc"])
    def test_page_has_no_remote_url(self, client: TestClient, page: str) -> None:
        """The docs pages reference no CDN or any other remote URL."""
        response = client.get(page)
        assert response.status_code == 200
        assert "cdn." not in response.text
        assert "http://" not in response.text
        assert "https://" not in response.text
        assert "fonts.googleapis" not in response.text

    @pytest.mark.parametrize("page", ["/docs", "/redoc"], ids=["swagger", "redoc"])
    def test_every_asset_is_served(self, client: TestClient, page: str) -> None:
        """Every script, style and icon the page loads is served locally."""
        assets = ASSET.findall(client.get(page).text)
        assert assets
        for url in assets:
            assert url.startswith("/static/docs/")
            response = client.get(url)
            assert response.status_code == 200, url
            assert len(response.content) > 1000, url

    def test_swagger_validator_is_off(self, client: TestClient) -> None:
        """Swagger UI's online validator badge, a remote call, is turned off."""
        assert '"validatorUrl": null' in client.get("/docs").text

    def test_schema_still_served(self, client: TestClient) -> None:
        """The page's schema URL works."""
        assert client.get("/openapi.json").json()["info"]["title"] == "Demo"

    def test_oauth2_redirect_page(self, client: TestClient) -> None:
        """The OAuth2 redirect page Swagger UI links to exists."""
        assert client.get("/docs/oauth2-redirect").status_code == 200

    def test_replaces_fastapi_cdn_pages(self) -> None:
        """FastAPI's own CDN pages are removed, so exactly one /docs route remains."""
        app = FastAPI()
        install_offline_docs(app)
        paths = [getattr(route, "path", None) for route in app.routes]
        assert paths.count("/docs") == 1
        assert paths.count("/redoc") == 1
        assert paths.count("/docs/oauth2-redirect") == 1
        assert "cdn." not in TestClient(app).get("/docs").text

    def test_app_without_default_docs_gets_redirect_page(self) -> None:
        """An app created without docs still gets the OAuth2 redirect page."""
        app = FastAPI(docs_url=None, redoc_url=None)
        install_offline_docs(app, docs_url="/api-docs", redoc_url=None)
        client = TestClient(app)
        assert client.get("/api-docs").status_code == 200
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/redoc").status_code == 404

    def test_no_pages(self) -> None:
        """docs_url=None and redoc_url=None serve only the assets."""
        app = FastAPI(docs_url=None, redoc_url=None)
        install_offline_docs(app, docs_url=None, redoc_url=None)
        client = TestClient(app)
        assert client.get("/docs").status_code == 404
        assert client.get("/static/docs/swagger-ui.css").status_code == 200

    def test_root_path_prefixes_urls(self) -> None:
        """Behind a proxy prefix (root_path) the asset and schema URLs carry it."""
        app = FastAPI()
        install_offline_docs(app)
        text = TestClient(app, root_path="/api").get("/docs").text
        assert "/api/static/docs/swagger-ui-bundle.js" in text
        assert "'/api/openapi.json'" in text

    def test_custom_static_url(self) -> None:
        """static_url moves the assets."""
        app = FastAPI()
        install_offline_docs(app, static_url="/assets/")
        client = TestClient(app)
        assert "/assets/swagger-ui.css" in client.get("/docs").text
        assert client.get("/assets/swagger-ui.css").status_code == 200

    def test_requires_openapi(self) -> None:
        """An app without an OpenAPI schema is refused."""
        with pytest.raises(ValueError, match="openapi_url"):
            install_offline_docs(FastAPI(openapi_url=None))
