"""The instrumentation hook every part reports to (standard library only).

Every part of the toolkit calls :data:`HOOKS` at the points that matter (a retry, a cache
miss, a breaker opening...); nothing happens unless an instrument is installed, and then each
installed instrument receives the event or measurement. :func:`install` takes any object
with the :class:`Instrument` methods; :mod:`python_mastery_portfolio.observability` builds
them for Prometheus, OpenTelemetry and logging, and :class:`RecordingInstrument` records
everything for tests. The names are listed in :data:`METRICS` and :data:`EVENTS` (and in the
observability guide).

Example:
    >>> from python_mastery_portfolio.instrumentation import RecordingInstrument, install
    >>> recorder = RecordingInstrument()
    >>> with install(recorder):
    ...     HOOKS.event("circuit.probe", {"breaker": "db"})
    >>> recorder.events()[0].name
    'circuit.probe'
"""

from __future__ import annotations

from python_mastery_portfolio.instrumentation._catalogue import (
    EVENTS,
    METRICS,
    EventSpec,
    MetricSpec,
)
from python_mastery_portfolio.instrumentation._hub import (
    HOOKS,
    Attributes,
    AttributeValue,
    Hub,
    Installation,
    Instrument,
    Watcher,
    error_type,
    install,
)
from python_mastery_portfolio.instrumentation._recording import Record, RecordingInstrument

__all__ = [
    "EVENTS",
    "HOOKS",
    "METRICS",
    "AttributeValue",
    "Attributes",
    "EventSpec",
    "Hub",
    "Installation",
    "Instrument",
    "MetricSpec",
    "Record",
    "RecordingInstrument",
    "Watcher",
    "error_type",
    "install",
]
