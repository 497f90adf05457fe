"""Tests for the instrumentation hub, the recording instrument and the catalogue."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from python_mastery_portfolio.instrumentation import (
    EVENTS,
    HOOKS,
    METRICS,
    Hub,
    Installation,
    Instrument,
    RecordingInstrument,
    install,
)
from tests.conftest import run_threads


class _Broken:
    """An instrument whose every method raises."""

    def event(self, name: str, attributes: Any) -> None:
        raise RuntimeError(name)

    count = observe = gauge = lambda self, name, value, attributes: self.event(name, attributes)


class TestHub:
    def test_inactive_until_installed(self) -> None:
        """A new hub is inactive and reports to nobody."""
        hub = Hub()
        assert hub.active is False
        hub.event("x", {})
        hub.count("x", 1, {})
        assert hub.instruments() == ()

    def test_fans_out_to_every_instrument(self) -> None:
        """Each installed instrument receives every call, in order."""
        hub = Hub()
        first, second = RecordingInstrument(), RecordingInstrument()
        hub.install(first)
        hub.install(second)
        hub.event("e", {"a": 1})
        hub.count("c", 2, {"a": 1})
        hub.observe("h", 0.5, {})
        hub.gauge("g", 3, {})
        for recorder in (first, second):
            assert [(r.kind, r.name, r.value) for r in recorder.records] == [
                ("event", "e", 0.0),
                ("count", "c", 2.0),
                ("observe", "h", 0.5),
                ("gauge", "g", 3.0),
            ]
        assert hub.instruments() == (first, second)

    def test_uninstall_removes_one_installation(self) -> None:
        """Installed twice, an instrument is removed once per handle; active follows."""
        hub = Hub()
        recorder = RecordingInstrument()
        one, two = hub.install(recorder), hub.install(recorder)
        hub.count("c", 1, {})
        assert recorder.total("c") == 2
        assert one.uninstall() is True
        assert hub.instruments() == (recorder,)
        assert one.uninstall() is False
        assert two.uninstall() is True
        assert hub.instruments() == ()
        assert hub.uninstall(recorder) is False

    def test_context_manager(self) -> None:
        """An installation used in ``with`` is removed on exit."""
        hub = Hub()
        with hub.install(RecordingInstrument()) as handle:
            assert isinstance(handle, Installation)
            assert "installed" in repr(handle)
            assert hub.instruments() != ()
        assert hub.instruments() == ()
        assert "removed" in repr(handle)

    def test_rejects_non_instruments(self) -> None:
        """Something without the four methods is refused at install time."""
        with pytest.raises(TypeError, match="instrument must have"):
            Hub().install(object())  # type: ignore[arg-type]  # the point of the test

    def test_broken_instrument_is_logged_and_skipped(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An instrument that raises is logged at WARNING; the others still receive."""
        hub = Hub()
        recorder = RecordingInstrument()
        hub.install(_Broken())
        hub.install(recorder)
        with caplog.at_level(logging.WARNING, "python_mastery_portfolio.instrumentation"):
            hub.event("e", {})
            hub.count("c", 1, {})
            hub.observe("o", 1, {})
            hub.gauge("g", 1, {})
        assert len(recorder.records) == 4
        assert [r.levelno for r in caplog.records] == [logging.WARNING] * 4
        assert all(r.exc_info for r in caplog.records)

    def test_install_and_uninstall_race_with_reports(self) -> None:
        """Installs, uninstalls and reports from many threads lose nothing installed."""
        hub = Hub()
        keeper = RecordingInstrument()
        hub.install(keeper)

        def body(index: int) -> None:
            for _ in range(200):
                if index % 2:
                    hub.install(RecordingInstrument()).uninstall()
                else:
                    hub.count("c", 1, {})

        run_threads(8, body)
        assert keeper.total("c") == 4 * 200
        assert hub.instruments() == (keeper,)

    def test_global_install(self) -> None:
        """``install`` installs on the global ``HOOKS``."""
        recorder = RecordingInstrument()
        with install(recorder):
            assert recorder in HOOKS.instruments()
        assert recorder not in HOOKS.instruments()


class TestRecordingInstrument:
    def test_filters(self) -> None:
        """Records are selected by kind, name and attribute values."""
        recorder = RecordingInstrument()
        recorder.count("c", 1, {"cache": "f", "result": "hit"})
        recorder.count("c", 2, {"cache": "g", "result": "hit"})
        recorder.count("c", 4, {"cache": "f", "result": "miss"})
        recorder.observe("h", 0.25, {"pool": "p"})
        recorder.gauge("g", 1, {"breaker": "b"})
        recorder.gauge("g", 2, {"breaker": "b"})
        recorder.event("e", {"x": "y"})
        assert recorder.total("c") == 7
        assert recorder.total("c", result="hit") == 3
        assert recorder.total("c", cache="f", result="miss") == 4
        assert recorder.observations("h", pool="p") == [0.25]
        assert recorder.last("g", breaker="b") == 2
        assert recorder.last("g", breaker="other") is None
        assert [r.attributes for r in recorder.events("e")] == [{"x": "y"}]
        assert len(recorder.select()) == 7
        assert recorder.names() == {"c", "h", "g", "e"}
        assert "7 records" in repr(recorder)
        recorder.clear()
        assert recorder.records == []

    def test_copies_attributes(self) -> None:
        """A record keeps the attributes as they were when it was made."""
        recorder = RecordingInstrument()
        attributes = {"a": 1}
        recorder.event("e", attributes)
        attributes["a"] = 2
        assert recorder.records[0].attributes == {"a": 1}

    def test_is_an_instrument(self) -> None:
        """It satisfies the protocol."""
        assert isinstance(RecordingInstrument(), Instrument)


class TestCatalogue:
    def test_names_are_unique_and_consistent(self) -> None:
        """Every spec is keyed by its own name; units and kinds are from the known sets."""
        for name, spec in METRICS.items():
            assert spec.name == name
            assert spec.kind in {"counter", "histogram", "gauge"}
            assert spec.unit in {"s", "1"}
            assert all(label.isidentifier() for label in spec.labels)
        for name, event in EVENTS.items():
            assert event.name == name

    def test_docs_list_every_name(self) -> None:
        """The observability guide names every metric and event."""
        from pathlib import Path

        text = (Path(__file__).parents[2] / "docs" / "guides" / "observability.md").read_text()
        missing = [name for name in (*METRICS, *EVENTS) if f"`{name}`" not in text]
        assert missing == []


class _Watcher:
    """A watcher that records the changes it is told about."""

    def __init__(self, *, fail: bool = False) -> None:
        self.changes: list[bool] = []
        self.fail = fail

    def hooks_changed(self, active: bool) -> None:
        self.changes.append(active)
        if self.fail:
            raise RuntimeError("broken watcher")


class TestWatch:
    def test_told_of_each_change(self) -> None:
        """A watcher hears when the hub turns on and off, not of every install."""
        hub = Hub()
        watcher = _Watcher()
        hub.watch(watcher)
        first = hub.install(RecordingInstrument())
        second = hub.install(RecordingInstrument())
        first.uninstall()
        second.uninstall()
        assert watcher.changes == [True, False]

    def test_told_at_once_when_on(self) -> None:
        """A watcher registered while the hub is on is switched on at once."""
        hub = Hub()
        with hub.install(RecordingInstrument()):
            watcher = _Watcher()
            hub.watch(watcher)
            assert watcher.changes == [True]
        assert watcher.changes == [True, False]

    def test_held_weakly(self) -> None:
        """A watcher that is gone is forgotten."""
        hub = Hub()
        hub.watch(_Watcher())
        with hub.install(RecordingInstrument()):
            pass  # nothing to tell: the watcher was collected

    def test_failing_watcher_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """A watcher that raises is logged; the install still happens."""
        hub = Hub()
        watcher = _Watcher(fail=True)
        hub.watch(watcher)
        with caplog.at_level(logging.WARNING, "python_mastery_portfolio.instrumentation"):
            handle = hub.install(RecordingInstrument())
        assert hub.instruments() == (handle.instrument,)
        assert "failed to switch" in caplog.text
        handle.uninstall()
