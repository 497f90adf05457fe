"""The logging adapter: events as records whose attributes are ``extra`` fields."""

from __future__ import annotations

import json
import logging

import pytest

from python_mastery_portfolio.logs import JsonFormatter
from python_mastery_portfolio.observability import install_logging
from python_mastery_portfolio.observability.log import LoggingInstrument
from python_mastery_portfolio.retrying import retry
from python_mastery_portfolio.testing import ManualClock

EVENTS = "python_mastery_portfolio.events"


def test_events_with_attributes(caplog: pytest.LogCaptureFixture) -> None:
    """A retry's events are INFO records with their attributes as fields."""
    errors = [ConnectionError()]

    @retry(max_attempts=2, delay=0.5, clock=ManualClock(), logger=logging.getLogger("quiet"))
    def call() -> str:
        if errors:
            raise errors.pop()
        return "ok"

    with caplog.at_level(logging.INFO, EVENTS), install_logging():
        assert call() == "ok"
    records = [record for record in caplog.records if record.name == EVENTS]
    assert [vars(record)["event"] for record in records] == ["retry.attempt", "retry.succeeded"]
    attempt = records[0]
    assert vars(attempt)["retry_attempt"] == 1
    assert vars(attempt)["error_type"] == "ConnectionError"
    assert attempt.getMessage().startswith("retry.attempt function=")
    assert attempt.levelno == logging.INFO


def test_json_lines_carry_the_attributes() -> None:
    """With the JSON formatter each attribute is a member of the line."""
    logger = logging.getLogger("test.observability.json")
    instrument = LoggingInstrument(logger, level=logging.WARNING)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        instrument.event("circuit.state_change", {"breaker": "db", "circuit.to": "open"})
    finally:
        logger.removeHandler(handler)
    data = json.loads(lines[0])
    assert (data["event"], data["breaker"], data["circuit_to"]) == (
        "circuit.state_change",
        "db",
        "open",
    )


def test_reserved_names_are_prefixed(caplog: pytest.LogCaptureFixture) -> None:
    """An attribute named like a record field does not clobber it."""
    instrument = LoggingInstrument(logging.getLogger("test.observability.reserved"))
    with caplog.at_level(logging.INFO, "test.observability.reserved"):
        instrument.event("x", {"name": "n", "message": "m", "event": "e"})
    (record,) = caplog.records
    assert record.name == "test.observability.reserved"
    assert (vars(record)["pmp_name"], vars(record)["pmp_message"]) == ("n", "m")
    assert (vars(record)["event"], vars(record)["pmp_event"]) == ("x", "e")


def test_measurements_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    """Counts, observations and gauges are logged at DEBUG only with ``metrics``."""
    logger = logging.getLogger("test.observability.metrics")
    quiet = LoggingInstrument(logger)
    loud = LoggingInstrument(logger, metrics=True)
    with caplog.at_level(logging.DEBUG, "test.observability.metrics"):
        quiet.count("c", 1, {})
        loud.count("cache.requests", 1, {"cache": "f"})
        loud.observe("retry.wait", 0.5, {})
        loud.gauge("circuit.state", 1, {})
    assert [record.getMessage() for record in caplog.records] == [
        "count cache.requests 1 cache=f",
        "observe retry.wait 0.5 ",
        "gauge circuit.state 1 ",
    ]
    assert vars(caplog.records[0])["value"] == 1
    assert caplog.records[0].levelno == logging.DEBUG


def test_disabled_levels_cost_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Below the logger's level nothing is formatted or logged."""
    logger = logging.getLogger("test.observability.off")
    logger.setLevel(logging.ERROR)
    try:
        instrument = LoggingInstrument(logger, metrics=True)
        instrument.event("x", {})
        instrument.count("c", 1, {})
    finally:
        logger.setLevel(logging.NOTSET)
    assert caplog.records == []
    assert repr(instrument) == "<LoggingInstrument to 'test.observability.off'>"
