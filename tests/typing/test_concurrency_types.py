"""Static proofs of the types of the concurrency package (mypy and pyright check, pytest runs)."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future
from typing import assert_type

from python_mastery_portfolio.concurrency import (
    AsyncConnectionPool,
    CircularBuffer,
    PoolStats,
    WorkerPool,
    WorkerPoolStats,
    amap,
    batch_process,
    gather_tasks,
    parallel_process,
)


async def fetch(x: int) -> str:
    return str(x)


def compute(x: int) -> float:
    return x / 2


async def connect() -> bytes:
    return b"conn"


def test_batch_process_types() -> None:
    """Async and plain processors give the awaited result type; return_exceptions widens it."""

    async def main() -> None:
        assert_type(await batch_process([1], fetch), list[str])
        assert_type(await batch_process([1], compute), list[float])
        assert_type(await batch_process([1], fetch, return_exceptions=True), list[str | Exception])
        async for item, result in amap(fetch, [1, 2]):
            assert_type(item, int)
            assert_type(result, str)
        assert_type(await gather_tasks(fetch(1), return_exceptions=False), list[str])
        assert_type(await gather_tasks(fetch(1)), list[str | Exception])

    asyncio.run(main())


def test_thread_types() -> None:
    """parallel_process and WorkerPool keep the worker's result type."""
    assert_type(parallel_process([1, 2], compute), list[float])
    assert_type(parallel_process([1], compute, return_exceptions=True), list[float | Exception])
    with WorkerPool(1) as pool:
        assert_type(pool.submit(compute, 3), Future[float])
        assert_type(pool.map(compute, [1]), list[float])
        assert_type(pool.stats(), WorkerPoolStats)


async def test_worker_pool_asubmit_types() -> None:
    """asubmit keeps the call's signature (ParamSpec) and result type."""
    with WorkerPool(1) as pool:
        future = pool.asubmit(compute, 3)
        assert_type(future, asyncio.Future[float])
        assert_type(await future, float)
        with contextlib.suppress(TypeError):
            await pool.asubmit(compute, "three")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_pool_and_buffer_types() -> None:
    """The pool is generic in its resource, from an async or a plain factory."""

    async def main() -> None:
        pool = AsyncConnectionPool(connect)
        assert_type(pool, AsyncConnectionPool[bytes])
        async with pool.acquire() as conn:
            assert_type(conn, bytes)
        assert_type(pool.stats(), PoolStats)
        assert_type(AsyncConnectionPool(list[int]), AsyncConnectionPool[list[int]])

    asyncio.run(main())
    buffer = CircularBuffer[str](max_size=2)
    buffer.append("a")
    assert_type(buffer.get_recent(1), list[str])
    assert_type(list(buffer), list[str])
