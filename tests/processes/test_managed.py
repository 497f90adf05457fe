"""Tests of ManagedProcess, AsyncManagedProcess and ProcessGroup, with real processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import pytest

from python_mastery_portfolio.processes._exit import EXIT_REGISTRY
from python_mastery_portfolio.processes._managed import (
    LineSplitter,
    ManagedProcess,
    ProcessOptions,
    group_exists,
)
from python_mastery_portfolio.processes._managed_async import AsyncManagedProcess, ProcessGroup
from tests.conftest import TIMEOUT, raise_first, run_threads, wait_until

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")

SCRIPTS = Path(__file__).parent / "scripts_b"
PY = sys.executable
SLEEPER = [PY, "-c", "import time; time.sleep(60)"]
STUBBORN = [PY, str(SCRIPTS / "stubborn.py")]
SHORT = 0.5
"""Stop timeout of the tests that wait it out: short, as every such test costs it."""


def family(mode: str, temper: str) -> list[str]:
    return [PY, str(SCRIPTS / "family.py"), mode, temper]


def read_line(stream: IO[bytes] | None) -> bytes:
    """Read one line from a child's pipe, failing (not hanging) after TIMEOUT."""
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], TIMEOUT)
    assert ready, "the child wrote nothing"
    return stream.readline()


def alive(pid: int) -> bool:
    """Return whether ``pid`` runs; a zombie (nobody reaps orphans here) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False


def assert_gone(pid: int) -> None:
    wait_until(lambda: not alive(pid))


class BytesPath:
    def __fspath__(self) -> bytes:
        return b"/bin/true"


class TestArguments:
    """Arguments are checked at construction, and the error names the parameter."""

    @pytest.mark.parametrize(
        ("command", "error", "match"),
        [
            ("echo hi", TypeError, "command must be a sequence of arguments, not a string"),
            (b"echo", TypeError, "not a string"),
            (5, TypeError, "command must be a sequence"),
            ([], ValueError, "command must not be empty"),
            (["echo", 3], TypeError, "command arguments must be str or path-like"),
            ([BytesPath()], TypeError, "command arguments must be str or path-like"),
        ],
        ids=["str", "bytes", "int", "empty", "int-argument", "bytes-path"],
    )
    def test_bad_command(self, command: Any, error: type[Exception], match: str) -> None:
        """A command that is not a non-empty sequence of str or paths is refused."""
        for kind in (ManagedProcess, AsyncManagedProcess):
            with pytest.raises(error, match=match):
                kind(command)

    @pytest.mark.parametrize(
        ("options", "error", "match"),
        [
            ({"stop_timeout": 0}, ValueError, "stop_timeout must be > 0"),
            ({"stop_timeout": "1"}, TypeError, "stop_timeout must be a number"),
            ({"max_line_length": 0}, ValueError, "max_line_length must be >= 1"),
            ({"stdout": 1.5}, TypeError, "stdout must be None, PIPE"),
            ({"stdout": True}, TypeError, "stdout must be None, PIPE"),
            ({"stderr": -9}, ValueError, "stderr must be PIPE, DEVNULL, STDOUT"),
            ({"stdout": subprocess.STDOUT}, ValueError, "stdout must be PIPE"),
            ({"stdin": "in.txt"}, TypeError, "stdin must be None, PIPE, DEVNULL or a file"),
            ({"name": 3}, TypeError, "name must be a str"),
        ],
        ids=[
            "zero-timeout",
            "str-timeout",
            "zero-line",
            "float-target",
            "bool-target",
            "negative-fd",
            "stdout-to-stdout",
            "stdin-path",
            "int-name",
        ],
    )
    def test_bad_option(self, options: Any, error: type[Exception], match: str) -> None:
        """A bad option is refused by both variants and the group, naming it."""
        with pytest.raises(error, match=match):
            ManagedProcess(SLEEPER, **options)
        with pytest.raises(error, match=match):
            AsyncManagedProcess(SLEEPER, **options)
        with pytest.raises(error, match=match):
            ProcessGroup().start(SLEEPER, **options)

    def test_good_arguments(self, tmp_path: Path) -> None:
        """Paths in the command, file descriptors, files and STDOUT for stderr are accepted."""
        with open(tmp_path / "out", "wb") as file:
            process = ManagedProcess(
                [Path(PY), "-c", "pass"], stdout=file, stderr=subprocess.STDOUT, stdin=None
            )
            ManagedProcess(SLEEPER, stdout=file.fileno())
        assert process.command == (PY, "-c", "pass")
        assert process.name == os.path.basename(PY)

    def test_bad_stop_timeout(self) -> None:
        """stop(timeout=...) and ProcessGroup(stop_timeout=...) name their parameter."""
        with pytest.raises(ValueError, match="timeout must be > 0"):
            ManagedProcess(SLEEPER).stop(0)
        with pytest.raises(ValueError, match="stop_timeout must be > 0"):
            ProcessGroup(stop_timeout=-1)
        with pytest.raises(ValueError, match="timeout must be > 0"):
            ProcessGroup().stop(0)


class TestLineSplitter:
    """Output is cut into bounded lines, however the chunks fall."""

    @pytest.mark.parametrize(
        ("chunks", "lines"),
        [
            ([b"ab", b"c\nde", b"f\n"], ["abc", "def"]),
            ([b"abcdefgh", b"ij\nk"], ["abcd [truncated]", "k"]),
            ([b"abcdefgh", b"ij"], ["abcd [truncated]"]),
            ([b"abcdefgh\nxy\n"], ["abcd [truncated]", "xy"]),
            ([b"\xff\r\n"], ["\ufffd"]),
        ],
        ids=["split-lines", "long-then-newline", "long-at-end", "long-in-chunk", "bad-utf8"],
    )
    def test_lines(self, chunks: list[bytes], lines: list[str]) -> None:
        """Lines come out whole, a long one cut once, bytes decoded leniently."""
        splitter = LineSplitter(4)
        got = [line for chunk in chunks for line in splitter.feed(chunk)]
        assert [*got, *splitter.finish()] == lines


class TestManagedProcess:
    """The synchronous process over subprocess.Popen."""

    def test_sigterm_ignored_means_killed_after_timeout(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A child that ignores SIGTERM is SIGKILLed once the timeout has passed."""
        process = ManagedProcess(STUBBORN, stdout=subprocess.PIPE).start()
        assert read_line(process.stdout) == b"ready\n"
        started = time.monotonic()
        assert process.stop(SHORT) == -signal.SIGKILL
        assert time.monotonic() - started >= SHORT
        assert not process.is_running()
        assert "still running" in caplog.text
        process.close()

    def test_polite_child_stops_on_sigterm(self) -> None:
        """A child that honours SIGTERM is reaped with -SIGTERM, well before the timeout."""
        with ManagedProcess(SLEEPER, name="sleeper") as process:
            pid = process.pid
            assert pid is not None
            assert process.is_running()
            assert repr(process) == f"<ManagedProcess 'sleeper' pid={pid} running>"
            assert process.stop(TIMEOUT) == -signal.SIGTERM
        assert process.returncode == -signal.SIGTERM
        assert not alive(pid)

    def test_grandchild_that_ignores_sigterm_is_gone(self) -> None:
        """A child's own child, ignoring SIGTERM, is killed with the group."""
        process = ManagedProcess(family("stay", "stubborn"), stdout=subprocess.PIPE).start()
        grandchild = int(read_line(process.stdout))
        assert alive(grandchild)
        assert process.stop(SHORT) == -signal.SIGTERM
        assert_gone(grandchild)
        process.close()

    def test_grandchild_left_by_an_exited_child_is_gone(self) -> None:
        """A child that exited on its own leaves a grandchild: stop() ends it, returncode 0."""
        process = ManagedProcess(family("leave", "polite"), stdout=subprocess.PIPE).start()
        grandchild = int(read_line(process.stdout))
        assert process.wait(TIMEOUT) == 0
        assert alive(grandchild)
        assert process.stop(TIMEOUT) == 0
        assert_gone(grandchild)
        process.close()

    def test_exited_process_reports_returncode_and_stop_is_noop(self) -> None:
        """A process that exits by itself reports its status; stop() then changes nothing."""
        process = ManagedProcess([PY, "-c", "raise SystemExit(3)"], name="three").start()
        assert process.wait(TIMEOUT) == 3
        assert process.returncode == 3
        assert not process.is_running()
        assert repr(process).endswith("returncode=3>")
        assert process.stop() == 3
        assert process.stop() == 3
        process.terminate()
        process.kill()
        assert process.returncode == 3

    def test_unstarted(self) -> None:
        """Before start() there is no pid, stop() returns None and wait() refuses."""
        process = ManagedProcess(SLEEPER)
        assert (process.pid, process.returncode, process.is_running()) == (None, None, False)
        assert (process.stdin, process.stdout, process.stderr) == (None, None, None)
        assert repr(process) == f"<ManagedProcess {process.name!r} not started>"
        assert process.stop() is None
        process.close()
        process.terminate()
        process.kill()
        with pytest.raises(RuntimeError, match="never started"):
            process.wait()

    def test_starts_once(self) -> None:
        """A second start() raises; `with` on a started process does not start it again."""
        with ManagedProcess(SLEEPER).start() as process:
            with pytest.raises(RuntimeError, match="already started"):
                process.start()

    def test_group_exists_while_processes_come_and_go(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A process listed in /proc but gone before its stat is read is skipped."""
        real_scandir = os.scandir

        @contextlib.contextmanager
        def scandir(path: str) -> Iterator[list[Any]]:
            with real_scandir(path) as entries:
                yield [SimpleNamespace(name="999999999"), *entries]

        with ManagedProcess(SLEEPER) as process:
            assert process.pid is not None
            monkeypatch.setattr(os, "scandir", scandir)
            assert group_exists(process.pid)
            monkeypatch.undo()

    def test_missing_program(self) -> None:
        """A program that does not exist raises at start() and registers nothing."""
        before = len(EXIT_REGISTRY)
        with pytest.raises(FileNotFoundError):
            ManagedProcess(["/nonexistent/program"], stdout=logging.getLogger("x")).start()
        assert len(EXIT_REGISTRY) == before

    def test_exit_hook_registered_while_running(self) -> None:
        """A started process is in the exit registry until it is stopped."""
        before = len(EXIT_REGISTRY)
        process = ManagedProcess(SLEEPER).start()
        assert len(EXIT_REGISTRY) == before + 1
        process.stop()
        assert len(EXIT_REGISTRY) == before

    def test_concurrent_stops_agree(self) -> None:
        """Many threads stopping one process all get its one returncode."""
        process = ManagedProcess(SLEEPER).start()
        results = raise_first(run_threads(16, lambda _: process.stop(TIMEOUT)))
        assert results == [-signal.SIGTERM] * 16

    def test_output_to_logger(self, caplog: pytest.LogCaptureFixture) -> None:
        """Each line goes to the logger: stdout at INFO, stderr at WARNING, long ones cut."""
        sink = logging.getLogger("tests.processes.chatter")
        caplog.set_level(logging.INFO, logger=sink.name)
        command = [PY, str(SCRIPTS / "chatter.py")]
        process = ManagedProcess(command, stdout=sink, stderr=sink, max_line_length=30)
        with process:
            assert process.stdout is None
            process.wait(TIMEOUT)
        label = f"{os.path.basename(PY)}[{process.pid}]"
        records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == sink.name]
        assert sorted(records) == sorted(
            [
                (logging.INFO, f"{label}: first line"),
                (logging.INFO, f"{label}: second line"),
                (logging.INFO, f"{label}: {'x' * 30} [truncated]"),
                (logging.INFO, f"{label}: no newline at the end"),
                (logging.WARNING, f"{label}: a warning"),
            ]
        )

    def test_output_to_file(self, tmp_path: Path) -> None:
        """A path target is appended to; stderr can join stdout there."""
        path = tmp_path / "out.log"
        path.write_bytes(b"earlier\n")
        command = [PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"]
        with ManagedProcess(command, stdout=path, stderr=subprocess.STDOUT) as process:
            process.wait(TIMEOUT)
        assert path.read_bytes().split() == [b"earlier", b"out", b"err"]

    def test_pipes_closed_on_exit(self) -> None:
        """Leaving the block closes the pipes it handed out."""
        command = [PY, "-c", "import sys; sys.stderr.write(sys.stdin.read())"]
        with ManagedProcess(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as process:
            assert process.stdin is not None
            assert process.stderr is not None
            process.stdin.write(b"echo")
            process.stdin.close()
            assert process.stderr.read() == b"echo"
            stderr = process.stderr
        assert stderr.closed

    def test_output_held_by_escaped_descendant(self, caplog: pytest.LogCaptureFixture) -> None:
        """A descendant that left the group keeps the output open: stop() warns, not hangs."""
        sink = logging.getLogger("tests.processes.escape")
        process = ManagedProcess(family("escape", "polite"), stdout=subprocess.PIPE, stderr=sink)
        process.start()
        escaped = int(read_line(process.stdout))
        try:
            process.stop(SHORT)
            assert "output still open after stop" in caplog.text
        finally:
            os.kill(escaped, signal.SIGKILL)
            process.close()


class TestAsyncManagedProcess:
    """The asyncio variant over asyncio.create_subprocess_exec."""

    async def test_sigterm_ignored_means_killed_after_timeout(self) -> None:
        """A child that ignores SIGTERM is SIGKILLed once the timeout has passed."""
        async with AsyncManagedProcess(STUBBORN, stdout=subprocess.PIPE) as process:
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), TIMEOUT) == b"ready\n"
            assert await process.stop(SHORT) == -signal.SIGKILL
            assert await process.stop() == -signal.SIGKILL

    async def test_grandchild_is_gone(self) -> None:
        """A child's own child, ignoring SIGTERM, is killed with the group."""
        process = AsyncManagedProcess(family("stay", "stubborn"), stdout=subprocess.PIPE)
        await process.start()
        assert process.stdout is not None
        grandchild = int(await asyncio.wait_for(process.stdout.readline(), TIMEOUT))
        assert await process.stop(SHORT) == -signal.SIGTERM
        assert_gone(grandchild)

    async def test_grandchild_left_by_an_exited_child_is_gone(self) -> None:
        """A child that exited on its own leaves a grandchild: stop() ends it."""
        process = AsyncManagedProcess(family("leave", "polite"), stdout=subprocess.PIPE)
        await process.start()
        assert process.stdout is not None
        grandchild = int(await asyncio.wait_for(process.stdout.readline(), TIMEOUT))
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
        assert await process.stop(TIMEOUT) == 0
        assert_gone(grandchild)

    async def test_exited_process_reports_returncode(self) -> None:
        """A process that exits by itself reports its status; stop() then changes nothing."""
        process = AsyncManagedProcess([PY, "-c", "raise SystemExit(3)"], name="three")
        assert repr(process) == "<AsyncManagedProcess 'three' not started>"
        assert (process.pid, process.returncode, process.stdin, process.stdout) == (None,) * 4
        assert process.stderr is None
        assert await process.stop() is None
        process.stop_blocking()
        with pytest.raises(RuntimeError, match="never started"):
            await process.wait()
        await process.start()
        with pytest.raises(RuntimeError, match="already started"):
            await process.start()
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 3
        assert repr(process).endswith("returncode=3>")
        assert not process.is_running()
        assert await process.stop() == 3
        process.terminate()
        process.kill()

    async def test_missing_program(self) -> None:
        """A program that does not exist raises at start(), leaving no pipe or hook."""
        before = len(EXIT_REGISTRY)
        process = AsyncManagedProcess(["/nonexistent/program"], stderr=logging.getLogger("x"))
        assert process.command == ("/nonexistent/program",)
        with pytest.raises(FileNotFoundError):
            await process.start()
        assert len(EXIT_REGISTRY) == before

    async def test_started_process_in_async_with(self) -> None:
        """`async with` on a started process does not start it again, and stops it."""
        async with await AsyncManagedProcess(SLEEPER).start() as process:
            assert process.is_running()
        assert process.returncode == -signal.SIGTERM

    async def test_output_to_logger(self, caplog: pytest.LogCaptureFixture) -> None:
        """Each line goes to the logger: stdout at INFO, stderr at WARNING."""
        sink = logging.getLogger("tests.processes.achatter")
        caplog.set_level(logging.INFO, logger=sink.name)
        command = [PY, str(SCRIPTS / "chatter.py")]
        async with AsyncManagedProcess(command, stdout=sink, stderr=sink, name="c") as process:
            await asyncio.wait_for(process.wait(), TIMEOUT)
        label = f"c[{process.pid}]"
        records = {(r.levelno, r.getMessage()) for r in caplog.records if r.name == sink.name}
        assert (logging.INFO, f"{label}: no newline at the end") in records
        assert (logging.WARNING, f"{label}: a warning") in records
        assert len(records) == 5

    async def test_output_to_file_and_stdin_pipe(self, tmp_path: Path) -> None:
        """A path target receives the output; a stdin pipe is closed on leaving."""
        path = tmp_path / "out.log"
        command = [PY, "-c", "import sys; print(sys.stdin.readline().upper())"]
        async with AsyncManagedProcess(
            command, stdin=subprocess.PIPE, stdout=path, stderr=subprocess.PIPE
        ) as process:
            assert process.stdin is not None
            assert process.stderr is not None
            process.stdin.write(b"hello\n")
            await process.stdin.drain()
            await asyncio.wait_for(process.wait(), TIMEOUT)
            assert await process.stderr.read() == b""
            stdin = process.stdin
        assert stdin.is_closing()
        assert path.read_text().strip() == "HELLO"

    async def test_cancelled_stop_kills(self) -> None:
        """Cancelling a stop kills the group, so the process never outlives it."""
        process = AsyncManagedProcess(STUBBORN, stdout=subprocess.PIPE)
        await process.start()
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
        stopping = asyncio.create_task(process.stop(TIMEOUT))
        await asyncio.sleep(0)  # let the stop send SIGTERM and start waiting
        stopping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopping
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == -signal.SIGKILL
        assert await process.stop() == -signal.SIGKILL

    async def test_stop_blocking(self) -> None:
        """The exit hook's stop ends the group without the loop, and unregisters."""
        before = len(EXIT_REGISTRY)
        process = await AsyncManagedProcess(SLEEPER).start()
        assert len(EXIT_REGISTRY) == before + 1
        with pytest.raises(ValueError, match="timeout must be > 0"):
            process.stop_blocking(0)
        process.stop_blocking()
        assert len(EXIT_REGISTRY) == before
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == -signal.SIGTERM
        process.stop_blocking()

    async def test_output_held_by_escaped_descendant(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A descendant that left the group keeps the output open: stop() stops reading."""
        sink = logging.getLogger("tests.processes.aescape")
        process = AsyncManagedProcess(
            family("escape", "polite"), stdout=subprocess.PIPE, stderr=sink
        )
        await process.start()
        assert process.stdout is not None
        escaped = int(await asyncio.wait_for(process.stdout.readline(), TIMEOUT))
        try:
            await process.stop(SHORT)
            assert "no longer read" in caplog.text
        finally:
            os.kill(escaped, signal.SIGKILL)


class TestProcessGroup:
    """Processes started together are stopped together, also when the block raises."""

    def test_block_raises(self) -> None:
        """Every process is stopped, within one shared timeout, and the error goes on."""
        with pytest.raises(LookupError), ProcessGroup(stop_timeout=SHORT) as group:
            stubborn = [group.start(STUBBORN, stdout=subprocess.PIPE) for _ in range(3)]
            polite = group.start(SLEEPER, stop_timeout=TIMEOUT)
            for process in stubborn:
                read_line(process.stdout)
            started = time.monotonic()
            raise LookupError
        assert time.monotonic() - started < SHORT * 3  # one shared timeout, not three
        assert [p.returncode for p in stubborn] == [-signal.SIGKILL] * 3
        assert polite.returncode == -signal.SIGTERM
        assert list(group) == [*stubborn, polite]
        assert repr(group) == "<ProcessGroup 4 processes, 0 running>"

    async def test_async_block_raises(self) -> None:
        """`async with` stops asyncio and plain processes alike when the block raises."""
        with pytest.raises(LookupError):
            async with ProcessGroup(stop_timeout=SHORT) as group:
                stubborn = await group.astart(STUBBORN, stdout=subprocess.PIPE)
                assert stubborn.stdout is not None
                await asyncio.wait_for(stubborn.stdout.readline(), TIMEOUT)
                plain = group.start(SLEEPER)
                raise LookupError
        assert stubborn.returncode == -signal.SIGKILL
        assert plain.returncode == -signal.SIGTERM
        assert len(group) == 2

    async def test_sync_exit_with_async_members(self) -> None:
        """Plain `with` stops asyncio members through stop_blocking."""
        with ProcessGroup() as group:
            process = await group.astart(SLEEPER)
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == -signal.SIGTERM

    def test_stop_error_after_all_stopped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """If stopping one process fails, the others are still stopped, then it is raised."""
        group = ProcessGroup()
        first, second = group.start(SLEEPER), group.start(SLEEPER)

        def broken(timeout: float | None = None) -> None:
            raise OSError("broken")

        monkeypatch.setattr(first, "close", broken)
        with pytest.raises(OSError, match="broken"):
            group.stop()
        assert second.returncode == -signal.SIGTERM
        first.stop()

    async def test_astop_error_after_all_stopped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """If stopping one asyncio process fails, the others are still stopped."""
        group = ProcessGroup()
        first = await group.astart(SLEEPER)
        second = await group.astart(SLEEPER)

        async def broken(*_: object) -> None:
            raise OSError("broken")

        monkeypatch.setattr(first, "stop", broken)
        with pytest.raises(OSError, match="broken"):
            await group.astop()
        assert second.returncode == -signal.SIGTERM
        monkeypatch.undo()
        await first.stop()

    def test_options_passed_on(self) -> None:
        """The group's stop_timeout is each process's default; its options win."""
        options: ProcessOptions = {"name": "named", "stop_timeout": 2.0}
        with ProcessGroup(stop_timeout=3) as group:
            named = group.start(SLEEPER, **options)
            plain = group.start(SLEEPER)
        assert (named.name, named.stop_timeout, plain.stop_timeout) == ("named", 2.0, 3)


class TestExitCleanUp:
    """A Python parent sent SIGTERM leaves no child running (through on_exit)."""

    @pytest.mark.parametrize("mode", ["group", "bare"])
    def test_sigterm_to_parent_stops_child(self, mode: str) -> None:
        """SIGTERM to a parent using ProcessGroup or a bare ManagedProcess stops its child."""
        with ManagedProcess(
            [PY, str(SCRIPTS / "guarded_parent.py"), mode], stdout=subprocess.PIPE
        ) as parent:
            child = int(read_line(parent.stdout))
            assert alive(child)
            assert parent.pid is not None
            os.kill(parent.pid, signal.SIGTERM)  # the parent alone, not its group
            assert parent.wait(TIMEOUT) == 128 + signal.SIGTERM
            assert_gone(child)
