"""Fixtures of the rpc tests: short socket paths and bounded waits."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def sock_path() -> Iterator[Path]:
    """Return a socket path short enough for AF_UNIX (108 bytes), removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="rpc", dir="/tmp"))
    try:
        yield directory / "s.sock"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def eventually(predicate: Callable[[], bool], rounds: int = 100_000) -> None:
    """Yield to the loop (and its I/O) until ``predicate()`` holds; fail after ``rounds``."""
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")
