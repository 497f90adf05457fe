"""Processes: a PID lock, managed subprocesses, exit clean-up, temporary files, transactions.

Example:
    >>> from python_mastery_portfolio.processes import on_exit, unregister
    >>> handle = on_exit(print, "runs at exit")
    >>> unregister(handle)
    True
"""

from __future__ import annotations

from python_mastery_portfolio.processes._exit import ExitHandle, on_exit, unregister

__all__ = [
    "ExitHandle",
    "on_exit",
    "unregister",
]
