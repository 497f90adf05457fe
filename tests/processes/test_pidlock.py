"""Tests of PidLock: atomic against real racing processes, stale files taken over."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import LockHeldError, PortfolioError
from python_mastery_portfolio.processes import PidLock, _pidlock, process_start_time
from python_mastery_portfolio.testing import ManualClock
from tests.conftest import wait_until
from tests.processes.test_exit import START_TIMEOUT, read_line, run_script, send

LOGGER = "python_mastery_portfolio.processes"
ROUNDS = 50


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A lock file path in a fresh directory."""
    return tmp_path / "tool.pid"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A running program that is not Python and holds no lock: ``sleep``."""
    process = subprocess.Popen(["sleep", "60"])  # noqa: S607 - the system's sleep, on PATH
    try:
        yield process
    finally:
        process.kill()
        process.wait(START_TIMEOUT)


def write_record(path: Path, pid: int, token: str | None) -> None:
    """Write a lock file as a holder would, without holding the OS lock."""
    path.write_text(f"{pid}\n{token}\n" if token is not None else f"{pid}\n")


def holder(lock: PidLock) -> int | None:
    """Return ``lock.pid`` (a call: mypy would keep an asserted property narrowed for good)."""
    return lock.pid


class TestPidLock:
    def test_records_pid_and_start_time_and_removes_file_on_release(self, path: Path) -> None:
        """The file holds this PID and start time while held and is removed on release."""
        lock = PidLock(path).acquire()
        assert holder(lock) == os.getpid()
        assert path.read_text().split() == [str(os.getpid()), str(process_start_time(os.getpid()))]
        lock.release()
        assert not lock.held
        assert holder(lock) is None
        assert not path.exists()

    def test_with_block_releases_when_the_block_raises(self, path: Path) -> None:
        """Leaving the block by an exception still releases the lock."""
        with pytest.raises(ZeroDivisionError), PidLock(path) as lock:
            assert lock.held
            1 / 0  # noqa: B018 - the error under test
        assert not lock.held
        assert not path.exists()
        with PidLock(path):  # free again
            pass

    def test_second_lock_in_same_process_is_refused(self, path: Path) -> None:
        """A second PidLock on the path is refused with the holder's PID and the path."""
        with PidLock(path):
            with pytest.raises(LockHeldError) as raised:
                PidLock(path).acquire()
            assert raised.value.pid == os.getpid()
            assert raised.value.path == str(path)
            assert isinstance(raised.value, PortfolioError)
            assert PidLock(path).pid == os.getpid()
        assert not path.exists()

    def test_refused_lock_leaves_the_file_alone(self, path: Path) -> None:
        """A process that does not get the lock never changes or removes the file."""
        with PidLock(path):
            before = path.read_bytes()
            with pytest.raises(LockHeldError):
                PidLock(path).acquire()
            assert path.read_bytes() == before

    def test_misuse(self, path: Path) -> None:
        """Acquiring twice or releasing a free lock raises RuntimeError."""
        lock = PidLock(path)
        assert repr(lock) == f"PidLock({str(path)!r}, not held)"
        with pytest.raises(RuntimeError, match="not held"):
            lock.release()
        with lock:
            assert repr(lock) == f"PidLock({str(path)!r}, held)"
            with pytest.raises(RuntimeError, match="already held"):
                lock.acquire()

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [({"timeout": -1}, "timeout"), ({"poll_interval": 0}, "poll_interval")],
        ids=["timeout", "poll_interval"],
    )
    def test_bad_arguments(self, path: Path, kwargs: dict[str, Any], message: str) -> None:
        """Bad options raise ValueError naming the parameter."""
        with pytest.raises(ValueError, match=message):
            PidLock(path, **kwargs)

    def test_holder_with_unknown_pid(self, path: Path) -> None:
        """A holder that has not written its PID yet is reported without one."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with pytest.raises(LockHeldError, match="unknown") as raised:
                PidLock(path).acquire()
            assert raised.value.pid is None
        finally:
            os.close(fd)


class TestWaiting:
    def test_times_out_polling_the_clock(self, path: Path) -> None:
        """With a timeout, acquire polls on the clock and raises when the time is up."""
        clock = ManualClock()
        with PidLock(path):
            waiter = PidLock(path, timeout=1.0, poll_interval=0.3, clock=clock)
            with pytest.raises(LockHeldError):
                waiter.acquire()
        assert clock.sleeps == pytest.approx([0.3, 0.3, 0.3, 0.1])
        assert clock.now() == pytest.approx(1.0)

    def test_zero_timeout_does_not_wait(self, path: Path) -> None:
        """timeout=0 tries once."""
        clock = ManualClock()
        with PidLock(path), pytest.raises(LockHeldError):
            PidLock(path, timeout=0, clock=clock).acquire()
        assert clock.sleeps == []

    def test_gets_the_lock_when_the_holder_releases(self, path: Path) -> None:
        """A waiter takes the lock as soon as the holder lets it go."""
        holder = PidLock(path).acquire()

        class ReleasingClock(ManualClock):
            def sleep(self, seconds: float) -> None:
                super().sleep(seconds)
                if len(self.sleeps) == 2:
                    holder.release()

        clock = ReleasingClock()
        with PidLock(path, timeout=10, poll_interval=1, clock=clock) as waiter:
            assert waiter.held
        assert clock.sleeps == [1, 1]

    def test_real_wait_for_another_process(self, path: Path) -> None:
        """A bounded real wait succeeds once another process releases the lock."""
        with run_script("lock_worker.py", path) as worker:
            send(worker, "go")
            assert read_line(worker) == "won"
            with pytest.raises(LockHeldError) as raised:
                PidLock(path).acquire()
            assert raised.value.pid == worker.pid
            send(worker, "release")
            with PidLock(path, timeout=START_TIMEOUT, poll_interval=0.01) as lock:
                assert lock.held
            assert read_line(worker) == "released"
            send(worker, "exit")
            assert worker.wait(START_TIMEOUT) == 0


class TestRace:
    def test_two_processes_exactly_one_wins(self, path: Path) -> None:
        """Two real processes race for the lock 50 times; exactly one wins each round."""
        with (
            run_script("lock_worker.py", path) as first,
            run_script("lock_worker.py", path) as second,
        ):
            workers = [first, second]
            wins = [0, 0]
            for round_number in range(ROUNDS):
                order = workers if round_number % 2 else workers[::-1]
                for worker in order:  # both before either answers: a real race
                    send(worker, "go")
                answers = [read_line(worker) for worker in workers]
                assert sorted(answers)[1] == "won", answers  # "lost ..." < "won"
                winner = answers.index("won")
                loser = 1 - winner
                # The loser names the winner, or nobody if it looked before the PID was written.
                assert answers[loser] in (f"lost {workers[winner].pid}", "lost None"), answers
                wins[winner] += 1
                send(workers[winner], "release")
                assert read_line(workers[winner]) == "released"
                assert not path.exists()
            assert sum(wins) == ROUNDS


class TestStale:
    def test_lock_of_a_killed_process_is_taken_over(
        self, path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """After its holder is SIGKILLed, the lock is taken over with a WARNING."""
        with run_script("lock_worker.py", path) as worker:
            send(worker, "go")
            assert read_line(worker) == "won"
            worker.send_signal(signal.SIGKILL)
            worker.wait(START_TIMEOUT)
        assert path.read_text().split()[0] == str(worker.pid)  # left behind
        assert PidLock(path).pid is None  # not running: no holder
        with caplog.at_level(logging.WARNING, LOGGER), PidLock(path) as lock:
            assert lock.pid == os.getpid()
            assert path.read_text().split()[0] == str(os.getpid())
        assert f"process {worker.pid} is not running" in caplog.text
        assert caplog.records[0].levelno == logging.WARNING

    def test_pid_reused_by_another_program_is_taken_over(
        self, path: Path, sleeper: subprocess.Popen[bytes], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A file naming a live PID with another start time is stale: that PID was reused."""
        write_record(path, sleeper.pid, "stat:1")
        assert PidLock(path).pid is None
        with caplog.at_level(logging.WARNING, LOGGER), PidLock(path) as lock:
            assert lock.held
        assert f"process {sleeper.pid} is now another program (PID reused)" in caplog.text
        assert sleeper.poll() is None  # the other program is left alone

    @pytest.mark.parametrize(
        "recorded_as", ["own", None, "alive"], ids=["same-start", "none", "alive"]
    )
    def test_live_process_without_the_os_lock_is_taken_over(
        self,
        path: Path,
        sleeper: subprocess.Popen[bytes],
        recorded_as: str | None,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A file naming a running process that does not hold the OS lock is taken over."""
        own = recorded_as == "own"
        write_record(path, sleeper.pid, process_start_time(sleeper.pid) if own else recorded_as)
        if own:
            assert PidLock(path).pid == sleeper.pid  # it does look like the holder
        with caplog.at_level(logging.WARNING, LOGGER), PidLock(path):
            pass
        assert f"process {sleeper.pid} is running but does not hold the lock" in caplog.text

    def test_own_leftover_record_is_reused_silently(
        self, path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A file naming this very process (or nothing readable) is taken without a warning."""
        write_record(path, os.getpid(), "stat:1")
        with caplog.at_level(logging.WARNING, LOGGER), PidLock(path):
            pass
        path.write_text("garbage")
        assert PidLock(path).pid is None
        with caplog.at_level(logging.WARNING, LOGGER), PidLock(path):
            pass
        assert caplog.records == []


class TestRelease:
    def test_never_removes_a_file_it_does_not_own(self, path: Path) -> None:
        """If the path now names another file or another PID, release leaves it."""
        lock = PidLock(path).acquire()
        path.unlink()
        write_record(path, 1, "stat:1")
        lock.release()
        assert path.read_text() == "1\nstat:1\n"
        with PidLock(path) as lock:
            path.write_text("1\n")  # overwritten in place by someone else
        assert path.exists()

    def test_release_after_the_file_was_removed(self, path: Path) -> None:
        """A lock whose file was removed still releases cleanly."""
        lock = PidLock(path).acquire()
        path.unlink()
        lock.release()
        assert not path.exists()

    def test_retries_when_the_locked_file_was_replaced(
        self, path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Locking a file just removed by its releaser starts again with the file at path."""
        answers = iter([False])
        same_file = _pidlock._same_file
        monkeypatch.setattr(
            _pidlock, "_same_file", lambda fd, p: next(answers, True) and same_file(fd, p)
        )
        with PidLock(path) as lock:
            assert lock.held
        assert next(answers, None) is None  # the first attempt was refused
        assert not path.exists()

    def test_failure_while_recording_releases_the_os_lock(
        self, path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If writing the record fails, the descriptor is closed and nothing is held."""

        def broken(fd: int, length: int) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(os, "ftruncate", broken)
        lock = PidLock(path)
        with pytest.raises(OSError, match="disk full"):
            lock.acquire()
        monkeypatch.undo()
        assert not lock.held
        with PidLock(path):  # the OS lock was dropped
            pass

    def test_fork_hook_lets_go_of_the_copies(self, path: Path) -> None:
        """The after-fork hook closes the inherited descriptors and forgets the locks."""
        lock = PidLock(path).acquire()
        _pidlock.forget_locks_after_fork()  # as in a child; here it drops the only descriptor
        assert not lock.held
        with pytest.raises(RuntimeError, match="not held"):
            lock.release()
        with PidLock(path):
            pass


class TestProcessStartTime:
    def test_own_process(self) -> None:
        """On Linux the token is field 22 of /proc/<pid>/stat, stable for the process."""
        token = process_start_time(os.getpid())
        assert token is not None
        assert token.startswith("stat:")
        assert process_start_time(os.getpid()) == token

    def test_not_running(self) -> None:
        """A reaped child, a zombie and non-positive PIDs have no start time."""
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        wait_until(lambda: _state(child.pid) == "Z")
        assert process_start_time(child.pid) is None  # a zombie
        child.wait(START_TIMEOUT)
        assert process_start_time(child.pid) is None
        assert process_start_time(0) is None
        assert process_start_time(-1) is None

    def test_without_proc_and_psutil(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """Without /proc or psutil, a live process is "alive" and a gone one None."""
        monkeypatch.setattr(_pidlock, "PROC", tmp_path / "no-proc")
        monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil raises ImportError
        assert process_start_time(os.getpid()) == "alive"
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait(START_TIMEOUT)
        assert process_start_time(child.pid) is None

        def denied(pid: int, signum: int) -> None:
            raise PermissionError

        monkeypatch.setattr(os, "kill", denied)
        assert process_start_time(1) == "alive"

    def test_with_psutil(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """Without /proc, psutil's create_time is the token; zombies and errors give None."""

        class Error(Exception):
            pass

        class Process:
            def __init__(self, pid: int) -> None:
                if pid == 2:
                    raise Error
                self.pid = pid

            def status(self) -> str:
                return "zombie" if self.pid == 3 else "running"

            def create_time(self) -> float:
                return 1700000000.25

        fake = types.SimpleNamespace(Process=Process, Error=Error, STATUS_ZOMBIE="zombie")
        monkeypatch.setattr(_pidlock, "PROC", tmp_path / "no-proc")
        monkeypatch.setitem(sys.modules, "psutil", fake)
        assert process_start_time(1) == "psutil:1700000000.25"
        assert process_start_time(2) is None
        assert process_start_time(3) is None


def _state(pid: int) -> str:
    """Return the state letter of a Linux process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]
