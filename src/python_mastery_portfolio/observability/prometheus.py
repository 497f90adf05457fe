"""Prometheus metrics from the instrumentation hook (extra ``[prometheus]``).

:func:`install_prometheus` maps every ``count``, ``observe`` and ``gauge`` call onto a
``prometheus_client`` counter, histogram or gauge: ``cache.requests`` becomes
``pmp_cache_requests_total``, ``retry.wait`` (seconds) ``pmp_retry_wait_seconds``. The labels
are the metric's attributes listed in :data:`~python_mastery_portfolio.instrumentation.METRICS`,
and nothing else: they hold component names and outcomes, never keys or arguments, so the
number of series stays bounded however many distinct calls are made. Events are not metrics
and are ignored here (see the logging and OpenTelemetry adapters).

:func:`render_prometheus` returns the text exposition for a ``/metrics`` endpoint.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

try:
    import prometheus_client
except ImportError as error:  # the [prometheus] extra is not installed
    raise ImportError(
        "python_mastery_portfolio.observability.prometheus needs prometheus-client, which "
        'comes with the [prometheus] extra: pip install "python-mastery-portfolio[prometheus]"',
        name=error.name,
    ) from error

from python_mastery_portfolio.instrumentation import METRICS, Attributes, MetricSpec
from python_mastery_portfolio.observability._handle import AdapterHandle

__all__ = [
    "DEFAULT_BUCKETS",
    "PROMETHEUS_CONTENT_TYPE",
    "PrometheusInstrument",
    "install_prometheus",
    "prometheus_name",
    "render_prometheus",
]

PROMETHEUS_CONTENT_TYPE: str = prometheus_client.CONTENT_TYPE_LATEST
"""The ``Content-Type`` of :func:`render_prometheus`'s text."""

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Histogram bucket bounds in seconds: a millisecond to a minute, for waits and backoffs."""


def prometheus_name(spec: MetricSpec, namespace: str = "pmp") -> str:
    """Return the Prometheus name of a metric, without the ``_total`` a counter gets.

    Example:
        >>> from python_mastery_portfolio.instrumentation import METRICS
        >>> prometheus_name(METRICS["retry.wait"]), prometheus_name(METRICS["cache.requests"])
        ('pmp_retry_wait_seconds', 'pmp_cache_requests')
    """
    suffix = "_seconds" if spec.unit == "s" else ""
    return f"{namespace}_{spec.name.replace('.', '_')}{suffix}"


class PrometheusInstrument:
    """An instrument that feeds ``prometheus_client`` metrics in ``registry``.

    The catalogue's metrics are registered at once (so a scrape lists them before anything
    happened); a name outside the catalogue gets a metric on first use, labelled by the
    attributes of that first call. :meth:`close` unregisters them all.

    Args:
        registry: Where the metrics are registered; default ``prometheus_client.REGISTRY``.
        namespace: The prefix of every name.
        buckets: The histograms' bucket bounds.

    Example:
        >>> from prometheus_client import CollectorRegistry
        >>> instrument = PrometheusInstrument(CollectorRegistry())
        >>> instrument.count("cache.requests", 1, {"cache": "f", "result": "hit", "key": 7})
        >>> b'pmp_cache_requests_total{cache="f",result="hit"} 1.0' in instrument.render()
        True
    """

    def __init__(
        self,
        registry: prometheus_client.CollectorRegistry | None = None,
        *,
        namespace: str = "pmp",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.registry = prometheus_client.REGISTRY if registry is None else registry
        self.namespace = namespace
        self.buckets = tuple(buckets)
        self._lock = threading.Lock()
        self._metrics: dict[str, tuple[Any, tuple[str, ...]]] = {}
        # Each series found once through ``labels()`` (a lock and a validation per call in
        # prometheus_client), then by one dict lookup: as many entries as series, which the
        # catalogue's labels bound. Two threads may look one up at once: both get the same.
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}
        for spec in METRICS.values():
            self._create(spec)

    def _create(self, spec: MetricSpec) -> tuple[Any, tuple[str, ...]]:
        name = prometheus_name(spec, self.namespace)
        kwargs: dict[str, Any] = {"labelnames": spec.labels, "registry": self.registry}
        metric: Any
        if spec.kind == "counter":
            metric = prometheus_client.Counter(name, spec.description, **kwargs)
        elif spec.kind == "histogram":
            metric = prometheus_client.Histogram(
                name, spec.description, buckets=self.buckets, **kwargs
            )
        else:
            metric = prometheus_client.Gauge(name, spec.description, **kwargs)
        entry = (metric, spec.labels)
        self._metrics[spec.name] = entry
        return entry

    def _adopt(self, kind: str, name: str, attributes: Attributes) -> tuple[Any, tuple[str, ...]]:
        """Create the metric of a name outside the catalogue, labelled by ``attributes``."""
        labels = tuple(sorted(key for key in attributes if key.isidentifier()))
        spec = MetricSpec(name, kind, "1", labels, f"{name} (not in the catalogue)")  # type: ignore[arg-type]  # kind is one of the three
        with self._lock:  # two threads' first calls agree on one metric
            return self._metrics.get(name) or self._create(spec)

    def _series(self, kind: str, name: str, attributes: Attributes) -> Any:
        metric, labels = self._metrics.get(name) or self._adopt(kind, name, attributes)
        if not labels:
            return metric
        key = (name, tuple([str(attributes.get(label, "")) for label in labels]))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*key[1])
        return child

    def event(self, name: str, attributes: Attributes) -> None:
        """Ignore events: Prometheus holds metrics only."""

    def count(self, name: str, value: float, attributes: Attributes) -> None:
        """Increment the counter ``name``."""
        self._series("counter", name, attributes).inc(value)

    def observe(self, name: str, value: float, attributes: Attributes) -> None:
        """Observe ``value`` in the histogram ``name``."""
        self._series("histogram", name, attributes).observe(value)

    def gauge(self, name: str, value: float, attributes: Attributes) -> None:
        """Set the gauge ``name``."""
        self._series("gauge", name, attributes).set(value)

    def render(self) -> bytes:
        """Return the text exposition of this instrument's registry."""
        return prometheus_client.generate_latest(self.registry)

    def close(self) -> None:
        """Unregister every metric this instrument registered."""
        with self._lock:
            metrics, self._metrics = self._metrics, {}
        for metric, _ in metrics.values():
            self.registry.unregister(metric)

    def __repr__(self) -> str:
        return f"<PrometheusInstrument {self.namespace}_*>"


def install_prometheus(
    registry: prometheus_client.CollectorRegistry | None = None,
    *,
    namespace: str = "pmp",
    buckets: Sequence[float] = DEFAULT_BUCKETS,
) -> AdapterHandle[PrometheusInstrument]:
    """Report the toolkit's metrics to Prometheus; return the handle that turns it off.

    Args:
        registry: Where the metrics are registered; default ``prometheus_client.REGISTRY``.
        namespace: The prefix of every name (``pmp``).
        buckets: The histograms' bucket bounds in seconds.

    Returns:
        The handle: ``uninstall()`` stops reporting and unregisters the metrics.

    Raises:
        ValueError: If the metrics are registered in ``registry`` already (by another
            installation that is still on).

    Example:
        >>> from prometheus_client import CollectorRegistry
        >>> from python_mastery_portfolio.resilience import RateLimiter
        >>> registry = CollectorRegistry()
        >>> with install_prometheus(registry):
        ...     limiter = RateLimiter(1, name="login")
        ...     limiter.try_acquire(), limiter.try_acquire()
        ...     text = render_prometheus(registry)
        (True, False)
        >>> 'pmp_rate_limit_decisions_total{decision="rejected",limiter="login"} 1.0' in text
        True
    """
    instrument = PrometheusInstrument(registry, namespace=namespace, buckets=buckets)
    return AdapterHandle(instrument, instrument.close)


def render_prometheus(registry: prometheus_client.CollectorRegistry | None = None) -> str:
    """Return the Prometheus text exposition of ``registry`` (default: the global one).

    Serve it with the ``Content-Type`` :data:`PROMETHEUS_CONTENT_TYPE`.

    Example:
        >>> from prometheus_client import CollectorRegistry
        >>> registry = CollectorRegistry()
        >>> with install_prometheus(registry) as handle:
        ...     handle.instrument.count("cache.requests", 2, {"cache": "f", "result": "miss"})
        ...     text = render_prometheus(registry)
        >>> 'pmp_cache_requests_total{cache="f",result="miss"} 2.0' in text
        True
    """
    return prometheus_client.generate_latest(
        prometheus_client.REGISTRY if registry is None else registry
    ).decode()
