"""Concurrency: bounded async batches, thread-pool maps, a worker pool, a resource pool, a ring.

Example:
    >>> import asyncio
    >>> async def square(x: int) -> int:
    ...     return x * x
    >>> asyncio.run(batch_process([1, 2, 3], square))
    [1, 4, 9]
"""

from __future__ import annotations

from python_mastery_portfolio.concurrency._batch import amap, batch_process
from python_mastery_portfolio.concurrency._buffer import CircularBuffer
from python_mastery_portfolio.concurrency._connection_pool import AsyncConnectionPool
from python_mastery_portfolio.concurrency._gather import gather_tasks
from python_mastery_portfolio.concurrency._parallel import parallel_process
from python_mastery_portfolio.concurrency._pool_slots import PoolStats
from python_mastery_portfolio.concurrency._worker_pool import WorkerPool, WorkerPoolStats
from python_mastery_portfolio.exceptions import PoolTimeoutError

__all__ = [
    "AsyncConnectionPool",
    "CircularBuffer",
    "PoolStats",
    "PoolTimeoutError",
    "WorkerPool",
    "WorkerPoolStats",
    "amap",
    "batch_process",
    "gather_tasks",
    "parallel_process",
]
