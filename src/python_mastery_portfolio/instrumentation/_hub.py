"""The hook itself: the :class:`Instrument` protocol and the :class:`Hub` every part calls.

A call site costs one attribute check while nothing is installed::

    if HOOKS.active:
        HOOKS.count("cache.requests", 1, {"cache": name, "result": "hit"})

The hottest paths (a cache hit, a rate limiter's ``try_acquire``) pay nothing at all: they
:meth:`Hub.watch` the hub, which tells them when it turns on or off, and switch to a
reporting variant of their counter only while it is on.

Instruments are kept in a tuple replaced as a whole under a lock (copy on write), so the
reporting methods read it without a lock and an install or uninstall never disturbs a report
under way in another thread.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Protocol, runtime_checkable

__all__ = [
    "HOOKS",
    "AttributeValue",
    "Attributes",
    "Hub",
    "Installation",
    "Instrument",
    "Watcher",
    "error_type",
    "install",
]

logger = logging.getLogger(__package__)

AttributeValue = str | int | float | bool
"""The type of one attribute value: what Prometheus labels, OTel attributes and JSON hold."""

Attributes = Mapping[str, AttributeValue]
"""The attributes of one event or measurement."""


@runtime_checkable
class Instrument(Protocol):
    """What receives the toolkit's events and measurements.

    Four methods, because adapters need to know what a figure *is*: an event is a discrete
    occurrence (a log line, a span event), a count adds to a monotonic counter, an observation
    lands in a histogram, a gauge is a current value. Names and attributes are listed in
    :data:`~python_mastery_portfolio.instrumentation.EVENTS` and
    :data:`~python_mastery_portfolio.instrumentation.METRICS`. Metric attributes are bounded
    (component names and outcomes, never keys or arguments), so they can be labels as they
    are. An instrument must be safe to call from any thread and should not raise: whatever
    it raises is logged and swallowed.

    Example:
        >>> from python_mastery_portfolio.instrumentation import RecordingInstrument
        >>> isinstance(RecordingInstrument(), Instrument)
        True
    """

    def event(self, name: str, attributes: Attributes) -> None:
        """Receive the event ``name`` with its ``attributes``."""
        ...

    def count(self, name: str, value: float, attributes: Attributes) -> None:
        """Add ``value`` to the counter ``name`` for the series ``attributes``."""
        ...

    def observe(self, name: str, value: float, attributes: Attributes) -> None:
        """Record ``value`` in the histogram ``name`` for the series ``attributes``."""
        ...

    def gauge(self, name: str, value: float, attributes: Attributes) -> None:
        """Set the gauge ``name`` of the series ``attributes`` to ``value``."""
        ...


@runtime_checkable
class Watcher(Protocol):
    """A part that switches to a reporting variant of its hot path while the hook is on."""

    def hooks_changed(self, active: bool) -> None:
        """Switch to the reporting variant (``active``) or back to the silent one."""
        ...


class Hub:
    """The registry of installed instruments, and the fan-out every call site reports to.

    ``active`` is ``True`` while at least one instrument is installed: call sites test it
    before building any attributes, so an uninstrumented program pays one attribute check.
    An instrument that raises is logged at WARNING (with its traceback) and skipped: a
    broken metrics backend never breaks the call it observes.

    Attributes:
        active: Whether any instrument is installed.

    Example:
        >>> from python_mastery_portfolio.instrumentation import RecordingInstrument
        >>> hub = Hub()
        >>> hub.active
        False
        >>> recorder = RecordingInstrument()
        >>> with hub.install(recorder):
        ...     hub.count("cache.requests", 1, {"cache": "f", "result": "hit"})
        >>> recorder.total("cache.requests"), hub.active
        (1.0, False)
    """

    __slots__ = ("_instruments", "_lock", "_watchers", "active")

    def __init__(self) -> None:
        self.active = False
        self._instruments: tuple[Instrument, ...] = ()
        self._lock = threading.Lock()
        self._watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()

    def watch(self, watcher: Watcher) -> None:
        """Tell ``watcher`` now (if on) and whenever the hook turns on or off; held weakly.

        ``watcher.hooks_changed(active)`` runs under the hub's lock, so a watcher never
        misses a change between registering and the next install; it must be quick and must
        not install or uninstall. One that raises is logged and skipped.
        """
        with self._lock:
            self._watchers.add(watcher)
            if self.active:
                self._notify((watcher,), active=True)

    def _notify(self, watchers: tuple[Watcher, ...], *, active: bool) -> None:
        for watcher in watchers:
            try:
                watcher.hooks_changed(active)
            except Exception:
                logger.warning("Watcher %r failed to switch", watcher, exc_info=True)

    def install(self, instrument: Instrument) -> Installation:
        """Start sending every event and measurement to ``instrument``; return its handle.

        The same instrument may be installed twice: it then receives everything twice, and
        each handle removes one installation.

        Raises:
            TypeError: If ``instrument`` lacks one of the :class:`Instrument` methods.
        """
        if not isinstance(instrument, Instrument):  # pyright: ignore[reportUnnecessaryIsInstance]  # checked at run time for untyped callers
            raise TypeError(
                f"instrument must have event, count, observe and gauge methods, got {instrument!r}"
            )
        with self._lock:
            self._instruments = (*self._instruments, instrument)
            if not self.active:
                self.active = True
                self._notify(tuple(self._watchers), active=True)
        return Installation(self, instrument)

    def uninstall(self, instrument: Instrument) -> bool:
        """Remove one installation of ``instrument``; return whether it was installed."""
        with self._lock:
            instruments = list(self._instruments)
            for index, installed in enumerate(instruments):
                if installed is instrument:
                    del instruments[index]
                    break
            else:
                return False
            self._instruments = tuple(instruments)
            if not instruments:
                self.active = False
                self._notify(tuple(self._watchers), active=False)
            return True

    def instruments(self) -> tuple[Instrument, ...]:
        """Return the installed instruments, in installation order."""
        return self._instruments

    def event(self, name: str, attributes: Attributes) -> None:
        """Send the event ``name`` to every installed instrument."""
        for instrument in self._instruments:
            try:
                instrument.event(name, attributes)
            except Exception:
                logger.warning("Instrument %r failed on %r", instrument, name, exc_info=True)

    def count(self, name: str, value: float, attributes: Attributes) -> None:
        """Add ``value`` to the counter ``name`` in every installed instrument."""
        for instrument in self._instruments:
            try:
                instrument.count(name, value, attributes)
            except Exception:
                logger.warning("Instrument %r failed on %r", instrument, name, exc_info=True)

    def observe(self, name: str, value: float, attributes: Attributes) -> None:
        """Record ``value`` in the histogram ``name`` in every installed instrument."""
        for instrument in self._instruments:
            try:
                instrument.observe(name, value, attributes)
            except Exception:
                logger.warning("Instrument %r failed on %r", instrument, name, exc_info=True)

    def gauge(self, name: str, value: float, attributes: Attributes) -> None:
        """Set the gauge ``name`` to ``value`` in every installed instrument."""
        for instrument in self._instruments:
            try:
                instrument.gauge(name, value, attributes)
            except Exception:
                logger.warning("Instrument %r failed on %r", instrument, name, exc_info=True)


class Installation:
    """The handle :meth:`Hub.install` returns: :meth:`uninstall` it, or use it in ``with``.

    Attributes:
        instrument: The installed instrument.

    Example:
        >>> from python_mastery_portfolio.instrumentation import RecordingInstrument
        >>> handle = install(RecordingInstrument())
        >>> handle.uninstall(), handle.uninstall()
        (True, False)
    """

    __slots__ = ("_hub", "_removed", "instrument")

    def __init__(self, hub: Hub, instrument: Instrument) -> None:
        self._hub = hub
        self.instrument = instrument
        self._removed = False

    def uninstall(self) -> bool:
        """Remove this installation; return ``False`` if it was already removed."""
        if self._removed:
            return False
        self._removed = True
        return self._hub.uninstall(self.instrument)

    def __enter__(self) -> Installation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.uninstall()

    def __repr__(self) -> str:
        state = "removed" if self._removed else "installed"
        return f"<Installation of {self.instrument!r}: {state}>"


HOOKS = Hub()
"""The hub every part of the toolkit reports to."""


def install(instrument: Instrument) -> Installation:
    """Send the toolkit's events and measurements to ``instrument``; return the handle.

    Args:
        instrument: Any object with the :class:`Instrument` methods (the Prometheus,
            OpenTelemetry and logging adapters build one each).

    Returns:
        The handle whose :meth:`~Installation.uninstall` removes it; also a context manager.

    Raises:
        TypeError: If ``instrument`` lacks one of the :class:`Instrument` methods.

    Example:
        >>> from python_mastery_portfolio.instrumentation import RecordingInstrument
        >>> with install(RecordingInstrument()) as handle:
        ...     HOOKS.active
        True
        >>> HOOKS.active
        False
    """
    return HOOKS.install(instrument)


def error_type(error: BaseException | None) -> str:
    """Return the ``error.type`` attribute of ``error``: its class's qualified name.

    Built-in exceptions are named bare (``ValueError``), others with their module, as
    OpenTelemetry's semantic conventions ask; ``None`` (no error) is ``""``.

    Example:
        >>> error_type(ValueError()), error_type(None)
        ('ValueError', '')
        >>> import json
        >>> error_type(json.JSONDecodeError("x", "", 0))
        'json.decoder.JSONDecodeError'
    """
    if error is None:
        return ""
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"
