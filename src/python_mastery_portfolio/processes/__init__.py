"""Processes: a PID lock, managed subprocesses, exit clean-up, temporary files, transactions.

Example:
    >>> from python_mastery_portfolio.processes import on_exit, unregister
    >>> handle = on_exit(print, "runs at exit")
    >>> unregister(handle)
    True
"""

from __future__ import annotations

from python_mastery_portfolio.exceptions import LockHeldError
from python_mastery_portfolio.processes._exit import ExitHandle, on_exit, unregister
from python_mastery_portfolio.processes._managed import ManagedProcess, OutputTarget, ProcessOptions
from python_mastery_portfolio.processes._managed_async import AsyncManagedProcess, ProcessGroup
from python_mastery_portfolio.processes._pidlock import PidLock, process_start_time
from python_mastery_portfolio.processes._tempfiles import temporary_directory, temporary_file
from python_mastery_portfolio.processes._transaction import transaction

__all__ = [
    "AsyncManagedProcess",
    "ExitHandle",
    "LockHeldError",
    "ManagedProcess",
    "OutputTarget",
    "PidLock",
    "ProcessGroup",
    "ProcessOptions",
    "on_exit",
    "process_start_time",
    "temporary_directory",
    "temporary_file",
    "transaction",
    "unregister",
]
