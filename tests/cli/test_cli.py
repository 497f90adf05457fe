"""Tests of the ``pmp`` command line, including one real server run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from python_mastery_portfolio import cli
from tests.cli.conftest import wait_until_up


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PMP_"):
            monkeypatch.delenv(name)


class TestParser:
    def test_serve_defaults(self) -> None:
        """serve without options leaves host and port to the settings."""
        args = cli.build_parser().parse_args(["serve"])
        assert (args.command, args.host, args.port, args.reload) == ("serve", None, None, False)

    def test_serve_options(self) -> None:
        """--host, --port and --reload are parsed."""
        args = cli.build_parser().parse_args(
            ["serve", "--host", "0.0.0.0", "--port", "9000", "--reload"]  # noqa: S104 - parsed only
        )
        assert (args.host, args.port, args.reload) == ("0.0.0.0", 9000, True)  # noqa: S104 - idem

    @pytest.mark.parametrize(
        "argv",
        [
            [],
            ["serve", "--port", "eighty"],
            ["serve", "--port", "99999"],
            ["serve", "--port", "-1"],
            ["launch"],
            ["serve", "--bogus"],
        ],
        ids=[
            "no-command",
            "bad-port",
            "port-too-large",
            "negative-port",
            "unknown-command",
            "unknown-option",
        ],
    )
    def test_bad_arguments_exit_2(
        self, argv: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bad command lines exit with status 2 and a usage message."""
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
        assert "usage: pmp" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("argv", "expected"),
        [
            (["status"], {"command": "status", "json": False, "socket": None, "timeout": 5.0}),
            (
                ["status", "--json", "--socket", "/run/a.sock", "--timeout", "0.5"],
                {"json": True, "socket": Path("/run/a.sock"), "timeout": 0.5},
            ),
            (["events"], {"command": "events", "count": None, "json": False}),
            (["events", "--count", "3", "--json"], {"count": 3, "json": True}),
            (["top"], {"command": "top", "once": False}),
            (["top", "--once"], {"once": True}),
            (["status"], {"verbose": False}),
            (["-v", "status"], {"verbose": True}),
            (["status", "--verbose"], {"verbose": True}),
            (["-v", "serve"], {"verbose": True}),
        ],
        ids=[
            "status",
            "status-options",
            "events",
            "events-options",
            "top",
            "top-once",
            "quiet",
            "verbose-before",
            "verbose-after",
            "serve-verbose",
        ],
    )
    def test_client_commands(self, argv: list[str], expected: dict[str, object]) -> None:
        """status, events and top parse their options; -v goes before or after the command."""
        args = vars(cli.build_parser().parse_args(argv))
        assert {key: args[key] for key in expected} == expected

    @pytest.mark.parametrize(
        "argv",
        [
            ["events", "--count", "0"],
            ["events", "--count", "x"],
            ["status", "--timeout", "0"],
            ["status", "--timeout", "nan"],
            ["top", "--json"],
        ],
        ids=["count-zero", "count-text", "timeout-zero", "timeout-nan", "top-json"],
    )
    def test_bad_client_options_exit_2(
        self, argv: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Counts below 1, non-positive timeouts and unknown options are refused."""
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
        assert "usage: pmp" in capsys.readouterr().err

    @pytest.mark.parametrize(
        "argv",
        [[], ["serve"], ["status"], ["events"], ["top"]],
        ids=["pmp", "serve", "status", "events", "top"],
    )
    def test_help_has_examples(self, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        """--help on every command ends with examples."""
        with pytest.raises(SystemExit) as info:
            cli.main([*argv, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out
        assert f"pmp {argv[0] if argv else ''}".strip() in out.split("examples:")[1]

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the package version."""
        from python_mastery_portfolio import __version__

        with pytest.raises(SystemExit) as info:
            cli.main(["--version"])
        assert info.value.code == 0
        assert capsys.readouterr().out.strip() == f"pmp {__version__}"


class TestServe:
    def test_runs_uvicorn_with_the_factory(self, runs: list[dict[str, Any]]) -> None:
        """serve runs the app factory on the given host and port."""
        assert cli.main(["serve", "--host", "127.0.0.2", "--port", "8123"]) == 0
        (call,) = runs
        assert call["app"] == "python_mastery_portfolio.service.app:create_app"
        assert call["factory"] is True
        assert (call["host"], call["port"], call["reload"]) == ("127.0.0.2", 8123, False)
        assert call["reload_dirs"] is None

    def test_defaults_come_from_settings(
        self, runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without options, PMP_HOST and PMP_PORT (or their defaults) are used."""
        cli.main(["serve"])
        monkeypatch.setenv("PMP_HOST", "127.0.0.3")
        monkeypatch.setenv("PMP_PORT", "9999")
        cli.main(["serve"])
        assert [(c["host"], c["port"]) for c in runs] == [("127.0.0.1", 8000), ("127.0.0.3", 9999)]

    def test_reload_watches_the_package(self, runs: list[dict[str, Any]]) -> None:
        """--reload turns reloading on and watches the package's source."""
        cli.main(["serve", "--reload"])
        (call,) = runs
        assert call["reload"] is True
        assert call["reload_dirs"] == [str(Path(cli.__file__).resolve().parent.parent)]

    def test_logging_and_proxy_options(
        self, runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Logging follows the settings; uvicorn neither logs access nor trusts proxies."""
        monkeypatch.setenv("PMP_LOG_FORMAT", "json")
        monkeypatch.setenv("PMP_LOG_LEVEL", "warning")
        cli.main(["serve"])
        (call,) = runs
        assert call["log_config"]["handlers"]["default"]["formatter"] == "json"
        assert call["log_config"]["root"]["level"] == "WARNING"
        assert call["access_log"] is False
        assert call["proxy_headers"] is False

    def test_ctrl_c_exits_cleanly(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A KeyboardInterrupt after uvicorn's graceful shutdown gives status 0."""
        import uvicorn

        def interrupted(app: str, **kwargs: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(uvicorn, "run", interrupted)
        assert cli.main(["serve"]) == 0

    def test_verbose_logs_debug(self, runs: list[dict[str, Any]]) -> None:
        """-v makes the server log at DEBUG whatever PMP_LOG_LEVEL says."""
        cli.main(["-v", "serve"])
        (call,) = runs
        assert call["log_config"]["root"]["level"] == "DEBUG"

    def test_invalid_settings_exit_4(
        self, runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: Any
    ) -> None:
        """Invalid PMP_* variables stop the command before the server starts.

        Issue 18: the status is CONFIGURATION_ERROR (4), not 2 (CONNECTION_ERROR) as before.
        """
        monkeypatch.setenv("PMP_LOG_FORMAT", "xml")
        with pytest.raises(SystemExit) as info:
            cli.main(["serve"])
        assert info.value.code == 4
        assert "log_format" in capsys.readouterr().err
        assert runs == []

    def test_missing_web_extra(self, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
        """Without uvicorn installed, serve says which extra to install."""
        monkeypatch.setitem(sys.modules, "uvicorn", None)
        with pytest.raises(SystemExit) as info:
            cli.main(["serve"])
        assert info.value.code == 1
        assert "[web]" in capsys.readouterr().err


class TestServeHardening:
    def test_server_limits_come_from_settings(
        self, runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Concurrency, keep-alive, header and WebSocket limits reach uvicorn; no banner."""
        monkeypatch.setenv("PMP_LIMIT_CONCURRENCY", "7")
        monkeypatch.setenv("PMP_WS_MAX_MESSAGE_SIZE", "1000")
        cli.main(["serve"])
        (call,) = runs
        assert call["limit_concurrency"] == 7
        assert call["ws_max_size"] == 1000
        assert call["ws_per_message_deflate"] is False
        assert call["timeout_keep_alive"] == 5.0
        assert call["timeout_graceful_shutdown"] == 5.0
        assert call["h11_max_incomplete_event_size"] == 16 * 1024
        assert call["server_header"] is False
        assert call["log_config"]["loggers"]["uvicorn.error"]["filters"] == ["shutdown_cancel"]

    def test_sigterm_exits_0(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """uvicorn re-raises SIGTERM after draining: pmp serve then exits 0, not 143."""
        import uvicorn

        def drained_then_reraised(app: str, **kwargs: Any) -> None:
            signal.raise_signal(signal.SIGTERM)

        before = signal.getsignal(signal.SIGTERM)
        monkeypatch.setattr(uvicorn, "run", drained_then_reraised)
        assert cli.main(["serve"]) == 0
        assert signal.getsignal(signal.SIGTERM) == before

    def test_failed_start_is_a_configuration_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """uvicorn's startup failure (3) becomes CONFIGURATION_ERROR (4); other exits pass."""
        import uvicorn

        def exits(code: int) -> Any:
            def run(app: str, **kwargs: Any) -> None:
                sys.exit(code)

            return run

        monkeypatch.setattr(uvicorn, "run", exits(3))
        assert cli.main(["serve"]) == 4
        monkeypatch.setattr(uvicorn, "run", exits(5))
        with pytest.raises(SystemExit) as info:
            cli.main(["serve"])
        assert info.value.code == 5

    def test_help_lists_the_settings(self, capsys: pytest.CaptureFixture[str]) -> None:
        """pmp serve --help lists every PMP_* variable, generated from the Settings model."""
        from python_mastery_portfolio.service.settings import Settings

        with pytest.raises(SystemExit):
            cli.main(["serve", "--help"])
        out = capsys.readouterr().out
        for name in Settings.model_fields:
            assert f"PMP_{name.upper()}" in out

    def test_help_without_the_web_extra(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without the [web] extra the help says how to see the settings."""
        monkeypatch.setitem(sys.modules, "python_mastery_portfolio.service.settings", None)
        with pytest.raises(SystemExit):
            cli.main(["serve", "--help"])
        assert "[web]" in capsys.readouterr().out

    def test_without_httptools_uvicorn_keeps_its_protocol(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without httptools (uvicorn without [standard]) the header protocol is left out."""
        from python_mastery_portfolio.cli._main import uvicorn_options
        from python_mastery_portfolio.service.settings import Settings

        assert "http" in uvicorn_options(Settings())
        monkeypatch.setitem(sys.modules, "python_mastery_portfolio.service.server", None)
        assert "http" not in uvicorn_options(Settings())

    def test_filter_leaves_other_records_alone(self) -> None:
        """Only the shutdown cancellations are rewritten."""
        import logging

        from python_mastery_portfolio.cli._main import ShutdownCancelFilter

        plain = logging.LogRecord("uvicorn.error", logging.ERROR, "f", 1, "boom", None, None)
        assert ShutdownCancelFilter().filter(plain)
        assert plain.levelname == "ERROR"
        note = logging.LogRecord(
            "uvicorn.error", logging.ERROR, "f", 1, "Cancel %s running task(s), x", (1,), None
        )
        assert ShutdownCancelFilter().filter(note)
        assert (note.levelname, note.getMessage()) == ("WARNING", "Cancel 1 running task(s), x")


class TestRealServer:
    def test_serve_then_ctrl_c_keeps_data(
        self, server: tuple[subprocess.Popen[bytes], str, Path]
    ) -> None:
        """The real server starts, stores a user, streams the event, stops on SIGINT, keeps data."""
        from websockets.sync.client import connect

        process, base_url, database = server
        wait_until_up(process, base_url)
        with connect(base_url.replace("http", "ws") + "/ws/events", open_timeout=5) as ws:
            response = httpx.post(
                f"{base_url}/users",
                json={"email": "Ada@Example.org", "name": "Ada"},
                headers={"X-Request-ID": "e2e-1"},
                timeout=5,
            )
            event = json.loads(ws.recv(timeout=5))
        assert response.status_code == 201, response.text
        user_id = response.json()["id"]
        assert response.headers["X-Request-ID"] == "e2e-1"
        assert (event["type"], event["request_id"]) == ("user.created", "e2e-1")

        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
        assert process.returncode == 0, err.decode()
        assert b"Traceback" not in err
        with closing(sqlite3.connect(database)) as connection:
            row = connection.execute(
                "SELECT email, name FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        assert row == ("ada@example.org", "Ada")

    def test_sigterm_with_a_stalled_client_exits_0_quietly(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SIGTERM drains and exits 0; a client stalled mid-body logs no ERROR traceback."""
        import socket as socket_module

        from tests.cli.conftest import free_port

        port = free_port()
        env = {
            **os.environ,
            "PMP_DATABASE_PATH": str(tmp_path / "users.db"),
            "PMP_ADMIN_SOCKET": "",
            "PMP_SHUTDOWN_TIMEOUT": "0.5",
        }
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "python_mastery_portfolio", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(process, base_url)
            with socket_module.create_connection(("127.0.0.1", port), timeout=5) as stalled:
                # Half a body: the request waits for the rest, which never comes.
                stalled.sendall(
                    b"POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"em'
                )
                assert httpx.get(f"{base_url}/health", timeout=5).status_code == 200
                process.send_signal(signal.SIGTERM)
                _, err = process.communicate(timeout=15)
        finally:
            if process.poll() is None:  # pragma: no cover - only when the test failed early
                process.kill()
                process.communicate(timeout=10)
        assert process.returncode == 0, err.decode()
        assert b"Traceback" not in err
        assert b" ERROR " not in err, err.decode()

    def test_bad_database_path_fails_in_one_line(self, tmp_path: Path) -> None:
        """A database path that cannot be opened: exit 4, one line naming it, no traceback."""
        (tmp_path / "file").write_text("")
        database = tmp_path / "file" / "users.db"
        env = {**os.environ, "PMP_DATABASE_PATH": str(database), "PMP_ADMIN_SOCKET": ""}
        done = subprocess.run(
            [sys.executable, "-m", "python_mastery_portfolio", "serve", "--port", "0"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
        err = done.stderr.decode()
        assert done.returncode == 4, err
        assert "Traceback" not in err
        (line,) = [line for line in err.splitlines() if "cannot open the user database" in line]
        assert str(database) in line
