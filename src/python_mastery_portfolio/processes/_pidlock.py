"""A PID lock: one running instance of a program, decided by an OS file lock.

The seed checks a PID file and then writes its own: two starts can both pass the check, and
a PID reused by another program looks like a live holder. Here the decision is an exclusive
``flock`` on the lock file, taken without waiting and held for the lock's life: the kernel
grants it to one process only and drops it when that process dies, however it dies. The file
also records the holder's PID and start time, which name the holder in errors and explain,
in the WARNING logged on take-over, why a file left behind was stale.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from python_mastery_portfolio._internal.checks import require_at_least, require_positive
from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.exceptions import LockHeldError
from python_mastery_portfolio.processes._exit import ExitHandle, on_exit, unregister

if sys.platform == "win32":  # pragma: no cover - Windows: no flock; PidLock is POSIX-only
    fcntl: Any = None
else:
    import fcntl

__all__ = ["PROC", "PidLock", "forget_locks_after_fork", "process_start_time"]

logger = logging.getLogger(__package__)

PROC: Final = Path("/proc")
"""Where Linux describes its processes; without it the start time comes from psutil."""


def process_start_time(pid: int) -> str | None:
    """Return a token for when process ``pid`` started, or ``None`` if it is not running.

    Two processes with one PID never have one token, so a recorded ``(pid, token)`` pair
    still names the same process only while the token matches. On Linux the token is the
    start time in clock ticks since boot (field 22 of ``/proc/<pid>/stat``); elsewhere it is
    psutil's ``create_time()`` when psutil is installed (extra ``[process]``). A zombie
    counts as not running. Without ``/proc`` and psutil, the token is ``"alive"`` for a
    process that exists (``os.kill(pid, 0)``), so PID reuse cannot be told apart.

    Example:
        >>> import os
        >>> from python_mastery_portfolio.processes import process_start_time
        >>> process_start_time(os.getpid()) is not None
        True
    """
    if pid <= 0:
        return None
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        if PROC.is_dir():
            return None  # Linux: no such process
    except OSError:  # pragma: no cover - /proc/<pid>/stat is world-readable; defensive
        return None
    else:
        # The command name (field 2) may contain spaces and parentheses: split after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        return None if fields[0] == "Z" else f"stat:{fields[19]}"
    return _start_time_elsewhere(pid)


def _start_time_elsewhere(pid: int) -> str | None:
    try:
        psutil: Any = importlib.import_module("psutil")
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # it exists, owned by someone else
        return "alive"
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"psutil:{process.create_time()!r}"
    except psutil.Error:  # NoSuchProcess, AccessDenied, ZombieProcess
        return None


def _read_record(fd: int) -> tuple[int | None, str | None]:
    """Return the PID and start token recorded in the lock file (``None`` when unreadable)."""
    data = os.pread(fd, 256, 0).decode("ascii", "replace").split()
    pid = int(data[0]) if data and data[0].isdigit() else None
    token = data[1] if len(data) > 1 else None
    return pid, token


def _same_file(fd: int, path: Path) -> bool:
    """Return whether ``path`` still names the file open as ``fd`` (not removed or replaced)."""
    try:
        current = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)


class _Holding:
    """A held lock's locked descriptor and its exit registration; held while in ``_HELD``."""

    __slots__ = ("exit_handle", "fd")

    def __init__(self, fd: int, exit_handle: ExitHandle) -> None:
        self.fd = fd
        self.exit_handle = exit_handle


_BUSY: Final = frozenset({errno.EAGAIN, errno.EACCES})
"""The errors of a non-blocking ``flock`` that another holder causes."""

_HELD: Final[set[_Holding]] = set()
"""Every lock this process holds, so that a forked child can let go of its copies."""


class PidLock:
    """Hold an exclusive lock, named by a file, for as long as this process runs.

    Taking it is atomic: an exclusive ``flock`` on ``path``, taken without blocking, held
    until :meth:`release` and dropped by the kernel when the process dies in any way. Two
    processes racing for it cannot both win. The file then holds two lines, this
    process's PID and its start time (see :func:`process_start_time`). A file left by a
    process that died, or naming a PID since reused by another program, is taken over with
    a WARNING. A live holder makes :meth:`acquire` raise :class:`LockHeldError` at once, or,
    with ``timeout``, after polling for that long on ``clock``.

    The lock is released, and the file removed, by :meth:`release`, at the end of a
    ``with`` block, at normal interpreter exit and on SIGTERM (through :func:`on_exit`). A
    process removes the file only while it holds the lock and the path still names the
    file it locked, so it never removes another process's lock. A child created by
    ``os.fork`` does not inherit the lock. A second ``PidLock`` on the same path in the
    same process is refused like any other holder.

    POSIX only (Linux, macOS, the BSDs): Windows is not supported. The file should be on a
    local file system; ``flock`` over NFS is emulated with byte-range locks on Linux.

    Args:
        path: The lock file; its directory must exist.
        timeout: Seconds :meth:`acquire` waits for a live holder; ``None`` does not wait.
        poll_interval: Seconds between attempts while waiting.
        clock: The clock the wait polls on.

    Raises:
        ValueError: If ``timeout`` is negative or ``poll_interval`` is not positive.

    Example:
        >>> import os
        >>> import tempfile
        >>> from pathlib import Path
        >>> from python_mastery_portfolio.processes import LockHeldError, PidLock
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Path(tmp) / "tool.pid"
        ...     with PidLock(path) as lock:
        ...         try:
        ...             PidLock(path).acquire()
        ...         except LockHeldError as error:
        ...             print("held by this process:", error.pid == lock.pid == os.getpid())
        ...     print("removed:", not path.exists())
        held by this process: True
        removed: True
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        poll_interval: float = 0.05,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if timeout is not None:
            require_at_least("timeout", timeout, 0)
        require_positive("poll_interval", poll_interval)
        self.path = Path(path)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.clock = clock
        self._holding: _Holding | None = None

    def __repr__(self) -> str:
        state = "held" if self.held else "not held"
        return f"PidLock({str(self.path)!r}, {state})"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._holding is not None and self._holding in _HELD

    @property
    def pid(self) -> int | None:
        """The PID of the holder: this process's while held, else the file's live holder or None.

        Another process counts as the holder only while the PID and start time recorded in
        the file still describe a running process.
        """
        if self.held:
            return os.getpid()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            pid, token = _read_record(fd)
        finally:
            os.close(fd)
        if pid is None or process_start_time(pid) != token:
            return None
        return pid

    def acquire(self) -> PidLock:
        """Take the lock, waiting up to ``timeout`` for a live holder; return ``self``.

        Raises:
            LockHeldError: If another live process (or another ``PidLock`` in this one)
                still holds it after ``timeout``.
            RuntimeError: If this object already holds it.
            OSError: If the file cannot be created or locked (a missing directory, no
                permission).
        """
        if self.held:
            raise RuntimeError(f"{self!r} is already held by this object")
        deadline = None if self.timeout is None else self.clock.now() + self.timeout
        while True:
            holder = self._try_acquire()
            if holder is None:
                return self
            remaining = None if deadline is None else deadline - self.clock.now()
            if remaining is None or remaining <= 0:
                raise LockHeldError(
                    f"{self.path} is held by process {holder if holder else '(unknown)'}",
                    pid=holder or None,
                    path=str(self.path),
                )
            self.clock.sleep(min(self.poll_interval, remaining))

    def _try_acquire(self) -> int | None:
        """Take the lock if free; else return the holder's recorded PID (0 if unknown)."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in _BUSY:  # pragma: no cover - ENOLCK: no lock space left
                    os.close(fd)
                    raise
                pid, _ = _read_record(fd)
                os.close(fd)
                return pid or 0
            except BaseException:  # pragma: no cover - an interrupt between open and flock
                os.close(fd)
                raise
            # The holder we waited for may have removed the file as it released it: a lock
            # on a removed file excludes nobody, so start again with the file now at path.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        try:
            self._take_over(fd)
        except BaseException:
            os.close(fd)
            raise
        # Last registered, first run: callbacks registered while it is held run before it goes.
        self._holding = _Holding(fd, on_exit(self.release))
        _HELD.add(self._holding)
        return None

    def _take_over(self, fd: int) -> None:
        """Record this process in the locked file, warning about a stale record found there."""
        pid, token = _read_record(fd)
        me = os.getpid()
        if pid is not None and pid != me:
            current = process_start_time(pid)
            if current is None:
                reason = "is not running"
            elif token is not None and current != token and "alive" not in (current, token):
                reason = "is now another program (PID reused)"
            else:
                reason = "is running but does not hold the lock"
            logger.warning("Taking over stale PID lock %s: process %d %s", self.path, pid, reason)
        record = f"{me}\n{process_start_time(me)}\n".encode("ascii")
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)

    def release(self) -> None:
        """Release the lock and remove its file.

        The file is removed only if it is still the one this object locked and names this
        process, so a file some other process has since created is left alone.

        Raises:
            RuntimeError: If this object does not hold the lock.
        """
        holding, self._holding = self._holding, None
        if holding is None or holding not in _HELD:
            raise RuntimeError(f"{self!r} is not held")
        _HELD.discard(holding)
        unregister(holding.exit_handle)
        fd = holding.fd
        try:
            # Removed while still locked: a process that opened this file meanwhile sees,
            # once it gets the lock, that the path no longer names it, and tries again.
            if _same_file(fd, self.path) and _read_record(fd)[0] == os.getpid():
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
        finally:
            os.close(fd)  # drops the flock

    def __enter__(self) -> PidLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def forget_locks_after_fork() -> None:
    """Close a forked child's copies of the locked descriptors: the parent keeps its locks."""
    for holding in _HELD:
        os.close(holding.fd)  # the parent's descriptor keeps the flock
        unregister(holding.exit_handle)  # the exit registry forgets it in a child anyway
    _HELD.clear()


os.register_at_fork(after_in_child=forget_locks_after_fork)
