"""The Redis rows of ``make bench``: ours and the peers against one local Redis server."""

from __future__ import annotations

from benchmarks.harness import Scenario


def redis_scenarios() -> list[Scenario]:
    """Return the Redis scenarios (none until the Redis backends land)."""
    return []
