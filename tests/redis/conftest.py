"""A real Redis server for the Redis tests, on a Unix socket in a temporary directory.

The server is ``redis-server`` from PATH, started once per session. Without it the Redis
tests are skipped with the reason -- except under CI (``CI=true``), where a missing server
fails them: CI must run them (``.ci/run`` installs ``redis-server``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py

START_TIMEOUT = 10.0
"""Bound on a server's start; never reached when it starts."""


def redis_server_path() -> str:
    """Return the path of ``redis-server``; skip the test (fail it under CI) without one."""
    found = shutil.which("redis-server")
    if found is None:
        reason = "redis-server is not on PATH (apt-get install redis-server, or run .ci/run)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Redis tests: {reason}")
        pytest.skip(reason)
    return found


class RedisServer:
    """One ``redis-server`` process on a Unix socket in ``directory``; stoppable, restartable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        command = [
            redis_server_path(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis_py.Redis(unix_socket_path=str(self.socket), socket_timeout=1.0)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                try:
                    client.ping()
                    return
                except (redis_py.ConnectionError, OSError):
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        pytest.fail("redis-server did not start")
                    time.sleep(0.01)  # polls for the server's start, not for time
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (its data goes: nothing is saved)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(START_TIMEOUT)
            self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's Redis server."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, its database flushed before the test."""
    client = redis_py.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis_py.Redis]:
    """A client of the flushed session server, closed after the test."""
    client = redis_py.Redis.from_url(redis_url)
    yield client
    client.close()
