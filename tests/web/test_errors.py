"""Tests of the problem+json error handlers."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from python_mastery_portfolio.exceptions import (
    APIError,
    CircuitOpenError,
    ConfigurationError,
    DependencyError,
    PortfolioError,
    RateLimitError,
    ValidationError,
)
from python_mastery_portfolio.web.errors import (
    PROBLEM_JSON,
    ProblemResponse,
    install_error_handlers,
    internal_error_problem,
    problem,
    retry_after_header,
)
from python_mastery_portfolio.web.middleware import RequestContextMiddleware

STANDARD = {"type", "title", "status", "detail", "instance", "code", "request_id"}


class Secret(BaseModel):
    password: str
    age: int


def make_app(*, middleware: bool = True) -> FastAPI:
    app = FastAPI()
    if middleware:
        app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    errors: dict[str, PortfolioError] = {
        "validation": ValidationError("Age cannot be negative", field="age", value=-1),
        "rate": RateLimitError("Too many requests", retry_after=2.2, limit=5),
        "rate-no-limit": RateLimitError("Too many requests", retry_after=0.01),
        "circuit": CircuitOpenError("open", retry_after=7.5, breaker="db"),
        "api": APIError("upstream down", status_code=503, endpoint="/v1"),
        "config": ConfigurationError("Missing DB_PASSWORD=hunter2", config_key="DB"),
        "dependency": DependencyError("Root -> Leaf", chain=("Root", "Leaf")),
    }

    @app.get("/raise/{name}")
    async def raise_error(name: str) -> None:
        raise errors[name]

    @app.get("/http")
    async def http() -> None:
        raise HTTPException(418, detail="I refuse", headers={"X-Extra": "1"})

    @app.get("/http-status/{status}")
    async def http_status(status: int) -> None:
        raise HTTPException(status)

    @app.get("/http-data")
    async def http_data() -> None:
        raise HTTPException(400, detail={"why": ["a", "b"]})

    @app.get("/items")
    async def items(limit: int, offset: int = 0) -> dict[str, int]:
        return {"limit": limit, "offset": offset}  # pragma: no cover - never valid here

    @app.post("/secret")
    async def secret(body: Secret) -> None:
        return None  # pragma: no cover - never valid here

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("internal detail hunter2")

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app(), raise_server_exceptions=False)


def check_problem(response: Any, status: int, path: str) -> dict[str, Any]:
    """Assert the RFC 9457 shape every error response shares and return the body."""
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert set(body) >= STANDARD
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["instance"] == path
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


class TestPortfolioErrors:
    def test_validation_error(self, client: TestClient) -> None:
        """A ValidationError gives 422 with its code, message and context."""
        body = check_problem(client.get("/raise/validation"), 422, "/raise/validation")
        assert body["detail"] == "Age cannot be negative"
        assert body["code"] == "validation_error"
        assert body["context"] == {"field": "age", "value": -1}

    def test_rate_limit_error_has_retry_after_rounded_up(self, client: TestClient) -> None:
        """A RateLimitError gives 429 with Retry-After in whole seconds, rounded up."""
        response = client.get("/raise/rate")
        body = check_problem(response, 429, "/raise/rate")
        assert body["code"] == "rate_limit_exceeded"
        assert response.headers["Retry-After"] == "3"
        assert response.headers["RateLimit-Limit"] == "5"
        assert response.headers["RateLimit-Remaining"] == "0"

    def test_rate_limit_error_without_limit(self, client: TestClient) -> None:
        """Without a limit only Retry-After is set (at least 1 for any wait)."""
        response = client.get("/raise/rate-no-limit")
        check_problem(response, 429, "/raise/rate-no-limit")
        assert response.headers["Retry-After"] == "1"
        assert "RateLimit-Limit" not in response.headers

    def test_circuit_open_gives_503_with_retry_after(self, client: TestClient) -> None:
        """A CircuitOpenError gives 503 with Retry-After."""
        response = client.get("/raise/circuit")
        body = check_problem(response, 503, "/raise/circuit")
        assert body["code"] == "circuit_open"
        assert response.headers["Retry-After"] == "8"

    def test_api_error_uses_its_status(self, client: TestClient) -> None:
        """An APIError uses the upstream status it carries."""
        body = check_problem(client.get("/raise/api"), 503, "/raise/api")
        assert body["code"] == "api_error"
        assert "Retry-After" not in client.get("/raise/api").headers

    @pytest.mark.parametrize("name", ["config", "dependency"], ids=["config", "dependency"])
    def test_internal_portfolio_error_reveals_nothing(
        self, client: TestClient, name: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A PortfolioError with status 500 is answered like an unexpected error."""
        with caplog.at_level(logging.ERROR):
            response = client.get(f"/raise/{name}")
        body = check_problem(response, 500, f"/raise/{name}")
        assert body["code"] == "internal_error"
        assert "context" not in body
        assert "hunter2" not in response.text
        assert "Root" not in response.text
        assert any(r.exc_info for r in caplog.records if r.levelno == logging.ERROR)


class TestHttpExceptions:
    def test_http_exception_keeps_status_detail_and_headers(self, client: TestClient) -> None:
        """HTTPException becomes problem+json with its status, detail and headers."""
        response = client.get("/http")
        body = check_problem(response, 418, "/http")
        assert body["detail"] == "I refuse"
        assert body["code"] == "i_m_a_teapot"
        assert response.headers["X-Extra"] == "1"

    @pytest.mark.parametrize("status", [204, 304], ids=["no-content", "not-modified"])
    def test_bodiless_statuses_have_no_body(self, client: TestClient, status: int) -> None:
        """204 and 304 carry no body, as HTTP requires."""
        response = client.get(f"/http-status/{status}")
        assert response.status_code == status
        assert response.content == b""
        assert "X-Request-ID" in response.headers

    def test_structured_detail_goes_to_errors(self, client: TestClient) -> None:
        """A non-string detail is kept in the errors member; detail stays text."""
        body = check_problem(client.get("/http-data"), 400, "/http-data")
        assert body["detail"] == "Bad Request"
        assert body["errors"] == {"why": ["a", "b"]}

    def test_unknown_route_is_404_problem(self, client: TestClient) -> None:
        """Starlette's own 404 is a problem too."""
        body = check_problem(client.get("/nowhere"), 404, "/nowhere")
        assert body["code"] == "not_found"

    def test_wrong_method_is_405_problem_with_allow(self, client: TestClient) -> None:
        """A 405 keeps its Allow header."""
        response = client.delete("/http")
        body = check_problem(response, 405, "/http")
        assert body["code"] == "method_not_allowed"
        assert response.headers["Allow"] == "GET"


class TestRequestValidation:
    def test_query_errors_list_each_field(self, client: TestClient) -> None:
        """Invalid query parameters give 422 listing each invalid field."""
        response = client.get("/items", params={"limit": "many", "offset": "x"})
        body = check_problem(response, 422, "/items")
        assert body["code"] == "validation_error"
        assert body["detail"] == "The request has 2 invalid fields."
        fields = {(e["location"], e["field"]) for e in body["errors"]}
        assert fields == {("query", "limit"), ("query", "offset")}
        assert all(e["message"] and e["type"] for e in body["errors"])

    def test_missing_query_field(self, client: TestClient) -> None:
        """A missing required parameter is listed with type 'missing'."""
        body = check_problem(client.get("/items"), 422, "/items")
        assert body["detail"] == "The request has 1 invalid field."
        assert body["errors"] == [
            {"field": "limit", "location": "query", "message": "Field required", "type": "missing"}
        ]

    def test_body_errors_do_not_echo_input(self, client: TestClient) -> None:
        """Body errors name the field but never echo the submitted values."""
        response = client.post("/secret", json={"password": "hunter2", "age": "old"})
        body = check_problem(response, 422, "/secret")
        assert body["errors"][0]["field"] == "age"
        assert body["errors"][0]["location"] == "body"
        assert "hunter2" not in response.text
        assert "old" not in response.text

    def test_missing_body(self, client: TestClient) -> None:
        """A missing body is reported against 'body'."""
        body = check_problem(client.post("/secret"), 422, "/secret")
        assert body["errors"][0]["field"] == "body"


class TestWithoutMiddleware:
    def test_unexpected_error_still_problem_500(self, caplog: pytest.LogCaptureFixture) -> None:
        """Without the middleware, the Exception handler answers with the same 500 problem."""
        client = TestClient(make_app(middleware=False), raise_server_exceptions=False)
        with caplog.at_level(logging.ERROR):
            response = client.get("/boom")
        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["code"] == "internal_error"
        assert body["request_id"] is None
        assert "hunter2" not in response.text
        assert any(r.exc_info for r in caplog.records)

    def test_problem_without_request_id(self) -> None:
        """Handled errors work without the middleware; request_id is null."""
        client = TestClient(make_app(middleware=False))
        response = client.get("/raise/validation")
        assert response.json()["request_id"] is None


class TestHelpers:
    @pytest.mark.parametrize(
        ("seconds", "header"),
        [
            (None, None),
            (0.0, "0"),
            (0.001, "1"),
            (1.0, "1"),
            (1.0001, "2"),
            (2.2, "3"),
            (-3.0, "0"),
            (math.inf, None),
            (math.nan, None),
        ],
        ids=["none", "zero", "tiny", "exact", "just-over", "fraction", "negative", "inf", "nan"],
    )
    def test_retry_after_header(self, seconds: float | None, header: str | None) -> None:
        """Retry-After is whole seconds rounded up, never negative, absent when unknown."""
        assert retry_after_header(seconds) == header

    def test_problem_for_unknown_status(self) -> None:
        """A status without a standard phrase gets the title 'Error'."""
        body = problem(599, request_id="r")
        assert body["title"] == "Error"
        assert body["code"] == "error"
        assert "instance" not in body

    def test_problem_extensions(self) -> None:
        """Extension members are added after the standard ones."""
        assert problem(400, request_id="r", hint="x")["hint"] == "x"

    def test_internal_error_problem(self) -> None:
        """The internal error problem has a fixed, generic detail."""
        body = internal_error_problem("/x", "rid")
        assert (body["status"], body["code"], body["request_id"]) == (500, "internal_error", "rid")

    def test_problem_response(self) -> None:
        """ProblemResponse takes its status from the body and sets the media type."""
        response = ProblemResponse(problem(409, request_id="r"), headers={"X-A": "b"})
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["X-A"] == "b"


class StrictThing(BaseModel):
    """A body that forbids unknown fields."""

    model_config = ConfigDict(extra="forbid")
    n: int


class TestHardening:
    """The error answers issue 18 asks for: bounded 422s, one answer for bad bodies, Allow."""

    @staticmethod
    def make_client(max_errors: int = 20, root_path: str = "") -> TestClient:
        app = FastAPI()
        install_error_handlers(app, max_errors=max_errors)

        @app.get("/things")
        async def list_things() -> list[int]:
            return []

        @app.post("/things")
        async def create_thing(body: StrictThing) -> int:
            return body.n

        @app.delete("/things/{thing_id}")
        async def delete_thing(thing_id: int) -> None:
            return None

        @app.patch("/things/{thing_id}")
        async def patch_thing(thing_id: int) -> None:
            return None

        return TestClient(app, root_path=root_path)

    def test_405_lists_every_method(self) -> None:
        """OPTIONS /things answers 405 with Allow: GET, POST (not only the first route's)."""
        response = self.make_client().options("/things")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert response.headers["content-type"] == PROBLEM_JSON

    def test_405_on_a_path_with_parameters(self) -> None:
        """The Allow list of /things/{id} has every method of that path."""
        response = self.make_client(root_path="/api").get("/things/1")
        assert response.headers["allow"] == "DELETE, PATCH"

    def test_405_of_a_plain_exception_keeps_its_headers(self) -> None:
        """A 405 raised outside routing (no router in scope) keeps the Allow it was given."""
        from starlette.exceptions import HTTPException

        app = FastAPI()
        install_error_handlers(app)

        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            raise HTTPException(405, headers={"Allow": "GET"})

        app.mount("/raw", asgi)
        assert TestClient(app).get("/raw").headers["allow"] == "GET"

    def test_not_utf8_is_like_broken_json(self) -> None:
        """A body that is not UTF-8 is a 422 json_invalid, like broken JSON; never a 400."""
        client = self.make_client()
        headers = {"content-type": "application/json"}
        broken = client.post("/things", content=b'{"n": 1', headers=headers)
        latin = client.post("/things", content=b'{"n": "\xe9"}', headers=headers)
        assert broken.status_code == latin.status_code == 422
        assert latin.json()["errors"][0]["type"] == "json_invalid"
        assert broken.json()["errors"][0]["type"] == "json_invalid"

    def test_errors_are_capped(self) -> None:
        """A body with many unknown fields lists at most max_errors, with the total."""
        body = {"n": 1, **{f"x{i}": i for i in range(50)}}
        problem = self.make_client(max_errors=5).post("/things", json=body).json()
        assert len(problem["errors"]) == 5
        assert problem["error_count"] == 50
        assert problem["detail"] == "The request has 50 invalid fields."

    def test_uncapped_has_no_count(self) -> None:
        """Below the cap the answer is as before, without error_count."""
        problem = self.make_client().post("/things", json={"n": "x"}).json()
        assert "error_count" not in problem

    def test_max_errors_is_checked(self) -> None:
        """max_errors below 1 is refused."""
        with pytest.raises(ValueError, match="max_errors"):
            install_error_handlers(FastAPI(), max_errors=0)
