"""Processes: a PID lock, managed subprocesses, exit clean-up, temporary files, transactions."""

from __future__ import annotations

__all__: list[str] = []
