"""Prometheus, OpenTelemetry and logging adapters for the instrumentation hook.

Each ``install_*`` function builds an instrument, installs it on
:data:`python_mastery_portfolio.instrumentation.HOOKS` and returns an
:class:`AdapterHandle` whose ``uninstall()`` turns it off:

- :func:`install_prometheus` / :func:`render_prometheus`
  (:mod:`~python_mastery_portfolio.observability.prometheus`, extra ``[prometheus]``);
- :func:`install_opentelemetry` (:mod:`~python_mastery_portfolio.observability.otel`,
  extra ``[otel]``; the application brings the SDK);
- :func:`install_logging` (:mod:`~python_mastery_portfolio.observability.log`, standard
  library only).

The Prometheus and OpenTelemetry names are imported on first use, so importing this package
needs neither extra; using one without its extra raises an ``ImportError`` naming it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from python_mastery_portfolio.observability._handle import AdapterHandle
from python_mastery_portfolio.observability.log import LoggingInstrument, install_logging

if TYPE_CHECKING:
    from python_mastery_portfolio.observability.otel import (
        OpenTelemetryInstrument,
        install_opentelemetry,
    )
    from python_mastery_portfolio.observability.prometheus import (
        PROMETHEUS_CONTENT_TYPE,
        PrometheusInstrument,
        install_prometheus,
        render_prometheus,
    )

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "AdapterHandle",
    "LoggingInstrument",
    "OpenTelemetryInstrument",
    "PrometheusInstrument",
    "install_logging",
    "install_opentelemetry",
    "install_prometheus",
    "render_prometheus",
]

_LAZY = {
    "PROMETHEUS_CONTENT_TYPE": "prometheus",
    "PrometheusInstrument": "prometheus",
    "install_prometheus": "prometheus",
    "render_prometheus": "prometheus",
    "OpenTelemetryInstrument": "otel",
    "install_opentelemetry": "otel",
}


def __getattr__(name: str) -> Any:
    """Import the Prometheus and OpenTelemetry names on first use (they need their extras)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
