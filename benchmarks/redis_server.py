"""A local ``redis-server`` for the Redis benchmarks: started on first use, stopped at exit.

The test suite's command line (``tests/redis/conftest.py``), with TCP on a free local port
instead of a Unix socket (every peer's client can reach it: cashews takes only
``redis://`` URLs); no persistence. Every Redis scenario of one run shares it.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time

import redis as redis_py

START_TIMEOUT = 10.0

_server: list[tuple[subprocess.Popen[bytes], int, tempfile.TemporaryDirectory[str]]] = []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def available() -> str | None:
    """Return why the Redis benchmarks cannot run, or ``None`` when they can."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH (apt-get install redis-server, or run .ci/run)"
    return None


def address() -> str:
    """Return ``host:port`` of the run's server, starting it on the first call."""
    if _server:
        return f"127.0.0.1:{_server[0][1]}"
    found = shutil.which("redis-server")
    if found is None:  # checked first: nothing made that would then be left behind
        raise RuntimeError(available())
    directory = tempfile.TemporaryDirectory(prefix="pmp-bench-redis-")
    port = _free_port()
    command = [
        found,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", directory.name,
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own command line
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = redis_py.Redis(port=port, socket_timeout=1.0)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            try:
                client.ping()
                break
            except (redis_py.ConnectionError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.01)  # polls for the server's start
    finally:
        client.close()
    _server.append((process, port, directory))
    atexit.register(stop)
    return f"127.0.0.1:{port}"


def stop() -> None:
    """Stop the run's server, if it was started."""
    while _server:
        process, _, directory = _server.pop()
        process.terminate()
        process.wait(START_TIMEOUT)
        directory.cleanup()
