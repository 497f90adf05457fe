"""Static proofs of the web integration's public types (mypy and pyright check)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, assert_type

from fastapi import FastAPI

from python_mastery_portfolio.di_container import DIContainer
from python_mastery_portfolio.resilience import RateLimiter
from python_mastery_portfolio.service import Settings, UserCreate, create_app
from python_mastery_portfolio.service.events import EventHub, EventHubStats, Subscription
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.web import (
    ClientAddress,
    ProblemResponse,
    RateLimit,
    RequestMetrics,
    RequestMetricsStats,
    build_log_config,
    get_container,
    get_request_id,
    problem,
    retry_after_header,
)


def test_context_and_problem_types() -> None:
    """The helpers return precise types."""
    assert_type(get_request_id(), str | None)
    assert_type(problem(404), dict[str, Any])
    assert_type(retry_after_header(1.5), str | None)
    assert_type(ProblemResponse(problem(400)).status_code, int)
    assert_type(build_log_config(), dict[str, Any])


def test_metrics_and_events_types() -> None:
    """Stats are typed dicts of numbers; a subscription is a Subscription."""
    assert_type(RequestMetrics().stats(), RequestMetricsStats)
    assert_type(RequestMetrics().by_status(), dict[str, int])
    hub = EventHub()
    assert_type(hub.subscribe(), Subscription)
    assert_type(hub.stats(), EventHubStats)


def test_rate_limit_types() -> None:
    """RateLimit takes a RateLimiter and exposes it; ClientAddress builds the key."""
    limit = RateLimit(RateLimiter(1, clock=ManualClock()), cost=1)
    assert_type(limit.limiter, RateLimiter)
    assert_type(ClientAddress(["10.0.0.0/8"]), ClientAddress)
    if TYPE_CHECKING:  # rejected statically; never run
        RateLimit(object())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_service_types(tmp_path: Any) -> None:
    """create_app returns a FastAPI application; its container is a DIContainer."""
    app = create_app(Settings(database_path=tmp_path / "u.db"))
    assert_type(app, FastAPI)
    assert_type(UserCreate(email="a@b.org", name="A").email, str)
    if TYPE_CHECKING:  # the container exists once the lifespan runs
        assert_type(get_container(app), DIContainer)
