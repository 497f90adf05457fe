"""OpenTelemetry traces and metrics from the instrumentation hook (extra ``[otel]``).

:func:`install_opentelemetry` sends:

- each retried call that failed at least once as a span ``retry <function>``, with an event
  ``retry.attempt`` per failed attempt (``retry.attempt``, ``error.type``, ``retry.wait``)
  and its end (``retry.succeeded``, ``retry.gave_up`` or ``retry.aborted``); the span starts
  at the first failure, since a call that succeeds at once reports nothing;
- every other event (a breaker's rejection or state change, a limiter's refusal...) as an
  event on the current span, when one is recording;
- every metric through the meter ``python_mastery_portfolio``, named ``pmp.<name>`` with
  the catalogue's unit, attributes limited to the catalogue's labels.

Only ``opentelemetry-api`` is imported: the application configures the SDK (or passes its
providers), and without one every call is a no-op.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

try:
    from opentelemetry import metrics, trace
except ImportError as error:  # the [otel] extra is not installed
    raise ImportError(
        "python_mastery_portfolio.observability.otel needs opentelemetry-api, which comes "
        'with the [otel] extra: pip install "python-mastery-portfolio[otel]"',
        name=error.name,
    ) from error

from python_mastery_portfolio._version import __version__
from python_mastery_portfolio.instrumentation import METRICS, Attributes
from python_mastery_portfolio.observability._handle import AdapterHandle

__all__ = ["SCOPE", "OpenTelemetryInstrument", "install_opentelemetry"]

SCOPE = "python_mastery_portfolio"
"""The instrumentation scope of the tracer and the meter."""

_RETRY_ENDS = frozenset({"retry.succeeded", "retry.gave_up", "retry.aborted"})

# The retry spans open in this context (thread or task), innermost last: a retried function
# called by another one's attempt opens and ends its span inside that attempt.
_open_retries: ContextVar[tuple[tuple[str, trace.Span], ...]] = ContextVar(
    "pmp_open_retries", default=()
)


class OpenTelemetryInstrument:
    """An instrument that reports to an OpenTelemetry tracer and meter.

    Args:
        tracer_provider: Where spans go; default the global provider.
        meter_provider: Where metrics go; default the global provider.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        ...     InMemorySpanExporter,
        ... )
        >>> exporter = InMemorySpanExporter()
        >>> provider = TracerProvider()
        >>> provider.add_span_processor(SimpleSpanProcessor(exporter))
        >>> instrument = OpenTelemetryInstrument(tracer_provider=provider)
        >>> instrument.event("retry.gave_up", {"function": "f", "retry.attempts": 1})
        >>> [span.name for span in exporter.get_finished_spans()]
        ['retry f']
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        self.meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self._lock = threading.Lock()
        self._instruments: dict[str, tuple[Any, tuple[str, ...] | None]] = {}

    # -- events --

    def event(self, name: str, attributes: Attributes) -> None:
        """Add the event to a retry span, or to the current span."""
        if name == "retry.attempt":
            self._retry_attempt(attributes)
        elif name in _RETRY_ENDS:
            self._retry_end(name, attributes)
        else:
            span = trace.get_current_span()
            if span.is_recording():
                span.add_event(name, dict(attributes))

    def _retry_attempt(self, attributes: Attributes) -> None:
        function = str(attributes.get("function", ""))
        stack = _open_retries.get()
        if attributes.get("retry.attempt") == 1 or not stack or stack[-1][0] != function:
            span = self.tracer.start_span(
                f"retry {function}", attributes={"code.function": function}
            )
            stack = (*stack, (function, span))
            _open_retries.set(stack)
        stack[-1][1].add_event("retry.attempt", dict(attributes))

    def _retry_end(self, name: str, attributes: Attributes) -> None:
        function = str(attributes.get("function", ""))
        stack = _open_retries.get()
        if stack and stack[-1][0] == function:
            span = stack[-1][1]
            _open_retries.set(stack[:-1])
        else:  # it gave up at the first attempt: a span holding just its end
            span = self.tracer.start_span(
                f"retry {function}", attributes={"code.function": function}
            )
        span.add_event(name, dict(attributes))
        span.set_attribute("retry.attempts", attributes.get("retry.attempts", 0))
        if name != "retry.succeeded":
            span.set_status(trace.StatusCode.ERROR, str(attributes.get("error.type", "")))
            error = attributes.get("error.type")
            if error:
                span.set_attribute("error.type", error)
        span.end()

    # -- metrics --

    def _instrument(self, kind: str, name: str) -> tuple[Any, tuple[str, ...] | None]:
        # Created once per name; the lock makes two threads' first calls agree on one.
        return self._instruments.get(name) or self._create(kind, name)

    def _create(self, kind: str, name: str) -> tuple[Any, tuple[str, ...] | None]:
        with self._lock:
            return self._instruments.get(name) or self._new(kind, name)

    def _new(self, kind: str, name: str) -> tuple[Any, tuple[str, ...] | None]:
        spec = METRICS.get(name)
        unit = "1" if spec is None else spec.unit
        description = "" if spec is None else spec.description
        create: Any = {
            "counter": self.meter.create_counter,
            "histogram": self.meter.create_histogram,
            "gauge": self.meter.create_gauge,
        }[kind]
        entry = (
            create(f"pmp.{name}", unit=unit, description=description),
            None if spec is None else spec.labels,
        )
        self._instruments[name] = entry
        return entry

    @staticmethod
    def _labels(attributes: Attributes, labels: tuple[str, ...] | None) -> dict[str, Any]:
        if labels is None:
            return dict(attributes)
        return {label: attributes[label] for label in labels if label in attributes}

    def count(self, name: str, value: float, attributes: Attributes) -> None:
        """Add ``value`` to the counter ``pmp.<name>``."""
        counter, labels = self._instrument("counter", name)
        counter.add(value, self._labels(attributes, labels))

    def observe(self, name: str, value: float, attributes: Attributes) -> None:
        """Record ``value`` in the histogram ``pmp.<name>``."""
        histogram, labels = self._instrument("histogram", name)
        histogram.record(value, self._labels(attributes, labels))

    def gauge(self, name: str, value: float, attributes: Attributes) -> None:
        """Set the gauge ``pmp.<name>``."""
        gauge, labels = self._instrument("gauge", name)
        gauge.set(value, self._labels(attributes, labels))

    def __repr__(self) -> str:
        return "<OpenTelemetryInstrument>"


def install_opentelemetry(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> AdapterHandle[OpenTelemetryInstrument]:
    """Report the toolkit's spans, span events and metrics to OpenTelemetry.

    Args:
        tracer_provider: Where spans go; default the global provider (set by the SDK).
        meter_provider: Where metrics go; default the global provider.

    Returns:
        The handle whose ``uninstall()`` stops the reports.

    Example:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        >>> from python_mastery_portfolio.resilience import RateLimiter
        >>> reader = InMemoryMetricReader()
        >>> with install_opentelemetry(meter_provider=MeterProvider([reader])):
        ...     RateLimiter(1, name="login").try_acquire()
        True
        >>> data = reader.get_metrics_data()
        >>> [m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
        ['pmp.rate_limit.decisions']
    """
    return AdapterHandle(OpenTelemetryInstrument(tracer_provider, meter_provider))
