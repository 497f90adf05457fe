"""Managed processes report started, stopped and killed to the instrumentation hook."""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.processes._managed import ManagedProcess
from python_mastery_portfolio.processes._managed_async import AsyncManagedProcess
from python_mastery_portfolio.processes._reports import report_stopped
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")

PY = sys.executable
SLEEPER = [PY, "-c", "import time; time.sleep(60)"]
STUBBORN = [PY, str(Path(__file__).parent / "scripts_b" / "stubborn.py")]
SHORT = 0.5  # the stop timeout a stubborn child waits out


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """A recording instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


def _lifecycle(recorder: RecordingInstrument) -> list[str]:
    return [str(record.attributes["event"]) for record in recorder.select("count")]


def test_started_and_stopped(recorder: RecordingInstrument) -> None:
    """Start and stop are events with the pid and the exit code, and counts."""
    process = ManagedProcess(SLEEPER, name="sleeper").start()
    code = process.stop(TIMEOUT)
    started, stopped = recorder.events()
    assert started.attributes == {"process": "sleeper", "process.pid": process.pid}
    assert stopped.attributes == {"process": "sleeper", "process.exit_code": code}
    assert _lifecycle(recorder) == ["started", "stopped"]


def test_killed(recorder: RecordingInstrument) -> None:
    """A child that ignores SIGTERM is reported killed, then stopped."""
    process = ManagedProcess(STUBBORN, stdout=subprocess.PIPE, name="stubborn").start()
    assert process.stdout is not None
    assert select.select([process.stdout], [], [], TIMEOUT)[0]
    assert process.stdout.readline() == b"ready\n"
    process.stop(SHORT)
    process.close()
    assert _lifecycle(recorder) == ["started", "killed", "stopped"]


def test_async(recorder: RecordingInstrument) -> None:
    """The asyncio variant reports the same, killed included."""

    async def main() -> None:
        async with AsyncManagedProcess(SLEEPER, name="a"):
            pass
        async with AsyncManagedProcess(STUBBORN, stdout=subprocess.PIPE, name="b") as process:
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), TIMEOUT) == b"ready\n"
            await process.stop(SHORT)

    asyncio.run(main())
    assert [(r.attributes["process"], r.attributes["event"]) for r in recorder.select("count")] == [
        ("a", "started"),
        ("a", "stopped"),
        ("b", "started"),
        ("b", "killed"),
        ("b", "stopped"),
    ]


def test_unknown_exit_code(recorder: RecordingInstrument) -> None:
    """An exit code not known is reported as -1."""
    report_stopped("p", None)
    assert recorder.events()[0].attributes["process.exit_code"] == -1


def test_quiet_without_instrument() -> None:
    """Without an instrument a process starts and stops the same."""
    process = ManagedProcess(SLEEPER).start()
    assert process.stop(TIMEOUT) is not None
