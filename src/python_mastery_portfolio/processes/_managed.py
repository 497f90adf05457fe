"""``ManagedProcess``: a subprocess in its own process group, stopped with escalation and reaped.

Seed 000 starts helpers with ``subprocess.Popen`` and calls ``terminate()`` on them at exit.
That leaves two holes: SIGTERM reaches the child only, so its own children (a shell's
pipeline, a server's workers) are orphaned and keep running; and nothing escalates when the
child ignores SIGTERM. Here each child starts a new session (``start_new_session=True``), so
it leads a process group whose id is its pid and which its descendants join; :meth:`stop`
signals that whole group, waits for the child with ``Popen.wait(timeout)``, then SIGKILLs the
group and reaps the child.

This module also holds what the asyncio variant (``_managed_async``) shares: argument
checks, output targets, the line splitter behind logging output, and the group signalling.

Windows has no process groups to signal: the child is started with
``CREATE_NEW_PROCESS_GROUP``, :meth:`ManagedProcess.stop` ends it with ``TerminateProcess``
(there is no gentle step, so the timeout does not apply) and its own children are not
reached (that would need a job object).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO, Any, Final, Self, TypeAlias, TypedDict

from python_mastery_portfolio._internal.checks import require_count, require_positive
from python_mastery_portfolio.processes._exit import ExitHandle, on_exit, unregister
from python_mastery_portfolio.processes._reports import (
    report_killed,
    report_started,
    report_stopped,
)

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "MAX_LINE_LENGTH",
    "READ_SIZE",
    "LineSplitter",
    "ManagedProcess",
    "OutputTarget",
    "ProcessOptions",
    "check_command",
    "check_options",
    "drain_group",
    "group_exists",
    "open_target",
    "session_options",
    "signal_group",
]

logger = logging.getLogger(__package__)

DEFAULT_STOP_TIMEOUT: Final = 5.0
"""Seconds :meth:`ManagedProcess.stop` waits after SIGTERM before it SIGKILLs the group."""

MAX_LINE_LENGTH: Final = 4096
"""Default bound, in bytes, of one logged output line; the rest of a longer line is dropped."""

READ_SIZE: Final = 65536
"""Bytes read from an output pipe at a time."""

TRUNCATED: Final = " [truncated]"
"""Appended to a logged line cut at ``max_line_length``."""

POLL_INTERVAL: Final = 0.01
"""Seconds between checks on group members that are not our children (no ``wait`` for them)."""

OutputTarget: TypeAlias = int | str | os.PathLike[str] | logging.Logger | IO[Any] | None
"""Where a child's stdout or stderr goes.

``None`` inherits ours; ``subprocess.PIPE`` gives a readable stream; ``subprocess.DEVNULL``
discards; ``subprocess.STDOUT`` (stderr only) joins stdout; another ``int`` is an open file
descriptor; a ``str`` or path-like is a file opened for appending; a ``logging.Logger`` gets
each line (stdout at INFO, stderr at WARNING) from a reader thread or task; an open file
object is passed on as is.
"""


class ProcessOptions(TypedDict, total=False):
    """The keyword options of :class:`ManagedProcess` and its asyncio variant."""

    cwd: str | os.PathLike[str] | None
    env: Mapping[str, str] | None
    stdin: int | IO[Any] | None
    stdout: OutputTarget
    stderr: OutputTarget
    name: str | None
    stop_timeout: float
    max_line_length: int


def check_command(command: object) -> tuple[str, ...]:
    """Return ``command`` as a tuple of str, or raise naming the ``command`` parameter.

    Example:
        >>> check_command(["echo", "hi"])
        ('echo', 'hi')
        >>> check_command("echo hi")
        Traceback (most recent call last):
        ...
        TypeError: command must be a sequence of arguments, not a string: 'echo hi'
    """
    if isinstance(command, str | bytes):
        raise TypeError(f"command must be a sequence of arguments, not a string: {command!r}")
    if not isinstance(command, Sequence):
        raise TypeError(f"command must be a sequence of str or path-like, got {command!r}")
    if not command:
        raise ValueError("command must not be empty")
    arguments: list[str] = []
    for argument in command:  # pyright: ignore[reportUnknownVariableType]  # run-time input, checked below
        if not isinstance(argument, str | os.PathLike):
            raise TypeError(f"command arguments must be str or path-like, got {argument!r}")
        text = os.fspath(argument)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]  # checked below
        if not isinstance(text, str):
            raise TypeError(f"command arguments must be str or path-like, got {argument!r}")
        arguments.append(text)
    return tuple(arguments)


def _check_target(name: str, value: object, *, may_join_stdout: bool) -> None:
    if value is None or isinstance(value, str | os.PathLike | logging.Logger):
        return
    if isinstance(value, bool) or not isinstance(value, int):
        if callable(getattr(value, "fileno", None)):
            return
        raise TypeError(
            f"{name} must be None, PIPE, DEVNULL, a file descriptor, a path, a logging.Logger"
            f" or an open file, got {value!r}"
        )
    allowed = {subprocess.PIPE, subprocess.DEVNULL}
    if may_join_stdout:
        allowed.add(subprocess.STDOUT)
    if value < 0 and value not in allowed:
        raise ValueError(f"{name} must be PIPE, DEVNULL, STDOUT (stderr only) or >= 0, got {value}")


def check_options(options: ProcessOptions) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first bad option.

    Example:
        >>> check_options({"stop_timeout": 0})
        Traceback (most recent call last):
        ...
        ValueError: stop_timeout must be > 0, got 0
    """
    stdin = options.get("stdin")
    _check_target("stdin", stdin, may_join_stdout=False)
    if isinstance(stdin, str | os.PathLike | logging.Logger):
        raise TypeError(f"stdin must be None, PIPE, DEVNULL or a file, got {stdin!r}")
    _check_target("stdout", options.get("stdout"), may_join_stdout=False)
    _check_target("stderr", options.get("stderr"), may_join_stdout=True)
    require_positive("stop_timeout", options.get("stop_timeout", DEFAULT_STOP_TIMEOUT))
    require_count("max_line_length", options.get("max_line_length", MAX_LINE_LENGTH), 1)
    name = options.get("name")
    if name is not None and not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"name must be a str, got {name!r}")


def open_target(target: OutputTarget, opened: list[IO[bytes]]) -> int | IO[Any] | None:
    """Return what ``Popen`` takes for ``target``, appending any file it opens to ``opened``.

    A path is opened for appending (the caller closes it once the child holds its own
    descriptor); a logger becomes a pipe its reader drains.
    """
    if isinstance(target, logging.Logger):
        return subprocess.PIPE
    if isinstance(target, str | os.PathLike):
        file = open(target, "ab")  # noqa: SIM115  # closed by the caller once the child runs
        opened.append(file)
        return file
    return target


def session_options() -> dict[str, Any]:
    """Return the ``Popen`` keywords that start the child in a process group of its own."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


class LineSplitter:
    r"""Turn chunks of output into lines of at most ``max_length`` bytes, decoded as UTF-8.

    A longer line is cut and marked ``[truncated]``, and the rest of it is dropped, so a child
    writing without newlines cannot make its reader hold unbounded memory.

    Example:
        >>> splitter = LineSplitter(5)
        >>> splitter.feed(b"one\ntwo\r\nthr"), splitter.feed(b"ee four\nsix")
        (['one', 'two'], ['three [truncated]'])
        >>> splitter.finish()
        ['six']
    """

    def __init__(self, max_length: int) -> None:
        self._max_length = max_length
        self._buffer = bytearray()
        self._skipping = False  # dropping the rest of a line already emitted cut

    def _take(self) -> str:
        data = bytes(self._buffer[: self._max_length])
        cut = len(self._buffer) > self._max_length
        self._buffer.clear()
        text = data.decode("utf-8", "replace").rstrip("\r")
        return text + TRUNCATED if cut else text

    def feed(self, chunk: bytes) -> list[str]:
        """Add ``chunk``; return the lines it completes."""
        lines: list[str] = []
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            if self._skipping:
                self._skipping = False
            else:
                self._buffer += piece
                lines.append(self._take())
        if not self._skipping:
            self._buffer += rest
            if len(self._buffer) > self._max_length:
                lines.append(self._take())
                self._skipping = True
        return lines

    def finish(self) -> list[str]:
        """Return the last line if the output did not end with a newline."""
        skipped, self._skipping = self._skipping, False
        return [self._take()] if self._buffer and not skipped else []


def _pump(pipe: IO[bytes], sink: logging.Logger, level: int, label: str, limit: int) -> None:
    """Log each line read from ``pipe`` until end of file, then close it."""
    splitter = LineSplitter(limit)
    descriptor = pipe.fileno()
    try:
        while chunk := os.read(descriptor, READ_SIZE):
            for line in splitter.feed(chunk):
                sink.log(level, "%s: %s", label, line)
        for line in splitter.finish():
            sink.log(level, "%s: %s", label, line)
    finally:
        pipe.close()


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to process group ``pgid``; return ``False`` if the group is gone."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        # PermissionError: macOS answers so for a group left with zombies only.
        return False
    return True


def _live_member_on_linux(pgid: int) -> bool:
    # A group of zombies still answers kill(0). Orphans are reaped by PID 1, but in a
    # container PID 1 is often the application itself, which never reaps them: count
    # only members that can still run.
    with os.scandir("/proc") as entries:
        names = [entry.name for entry in entries if entry.name.isdigit()]
    for name in names:
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:  # it exited while we looked
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def group_exists(pgid: int) -> bool:
    """Return whether process group ``pgid`` still has a member that is not a zombie."""
    if not signal_group(pgid, 0):
        return False
    if sys.platform != "linux":  # pragma: no cover - other POSIX: no /proc to tell zombies
        return True
    return _live_member_on_linux(pgid)


def drain_group(pgid: int, deadline: float, *, terminate: bool, label: str) -> None:
    """End what is left of group ``pgid`` once its leader is gone: wait, then SIGKILL.

    Members that outlive the leader are not our children, so there is no ``wait`` for them:
    their group is polled until ``deadline`` (a ``time.monotonic`` reading). With
    ``terminate`` they are first sent SIGTERM (the leader exited on its own, so the group
    was never signalled).
    """
    if sys.platform == "win32":  # pragma: no cover - Windows: no process groups
        return
    if not group_exists(pgid):
        return
    if terminate:
        signal_group(pgid, signal.SIGTERM)
    while time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        if not group_exists(pgid):
            return
    logger.warning("Killing what is left of %s's process group %d", label, pgid)
    signal_group(pgid, signal.SIGKILL)


def _signal(popen: subprocess.Popen[bytes], signum: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows: no group signals
        popen.terminate()
    else:
        signal_group(popen.pid, signum)


class ManagedProcess:
    """A subprocess in its own process group, stopped with SIGTERM, then SIGKILL, and reaped.

    :meth:`start` launches the command; :meth:`stop` sends SIGTERM to the child's whole
    process group, waits up to ``timeout`` for the child, SIGKILLs the group if it is still
    there, reaps the child and ends what is left of the group (its own children), so nothing
    it started outlives it and no zombie stays behind. Stopping twice is harmless. A started
    process registers its stop with :func:`~python_mastery_portfolio.processes.on_exit`,
    so the interpreter never exits, nor dies of SIGTERM, leaving it running; :meth:`stop`
    removes that registration. ``with ManagedProcess(...) as process:`` starts it and, on
    leaving the block, stops it and closes its pipes.

    Args:
        command: The program and its arguments (str or path-like), run without a shell.
        cwd: Working directory of the child.
        env: The child's whole environment; ``None`` inherits ours.
        stdin: ``subprocess.DEVNULL`` (the default: a background helper should not read
            our terminal), ``PIPE``, ``None`` or an open file.
        stdout: Where standard output goes (see :data:`OutputTarget`); ``None`` inherits.
        stderr: Where standard error goes; ``subprocess.STDOUT`` joins it to stdout.
        name: How log messages name the process; defaults to the program's file name.
        stop_timeout: Default seconds :meth:`stop` waits after SIGTERM (> 0).
        max_line_length: Longest line, in bytes, logged to a logger target.

    Raises:
        TypeError: If an argument has the wrong type (the message names it).
        ValueError: If ``command`` is empty or a number is out of range.

    Example:
        >>> import subprocess, sys
        >>> command = [sys.executable, "-c", "print('hi')"]
        >>> with ManagedProcess(command, stdout=subprocess.PIPE) as process:
        ...     output = process.stdout.read()
        ...     code = process.wait(timeout=10)
        >>> output.strip(), code, process.is_running()
        (b'hi', 0, False)
    """

    def __init__(
        self,
        command: Sequence[str | os.PathLike[str]],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        stdout: OutputTarget = None,
        stderr: OutputTarget = None,
        name: str | None = None,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        max_line_length: int = MAX_LINE_LENGTH,
    ) -> None:
        self._command = check_command(command)
        check_options(
            {
                "stdin": stdin,
                "stdout": stdout,
                "stderr": stderr,
                "name": name,
                "stop_timeout": stop_timeout,
                "max_line_length": max_line_length,
            }
        )
        self._cwd = cwd
        self._env = None if env is None else dict(env)
        self._stdin = stdin
        self._stdout = stdout
        self._stderr = stderr
        self.name: str = name if name is not None else os.path.basename(self._command[0])
        self.stop_timeout: float = stop_timeout
        self._max_line_length = max_line_length
        self._lock = threading.Lock()
        self._popen: subprocess.Popen[bytes] | None = None
        self._readers: list[threading.Thread] = []
        self._exit_handles: list[ExitHandle] = []  # one once started
        self._terminated = False
        self._stopped = False

    def __repr__(self) -> str:
        if self._popen is None:
            state = "not started"
        elif (code := self._popen.poll()) is None:
            state = f"pid={self._popen.pid} running"
        else:
            state = f"pid={self._popen.pid} returncode={code}"
        return f"<ManagedProcess {self.name!r} {state}>"

    @property
    def command(self) -> tuple[str, ...]:
        """The program and its arguments."""
        return self._command

    @property
    def pid(self) -> int | None:
        """The child's process id (also its process group's id); ``None`` before :meth:`start`."""
        return None if self._popen is None else self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status, checked now without blocking; ``None`` while running or unstarted.

        A child ended by a signal reports minus the signal's number, as ``Popen`` does.
        """
        return None if self._popen is None else self._popen.poll()

    @property
    def stdin(self) -> IO[bytes] | None:
        """The child's standard input when ``stdin=subprocess.PIPE``, else ``None``."""
        return None if self._popen is None else self._popen.stdin

    @property
    def stdout(self) -> IO[bytes] | None:
        """The child's standard output when ``stdout=subprocess.PIPE``, else ``None``."""
        if self._popen is None or self._stdout != subprocess.PIPE:
            return None
        return self._popen.stdout

    @property
    def stderr(self) -> IO[bytes] | None:
        """The child's standard error when ``stderr=subprocess.PIPE``, else ``None``."""
        if self._popen is None or self._stderr != subprocess.PIPE:
            return None
        return self._popen.stderr

    def is_running(self) -> bool:
        """Return whether the child has been started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> Self:
        """Launch the command in a new process group; return ``self``.

        Raises:
            RuntimeError: If it was already started (a process runs once).
            OSError: If the program cannot be run (``FileNotFoundError``, ...).
        """
        with self._lock:
            if self._popen is not None:
                raise RuntimeError(f"{self!r} was already started")
            opened: list[IO[bytes]] = []
            try:
                # pyright takes **session_options() for a text= argument: bytes here.
                popen: subprocess.Popen[bytes] = subprocess.Popen(  # pyright: ignore[reportAssignmentType]  # noqa: S603  # runs what the caller asked, no shell
                    self._command,
                    cwd=self._cwd,
                    env=self._env,
                    stdin=self._stdin,
                    stdout=open_target(self._stdout, opened),
                    stderr=open_target(self._stderr, opened),
                    **session_options(),
                )
            finally:
                for file in opened:  # the child has its own descriptors now
                    file.close()
            self._popen = popen
            self._exit_handles.append(on_exit(self.stop))
            label = f"{self.name}[{popen.pid}]"
            for target, pipe, level in (
                (self._stdout, popen.stdout, logging.INFO),
                (self._stderr, popen.stderr, logging.WARNING),
            ):
                if isinstance(target, logging.Logger) and pipe is not None:
                    # Daemon: a descendant that escaped the group may hold the pipe open
                    # for ever, and interpreter exit must not wait for it.
                    reader = threading.Thread(
                        target=_pump,
                        args=(pipe, target, level, label, self._max_line_length),
                        name=f"pmp-output-{label}",
                        daemon=True,
                    )
                    reader.start()
                    self._readers.append(reader)
        logger.info("Started %s: %s", label, " ".join(self._command))
        report_started(self.name, popen.pid)
        return self

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit on its own; return its exit status.

        Raises:
            RuntimeError: If it was never started.
            subprocess.TimeoutExpired: If it is still running after ``timeout`` seconds.
        """
        if self._popen is None:
            raise RuntimeError(f"{self!r} was never started")
        return self._popen.wait(timeout)

    def terminate(self) -> None:
        """Send SIGTERM to the child's process group, if the child is still running."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            self._terminated = True
            _signal(popen, signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL to the child's process group, if the child is still running."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            _signal(popen, signal.SIGKILL)

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop the child and its process group; return the exit status.

        SIGTERM goes to the group (unless :meth:`terminate` sent it already); after up to
        ``timeout`` seconds without the child exiting, SIGKILL goes to the group and the child
        is reaped; members of the group that outlive the child get the rest of ``timeout``,
        then SIGKILL. A child that already exited is only reaped (with any members it left
        behind ended the same way). Stopping again, or stopping a process never started
        (which returns ``None``), does nothing. Pipes stay open for reading what is left.

        Args:
            timeout: Seconds to wait after SIGTERM (> 0); defaults to ``stop_timeout``.

        Raises:
            ValueError: If ``timeout`` is not > 0.
        """
        if timeout is None:
            timeout = self.stop_timeout
        require_positive("timeout", timeout)
        with self._lock:
            popen = self._popen
            if popen is None:
                return None
            if not self._stopped:
                # Marked stopped only once done: an interrupted stop (SIGTERM becoming
                # SystemExit mid-wait) leaves the exit hook in place to finish the job.
                self._stop(popen, timeout)
                self._stopped = True
                self._release(timeout)
            return popen.returncode

    def _stop(self, popen: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        exited_alone = popen.poll() is not None
        if not exited_alone:
            if not self._terminated:
                self.terminate()
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s[%d] still running %.3gs after SIGTERM; killing its process group",
                    self.name,
                    popen.pid,
                    timeout,
                )
                report_killed(self.name)
                self.kill()
                popen.wait()  # SIGKILL cannot be caught or ignored: this returns
        label = f"{self.name}[{popen.pid}]"
        drain_group(popen.pid, deadline, terminate=exited_alone, label=label)
        logger.info("Stopped %s[%d] (returncode %s)", self.name, popen.pid, popen.returncode)
        report_stopped(self.name, popen.returncode)

    def _release(self, timeout: float) -> None:
        for handle in self._exit_handles:
            unregister(handle)
        for reader in self._readers:
            # Its writers are all dead, so end of file is near; bounded all the same, for a
            # descendant that left the group and still holds the pipe.
            reader.join(timeout)
            if reader.is_alive():
                logger.warning("%s: output still open after stop; left to a daemon thread", self)

    def close(self, timeout: float | None = None) -> None:
        """Stop the process (if started; see :meth:`stop`) and close the pipes it handed out."""
        self.stop(timeout)
        if self._popen is not None:
            for stream in (self.stdin, self.stdout, self.stderr):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> Self:
        """Start the process unless it was started already."""
        if self._popen is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the process and close its pipes, also when the block raised."""
        self.close()
