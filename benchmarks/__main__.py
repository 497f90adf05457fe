"""Run the peer benchmarks: ``python -m benchmarks [--quick] [--only NAME ...]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.harness import Result, Scenario, markdown, run_scenario, write_json
from benchmarks.scenarios import all_scenarios

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def progress_bar(total: int) -> Iterator[Callable[[str], Callable[[], None]]]:
    """Yield a factory of per-scenario ``advance`` callbacks driving one progress bar."""
    try:
        from rich.progress import Progress
    except ImportError:  # rich comes with the [cli] extra; fall back to plain lines
        done = 0

        def plain(name: str) -> Callable[[], None]:
            def advance() -> None:
                nonlocal done
                done += 1
                if done % 25 == 0 or done == total:
                    print(f"[{done}/{total}] {name}", file=sys.stderr)

            return advance

        yield plain
        return
    with Progress(transient=False) as progress:
        task = progress.add_task("benchmarks", total=total)

        def fancy(name: str) -> Callable[[], None]:
            progress.update(task, description=name)
            return lambda: progress.advance(task)

        yield fancy


DEFAULT_RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios, write JSON results and the markdown table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few short rounds (< 1 minute)")
    parser.add_argument("--only", nargs="*", default=None, help="scenario names to run")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="folder of the JSON results (default benchmarks/results for a full run, "
        "build/bench/results for --quick or --only)",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="the markdown table (default docs/benchmarks.md for a full run, "
        "build/bench/benchmarks.md for --quick or --only)",
    )
    args = parser.parse_args(argv)

    # The timed code must not pay for log output (e.g. @timed logs at INFO).
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        return _run(args, parser)
    finally:
        logging.disable(previous)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    scenarios = all_scenarios()
    if args.list:
        for scenario in scenarios:
            print(f"{scenario.name}: {scenario.title}")
        return 0
    if args.only:
        unknown = set(args.only) - {s.name for s in scenarios}
        if unknown:
            parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        scenarios = [s for s in scenarios if s.name in args.only]

    # Only a full run replaces the tracked results: a quick or partial table would drop
    # rows or publish rough figures. Those go under build/ (ignored by git) unless told.
    scratch = ROOT / "build" / "bench"
    partial = args.quick or bool(args.only)
    results_dir: Path = args.results or (scratch / "results" if partial else DEFAULT_RESULTS)
    docs: Path = args.docs or (scratch / "benchmarks.md" if partial else DEFAULT_DOCS)

    def timing(scenario: Scenario) -> tuple[int, float]:
        """Rounds and seconds per batch: quick, a full run's, or what the scenario asks."""
        if args.quick:
            return 5, 0.004
        return scenario.rounds or 21, scenario.batch_seconds or 0.03

    total = sum(timing(s)[0] * len(s.contenders) for s in scenarios)
    collected: list[tuple[Scenario, list[Result]]] = []
    with progress_bar(total) as bar:
        for scenario in scenarios:
            logging.disable(logging.NOTSET if scenario.logging_enabled else logging.CRITICAL)
            rounds, target = timing(scenario)
            results = run_scenario(
                scenario, rounds=rounds, target_seconds=target, advance=bar(scenario.name)
            )
            write_json(results_dir, scenario, results, args.quick)
            collected.append((scenario, results))
    table = markdown(collected, args.quick)
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(table, encoding="utf-8")
    print(table)
    print(f"Results: {results_dir}/<scenario>.json; table: {docs}", file=sys.stderr)
    missed = [
        f"{scenario.name} vs {result.name}: {result.ratio:.2f} > {result.goal}"
        for scenario, results in collected
        for result in results
        if result.met is False and result.ratio is not None
    ]
    if missed:
        print("Goals missed:\n  " + "\n  ".join(missed), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
