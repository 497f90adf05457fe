"""``GET /metrics``: the service's figures as JSON (the default) or in Prometheus' text format.

The JSON form is :func:`~python_mastery_portfolio.service.admin.service_stats`: requests by
status with latency percentiles, the read cache, both rate limiters, the events and the
WebSocket counts. With several workers (``PMP_REDIS_URL``) it adds ``cluster`` (this
worker's change feed) and ``workers``: every live worker's figures by worker ID, this
worker's fresh and the others' as of their last report (every
``PMP_WORKER_REPORT_INTERVAL``). They are *labelled per worker*, not merged: latency
percentiles of several workers cannot be added up, and a scrape that lands on any worker
still sees them all.

The Prometheus form (``?format=prometheus``, or an ``Accept`` naming ``text/plain`` or
OpenMetrics and not JSON, as Prometheus sends) is the toolkit's metrics
(:func:`~python_mastery_portfolio.observability.install_prometheus`, extra ``[prometheus]``)
on the app's own registry, installed on the first Prometheus scrape (counting costs every
request, so it starts when someone looks; with several workers, at start-up):
``pmp_http_requests_total{route,method,status}`` and ``pmp_http_duration_seconds`` by
route template, ``pmp_cache_requests_total{cache="users"}``,
``pmp_rate_limit_decisions_total{limiter="writes"|"reads"}``, ``pmp_retry_*`` for the
database's locked-write retries, and the rest of the catalogue. With several workers every
sample carries a ``worker`` label and one scrape returns every live worker's series (the
simplest correct choice: prometheus_client's multiprocess mode needs a shared directory,
so one machine, and cleans up after dead workers only by hand).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response

from python_mastery_portfolio.service.admin import service_stats
from python_mastery_portfolio.service.events import EventHub
from python_mastery_portfolio.service.streams import EventStreams
from python_mastery_portfolio.service.users import UserService
from python_mastery_portfolio.web.di import Inject

if TYPE_CHECKING:
    from python_mastery_portfolio.resilience import RateLimiter
    from python_mastery_portfolio.service.cluster import RedisChangeFeed
    from python_mastery_portfolio.service.settings import Settings
    from python_mastery_portfolio.web.metrics import RequestMetrics

__all__ = ["PROMETHEUS_TEXT", "add_metrics_route", "merge_prometheus", "wants_prometheus"]

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
"""The ``Content-Type`` of the Prometheus answer (the text exposition format 0.0.4)."""

Problems = Callable[..., dict[int | str, dict[str, Any]]]


def wants_prometheus(format_: str | None, accept: str) -> bool:
    """Return whether a ``/metrics`` request asks for Prometheus text rather than JSON.

    ``?format=`` decides when given; else an ``Accept`` naming ``text/plain`` or
    OpenMetrics, and not JSON, does.

    Example:
        >>> wants_prometheus(None, "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
        True
        >>> wants_prometheus(None, "application/json, text/plain, */*")
        False
        >>> wants_prometheus("prometheus", ""), wants_prometheus("json", "text/plain")
        (True, False)
    """
    if format_ is not None:
        return format_ == "prometheus"
    accept = accept.lower()
    textual = "text/plain" in accept or "openmetrics" in accept
    return textual and "json" not in accept


def merge_prometheus(texts: Mapping[str, str]) -> bytes:
    r"""Return one exposition of several workers' texts, each sample labelled ``worker``.

    Example:
        >>> text = "\n".join(["# HELP up Up.", "# TYPE up gauge", "up 1.0", ""])
        >>> print(merge_prometheus({"w1": text, "w2": text}).decode().strip())
        # HELP up Up.
        # TYPE up gauge
        up{worker="w1"} 1.0
        up{worker="w2"} 1.0
    """
    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415 - [prometheus]
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415 - idem

    families: dict[str, Any] = {}
    for worker, text in texts.items():
        for family in text_string_to_metric_families(text):
            merged = families.setdefault(family.name, family)
            samples = [
                sample._replace(labels={**sample.labels, "worker": worker})
                for sample in family.samples
            ]
            if merged is family:
                family.samples = samples
            else:
                merged.samples.extend(samples)

    class Merged:
        def collect(self) -> Iterable[Any]:
            return families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Merged())  # pyright: ignore[reportArgumentType]  # a collector is anything with collect()
    return generate_latest(registry)


def _bearer(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    def check(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                401, "A valid bearer token is needed", {"WWW-Authenticate": "Bearer"}
            )

    return Depends(check)


def add_metrics_route(
    app: FastAPI,
    *,
    settings: Settings,
    metrics: RequestMetrics,
    limiter: RateLimiter,
    read_limiter: RateLimiter,
    feed: RedisChangeFeed | None,
    render: Callable[[], str] | None,
    problems: Problems,
) -> None:
    """Add ``GET /metrics`` (unless switched off), guarded by ``PMP_METRICS_TOKEN`` if set.

    Args:
        app: The application.
        settings: The service's settings.
        metrics: The request metrics.
        limiter: The write rate limiter.
        read_limiter: The read rate limiter.
        feed: The change feed to the other workers, when there are several.
        render: Returns this worker's Prometheus text, installing the toolkit's metrics
            on the first call (they count from the first scrape); ``None`` without the
            extra (a Prometheus request is then a 406).
        problems: Builds the route's documented problem answers.
    """
    if not settings.metrics_enabled:
        return
    token = settings.metrics_token
    guard = [_bearer(token.get_secret_value())] if token is not None else []
    responses = problems(401, 406, 422) if guard else problems(406, 422)
    responses[200] = {
        "description": "The figures: JSON, or Prometheus text when asked for",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }

    @app.get(
        "/metrics",
        summary="Request, cache, rate-limit and event statistics (JSON or Prometheus)",
        dependencies=guard,
        responses=responses,
    )
    async def get_metrics(
        request: Request,
        users: Annotated[UserService, Inject(UserService)],
        hub: Annotated[EventHub, Inject(EventHub)],
        streams: Annotated[EventStreams, Inject(EventStreams)],
        format_: Annotated[
            Literal["json", "prometheus"] | None,
            Query(alias="format", description="Default: JSON, or what Accept asks for"),
        ] = None,
    ) -> Any:
        if wants_prometheus(format_, request.headers.get("accept", "")):
            if render is None:
                raise HTTPException(406, "Prometheus text needs the [prometheus] extra")
            if feed is None:
                return Response(render(), media_type=PROMETHEUS_TEXT)
            reports = await feed.workers(own={"prometheus": render()})
            texts = {worker: report["prometheus"] for worker, report in reports.items()}
            return Response(merge_prometheus(texts), media_type=PROMETHEUS_TEXT)
        figures = service_stats(
            metrics, users, limiter, hub, read_limiter=read_limiter, streams=streams
        )
        if feed is None:
            return figures
        reports = await feed.workers(own={"json": figures})
        return {
            **figures,
            "cluster": feed.stats(),
            "workers": {worker: report["json"] for worker, report in reports.items()},
        }
