"""GET /metrics in Prometheus' text format, and PMP_OTEL."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from python_mastery_portfolio import observability
from python_mastery_portfolio.instrumentation import HOOKS
from python_mastery_portfolio.service.app import create_app
from python_mastery_portfolio.service.errors import ServiceStartError
from python_mastery_portfolio.service.repository import SQLiteUserRepository
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.web.di import get_container
from tests.conftest import run_threads
from tests.service.test_app import ADA, make_settings
from tests.service.test_repository import ReleasingClock

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition by (name, labels), parsed by prometheus_client."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def hooks_on() -> bool:
    """Whether an instrument is installed (a call, so the checker does not narrow it)."""
    return HOOKS.active


def value(parsed: Samples, name: str, **labels: str) -> float:
    return parsed.get((name, frozenset(labels.items())), 0.0)


class LateReleasingClock(ReleasingClock):
    """Releases the other connection's lock at the retry's wait, once the holder holds it."""

    def __init__(self) -> None:
        super().__init__(sqlite3.connect(":memory:"))


@pytest.fixture
def clock() -> LateReleasingClock:
    return LateReleasingClock()


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> FastAPI:
    return create_app(make_settings(tmp_path, write_rate_limit=3), clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _script(client: TestClient, clock: LateReleasingClock) -> str:
    """A cache miss then a hit, a write retried on a locked database, a 429."""
    user = client.post("/users", json=ADA).json()
    for _ in range(2):
        assert client.get(f"/users/{user['id']}").status_code == 200
    container = get_container(client.app)  # type: ignore[arg-type]  # the FastAPI app
    repository = container.resolve(SQLiteUserRepository)
    repository._busy_timeout = 0  # the lock is met at once: the retry takes over
    holder = sqlite3.connect(repository.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    clock.holder = holder  # released at the retry's first wait
    assert client.patch(f"/users/{user['id']}", json={"age": 40}).status_code == 200
    holder.close()
    assert client.delete(f"/users/{user['id']}").status_code == 204
    assert client.post("/users", json=ADA).status_code == 429
    return str(user["id"])


class TestPrometheus:
    @pytest.mark.parametrize(
        ("query", "headers"),
        [
            ("?format=prometheus", {}),
            ("", {"Accept": "text/plain"}),
            ("", {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"}),
        ],
        ids=["query", "accept-text", "prometheus-scraper"],
    )
    def test_a_scripted_sequence_shows_in_the_counters(
        self,
        client: TestClient,
        clock: LateReleasingClock,
        query: str,
        headers: dict[str, str],
    ) -> None:
        """The cache hit, the retry, the 429 and the requests by route template are counted."""
        # The metrics are installed by the first scrape: they count from there on.
        assert client.get(f"/metrics{query}", headers=headers).status_code == 200
        user_id = _script(client, clock)
        response = client.get(f"/metrics{query}", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        parsed = samples(response.text)
        cache = "pmp_cache_requests_total"
        assert value(parsed, cache, cache="users", result="hit") == 1
        assert value(parsed, cache, cache="users", result="miss") == 1
        decisions = "pmp_rate_limit_decisions_total"
        assert value(parsed, decisions, limiter="writes", decision="allowed") == 3
        # One 429 is one decision of the limiter (RateLimiter.take), counted once.
        assert value(parsed, decisions, limiter="writes", decision="rejected") == 1
        assert value(parsed, decisions, limiter="reads", decision="allowed") == 2
        retries = {
            dict(labels)["function"]: amount
            for (name, labels), amount in parsed.items()
            if name == "pmp_retry_attempts_total"
        }
        assert retries == {
            "python_mastery_portfolio.service.repository.SQLiteUserRepository._write_once": 1
        }
        route = {"route": "/users/{user_id}", "method": "GET"}
        assert value(parsed, "pmp_http_requests_total", **route, status="200") == 2
        assert value(parsed, "pmp_http_duration_seconds_count", **route) == 2
        # Refused before routing (the rate limits run in the request layer): no template.
        refused = {"route": "<unmatched>", "method": "POST", "status": "429"}
        assert value(parsed, "pmp_http_requests_total", **refused) == 1
        assert user_id not in response.text  # by route template, never by raw path

    @pytest.mark.parametrize(
        ("query", "headers"),
        [
            ("", {}),
            ("", {"Accept": "application/json, text/plain, */*"}),
            ("?format=json", {"Accept": "text/plain"}),
        ],
        ids=["default", "browser-accept", "query-wins"],
    )
    def test_json_stays_the_default(
        self, client: TestClient, query: str, headers: dict[str, str]
    ) -> None:
        """Existing clients still get the JSON figures."""
        response = client.get(f"/metrics{query}", headers=headers)
        assert response.headers["content-type"] == "application/json"
        assert {"requests", "cache", "rate_limiter", "events"} <= set(response.json())

    def test_an_unknown_format_is_a_422(self, client: TestClient) -> None:
        """?format= takes json or prometheus."""
        assert client.get("/metrics?format=xml").status_code == 422

    def test_the_metrics_leave_with_the_app(self, tmp_path: Path) -> None:
        """The app's metrics are installed while it runs and uninstalled at shutdown."""
        assert not hooks_on()
        app = create_app(make_settings(tmp_path))
        with TestClient(app) as first, TestClient(app) as second:
            first.get("/metrics?format=prometheus")
            assert hooks_on()
            first.get("/health")
            second.get("/health")
        assert not hooks_on()
        with TestClient(create_app(make_settings(tmp_path))) as again:
            assert "pmp_http_requests_total" in again.get("/metrics?format=prometheus").text

    def test_nothing_counts_before_the_first_scrape(self, client: TestClient) -> None:
        """Requests pay for no instrument until Prometheus asks; the JSON form is unaffected."""
        client.get("/health")
        assert client.get("/metrics").status_code == 200
        assert not hooks_on()
        first = samples(client.get("/metrics?format=prometheus").text)
        assert hooks_on()
        health = {"route": "/health", "method": "GET", "status": "200"}
        assert value(first, "pmp_http_requests_total", **health) == 0
        client.get("/health")
        again = samples(client.get("/metrics?format=prometheus").text)
        assert value(again, "pmp_http_requests_total", **health) == 1

    @pytest.mark.usefixtures("fast_switching")
    def test_racing_first_scrapes_install_once(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Scrapes arriving together install the metrics once."""
        installed: list[object] = []
        install = observability.install_prometheus

        def counting(registry: Any) -> Any:
            installed.append(registry)
            return install(registry)

        monkeypatch.setattr(observability, "install_prometheus", counting)
        results = run_threads(8, lambda _: client.get("/metrics?format=prometheus"))
        assert [response.status_code for response in results] == [200] * 8
        assert len(installed) == 1

    def test_without_the_extra_prometheus_is_a_406(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without prometheus-client, JSON still works and Prometheus text is refused."""
        monkeypatch.setitem(sys.modules, "prometheus_client", None)
        with TestClient(create_app(make_settings(tmp_path))) as client:
            assert client.get("/metrics").status_code == 200
            response = client.get("/metrics?format=prometheus")
        assert response.status_code == 406
        assert "[prometheus] extra" in response.json()["detail"]
        assert not hooks_on()


class TestOpenTelemetry:
    def test_pmp_otel_turns_it_on_while_the_app_runs(self, tmp_path: Path) -> None:
        """PMP_OTEL installs the OpenTelemetry adapter (global providers) for the app's life."""
        app = create_app(make_settings(tmp_path, otel=True, metrics_enabled=False))
        with TestClient(app) as client:
            assert hooks_on()
            assert client.get("/health").status_code == 200
        assert not hooks_on()

    def test_requests_get_server_spans(self, tmp_path: Path) -> None:
        """With PMP_OTEL each request has a server span named by its route template."""
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):  # the first test to need the global one
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        app = create_app(make_settings(tmp_path, otel=True, metrics_enabled=False))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            created = client.post("/users", json=ADA).json()
            assert client.get(f"/users/{created['id']}").status_code == 200
        names = {span.name for span in exporter.get_finished_spans() if span.parent is None}
        assert {"POST /users", "GET /users/{user_id}"} <= names
        exporter.clear()

    def test_without_the_fastapi_instrumentation_it_warns_and_serves(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Without opentelemetry-instrumentation-fastapi: a WARNING, the toolkit's spans only."""
        monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.fastapi", None)
        app = create_app(make_settings(tmp_path, otel=True, metrics_enabled=False))
        assert "opentelemetry-instrumentation-fastapi is not installed" in caplog.text
        with TestClient(app, base_url="http://127.0.0.1") as client:
            assert client.get("/health").status_code == 200

    def test_without_opentelemetry_the_start_fails(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """PMP_OTEL without the [otel] extra: the service does not start, and says why."""
        monkeypatch.setitem(sys.modules, "python_mastery_portfolio.observability.otel", None)
        monkeypatch.delattr(observability, "install_opentelemetry", raising=False)
        app = create_app(make_settings(tmp_path, otel=True))
        with pytest.raises(ServiceStartError, match="PMP_OTEL is on, OpenTelemetry is missing"):
            with TestClient(app):
                pass  # pragma: no cover - the start fails
        assert not hooks_on()


class TestWorkersInPrometheus:
    async def test_every_sample_is_labelled_by_worker(self, tmp_path: Path, redis_url: str) -> None:
        """With PMP_REDIS_URL, a scrape returns every live worker's series, labelled."""
        app = create_app(make_settings(tmp_path, redis_url=redis_url, redis_namespace="prom"))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as http,
        ):
            await http.get("/health")
            text = (await http.get("/metrics?format=prometheus")).text
            worker = (await http.get("/metrics")).json()["cluster"]["worker"]
        parsed = samples(text)
        assert parsed
        assert {dict(labels).get("worker") for _, labels in parsed} == {worker}
        assert (
            value(
                parsed,
                "pmp_http_requests_total",
                route="/health",
                method="GET",
                status="200",
                worker=worker,
            )
            == 1
        )


@pytest.fixture
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.redis.conftest import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis-prom"))
    server.start()
    yield server.url
    server.stop()
