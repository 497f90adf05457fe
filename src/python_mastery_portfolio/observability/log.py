"""The logging adapter: the hook's events as log records, their attributes as ``extra``.

Standard library only, so a program without a metrics stack still sees what the toolkit
does. With the JSON format of :func:`python_mastery_portfolio.logs.setup_logging`, each
attribute is a member of the line; dots in attribute names become underscores
(``retry.attempt`` is ``retry_attempt``), as ``extra`` keys are record attributes.
"""

from __future__ import annotations

import logging

from python_mastery_portfolio.instrumentation import Attributes
from python_mastery_portfolio.observability._handle import AdapterHandle

__all__ = ["LoggingInstrument", "install_logging"]

# Names a LogRecord already has: an attribute by one of these names gets a prefix instead of
# clobbering it (``logging`` raises KeyError for ``message`` and ``asctime``).
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


def _extra(name: str, attributes: Attributes, value: float | None) -> dict[str, object]:
    extra: dict[str, object] = {"event": name}
    if value is not None:
        extra["value"] = value
    for key, item in attributes.items():
        field = key.replace(".", "_")
        if field in _RESERVED or field in extra:
            field = f"pmp_{field}"
        extra[field] = item
    return extra


class LoggingInstrument:
    """An instrument that logs events (and, with ``metrics``, every measurement).

    The message is the event's name followed by its attributes as ``key=value``; the
    attributes are also ``extra`` fields, with ``event`` (the name) and, for measurements,
    ``value``.

    Args:
        logger: Where to log; default the ``python_mastery_portfolio.events`` logger.
        level: The level of event records.
        metrics: Also log counts, observations and gauges, at ``metrics_level``.
        metrics_level: The level of measurement records (DEBUG by default: they are many).

    Example:
        >>> import logging
        >>> records = []
        >>> class Keep(logging.Handler):
        ...     def emit(self, record): records.append(record)
        >>> logger = logging.getLogger("example.events")
        >>> logger.addHandler(Keep())
        >>> logger.setLevel(logging.INFO)
        >>> LoggingInstrument(logger).event("circuit.rejected", {"breaker": "db"})
        >>> records[0].getMessage(), records[0].breaker
        ('circuit.rejected breaker=db', 'db')
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        level: int = logging.INFO,
        metrics: bool = False,
        metrics_level: int = logging.DEBUG,
    ) -> None:
        # The literal name keeps the logging guide's check able to see it.
        self.logger = (
            logging.getLogger("python_mastery_portfolio.events") if logger is None else logger
        )
        self.level = level
        self.metrics = metrics
        self.metrics_level = metrics_level

    def event(self, name: str, attributes: Attributes) -> None:
        """Log the event ``name`` at :attr:`level`."""
        logger = self.logger
        if logger.isEnabledFor(self.level):
            logger.log(
                self.level,
                "%s %s",
                name,
                " ".join(f"{key}={value}" for key, value in attributes.items()),
                extra=_extra(name, attributes, None),
            )

    def _measure(self, kind: str, name: str, value: float, attributes: Attributes) -> None:
        logger = self.logger
        if self.metrics and logger.isEnabledFor(self.metrics_level):
            logger.log(
                self.metrics_level,
                "%s %s %g %s",
                kind,
                name,
                value,
                " ".join(f"{key}={item}" for key, item in attributes.items()),
                extra=_extra(name, attributes, value),
            )

    def count(self, name: str, value: float, attributes: Attributes) -> None:
        """Log the count, when :attr:`metrics` is on."""
        self._measure("count", name, value, attributes)

    def observe(self, name: str, value: float, attributes: Attributes) -> None:
        """Log the observation, when :attr:`metrics` is on."""
        self._measure("observe", name, value, attributes)

    def gauge(self, name: str, value: float, attributes: Attributes) -> None:
        """Log the gauge's value, when :attr:`metrics` is on."""
        self._measure("gauge", name, value, attributes)

    def __repr__(self) -> str:
        return f"<LoggingInstrument to {self.logger.name!r}>"


def install_logging(
    logger: logging.Logger | None = None,
    *,
    level: int = logging.INFO,
    metrics: bool = False,
    metrics_level: int = logging.DEBUG,
) -> AdapterHandle[LoggingInstrument]:
    """Log the toolkit's events (and optionally its measurements); return the handle.

    Args:
        logger: Where to log; default the ``python_mastery_portfolio.events`` logger.
        level: The level of event records.
        metrics: Also log counts, observations and gauges.
        metrics_level: The level of measurement records.

    Returns:
        The handle whose ``uninstall()`` stops the logging.

    Example:
        >>> import logging
        >>> from python_mastery_portfolio.resilience import CircuitBreaker
        >>> logger = logging.getLogger("example.install_logging")
        >>> with install_logging(logger, level=logging.DEBUG) as handle:
        ...     breaker = CircuitBreaker(name="db")
        ...     breaker.force_open()
        >>> handle.instrument.level == logging.DEBUG
        True
    """
    return AdapterHandle(
        LoggingInstrument(logger, level=level, metrics=metrics, metrics_level=metrics_level)
    )
