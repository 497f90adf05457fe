"""Fixtures of the command-line tests: a real ``pmp serve`` in a subprocess."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PMP_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was: client commands call setup_logging."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.fixture
def admin_socket(tmp_path: Path) -> Path:
    """Where the server fixture's admin endpoint listens."""
    return tmp_path / "pmp.sock"


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(
    tmp_path: Path, admin_socket: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """Start `python -m python_mastery_portfolio serve` on a free port; stop it afterwards.

    Its admin endpoint listens on ``admin_socket``.
    """
    port = free_port()
    database = tmp_path / "data" / "users.db"
    env = {
        **os.environ,
        "PMP_DATABASE_PATH": str(database),
        "PMP_LOG_FORMAT": "json",
        "PMP_ADMIN_SOCKET": str(admin_socket),
    }
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "python_mastery_portfolio", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield process, f"http://127.0.0.1:{port}", database
    finally:
        if process.poll() is None:  # pragma: no cover - only when the test failed early
            process.kill()
        process.communicate(timeout=10)


def wait_until_up(process: subprocess.Popen[bytes], base_url: str) -> None:
    """Poll /health until the server answers (at most about 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:  # pragma: no cover - reported by the assert below
            break
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        # Waiting for another process to start listening; nothing else to wait on.
        time.sleep(0.05)
    _, err = process.communicate(timeout=5)  # pragma: no cover - failure path
    pytest.fail(f"server did not start:\n{err.decode()}")  # pragma: no cover - failure path


def wait_for_socket(process: subprocess.Popen[bytes], path: Path) -> None:
    """Poll until the server's admin socket exists (at most about 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        if path.is_socket():
            return
        # Waiting for another process to create the socket; nothing else to wait on.
        time.sleep(0.02)
    pytest.fail(f"no admin socket at {path}")  # pragma: no cover - failure path


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace uvicorn.run with a recorder (uvicorn itself is not under test here)."""
    import uvicorn

    calls: list[dict[str, Any]] = []

    def fake_run(app: str, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls
