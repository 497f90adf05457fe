"""The OpenTelemetry adapter, checked with the SDK's in-memory span and metric exporters."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from python_mastery_portfolio.exceptions import CircuitOpenError
from python_mastery_portfolio.observability.otel import (
    OpenTelemetryInstrument,
    install_opentelemetry,
)
from python_mastery_portfolio.resilience import CircuitBreaker, RateLimiter
from python_mastery_portfolio.retrying import retry
from python_mastery_portfolio.testing import ManualClock


class Telemetry:
    """An SDK tracer and meter provider with in-memory exporters, and the adapter on them."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider([self.reader])
        self.tracer = self.tracer_provider.get_tracer("test")

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Return metric name -> [(attributes, data point)]."""
        data = self.reader.get_metrics_data()
        assert data is not None
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = [
                        (dict(point.attributes or {}), point) for point in metric.data.data_points
                    ]
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """The SDK's in-memory exporters, with the adapter installed on them."""
    setup = Telemetry()
    with install_opentelemetry(setup.tracer_provider, setup.meter_provider):
        yield setup


def _flaky(failures: int, *, attempts: int = 3) -> Any:
    errors = [ConnectionError() for _ in range(failures)]

    @retry(max_attempts=attempts, delay=0.5, clock=ManualClock())
    def call() -> str:
        if errors:
            raise errors.pop()
        return "ok"

    return call


class TestRetrySpans:
    def test_success_after_retries(self, telemetry: Telemetry) -> None:
        """One span per retried call, an event per failed attempt, then its end."""
        call = _flaky(2)
        assert call() == "ok"
        (span,) = telemetry.finished()
        assert span.name.startswith("retry ")
        assert span.name.endswith("call")
        events = [(event.name, dict(event.attributes or {})) for event in span.events]
        assert [name for name, _ in events] == ["retry.attempt", "retry.attempt", "retry.succeeded"]
        assert [attrs["retry.attempt"] for _, attrs in events[:2]] == [1, 2]
        assert {attrs["error.type"] for _, attrs in events[:2]} == {"ConnectionError"}
        assert span.attributes is not None
        assert span.attributes["retry.attempts"] == 3
        assert span.status.status_code is StatusCode.UNSET

    def test_give_up(self, telemetry: Telemetry) -> None:
        """A retried call that gives up ends its span with status ERROR and its error type."""
        with pytest.raises(ConnectionError):
            _flaky(5)()
        (span,) = telemetry.finished()
        assert [event.name for event in span.events][-1] == "retry.gave_up"
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None
        assert span.attributes["error.type"] == "ConnectionError"

    def test_give_up_at_once(self, telemetry: Telemetry) -> None:
        """Giving up at the first attempt is a span holding just the end."""
        with pytest.raises(ConnectionError):
            _flaky(1, attempts=1)()
        (span,) = telemetry.finished()
        assert [event.name for event in span.events] == ["retry.gave_up"]

    def test_nested(self, telemetry: Telemetry) -> None:
        """A retried call inside another's attempt gets its own span, ended first."""
        inner = _flaky(1)
        outer_errors = [ConnectionError()]

        @retry(max_attempts=3, delay=0.5, clock=ManualClock())
        def outer() -> str:
            result: str = inner()
            if outer_errors:
                raise outer_errors.pop()
            return result

        assert outer() == "ok"
        names = [span.name.rsplit(".", 1)[-1] for span in telemetry.finished()]
        assert names == ["call", "outer"]

    def test_aborted_without_an_error_type(self) -> None:
        """An end with no error type sets status ERROR without an error attribute."""
        setup = Telemetry()
        instrument = OpenTelemetryInstrument(setup.tracer_provider, setup.meter_provider)
        instrument.event("retry.attempt", {"function": "f", "retry.attempt": 2})
        instrument.event("retry.aborted", {"function": "f", "retry.attempts": 2, "error.type": ""})
        (span,) = setup.finished()
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None
        assert "error.type" not in span.attributes


class TestSpanEvents:
    def test_decisions_on_the_current_span(self, telemetry: Telemetry) -> None:
        """Breaker and limiter decisions are events on the span of the work they affect."""
        breaker = CircuitBreaker(name="db")
        breaker.force_open()
        limiter = RateLimiter(1, clock=ManualClock(), name="login")
        with telemetry.tracer.start_as_current_span("request"):
            with pytest.raises(CircuitOpenError):
                breaker.call(int, "1")
            limiter.try_acquire()
            limiter.try_acquire()
        (span,) = telemetry.finished()
        assert [event.name for event in span.events] == ["circuit.rejected", "rate_limit.rejected"]
        assert dict(span.events[0].attributes or {}) == {
            "breaker": "db",
            "circuit.state": "open",
        }

    def test_no_current_span(self, telemetry: Telemetry) -> None:
        """Without a recording span the events go nowhere, quietly."""
        breaker = CircuitBreaker(name="db")
        breaker.force_open()
        with pytest.raises(CircuitOpenError):
            breaker.call(int, "1")
        assert telemetry.finished() == ()


class TestMetrics:
    def test_counters_histograms_gauges(self, telemetry: Telemetry) -> None:
        """The same metrics, named pmp.<name>, with the catalogue's labels only."""
        assert _flaky(2)() == "ok"
        clock = ManualClock()
        breaker = CircuitBreaker(failure_threshold=1, clock=clock, name="db")
        with pytest.raises(ZeroDivisionError):
            breaker.call(lambda: 1 // 0)
        metrics = telemetry.metrics()
        ((attributes, point),) = metrics["pmp.retry.attempts"]
        assert set(attributes) == {"function"}
        assert point.value == 2
        ((_, histogram),) = metrics["pmp.retry.wait"]
        assert (histogram.count, histogram.sum) == (2, 1.5)
        assert [(a, p.value) for a, p in metrics["pmp.circuit.state"]] == [({"breaker": "db"}, 1)]

    def test_names_outside_the_catalogue(self, telemetry: Telemetry) -> None:
        """An unknown name keeps all its attributes."""
        instrument = OpenTelemetryInstrument(telemetry.tracer_provider, telemetry.meter_provider)
        instrument.count("app.jobs", 1, {"queue": "q"})
        instrument.count("app.jobs", 1, {"queue": "q"})
        assert [(a, p.value) for a, p in telemetry.metrics()["pmp.app.jobs"]] == [
            ({"queue": "q"}, 2)
        ]
        assert repr(instrument) == "<OpenTelemetryInstrument>"


def test_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without opentelemetry-api the module's ImportError names the extra."""
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "python_mastery_portfolio.observability.otel")
    with pytest.raises(ImportError, match=r"\[otel\] extra"):
        import python_mastery_portfolio.observability.otel  # noqa: F401
