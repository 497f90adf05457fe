"""The service rows of ``make bench``: the reference app against a bare FastAPI app."""

from __future__ import annotations

from benchmarks.harness import Scenario


def service_scenarios() -> list[Scenario]:
    """Return the service scenarios (none until the service scenario lands)."""
    return []
