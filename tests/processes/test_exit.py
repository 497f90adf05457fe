"""Tests of on_exit: callbacks run once, last first, at exit and on SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.processes import ExitHandle, on_exit, unregister
from python_mastery_portfolio.processes._exit import (
    EXIT_REGISTRY,
    HOOKS,
    SIGTERM_EXIT_STATUS,
    ExitHooks,
    ExitRegistry,
)

SCRIPTS = Path(__file__).parent / "scripts_a"
START_TIMEOUT = 30.0  # generous: interpreter start-up on a loaded 2-core machine


@contextlib.contextmanager
def run_script(name: str, *args: str | Path) -> Iterator[subprocess.Popen[str]]:
    """Run one of the helper scripts with this interpreter, pipes open; kill it at the end."""
    process = subprocess.Popen(  # noqa: S603 - our own scripts, run by this interpreter
        [sys.executable, str(SCRIPTS / name), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=START_TIMEOUT)  # reaps it and closes the pipes


def send(process: subprocess.Popen[str], line: str) -> None:
    """Write one command line to ``process``."""
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def read_line(process: subprocess.Popen[str]) -> str:
    """Return the next stdout line of ``process``, failing if it does not come in time."""
    assert process.stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()))  # type: ignore[union-attr]  # checked above
    reader.start()
    reader.join(START_TIMEOUT)
    assert result, f"no output from {process.args!r}"
    return result[0].strip()


class TestExitRegistry:
    def test_runs_last_registered_first_with_arguments(self) -> None:
        """Callbacks run in reverse registration order with their args and kwargs."""
        registry = ExitRegistry()
        calls: list[Any] = []
        registry.register(calls.append, "a")
        registry.register(lambda *args, **kwargs: calls.append((args, kwargs)), 1, key=2)
        registry.register(calls.append, "c")
        registry.run()
        assert calls == ["c", ((1,), {"key": 2}), "a"]

    def test_runs_each_callback_once(self) -> None:
        """A second run calls nothing that already ran."""
        registry = ExitRegistry()
        calls: list[int] = []
        registry.register(calls.append, 1)
        registry.run()
        registry.run()
        assert calls == [1]
        assert len(registry) == 0

    def test_callback_registered_while_running_runs(self) -> None:
        """A callback registered by a running callback runs in the same pass."""
        registry = ExitRegistry()
        calls: list[str] = []
        registry.register(lambda: registry.register(calls.append, "late"))
        registry.run()
        assert calls == ["late"]

    def test_unregister(self) -> None:
        """unregister removes a callback once; later calls and ran callbacks return False."""
        registry = ExitRegistry()
        calls: list[int] = []
        keep = registry.register(calls.append, 1)
        drop = registry.register(calls.append, 2)
        assert registry.unregister(drop) is True
        assert registry.unregister(drop) is False
        registry.run()
        assert calls == [1]
        assert registry.unregister(keep) is False

    def test_clear_forgets_without_running(self) -> None:
        """clear drops every callback."""
        registry = ExitRegistry()
        calls: list[int] = []
        registry.register(calls.append, 1)
        registry.clear()
        registry.run()
        assert calls == []

    def test_rejects_non_callable(self) -> None:
        """A non-callable is refused at registration, naming the parameter."""
        with pytest.raises(TypeError, match="callback must be callable"):
            ExitRegistry().register("not callable")  # type: ignore[arg-type]  # the error under test

    def test_failing_callback_is_logged_and_others_run(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An Exception is logged at ERROR with its traceback; the other callbacks still run."""
        registry = ExitRegistry()
        calls: list[str] = []

        def fail() -> None:
            raise RuntimeError("boom")

        registry.register(calls.append, "first")
        registry.register(fail)
        registry.register(calls.append, "last")
        with caplog.at_level(logging.ERROR, "python_mastery_portfolio.processes"):
            registry.run()
        assert calls == ["last", "first"]
        [record] = caplog.records
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)

    @pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3)], ids=["kbd", "exit"])
    def test_base_exception_is_logged_and_re_raised_after_the_others(
        self, error: BaseException, caplog: pytest.LogCaptureFixture
    ) -> None:
        """KeyboardInterrupt/SystemExit: logged, the others run, then the first is re-raised."""
        registry = ExitRegistry()
        calls: list[str] = []

        def interrupt(exc: BaseException) -> None:
            raise exc

        registry.register(calls.append, "first")
        registry.register(interrupt, KeyboardInterrupt("second one"))
        registry.register(interrupt, error)
        with (
            caplog.at_level(logging.ERROR, "python_mastery_portfolio.processes"),
            pytest.raises(type(error)) as raised,
        ):
            registry.run()
        assert raised.value is error
        assert calls == ["first"]
        assert len(caplog.records) == 2

    def test_handle_repr_and_fields(self) -> None:
        """A handle names its callback and keeps its arguments."""
        handle = ExitRegistry().register(print, 1, sep="")
        assert repr(handle) == "ExitHandle(#1, print)"
        assert (handle.callback, handle.args, handle.kwargs) == (print, (1,), {"sep": ""})
        nameless = ExitRegistry().register(Callback())
        assert "Callback object" in repr(nameless)


class Callback:
    """A callable without __qualname__ on the instance."""

    def __call__(self) -> None:
        """Do nothing."""


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ExitHooks, list[Any]]]:
    """Fresh hooks whose atexit and fork registrations are recorded, SIGTERM restored after."""
    registered: list[Any] = []
    monkeypatch.setattr("atexit.register", registered.append)
    monkeypatch.setattr(
        "os.register_at_fork", lambda *, after_in_child: registered.append(after_in_child)
    )
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield ExitHooks(ExitRegistry()), registered
    finally:
        signal.signal(signal.SIGTERM, previous)


class TestHooks:
    def test_install_once_from_main_thread(self, hooks: tuple[ExitHooks, list[Any]]) -> None:
        """atexit, fork and SIGTERM hooks are installed on the first use, only once."""
        exit_hooks, registered = hooks
        exit_hooks.install()
        exit_hooks.install()
        assert registered == [exit_hooks.run_at_exit, exit_hooks.registry.clear]
        assert signal.getsignal(signal.SIGTERM) == exit_hooks.handle_sigterm

    def test_signal_handler_waits_for_the_main_thread(
        self, hooks: tuple[ExitHooks, list[Any]]
    ) -> None:
        """From another thread nothing touches SIGTERM; the main thread's first use does."""
        exit_hooks, _ = hooks
        thread = threading.Thread(target=exit_hooks.install)
        thread.start()
        thread.join(START_TIMEOUT)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        exit_hooks.install()
        assert signal.getsignal(signal.SIGTERM) == exit_hooks.handle_sigterm

    @pytest.mark.parametrize(
        "handler", [signal.SIG_IGN, lambda signum, frame: None], ids=["ignored", "app-handler"]
    )
    def test_application_handler_is_left_alone(
        self, hooks: tuple[ExitHooks, list[Any]], handler: Any
    ) -> None:
        """A SIGTERM handler the application set (or SIG_IGN) stays in charge."""
        exit_hooks, _ = hooks
        signal.signal(signal.SIGTERM, handler)
        assert exit_hooks.install_sigterm_handler() is False
        assert signal.getsignal(signal.SIGTERM) is handler

    def test_sigterm_becomes_system_exit_once(
        self, hooks: tuple[ExitHooks, list[Any]], caplog: pytest.LogCaptureFixture
    ) -> None:
        """The handler raises SystemExit(143); a second SIGTERM while exiting is ignored."""
        exit_hooks, _ = hooks
        with pytest.raises(SystemExit) as raised:
            exit_hooks.handle_sigterm(signal.SIGTERM, None)
        assert raised.value.code == SIGTERM_EXIT_STATUS == 143
        with caplog.at_level(logging.WARNING, "python_mastery_portfolio.processes"):
            exit_hooks.handle_sigterm(signal.SIGTERM, None)
        assert "ignored" in caplog.text

    def test_run_at_exit_runs_the_registry(self, hooks: tuple[ExitHooks, list[Any]]) -> None:
        """The atexit hook runs the callbacks and marks the process as exiting."""
        exit_hooks, _ = hooks
        calls: list[int] = []
        exit_hooks.registry.register(calls.append, 1)
        exit_hooks.run_at_exit()
        assert calls == [1]
        assert exit_hooks.exiting is True
        exit_hooks.handle_sigterm(signal.SIGTERM, None)  # no SystemExit while exiting


def test_inherited_ignored_sigterm_is_left_ignored() -> None:
    """A process started with SIGTERM ignored keeps ignoring it: on_exit installs nothing."""
    code = (
        "import signal; from python_mastery_portfolio.processes import on_exit; on_exit(int);"
        " print(signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)"
    )
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=True,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    assert result.stdout.splitlines() == ["True"]


class TestOnExit:
    def test_registers_in_the_process_registry(self) -> None:
        """on_exit fills the process-wide registry and installs the hooks."""
        handle = on_exit(print, "never printed")
        try:
            assert isinstance(handle, ExitHandle)
            assert HOOKS.atexit_installed
        finally:
            assert unregister(handle) is True
        assert unregister(handle) is False
        assert EXIT_REGISTRY.unregister(handle) is False


def test_sigterm_runs_every_callback_last_first_and_removes_the_pid_file(tmp_path: Path) -> None:
    """A real process sent SIGTERM unwinds (finally), runs all callbacks LIFO, frees its lock."""
    pid_file, log = tmp_path / "app.pid", tmp_path / "log.txt"
    with run_script("sigterm_child.py", pid_file, log) as process:
        assert read_line(process) == "ready"
        assert pid_file.read_text().split()[0] == str(process.pid)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=START_TIMEOUT)
    assert process.returncode == SIGTERM_EXIT_STATUS
    assert log.read_text().splitlines() == [
        "finally",
        "third",
        "lock held True file True",
        "first",
    ]
    assert "RuntimeError: a failing clean-up" in stderr  # logged with its traceback
    assert not pid_file.exists()


def test_forked_child_runs_no_callbacks_and_keeps_the_parents_lock(tmp_path: Path) -> None:
    """A child created by os.fork starts with no callbacks and without the parent's lock."""
    pid_file, log = tmp_path / "app.pid", tmp_path / "log.txt"
    with run_script("fork_child.py", pid_file, log) as process:
        process.communicate(timeout=START_TIMEOUT)
    assert process.returncode == 0
    lines = log.read_text().splitlines()
    assert lines == [
        "child sees held=False",
        f"child refused, holder {process.pid}",
        "parent still holds=True file=True child=0",
        f"callback in {process.pid}",
    ]
    assert not pid_file.exists()


def test_seed_000_tool_runs_once_and_cleans_up_at_exit(tmp_path: Path) -> None:
    """Seed 000: a second start is refused; a normal exit removes temp files and PID file."""
    pid_file = tmp_path / "agentvox.pid"
    with run_script("agentvox_tool.py", pid_file) as tool:
        answer = read_line(tool)
        assert answer.startswith("ready ")
        temp_file = Path(answer.removeprefix("ready "))
        assert temp_file.read_bytes() == b"ID3"
        with run_script("agentvox_tool.py", pid_file) as second:
            _, stderr = second.communicate(timeout=START_TIMEOUT)
        assert second.returncode == 1
        assert stderr.strip() == f"already running (pid {tool.pid})"
        _, stderr = tool.communicate(timeout=START_TIMEOUT)  # closes stdin: a normal exit
    assert tool.returncode == 0, stderr
    assert not temp_file.exists()
    assert not pid_file.exists()
