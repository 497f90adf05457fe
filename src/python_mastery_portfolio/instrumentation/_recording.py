"""An instrument that remembers everything it receives, for tests."""

from __future__ import annotations

import threading
from typing import Literal, NamedTuple

from python_mastery_portfolio.instrumentation._hub import Attributes, AttributeValue

__all__ = ["Record", "RecordingInstrument"]

Kind = Literal["event", "count", "observe", "gauge"]


class Record(NamedTuple):
    """One call an instrument received.

    Attributes:
        kind: ``"event"``, ``"count"``, ``"observe"`` or ``"gauge"``.
        name: The event or metric name.
        value: The measurement (``0.0`` for an event).
        attributes: A copy of the attributes.
    """

    kind: Kind
    name: str
    value: float
    attributes: dict[str, AttributeValue]


class RecordingInstrument:
    """Record every event and measurement, to assert on in tests (thread-safe).

    Filters take the name and, as keywords, attribute values a record must have (others
    are ignored), so ``total("cache.requests", result="hit")`` sums the hits of every cache.

    Attributes:
        records: Everything received, in order.

    Example:
        >>> from python_mastery_portfolio.instrumentation import HOOKS
        >>> recorder = RecordingInstrument()
        >>> with HOOKS.install(recorder):
        ...     HOOKS.event("circuit.rejected", {"breaker": "db"})
        ...     HOOKS.count("circuit.calls", 1, {"breaker": "db", "outcome": "rejected"})
        >>> [record.name for record in recorder.events()]
        ['circuit.rejected']
        >>> recorder.total("circuit.calls", outcome="rejected")
        1.0
    """

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._lock = threading.Lock()

    def event(self, name: str, attributes: Attributes) -> None:
        """Record the event ``name``."""
        self._add("event", name, 0.0, attributes)

    def count(self, name: str, value: float, attributes: Attributes) -> None:
        """Record an addition of ``value`` to the counter ``name``."""
        self._add("count", name, value, attributes)

    def observe(self, name: str, value: float, attributes: Attributes) -> None:
        """Record an observation of ``value`` in the histogram ``name``."""
        self._add("observe", name, value, attributes)

    def gauge(self, name: str, value: float, attributes: Attributes) -> None:
        """Record the gauge ``name`` set to ``value``."""
        self._add("gauge", name, value, attributes)

    def select(
        self, kind: Kind | None = None, name: str | None = None, **attributes: AttributeValue
    ) -> list[Record]:
        """Return the records of ``kind`` named ``name`` with ``attributes`` (``None``: any)."""
        with self._lock:
            records = list(self.records)
        return [
            record
            for record in records
            if (kind is None or record.kind == kind)
            and (name is None or record.name == name)
            and all(record.attributes.get(key) == value for key, value in attributes.items())
        ]

    def events(self, name: str | None = None, **attributes: AttributeValue) -> list[Record]:
        """Return the events named ``name`` (any name when ``None``) with ``attributes``."""
        return self.select("event", name, **attributes)

    def total(self, name: str, **attributes: AttributeValue) -> float:
        """Return the sum of the counts added to ``name`` with ``attributes``."""
        return float(sum(record.value for record in self.select("count", name, **attributes)))

    def observations(self, name: str, **attributes: AttributeValue) -> list[float]:
        """Return the values observed in the histogram ``name`` with ``attributes``."""
        return [record.value for record in self.select("observe", name, **attributes)]

    def last(self, name: str, **attributes: AttributeValue) -> float | None:
        """Return the last value the gauge ``name`` was set to with ``attributes``, if any."""
        records = self.select("gauge", name, **attributes)
        return records[-1].value if records else None

    def names(self) -> set[str]:
        """Return every name received, of any kind."""
        with self._lock:
            return {record.name for record in self.records}

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self.records.clear()

    def _add(self, kind: Kind, name: str, value: float, attributes: Attributes) -> None:
        record = Record(kind, name, float(value), dict(attributes))
        with self._lock:
            self.records.append(record)

    def __repr__(self) -> str:
        return f"<RecordingInstrument: {len(self.records)} records>"
