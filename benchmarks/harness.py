"""The benchmark method: interleaved rounds, medians, spreads and ratios against peers.

Each scenario has one contender that is ours and any number of peers. Before timing, every
contender is warmed up and verified (it must do the same work: same results, a cache hit is
a hit). Then, for several rounds, each contender runs a batch of operations in turn, the order
rotating each round so no contender always runs first. The median time per operation over the
rounds is reported with its spread (interquartile range, as a share of the median) and the ratio
ours / peer. Only ratios from one run are compared; absolute times are noise on shared machines.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OURS = "ours"


@dataclass(frozen=True)
class Prepared:
    """A ready-to-time operation and the check that it did the expected work."""

    op: Callable[[], Any]
    verify: Callable[[], None] = lambda: None
    is_async: bool = False
    close: Callable[[], Awaitable[None]] | None = None  # async teardown, run in the loop


@dataclass(frozen=True)
class Contender:
    """One implementation in a scenario: ``prepare`` builds a fresh operation."""

    name: str
    prepare: Callable[[], Prepared]
    distribution: str | None = None  # PyPI name for the version; None for ours / stdlib
    goal: float | None = None  # the ratio ours / this contender must not exceed


@dataclass(frozen=True)
class Scenario:
    """A named comparison: ours against peers, timed or measured in bytes."""

    name: str
    title: str
    contenders: list[Contender]
    unit: str = "ns/op"
    measure: Callable[[Contender], float] | None = None  # for non-timing scenarios
    note: str = ""
    logging_enabled: bool = False  # the run disables logging unless a scenario needs it
    # A full run's rounds and seconds per batch, where the defaults are too few: an operation
    # whose time varies a lot (a thread hand-off per request) needs more samples.
    rounds: int | None = None
    batch_seconds: float | None = None


@dataclass
class Result:
    """What one contender measured."""

    name: str
    version: str
    median: float
    spread: float
    samples: list[float] = field(default_factory=list)
    ratio: float | None = None  # ours / this contender
    goal: float | None = None
    met: bool | None = None


def library_version(distribution: str | None) -> str:
    """Return the installed version of ``distribution``, ``stdlib`` or ``ours``."""
    if distribution is None:
        return "-"
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _time_batch(prepared: Prepared, count: int, loop: asyncio.AbstractEventLoop | None) -> float:
    op = prepared.op
    if prepared.is_async:
        assert loop is not None

        async def batch() -> int:
            start = time.perf_counter_ns()
            for _ in range(count):
                await op()
            return time.perf_counter_ns() - start

        return loop.run_until_complete(batch()) / count
    start = time.perf_counter_ns()
    for _ in range(count):
        op()
    return (time.perf_counter_ns() - start) / count


def _warm(prepared: Prepared, loop: asyncio.AbstractEventLoop | None) -> None:
    result = prepared.op()
    if prepared.is_async:
        assert loop is not None
        loop.run_until_complete(_await(result))


async def _await(value: Awaitable[Any]) -> Any:
    return await value


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_scenario(
    scenario: Scenario,
    *,
    rounds: int,
    target_seconds: float,
    advance: Callable[[], None] = lambda: None,
) -> list[Result]:
    """Measure every contender of ``scenario`` and return results, ours first.

    Args:
        scenario: The comparison to run.
        rounds: How many interleaved rounds to time.
        target_seconds: Roughly how long one contender's batch should take.
        advance: Called after each contender's batch (drives a progress bar).
    """
    available = [
        c for c in scenario.contenders if library_version(c.distribution) != "not installed"
    ]
    if scenario.measure is not None:
        measured = {
            c.name: [scenario.measure(c) for _ in range(max(1, rounds // 5))] for c in available
        }
        for _ in range(rounds * len(available)):
            advance()
        return _summarise(scenario, available, measured)

    loop = asyncio.new_event_loop()
    prepared: dict[str, Prepared] = {}
    try:
        for contender in available:
            prepared[contender.name] = contender.prepare()
        for item in prepared.values():
            _warm(item, loop)
            item.verify()
        counts: dict[str, int] = {}
        for name, item in prepared.items():
            per_op = max(_time_batch(item, 50, loop), 1.0)
            counts[name] = max(20, int(target_seconds * 1e9 / per_op))
        samples: dict[str, list[float]] = {c.name: [] for c in available}
        with _gc_paused():
            for index in range(rounds):
                order = available[index % len(available) :] + available[: index % len(available)]
                for contender in order:
                    item = prepared[contender.name]
                    samples[contender.name].append(_time_batch(item, counts[contender.name], loop))
                    advance()
        for item in prepared.values():
            item.verify()
    finally:
        try:
            for item in prepared.values():
                if item.close is not None:
                    loop.run_until_complete(item.close())
        finally:
            loop.close()
    return _summarise(scenario, available, samples)


def _summarise(
    scenario: Scenario, available: list[Contender], samples: dict[str, list[float]]
) -> list[Result]:
    results = []
    for contender in available:
        values = sorted(samples[contender.name])
        median = statistics.median(values)
        if len(values) >= 4:
            q1, _, q3 = statistics.quantiles(values, n=4)
            spread = (q3 - q1) / median if median else 0.0
        else:
            spread = (values[-1] - values[0]) / median if median else 0.0
        results.append(
            Result(
                name=contender.name,
                version=library_version(contender.distribution),
                median=median,
                spread=spread,
                samples=values,
                goal=contender.goal,
            )
        )
    ours = next(r for r in results if r.name == OURS)
    for result in results:
        if result is not ours and result.median > 0:
            result.ratio = ours.median / result.median
            if result.goal is not None:
                result.met = result.ratio <= result.goal
    return results


def environment() -> dict[str, str]:
    """Describe the interpreter and machine the results came from."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.system(),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_json(directory: Path, scenario: Scenario, results: list[Result], quick: bool) -> Path:
    """Write one scenario's results to ``directory/<scenario>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{scenario.name}.json"
    payload = {
        "scenario": scenario.name,
        "title": scenario.title,
        "unit": scenario.unit,
        "quick": quick,
        "note": scenario.note,
        "environment": environment(),
        "results": [
            {
                "contender": r.name,
                "version": r.version,
                "median": r.median,
                "spread": r.spread,
                "ratio_ours_over_peer": r.ratio,
                "goal": r.goal,
                "met": r.met,
                "samples": r.samples,
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def _fmt(value: float, unit: str) -> str:
    if unit == "bytes/entry":
        return f"{value:,.0f} B"
    if value >= 1e6:
        return f"{value / 1e6:,.2f} ms"
    if value >= 1e3:
        return f"{value / 1e3:,.2f} µs"
    return f"{value:,.0f} ns"


def markdown(all_results: list[tuple[Scenario, list[Result]]], quick: bool) -> str:
    """Render the summary table for ``docs/benchmarks.md``."""
    env = environment()
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench"
        + (" QUICK=1" if quick else "")
        + f"` on {env['date']}, Python {env['python']} ({env['implementation']}, "
        f"{env['machine']}, {env['system']}). Lower ratios are better: the ratio is "
        "ours / peer, from medians measured in the same process, interleaved over several "
        "rounds. Spread is the interquartile range as a share of the median. Absolute times "
        "are noise on a shared machine; compare ratios only. Logging is disabled while timing "
        "unless a scenario says otherwise. Peer versions are pinned in the `bench` dependency "
        "group of `pyproject.toml`.",
        "",
        "| scenario | contender | version | median | spread | ours / peer | goal | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, results in all_results:
        for result in results:
            ratio = "-" if result.ratio is None else f"{result.ratio:.2f}"
            goal = "-" if result.goal is None else f"≤ {result.goal:g}"
            met = "-" if result.met is None else ("yes" if result.met else "**no**")
            lines.append(
                f"| {scenario.title} | {result.name} | {result.version} | "
                f"{_fmt(result.median, scenario.unit)} | {result.spread:.0%} | {ratio} | "
                f"{goal} | {met} |"
            )
    notes = [(s.title, s.note) for s, _ in all_results if s.note]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- **{title}**: {note}" for title, note in notes]
    return "\n".join(lines) + "\n"
