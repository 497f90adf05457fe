"""The container's reports of failed resolutions to the instrumentation hook."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from python_mastery_portfolio.di import DIContainer
from python_mastery_portfolio.exceptions import DependencyError, ServiceNotRegisteredError
from python_mastery_portfolio.instrumentation import RecordingInstrument, install


class Missing:
    """Never registered."""


class Broken:
    """Its constructor raises."""

    def __init__(self) -> None:
        raise RuntimeError("no")


class Custom(DIContainer):
    """A subclass that overrides resolve: it keeps its own method."""

    def resolve(self, service_type: object) -> object:  # type: ignore[override]  # a test double
        return super().resolve(service_type)  # type: ignore[call-overload]  # object key


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """A recording instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


SERVICE = f"{__name__}.Missing"


class TestResolveFailures:
    def test_not_registered(self, recorder: RecordingInstrument) -> None:
        """A failed resolve is an event and a count, by service and error class."""
        container = DIContainer()
        with pytest.raises(ServiceNotRegisteredError):
            container.resolve(Missing)
        (event,) = recorder.events("di.resolve_failed")
        assert event.attributes["service"] == SERVICE
        error = event.attributes["error.type"]
        assert isinstance(error, str)
        assert error.endswith("ServiceNotRegisteredError")
        assert recorder.total("di.resolve_failures", service=SERVICE, error=error) == 1

    def test_constructor_raised(self, recorder: RecordingInstrument) -> None:
        """A constructor that raises is a failure of the type asked for."""
        container = DIContainer().register(Broken)
        with pytest.raises(DependencyError):
            container.resolve(Broken)
        assert recorder.total("di.resolve_failures", service=f"{__name__}.Broken") == 1

    def test_switched_on_and_off(self) -> None:
        """A container made before the install reports only while installed; success is quiet."""
        container = DIContainer().register(int, instance=1)
        recorder = RecordingInstrument()
        with install(recorder):
            assert container.resolve(int) == 1
            with pytest.raises(ServiceNotRegisteredError):
                container.resolve(Missing)
        with pytest.raises(ServiceNotRegisteredError):
            container.resolve(Missing)
        assert recorder.total("di.resolve_failures") == 1

    def test_other_forms(self, recorder: RecordingInstrument) -> None:
        """aresolve, resolve_all, aresolve_all and an overriding subclass report too."""
        container = DIContainer().register(Broken, multiple=True)
        with pytest.raises(DependencyError):
            asyncio.run(container.aresolve(Missing))
        with pytest.raises(DependencyError):
            container.resolve_all(Broken)
        with pytest.raises(DependencyError):
            asyncio.run(container.aresolve_all(Broken))
        with pytest.raises(DependencyError):
            Custom().resolve(Missing)
        assert recorder.total("di.resolve_failures") == 4

    def test_other_forms_quiet(self) -> None:
        """Without an instrument the same failures report nothing."""
        container = DIContainer().register(Broken, multiple=True)
        with pytest.raises(DependencyError):
            asyncio.run(container.aresolve(Missing))
        with pytest.raises(DependencyError):
            container.resolve_all(Broken)
        with pytest.raises(DependencyError):
            asyncio.run(container.aresolve_all(Broken))
        with pytest.raises(DependencyError):
            Custom().resolve(Missing)


class TestScopeFailures:
    def test_scope_resolve_and_aresolve_report(self, recorder: RecordingInstrument) -> None:
        """A scope's resolve and aresolve report failures like the container's."""
        container = DIContainer().register(Broken)
        with container.scope() as scope:
            with pytest.raises(ServiceNotRegisteredError):
                scope.resolve(Missing)
            with pytest.raises(DependencyError):
                scope.resolve(Broken)
            with pytest.raises(ServiceNotRegisteredError):
                asyncio.run(scope.aresolve(Missing))
        assert recorder.total("di.resolve_failures", service=SERVICE) == 2
        assert recorder.total("di.resolve_failures", service=f"{__name__}.Broken") == 1

    def test_scope_failures_quiet_without_an_instrument(self) -> None:
        container = DIContainer()
        with container.scope() as scope:
            with pytest.raises(ServiceNotRegisteredError):
                scope.resolve(Missing)
            with pytest.raises(ServiceNotRegisteredError):
                asyncio.run(scope.aresolve(Missing))
