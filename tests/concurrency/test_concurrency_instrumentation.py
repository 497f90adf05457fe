"""The connection pool's reports to the instrumentation hook."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from python_mastery_portfolio.concurrency import AsyncConnectionPool, PoolTimeoutError
from python_mastery_portfolio.instrumentation import RecordingInstrument, install
from python_mastery_portfolio.testing import ManualClock


@pytest.fixture
def recorder() -> Iterator[RecordingInstrument]:
    """A recording instrument installed for the test."""
    recording = RecordingInstrument()
    with install(recording):
        yield recording


async def _connect() -> object:
    return object()


def test_size_wait_and_timeout(recorder: RecordingInstrument) -> None:
    """Creating and discarding set the size gauge; slow acquisitions and timeouts report."""
    clock = ManualClock()
    pool = AsyncConnectionPool(
        _connect, max_connections=1, acquire_timeout=2.0, name="db", clock=clock
    )

    async def main() -> None:
        async with pool.acquire():
            with pytest.raises(PoolTimeoutError):
                async with pool.acquire():
                    pass  # pragma: no cover - never lent
        async with pool.acquire():  # the idle connection, lent on the fast path
            pass
        with pytest.raises(RuntimeError):
            async with pool.acquire():
                raise RuntimeError("broken")  # the connection is closed, not returned

    asyncio.run(main())
    assert [r.value for r in recorder.select("gauge", "pool.size", pool="db")] == [1, 0]
    assert recorder.observations("pool.acquire_wait", pool="db") == [0.0]
    (event,) = recorder.events("pool.timeout")
    assert event.attributes == {"pool": "db", "pool.timeout": 2.0}
    assert recorder.total("pool.timeouts", pool="db") == 1


def test_without_timeout(recorder: RecordingInstrument) -> None:
    """A pool without acquire_timeout reports its slow acquisitions too."""
    pool = AsyncConnectionPool(_connect, clock=ManualClock())

    async def main() -> None:
        async with pool.acquire():
            pass

    asyncio.run(main())
    assert recorder.observations("pool.acquire_wait", pool="AsyncConnectionPool") == [0.0]
