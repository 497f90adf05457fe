"""The Prometheus adapter: names, types and label sets of the exposition, bounded series."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from python_mastery_portfolio.caching import cache
from python_mastery_portfolio.exceptions import CircuitOpenError
from python_mastery_portfolio.instrumentation import HOOKS, METRICS
from python_mastery_portfolio.observability import prometheus as prom
from python_mastery_portfolio.observability.prometheus import (
    PROMETHEUS_CONTENT_TYPE,
    install_prometheus,
    render_prometheus,
)
from python_mastery_portfolio.resilience import CircuitBreaker, RateLimiter
from python_mastery_portfolio.retrying import retry
from python_mastery_portfolio.testing import ManualClock


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    """A fresh registry with the adapter installed on it."""
    fresh = CollectorRegistry()
    with install_prometheus(fresh):
        yield fresh


def _families(registry: CollectorRegistry) -> dict[str, tuple[str, dict[tuple[str, ...], float]]]:
    """Parse the exposition: family name -> (type, {(sample name, labels...): value})."""
    parsed: dict[str, tuple[str, dict[tuple[str, ...], float]]] = {}
    for family in text_string_to_metric_families(render_prometheus(registry)):
        samples = {
            (sample.name, *(f"{k}={v}" for k, v in sorted(sample.labels.items()))): sample.value
            for sample in family.samples
        }
        parsed[family.name] = (family.type, samples)
    return parsed


class TestExposition:
    def test_every_catalogue_metric_is_declared(self, registry: CollectorRegistry) -> None:
        """Before anything happens, each metric of the catalogue is listed with its type."""
        families = _families(registry)
        for spec in METRICS.values():
            name = prom.prometheus_name(spec)
            assert families[name][0] == spec.kind, name

    def test_scripted_sequence(self, registry: CollectorRegistry) -> None:
        """A cache hit, a retry, a rejection and a breaker opening show their values."""
        clock = ManualClock()

        @cache(maxsize=10)
        def square(x: int) -> int:
            return x * x

        failures = [ConnectionError(), ConnectionError()]

        @retry(max_attempts=3, delay=0.5, clock=clock)
        def flaky() -> str:
            if failures:
                raise failures.pop()
            return "ok"

        square(2)
        square(2)
        assert flaky() == "ok"
        limiter = RateLimiter(1, clock=clock, name="login")
        limiter.try_acquire()
        limiter.try_acquire()
        breaker = CircuitBreaker(failure_threshold=1, clock=clock, name="db")
        with pytest.raises(ZeroDivisionError):
            breaker.call(lambda: 1 // 0)
        with pytest.raises(CircuitOpenError):
            breaker.call(int, "1")

        families = _families(registry)
        cache_name = f"{__name__}.TestExposition.test_scripted_sequence.<locals>.square"
        requests = families["pmp_cache_requests"][1]
        assert requests[("pmp_cache_requests_total", f"cache={cache_name}", "result=hit")] == 1
        assert requests[("pmp_cache_requests_total", f"cache={cache_name}", "result=miss")] == 1
        function = f"cache={cache_name}".replace("cache=", "function=").replace("square", "flaky")
        assert families["pmp_retry_attempts"][1][("pmp_retry_attempts_total", function)] == 2
        assert families["pmp_retry_successes"][1][("pmp_retry_successes_total", function)] == 1
        waits = families["pmp_retry_wait_seconds"]
        assert waits[0] == "histogram"
        assert waits[1][("pmp_retry_wait_seconds_sum", function)] == 0.5 + 1.0
        assert waits[1][("pmp_retry_wait_seconds_count", function)] == 2
        decisions = families["pmp_rate_limit_decisions"][1]
        key = ("pmp_rate_limit_decisions_total", "decision=rejected", "limiter=login")
        assert decisions[key] == 1
        assert families["pmp_circuit_state"] == (
            "gauge",
            {("pmp_circuit_state", "breaker=db"): 1.0},
        )
        rejections = families["pmp_circuit_rejections"][1]
        assert rejections[("pmp_circuit_rejections_total", "breaker=db")] == 1

    def test_label_cardinality_is_bounded(self, registry: CollectorRegistry) -> None:
        """10,000 distinct arguments to a cached function add no series."""

        @cache(maxsize=100)
        def ident(x: int) -> int:
            return x

        def series() -> int:
            return sum(len(samples) for _, samples in _families(registry).values())

        for x in range(200):  # hits, misses and evictions: every series there can be
            ident(x)
            ident(x)
        before = series()
        for x in range(10_000):
            ident(x)
        assert series() == before
        assert "x=" not in render_prometheus(registry)

    def test_names_outside_the_catalogue(self, registry: CollectorRegistry) -> None:
        """An unknown name gets a metric labelled by its first call's attribute names."""
        instrument = HOOKS.instruments()[-1]
        instrument.count("app.jobs", 2, {"queue": "q", "not-a-label": 1})
        instrument.count("app.jobs", 1, {})
        instrument.observe("app.latency", 0.2, {})
        instrument.gauge("app.depth", 7, {"queue": "q"})
        instrument.event("app.started", {"queue": "q"})  # events are not metrics
        families = _families(registry)
        kind, samples = families["pmp_app_jobs"]
        totals = {key: value for key, value in samples.items() if key[0].endswith("_total")}
        assert (kind, totals) == (
            "counter",
            {("pmp_app_jobs_total", "queue=q"): 2, ("pmp_app_jobs_total", "queue="): 1},
        )
        assert families["pmp_app_latency"][1][("pmp_app_latency_count",)] == 1
        assert families["pmp_app_depth"][1] == {("pmp_app_depth", "queue=q"): 7}
        assert "app_started" not in render_prometheus(registry)


class TestInstallation:
    def test_uninstall_unregisters(self) -> None:
        """Uninstalling stops the reports and empties the registry; installing again works."""
        registry = CollectorRegistry()
        handle = install_prometheus(registry)
        assert "pmp_" in render_prometheus(registry)
        assert "PrometheusInstrument" in repr(handle)
        assert handle.uninstall() is True
        assert handle.uninstall() is False
        assert render_prometheus(registry) == ""
        with install_prometheus(registry, namespace="app", buckets=(1.0,)) as again:
            again.instrument.observe("retry.wait", 0.5, {"function": "f"})
            text = render_prometheus(registry)
        assert 'app_retry_wait_seconds_bucket{function="f",le="1.0"} 1.0' in text

    def test_twice_in_one_registry(self) -> None:
        """A second installation on a registry still in use is refused."""
        registry = CollectorRegistry()
        with install_prometheus(registry), pytest.raises(ValueError, match="Duplicated"):
            install_prometheus(registry)

    def test_default_registry(self) -> None:
        """Without a registry the global one is used and rendered."""
        with install_prometheus() as handle:
            assert handle.instrument.registry is REGISTRY
            assert "pmp_cache_requests_total" in render_prometheus() or "pmp_cache_requests" in (
                render_prometheus()
            )
        assert "pmp_cache_requests" not in render_prometheus()

    def test_content_type(self) -> None:
        """The exposition's content type is Prometheus text."""
        assert PROMETHEUS_CONTENT_TYPE.startswith("text/plain")


class TestPackage:
    def test_lazy_names(self) -> None:
        """The package resolves the adapters' names on first use."""
        from python_mastery_portfolio import observability

        assert observability.install_prometheus is install_prometheus
        assert observability.render_prometheus is render_prometheus
        with pytest.raises(AttributeError, match="no_such_name"):
            observability.no_such_name  # noqa: B018 - the access is the test

    def test_missing_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without prometheus-client the module's ImportError names the extra."""
        monkeypatch.setitem(sys.modules, "prometheus_client", None)
        monkeypatch.delitem(sys.modules, "python_mastery_portfolio.observability.prometheus")
        with pytest.raises(ImportError, match=r"\[prometheus\] extra"):
            import python_mastery_portfolio.observability.prometheus  # noqa: F401
