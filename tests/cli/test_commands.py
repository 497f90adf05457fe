"""Tests of ``pmp status``, ``pmp events`` and ``pmp top`` against a real service."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from python_mastery_portfolio import cli
from python_mastery_portfolio.cli import ExitCode, _admin, _main
from python_mastery_portfolio.exceptions import ConnectionLostError, RpcError, ValidationError
from tests.cli.conftest import wait_for_socket, wait_until_up

Server = tuple[subprocess.Popen[bytes], str, Path]


@pytest.fixture
def service(server: Server, admin_socket: Path) -> Iterator[str]:
    """The running service's base URL, once both its HTTP port and admin socket answer."""
    process, base_url, _ = server
    wait_until_up(process, base_url)
    wait_for_socket(process, admin_socket)
    yield base_url
    process.send_signal(signal.SIGINT)


def post_user(base_url: str, n: int, request_id: str) -> str:
    response = httpx.post(
        f"{base_url}/users",
        json={"email": f"user{n}@example.org", "name": f"User {n}"},
        headers={"X-Request-ID": request_id},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


def pmp(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "python_mastery_portfolio", *argv],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(stream: Any, text: str) -> None:
    """Read ``stream`` line by line until one contains ``text`` (the process must say it)."""
    for line in stream:
        if text in line:
            return
    pytest.fail(f"the stream ended without {text!r}")  # pragma: no cover - failure path


class TestStatus:
    def test_table(
        self, service: str, admin_socket: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """pmp status prints the service's figures as a table."""
        post_user(service, 1, "st-1")
        httpx.get(f"{service}/users/nobody", timeout=5)
        assert cli.main(["status", "--socket", str(admin_socket)]) == ExitCode.SUCCESS
        out = capsys.readouterr().out
        for shown in ("Service status", "Requests", "Cache", "Rate limiter", "Events"):
            assert shown in out
        assert "201: 1" in out
        assert "404: 1" in out
        assert "latency_p99_ms" in out

    def test_json_from_the_environment(
        self,
        service: str,
        admin_socket: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """pmp status --json prints the figures of /metrics; the socket comes from PMP_*."""
        post_user(service, 1, "st-2")
        monkeypatch.setenv("PMP_ADMIN_SOCKET", str(admin_socket))
        assert cli.main(["status", "--json"]) == ExitCode.SUCCESS
        figures = json.loads(capsys.readouterr().out)
        assert figures == httpx.get(f"{service}/metrics", timeout=5).json()
        assert figures["requests"]["by_status"] == {"200": 1, "201": 1}
        assert figures["rate_limiter"]["allowed"] == 1

    def test_subprocess(self, service: str, admin_socket: Path) -> None:
        """The installed command prints the table too."""
        process = pmp("status", "--socket", str(admin_socket))
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "Service status" in out


class TestEvents:
    def test_count_one_sees_a_post(self, service: str, admin_socket: Path) -> None:
        """pmp events --count 1 prints the event of a POST /users and exits 0."""
        process = pmp("events", "--count", "1", "--socket", str(admin_socket))
        assert process.stderr is not None
        wait_for_line(process.stderr, "Watching events on")
        user_id = post_user(service, 1, "ev-1")
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        (line,) = out.splitlines()
        assert f"user.created user={user_id} request=ev-1" in line
        assert line.startswith("[")

    @pytest.mark.parametrize("as_json", [False, True], ids=["lines", "json"])
    def test_in_process(
        self,
        as_json: bool,
        service: str,
        admin_socket: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Each event is a line (or JSON); the command stops after --count events."""
        statuses: list[int] = []
        argv = ["events", "--count", "2", "--socket", str(admin_socket)]
        argv += ["--json"] if as_json else []
        runner = threading.Thread(target=lambda: statuses.append(cli.main(argv)))
        runner.start()
        # The command subscribes in its own thread: post until it has seen two events.
        deadline = time.monotonic() + 20
        n = 0
        while runner.is_alive() and time.monotonic() < deadline:
            n += 1
            post_user(service, n, f"json-{n}")
            runner.join(timeout=0.1)
        runner.join(timeout=10)
        assert statuses == [ExitCode.SUCCESS]
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2
        if as_json:
            events = [json.loads(line) for line in lines]
            assert {event["type"] for event in events} == {"user.created"}
            assert all(event["request_id"].startswith("json-") for event in events)
        else:
            assert all(" user.created user=" in line for line in lines)
            assert all(" request=json-" in line for line in lines)

    def test_ctrl_c_exits_130_quietly(self, service: str, admin_socket: Path) -> None:
        """SIGINT stops pmp events with status 130 and no traceback."""
        process = pmp("events", "--socket", str(admin_socket))
        assert process.stderr is not None
        wait_for_line(process.stderr, "Watching events on")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == ExitCode.INTERRUPTED
        assert "Traceback" not in err

    def test_service_stopping_is_a_connection_error(
        self, server: Server, admin_socket: Path
    ) -> None:
        """When the service stops under pmp events, it says so and exits 2."""
        service_process, base_url, _ = server
        wait_until_up(service_process, base_url)
        wait_for_socket(service_process, admin_socket)
        process = pmp("events", "--socket", str(admin_socket))
        assert process.stderr is not None
        wait_for_line(process.stderr, "Watching events on")
        service_process.send_signal(signal.SIGINT)
        service_process.wait(timeout=30)
        _, err = process.communicate(timeout=30)
        assert process.returncode == ExitCode.CONNECTION_ERROR, err
        assert str(admin_socket) in err


class TestTop:
    def test_once(
        self, service: str, admin_socket: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """pmp top --once prints one frame of the dashboard."""
        post_user(service, 1, "top-1")
        assert cli.main(["top", "--once", "--socket", str(admin_socket)]) == ExitCode.SUCCESS
        out = capsys.readouterr().out
        for shown in ("Requests", "201", "Latency", "p99", "hit rate", "allowed"):
            assert shown in out

    def test_live_frames_show_events(self, service: str, admin_socket: Path) -> None:
        """The live dashboard redraws with the figures and lists recent events."""
        console = Console(record=True, width=140, file=io.StringIO(), force_terminal=True)

        async def watch() -> None:
            top = asyncio.create_task(
                _admin.run_top(admin_socket, console, call_timeout=5, interval=0.01)
            )
            try:
                deadline = time.monotonic() + 20
                n = 0
                # Post until a frame shows an event (the dashboard subscribes in its task).
                while "user.created" not in console.export_text(clear=False):
                    assert time.monotonic() < deadline, "no event on the dashboard"
                    assert not top.done()
                    n += 1
                    await asyncio.to_thread(post_user, service, n, f"live-{n}")
                    await asyncio.sleep(0.05)
            finally:
                top.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await top

        asyncio.run(watch())
        text = console.export_text()
        for shown in ("Requests", "201", "Latency", "Cache", "Rate limiter"):
            assert shown in text
        assert "request=live-1" in text

    def test_ctrl_c_exits_130_quietly(self, service: str, admin_socket: Path) -> None:
        """SIGINT stops pmp top with status 130 and no traceback."""
        process = pmp("top", "--socket", str(admin_socket))
        assert process.stderr is not None
        wait_for_line(process.stderr, "Ctrl-C to quit")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == ExitCode.INTERRUPTED
        assert "Traceback" not in err
        assert "Latency" in out

    def test_frames_limit(self, service: str, admin_socket: Path) -> None:
        """run_top stops after the given number of frames."""
        console = Console(record=True, width=140, file=io.StringIO())
        asyncio.run(_admin.run_top(admin_socket, console, call_timeout=5, frames=3, interval=0))
        assert "Requests" in console.export_text()


class TestFailures:
    @pytest.mark.parametrize(
        "argv",
        [["status"], ["status", "--json"], ["events"], ["top"], ["top", "--once"]],
        ids=["status", "status-json", "events", "top", "top-once"],
    )
    def test_no_daemon_exits_2(
        self, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without a service, each client command prints one line naming the socket, exit 2."""
        missing = tmp_path / "nobody.sock"
        assert cli.main([*argv, "--socket", str(missing)]) == ExitCode.CONNECTION_ERROR
        captured = capsys.readouterr()
        (line,) = captured.err.splitlines()
        assert line.startswith("pmp: cannot reach the service's admin socket at ")
        assert str(missing) in line
        assert captured.out == ""

    def test_no_daemon_subprocess(self, tmp_path: Path) -> None:
        """The installed command exits 2 with one line and no traceback."""
        process = pmp("status", env={"PMP_DATABASE_PATH": str(tmp_path / "users.db")})
        _, err = process.communicate(timeout=30)
        assert process.returncode == ExitCode.CONNECTION_ERROR
        assert err.strip().splitlines() == [err.strip()]
        assert str(tmp_path / "pmp.sock") in err

    def test_verbose_shows_the_traceback(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With -v the traceback comes before the one line."""
        missing = tmp_path / "nobody.sock"
        assert cli.main(["-v", "status", "--socket", str(missing)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" in err
        assert err.strip().splitlines()[-1].startswith("pmp: cannot reach")

    def test_socket_switched_off_exits_4(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An empty PMP_ADMIN_SOCKET without --socket is a configuration error."""
        monkeypatch.setenv("PMP_ADMIN_SOCKET", "")
        assert cli.main(["status"]) == ExitCode.CONFIGURATION_ERROR
        assert "switched off" in capsys.readouterr().err

    def test_missing_cli_extra(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without rich installed, the client commands say which extra to install."""
        monkeypatch.setitem(sys.modules, "rich", None)
        assert cli.main(["top"]) == ExitCode.GENERAL_ERROR
        assert "[cli]" in capsys.readouterr().err

    def test_ctrl_c_while_starting(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Ctrl-C before the command runs (setting up) also exits 130 quietly."""

        def interrupted(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(_main, "setup_logging", interrupted)
        assert cli.main(["status"]) == ExitCode.INTERRUPTED
        assert capsys.readouterr().err == ""

    def test_ctrl_c_in_process(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A KeyboardInterrupt gives 130 and prints nothing."""

        def interrupted(coroutine: Coroutine[Any, Any, None]) -> None:
            coroutine.close()
            raise KeyboardInterrupt

        monkeypatch.setattr("asyncio.run", interrupted)
        assert cli.main(["events", "--socket", "x.sock"]) == ExitCode.INTERRUPTED
        assert capsys.readouterr().err == ""

    @pytest.mark.parametrize(
        ("error", "status", "words"),
        [
            (ConnectionLostError("gone", path="s"), ExitCode.CONNECTION_ERROR, "(gone)"),
            (ConnectionResetError(), ExitCode.CONNECTION_ERROR, "(lost)"),
            (TimeoutError(), ExitCode.CONNECTION_ERROR, "no answer in time"),
            (ValidationError("bad level", field="level"), ExitCode.VALIDATION_ERROR, "refused"),
            (RpcError(-32601, "Method not found"), ExitCode.GENERAL_ERROR, "Method not found"),
            (KeyError("boom"), ExitCode.GENERAL_ERROR, "unexpected error: KeyError"),
        ],
        ids=["lost", "reset", "timeout", "validation", "rpc", "bug"],
    )
    def test_each_failure_is_one_line(
        self,
        error: Exception,
        status: ExitCode,
        words: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Every failure becomes one stderr line and its exit status."""

        def failing(coroutine: Coroutine[Any, Any, None]) -> None:
            coroutine.close()
            raise error

        monkeypatch.setattr("asyncio.run", failing)
        assert cli.main(["status", "--socket", "s.sock"]) == status
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("pmp: ")
        assert words in line
