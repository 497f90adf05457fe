"""Smoke test of the benchmark suite: every scenario runs once (peers that are installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks import __main__ as bench_main
from benchmarks import scenarios
from benchmarks.harness import OURS, Contender, Prepared, Scenario, markdown, run_scenario

SCENARIOS = scenarios.all_scenarios()


class TestScenarios:
    @pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
    def test_runs_once(self, scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each scenario verifies and times its available contenders."""
        monkeypatch.setattr(scenarios, "ENTRIES", 500)
        results = run_scenario(scenario, rounds=1, target_seconds=0.0001)
        assert results[0].name == OURS
        assert all(result.median > 0 for result in results)

    def test_names_unique(self) -> None:
        """Scenario names are unique, as they name the result files."""
        names = [s.name for s in SCENARIOS]
        assert len(names) == len(set(names))


class TestHarness:
    def test_verify_failure_is_reported(self) -> None:
        """A contender that does not do the work stops the scenario."""

        def broken() -> None:
            raise AssertionError("a hit recomputed")

        scenario = Scenario("x", "x", [Contender(OURS, lambda: Prepared(int, broken))])
        with pytest.raises(AssertionError, match="recomputed"):
            run_scenario(scenario, rounds=1, target_seconds=0.0001)

    def test_ratio_and_goal(self) -> None:
        """Ratios are ours / peer and goals are judged against them."""
        scenario = Scenario(
            "x",
            "x",
            [
                Contender(OURS, lambda: Prepared(int)),
                Contender("slow", lambda: Prepared(lambda: sum(range(200))), None, 1.0),
                Contender("absent", lambda: Prepared(int), "no-such-distribution-xyz", 1.0),
            ],
        )
        results = run_scenario(scenario, rounds=3, target_seconds=0.0005)
        assert [r.name for r in results] == [OURS, "slow"]
        slow = results[1]
        assert slow.ratio is not None
        assert slow.met is (slow.ratio <= 1.0)
        assert "| x | slow |" in markdown([(scenario, results)], quick=True)

    def test_main_writes_results(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The command line writes JSON results and the markdown table."""
        monkeypatch.setattr(scenarios, "ENTRIES", 500)
        docs = tmp_path / "benchmarks.md"
        code = bench_main.main(
            ["--quick", "--only", "timed_overhead", "--results", str(tmp_path), "--docs", str(docs)]
        )
        assert code == 0
        payload = json.loads((tmp_path / "timed_overhead.json").read_text())
        assert payload["results"][0]["contender"] == OURS
        assert "@timed call overhead" in docs.read_text()

    def test_a_partial_run_leaves_the_tracked_files(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--quick or --only write under build/bench, not over the tracked files; it says where."""
        monkeypatch.setattr(scenarios, "ENTRIES", 500)
        monkeypatch.setattr(bench_main, "ROOT", tmp_path)
        assert bench_main.main(["--quick", "--only", "timed_overhead"]) == 0
        assert (tmp_path / "build" / "bench" / "results" / "timed_overhead.json").exists()
        assert (tmp_path / "build" / "bench" / "benchmarks.md").exists()
        assert not (tmp_path / "docs").exists()
        err = capsys.readouterr().err
        assert f"table: {tmp_path / 'build' / 'bench' / 'benchmarks.md'}" in err
