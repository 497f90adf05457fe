"""The stable names the toolkit reports, with their kinds, units and attributes.

The adapters read this catalogue: Prometheus declares each metric with its label names up
front (so a series is only ever labelled by these attributes, whatever else an event
carries), OpenTelemetry creates its instruments with the unit, and the docs list it. A name
that is not here still reaches every instrument; adapters label it by its attributes.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal, NamedTuple

__all__ = ["EVENTS", "METRICS", "EventSpec", "MetricSpec"]


class MetricSpec(NamedTuple):
    """One metric: what the ``count``/``observe``/``gauge`` calls named ``name`` mean.

    Attributes:
        name: The dotted name call sites use (``"cache.requests"``).
        kind: ``"counter"``, ``"histogram"`` or ``"gauge"``.
        unit: ``"s"`` for seconds, ``"1"`` for a plain number.
        labels: The attribute names every measurement carries: bounded values only.
        description: What it counts or measures.
    """

    name: str
    kind: Literal["counter", "histogram", "gauge"]
    unit: str
    labels: tuple[str, ...]
    description: str


class EventSpec(NamedTuple):
    """One event: what the ``event`` calls named ``name`` mean.

    Attributes:
        name: The dotted name call sites use (``"retry.attempt"``).
        attributes: The attribute names it carries.
        description: When it happens.
    """

    name: str
    attributes: tuple[str, ...]
    description: str


_METRICS = (
    MetricSpec("retry.attempts", "counter", "1", ("function",),
               "Retries decided: attempts after the first that were scheduled."),
    MetricSpec("retry.wait", "histogram", "s", ("function",),
               "Seconds waited before each retry."),
    MetricSpec("retry.giveups", "counter", "1", ("function",),
               "Retried calls that gave up (attempts, deadline or an endless wait)."),
    MetricSpec("retry.successes", "counter", "1", ("function",),
               "Calls that succeeded after at least one retry."),
    MetricSpec("circuit.state", "gauge", "1", ("breaker",),
               "The breaker's state: 0 closed, 1 open, 2 half-open."),
    MetricSpec("circuit.transitions", "counter", "1", ("breaker", "state"),
               "State changes, by the state entered."),
    MetricSpec("circuit.rejections", "counter", "1", ("breaker",),
               "Calls failed fast without running (open, forced open or no probe slot)."),
    MetricSpec("circuit.probes", "counter", "1", ("breaker",),
               "Trial calls admitted while half-open."),
    MetricSpec("cache.requests", "counter", "1", ("cache", "result"),
               'Lookups of a cached function, by result: "hit" or "miss".'),
    MetricSpec("cache.coalesced", "counter", "1", ("cache",),
               "Calls that joined a computation under way for their key (also hits)."),
    MetricSpec("cache.evictions", "counter", "1", ("cache",),
               "Live entries dropped to make room."),
    MetricSpec("cache.expirations", "counter", "1", ("cache",),
               "Expired entries dropped."),
    MetricSpec("store.errors", "counter", "1", ("store", "operation"),
               "Calls to an outside store (Redis...) that failed; its policy applied."),
    MetricSpec("rate_limit.decisions", "counter", "1", ("limiter", "decision"),
               'Acquisitions, by decision: "allowed" or "rejected".'),
    MetricSpec("rate_limit.wait", "histogram", "s", ("limiter",),
               "Seconds an acquisition was told to wait for its tokens."),
    MetricSpec("di.resolve_failures", "counter", "1", ("service", "error"),
               "Resolutions that raised, by requested type and error class."),
    MetricSpec("pool.acquire_wait", "histogram", "s", ("pool",),
               "Seconds an acquisition waited for a connection."),
    MetricSpec("pool.timeouts", "counter", "1", ("pool",),
               "Acquisitions that timed out."),
    MetricSpec("pool.size", "gauge", "1", ("pool",),
               "Connections open (idle and in use)."),
    MetricSpec("rpc.calls", "counter", "1", ("side", "method", "outcome"),
               'JSON-RPC calls by side ("client", "server"), method and outcome '
               '("ok", "error"); unknown methods count as "<unknown>".'),
    MetricSpec("http.requests", "counter", "1", ("route", "method", "status"),
               "HTTP requests served, by route template (never the raw path), method and "
               "status code (the web integration reports them)."),
    MetricSpec("http.duration", "histogram", "s", ("route", "method"),
               "Seconds to serve an HTTP request, by route template and method."),
    MetricSpec("process.events", "counter", "1", ("process", "event"),
               'Managed process lifecycle: "started", "stopped", "killed".'),
)  # fmt: skip

_EVENTS = (
    EventSpec("retry.attempt", ("function", "retry.attempt", "retry.wait", "error.type"),
              "An attempt failed and another is scheduled after ``retry.wait`` seconds "
              '(``error.type`` is "" for a rejected result).'),
    EventSpec("retry.gave_up", ("function", "retry.attempts", "error.type"),
              "A retried call gave up after ``retry.attempts`` attempts."),
    EventSpec("retry.succeeded", ("function", "retry.attempts"),
              "A call succeeded after retries, at attempt ``retry.attempts``."),
    EventSpec("retry.aborted", ("function", "retry.attempts", "error.type"),
              "A retried call ended otherwise: an error not retried, or a cancelled wait."),
    EventSpec("circuit.state_change", ("breaker", "circuit.from", "circuit.to"),
              "The breaker changed state."),
    EventSpec("circuit.rejected", ("breaker", "circuit.state"),
              "A call was failed fast without running."),
    EventSpec("circuit.probe", ("breaker",),
              "A trial call was admitted while half-open."),
    EventSpec("store.error", ("store", "operation", "error.type", "store.policy"),
              'A store call failed; ``store.policy`` is what happened ("fail_open", '
              '"fail_closed" or "raise").'),
    EventSpec("rate_limit.rejected", ("limiter", "rate_limit.retry_after"),
              "An acquisition was refused; the tokens are there in ``retry_after`` seconds."),
    EventSpec("di.resolve_failed", ("service", "error.type"),
              "Resolving a type raised."),
    EventSpec("pool.timeout", ("pool", "pool.timeout"),
              "An acquisition gave up after ``pool.timeout`` seconds."),
    EventSpec("process.started", ("process", "process.pid"),
              "A managed process started."),
    EventSpec("process.stopped", ("process", "process.exit_code"),
              "A managed process exited (on its own or when asked to)."),
    EventSpec("process.killed", ("process",),
              "A managed process was killed after not stopping in time."),
)  # fmt: skip

METRICS = MappingProxyType({spec.name: spec for spec in _METRICS})
"""Every metric name the toolkit reports, mapped to its :class:`MetricSpec`.

Example:
    >>> METRICS["cache.requests"].labels
    ('cache', 'result')
"""

EVENTS = MappingProxyType({spec.name: spec for spec in _EVENTS})
"""Every event name the toolkit reports, mapped to its :class:`EventSpec`.

Example:
    >>> EVENTS["retry.attempt"].attributes
    ('function', 'retry.attempt', 'retry.wait', 'error.type')
"""
