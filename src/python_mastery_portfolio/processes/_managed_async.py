"""``AsyncManagedProcess`` (asyncio) and ``ProcessGroup``, which stops every process it started.

The asyncio variant follows :class:`ManagedProcess` step for step, over
``asyncio.create_subprocess_exec``: waits are awaited (``asyncio.wait_for`` on the child),
output is logged by a task per stream, and the event loop's child watcher reaps the child.
Its exit hook cannot await (the loop is gone at interpreter exit), so it uses
:meth:`AsyncManagedProcess.stop_blocking`: signals, and polling of the process group.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import IO, Any, Self, Unpack

from python_mastery_portfolio._internal.checks import require_positive
from python_mastery_portfolio.processes._exit import ExitHandle, on_exit, unregister
from python_mastery_portfolio.processes._managed import (
    DEFAULT_STOP_TIMEOUT,
    MAX_LINE_LENGTH,
    READ_SIZE,
    LineSplitter,
    ManagedProcess,
    OutputTarget,
    ProcessOptions,
    check_command,
    check_options,
    drain_group,
    group_exists,
    open_target,
    session_options,
    signal_group,
)
from python_mastery_portfolio.processes._reports import (
    report_killed,
    report_started,
    report_stopped,
)

__all__ = ["AsyncManagedProcess", "ProcessGroup"]

logger = logging.getLogger(__package__)

_GROUP_POLL_INTERVAL = 0.01


async def _pump(pipe: IO[bytes], sink: logging.Logger, level: int, label: str, limit: int) -> None:
    """Log each line read from ``pipe`` until end of file (or cancellation), then close it."""
    # Our own pipe rather than the subprocess transport's: a reader given up on (a descendant
    # that left the group still holds the write end) must close its transport, and only
    # the transport's owner can.
    stream = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), pipe)
    try:
        splitter = LineSplitter(limit)
        while chunk := await stream.read(READ_SIZE):
            for line in splitter.feed(chunk):
                sink.log(level, "%s: %s", label, line)
        for line in splitter.finish():
            sink.log(level, "%s: %s", label, line)
    finally:
        transport.close()


async def _adrain_group(pgid: int, deadline: float, *, terminate: bool, label: str) -> None:
    """Await the end of what is left of group ``pgid``, then SIGKILL it (see ``drain_group``)."""
    if sys.platform == "win32":  # pragma: no cover - Windows: no process groups
        return
    if not group_exists(pgid):
        return
    if terminate:
        signal_group(pgid, signal.SIGTERM)
    while time.monotonic() < deadline:
        await asyncio.sleep(_GROUP_POLL_INTERVAL)
        if not group_exists(pgid):
            return
    logger.warning("Killing what is left of %s's process group %d", label, pgid)
    signal_group(pgid, signal.SIGKILL)


class AsyncManagedProcess:
    """The asyncio twin of :class:`ManagedProcess`: the same options, awaited methods.

    ``await process.start()`` launches the command in a new process group; ``await
    process.stop(timeout)`` sends SIGTERM to the group, awaits the child up to ``timeout``,
    then SIGKILLs the group and ends what is left of it. If the awaiting task is cancelled
    during :meth:`stop`, the group is SIGKILLed before the cancellation goes on, so a
    cancelled stop never leaves the process running. ``async with`` starts and stops it.
    Stopping never blocks the event loop.

    Args:
        command: The program and its arguments (str or path-like), run without a shell.
        **options: As for :class:`ManagedProcess`: ``cwd``, ``env``, ``stdin``, ``stdout``,
            ``stderr``, ``name``, ``stop_timeout`` and ``max_line_length``. A logger target
            is fed by a task on the loop that started the process.

    Raises:
        TypeError: If an argument has the wrong type (the message names it).
        ValueError: If ``command`` is empty or a number is out of range.

    Example:
        >>> import asyncio, sys
        >>> async def main():
        ...     command = [sys.executable, "-c", "import sys; sys.exit(3)"]
        ...     async with AsyncManagedProcess(command) as process:
        ...         return await process.wait()
        >>> asyncio.run(main())
        3
    """

    def __init__(
        self, command: Sequence[str | os.PathLike[str]], **options: Unpack[ProcessOptions]
    ) -> None:
        self._command = check_command(command)
        check_options(options)
        self._cwd = options.get("cwd")
        env = options.get("env")
        self._env = None if env is None else dict(env)
        self._stdin = options.get("stdin", subprocess.DEVNULL)
        self._stdout: OutputTarget = options.get("stdout")
        self._stderr: OutputTarget = options.get("stderr")
        name = options.get("name")
        self.name: str = name if name is not None else os.path.basename(self._command[0])
        self.stop_timeout: float = options.get("stop_timeout", DEFAULT_STOP_TIMEOUT)
        self._max_line_length = options.get("max_line_length", MAX_LINE_LENGTH)
        self._lock = asyncio.Lock()
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._exit_handles: list[ExitHandle] = []  # one once started
        self._terminated = False
        self._stopped = False

    def __repr__(self) -> str:
        if self._process is None:
            state = "not started"
        elif self._process.returncode is None:
            state = f"pid={self._process.pid} running"
        else:
            state = f"pid={self._process.pid} returncode={self._process.returncode}"
        return f"<AsyncManagedProcess {self.name!r} {state}>"

    @property
    def command(self) -> tuple[str, ...]:
        """The program and its arguments."""
        return self._command

    @property
    def pid(self) -> int | None:
        """The child's process id (also its process group's id); ``None`` before :meth:`start`."""
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status; ``None`` while running or unstarted (minus the signal if killed)."""
        return None if self._process is None else self._process.returncode

    @property
    def stdin(self) -> asyncio.StreamWriter | None:
        """The child's standard input when ``stdin=subprocess.PIPE``, else ``None``."""
        return None if self._process is None else self._process.stdin

    @property
    def stdout(self) -> asyncio.StreamReader | None:
        """The child's standard output when ``stdout=subprocess.PIPE``, else ``None``."""
        if self._process is None or self._stdout != subprocess.PIPE:
            return None
        return self._process.stdout

    @property
    def stderr(self) -> asyncio.StreamReader | None:
        """The child's standard error when ``stderr=subprocess.PIPE``, else ``None``."""
        if self._process is None or self._stderr != subprocess.PIPE:
            return None
        return self._process.stderr

    def is_running(self) -> bool:
        """Return whether the child has been started and has not exited."""
        return self._process is not None and self._process.returncode is None

    async def start(self) -> Self:
        """Launch the command in a new process group; return ``self``.

        Raises:
            RuntimeError: If it was already started (a process runs once).
            OSError: If the program cannot be run (``FileNotFoundError``, ...).
        """
        async with self._lock:
            if self._process is not None:
                raise RuntimeError(f"{self!r} was already started")
            opened: list[IO[bytes]] = []
            logged: list[tuple[IO[bytes], logging.Logger, int]] = []
            try:
                process = await asyncio.create_subprocess_exec(
                    *self._command,
                    cwd=self._cwd,
                    env=self._env,
                    stdin=self._stdin,
                    stdout=_async_target(self._stdout, opened, logged, logging.INFO),
                    stderr=_async_target(self._stderr, opened, logged, logging.WARNING),
                    **session_options(),
                )
            except BaseException:
                for pipe, _, _ in logged:
                    pipe.close()
                raise
            finally:
                for file in opened:  # the child has its own descriptors now
                    file.close()
            self._process = process
            self._exit_handles.append(on_exit(self.stop_blocking))
            label = f"{self.name}[{process.pid}]"
            for pipe, sink, level in logged:
                pump = _pump(pipe, sink, level, label, self._max_line_length)
                self._readers.append(asyncio.create_task(pump, name=f"pmp-output-{label}"))
        logger.info("Started %s: %s", label, " ".join(self._command))
        report_started(self.name, process.pid)
        return self

    async def wait(self) -> int:
        """Await the child's exit on its own; return its exit status.

        Bound it with ``asyncio.timeout`` or ``asyncio.wait_for``.

        Raises:
            RuntimeError: If it was never started.
        """
        if self._process is None:
            raise RuntimeError(f"{self!r} was never started")
        return await self._process.wait()

    def terminate(self) -> None:
        """Send SIGTERM to the child's process group, if the child is still running."""
        if self._process is not None and self._process.returncode is None:
            self._terminated = True
            _signal(self._process, signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL to the child's process group, if the child is still running."""
        if self._process is not None and self._process.returncode is None:
            _signal(self._process, signal.SIGKILL)

    async def stop(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - grace before SIGKILL, not a deadline
    ) -> int | None:
        """Stop the child and its process group; return the exit status.

        As :meth:`ManagedProcess.stop`, awaiting instead of blocking.

        Args:
            timeout: Seconds to wait after SIGTERM (> 0); defaults to ``stop_timeout``.

        Raises:
            ValueError: If ``timeout`` is not > 0.
        """
        if timeout is None:
            timeout = self.stop_timeout
        require_positive("timeout", timeout)
        async with self._lock:
            process = self._process
            if process is None:
                return None
            if not self._stopped:
                try:
                    await self._stop(process, timeout)
                except asyncio.CancelledError:
                    # Nobody is left to finish the stop: end the group before giving up.
                    self.kill()
                    raise
                self._stopped = True
                await self._release(timeout)
            return process.returncode

    async def _stop(
        self,
        process: asyncio.subprocess.Process,
        timeout: float,  # noqa: ASYNC109 - grace before SIGKILL, not a deadline
    ) -> None:
        deadline = time.monotonic() + timeout
        exited_alone = process.returncode is not None
        if not exited_alone:
            if not self._terminated:
                self.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                logger.warning(
                    "%s[%d] still running %.3gs after SIGTERM; killing its process group",
                    self.name,
                    process.pid,
                    timeout,
                )
                report_killed(self.name)
                self.kill()
                await process.wait()  # SIGKILL cannot be caught or ignored: this returns
        label = f"{self.name}[{process.pid}]"
        await _adrain_group(process.pid, deadline, terminate=exited_alone, label=label)
        logger.info("Stopped %s[%d] (returncode %s)", self.name, process.pid, process.returncode)
        report_stopped(self.name, process.returncode)

    async def _release(
        self,
        timeout: float,  # noqa: ASYNC109 - grace before SIGKILL, not a deadline
    ) -> None:
        for handle in self._exit_handles:
            unregister(handle)
        if self._readers:
            _, pending = await asyncio.wait(self._readers, timeout=timeout)
            if pending:
                # A descendant that left the group still holds the pipe: stop reading it.
                logger.warning("%s: output still open after stop; no longer read", self)
                for reader in pending:
                    reader.cancel()
                await asyncio.wait(pending)  # each closes its pipe as it ends

    def stop_blocking(self, timeout: float | None = None) -> None:
        """Stop the process group without the event loop (the exit hook uses it).

        SIGTERM to the group, then its members are polled for up to ``timeout`` seconds,
        then SIGKILL. The child is reaped by the loop's child watcher, so ``returncode`` may
        stay ``None`` if the loop is gone. Prefer ``await stop()`` while the loop runs.

        Raises:
            ValueError: If ``timeout`` is not > 0.
        """
        if timeout is None:
            timeout = self.stop_timeout
        require_positive("timeout", timeout)
        process = self._process
        if process is None or self._stopped:
            return
        deadline = time.monotonic() + timeout
        if sys.platform == "win32":  # pragma: no cover - Windows: no group to drain
            self.kill()
        else:
            # A group whose leader is a zombie not yet reaped counts as live: it is
            # SIGKILLed at the deadline, which is harmless.
            drain_group(process.pid, deadline, terminate=True, label=f"{self.name}[{process.pid}]")
        self._stopped = True
        for handle in self._exit_handles:
            unregister(handle)

    async def aclose(self) -> None:
        """Stop the process (if started) and close the pipes it handed out."""
        await self.stop()
        if self.stdin is not None:
            self.stdin.close()

    async def __aenter__(self) -> Self:
        """Start the process unless it was started already."""
        if self._process is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the process, also when the block raised."""
        await self.aclose()


def _async_target(
    target: OutputTarget,
    opened: list[IO[bytes]],
    logged: list[tuple[IO[bytes], logging.Logger, int]],
    level: int,
) -> int | IO[Any] | None:
    """Return what the child gets for ``target``; a logger gets a pipe of our own."""
    if isinstance(target, logging.Logger):
        read_end, write_end = os.pipe()
        logged.append((open(read_end, "rb", buffering=0), target, level))  # noqa: SIM115  # the pump closes it
        write_file = open(write_end, "wb", buffering=0)  # noqa: SIM115  # closed once the child runs
        opened.append(write_file)
        return write_file
    return open_target(target, opened)


def _signal(process: asyncio.subprocess.Process, signum: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows: no group signals
        process.terminate()
    else:
        signal_group(process.pid, signum)


class ProcessGroup:
    """Processes started together and stopped together, also when the block raises.

    ``with ProcessGroup() as group:`` (or ``async with``) gives a group whose
    :meth:`start` (or :meth:`astart`) launches a :class:`ManagedProcess` (or an
    :class:`AsyncManagedProcess`) and returns it. On leaving the block every process is
    stopped: SIGTERM goes to all of them first, then each gets what is left of one shared
    ``stop_timeout`` before it is killed, so stopping ten stubborn processes takes one
    timeout, not ten. Each process also stops at interpreter exit on its own (see
    :func:`~python_mastery_portfolio.processes.on_exit`).

    Args:
        stop_timeout: Seconds a stop waits after SIGTERM (> 0); the default of each process
            started here.

    Raises:
        ValueError: If ``stop_timeout`` is not > 0.

    Example:
        >>> import sys
        >>> with ProcessGroup(stop_timeout=2) as group:
        ...     sleeper = group.start([sys.executable, "-c", "import time; time.sleep(60)"])
        ...     sleeper.is_running()
        True
        >>> sleeper.is_running(), len(group)
        (False, 1)
    """

    def __init__(self, *, stop_timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        require_positive("stop_timeout", stop_timeout)
        self.stop_timeout = stop_timeout
        self._processes: list[ManagedProcess | AsyncManagedProcess] = []

    def __repr__(self) -> str:
        running = sum(process.is_running() for process in self._processes)
        return f"<ProcessGroup {len(self._processes)} processes, {running} running>"

    def __len__(self) -> int:
        return len(self._processes)

    def __iter__(self) -> Iterator[ManagedProcess | AsyncManagedProcess]:
        return iter(tuple(self._processes))

    def _options(self, options: ProcessOptions) -> ProcessOptions:
        return {"stop_timeout": self.stop_timeout, **options}

    def start(
        self, command: Sequence[str | os.PathLike[str]], **options: Unpack[ProcessOptions]
    ) -> ManagedProcess:
        """Start ``command`` as a :class:`ManagedProcess` of this group; return it.

        Takes :class:`ManagedProcess`'s options.
        """
        process = ManagedProcess(command, **self._options(options))
        process.start()
        self._processes.append(process)
        return process

    async def astart(
        self, command: Sequence[str | os.PathLike[str]], **options: Unpack[ProcessOptions]
    ) -> AsyncManagedProcess:
        """Start ``command`` as an :class:`AsyncManagedProcess` of this group; return it."""
        process = AsyncManagedProcess(command, **self._options(options))
        await process.start()
        self._processes.append(process)
        return process

    def _terminate_all(self, timeout: float | None) -> float:
        if timeout is None:
            timeout = self.stop_timeout
        require_positive("timeout", timeout)
        for process in self._processes:
            process.terminate()
        return time.monotonic() + timeout

    def stop(self, timeout: float | None = None) -> None:
        """Stop every process of the group within one shared ``timeout`` and close pipes.

        An asyncio process is stopped with :meth:`AsyncManagedProcess.stop_blocking`. If
        stopping one raises, the others are still stopped and the first error is re-raised.

        Raises:
            ValueError: If ``timeout`` is not > 0.
        """
        deadline = self._terminate_all(timeout)
        error: BaseException | None = None
        for process in self._processes:
            remaining = max(deadline - time.monotonic(), 1e-3)
            try:
                if isinstance(process, ManagedProcess):
                    process.close(remaining)
                else:
                    process.stop_blocking(remaining)
            except BaseException as caught:  # noqa: BLE001  # re-raised once all are stopped
                error = error or caught
        if error is not None:
            raise error

    async def astop(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - grace before SIGKILL, not a deadline
    ) -> None:
        """Stop every process of the group within one shared ``timeout``, without blocking.

        The plain processes are stopped in worker threads, the asyncio ones awaited, all at
        once. If stopping one raises, the others are still stopped and the first error is
        re-raised.

        Raises:
            ValueError: If ``timeout`` is not > 0.
        """
        deadline = self._terminate_all(timeout)
        remaining = max(deadline - time.monotonic(), 1e-3)
        stops = [
            asyncio.to_thread(process.close, remaining)
            if isinstance(process, ManagedProcess)
            else process.stop(remaining)
            for process in self._processes
        ]
        for result in await asyncio.gather(*stops, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop every process, also when the block raised."""
        self.stop()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop every process, also when the block raised."""
        await self.astop()
