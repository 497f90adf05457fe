"""``pmp serve --workers N`` and WEB_CONCURRENCY, in process (uvicorn replaced)."""

from __future__ import annotations

from typing import Any

import pytest

from python_mastery_portfolio import cli
from python_mastery_portfolio.cli._main import serve_workers

REDIS = "redis://localhost:6379/0"


@pytest.fixture(autouse=True)
def no_web_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)


class TestServeWorkers:
    @pytest.mark.parametrize(
        ("argv", "env", "expected"),
        [
            ([], {}, 1),
            (["--workers", "3"], {"PMP_REDIS_URL": REDIS}, 3),
            ([], {"PMP_REDIS_URL": REDIS, "WEB_CONCURRENCY": "2"}, 2),
            (["--workers", "1"], {"WEB_CONCURRENCY": "4"}, 1),
            ([], {"WEB_CONCURRENCY": "1"}, 1),
        ],
        ids=["default", "option", "web-concurrency", "option-wins", "one-from-env"],
    )
    def test_uvicorn_gets_the_number_always(
        self,
        runs: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch,
        argv: list[str],
        env: dict[str, str],
        expected: int,
    ) -> None:
        """The count is always passed, so uvicorn never reads WEB_CONCURRENCY itself."""
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert cli.main(["serve", *argv]) == 0
        assert runs[0]["workers"] == expected

    @pytest.mark.parametrize(
        "case",
        [
            (["--workers", "2"], {}, "2 workers need PMP_REDIS_URL"),
            ([], {"WEB_CONCURRENCY": "3"}, "3 workers need PMP_REDIS_URL"),
            ([], {"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be a positive integer"),
            ([], {"WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY must be a positive integer"),
            (
                ["--workers", "2", "--reload"],
                {"PMP_REDIS_URL": REDIS},
                "--reload runs one worker only",
            ),
        ],
        ids=["option", "web-concurrency", "zero", "not-a-number", "reload"],
    )
    def test_refused_with_one_line_and_exit_4(
        self,
        runs: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        case: tuple[list[str], dict[str, str], str],
    ) -> None:
        """A worker count the state would not survive stops before uvicorn starts."""
        argv, env, message = case
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(SystemExit) as info:
            cli.main(["serve", *argv])
        assert info.value.code == 4
        err = capsys.readouterr().err
        assert message in err
        assert err.count("\n") == 1
        assert runs == []

    def test_zero_workers_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--workers 0 is refused by the parser (exit 2)."""
        with pytest.raises(SystemExit) as info:
            cli.main(["serve", "--workers", "0"])
        assert info.value.code == 2
        assert "must be at least 1" in capsys.readouterr().err

    def test_serve_workers_without_the_cli(self) -> None:
        """The rule itself, for other launchers."""
        assert serve_workers(None, {}, redis_url=None) == 1
        with pytest.raises(ValueError, match="set it, or use one worker"):
            serve_workers(2, {}, redis_url=None)


class TestRedisSetting:
    def test_redis_py_is_needed(
        self,
        runs: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """PMP_REDIS_URL without redis-py: one line naming the extra, exit 4."""
        import importlib.util

        real = importlib.util.find_spec

        def find_spec(name: str, *args: Any) -> Any:
            return None if name == "redis" else real(name, *args)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
        monkeypatch.setenv("PMP_REDIS_URL", REDIS)
        with pytest.raises(SystemExit) as info:
            cli.main(["serve"])
        assert info.value.code == 4
        assert "[web,redis]" in capsys.readouterr().err
        assert runs == []

    def test_a_url_that_is_not_redis_is_refused(
        self,
        runs: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """PMP_REDIS_URL must be a redis://, rediss:// or unix:// URL (exit 4)."""
        monkeypatch.setenv("PMP_REDIS_URL", "localhost:6379")
        with pytest.raises(SystemExit) as info:
            cli.main(["serve"])
        assert info.value.code == 4
        assert "redis_url" in capsys.readouterr().err
        assert runs == []
