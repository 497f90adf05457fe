"""The managed processes' reports to the instrumentation hook (started, stopped, killed)."""

from __future__ import annotations

from python_mastery_portfolio.instrumentation import HOOKS

__all__ = ["report_killed", "report_started", "report_stopped"]


def report_started(name: str, pid: int) -> None:
    """Report that the process ``name`` started as ``pid``."""
    if HOOKS.active:
        HOOKS.event("process.started", {"process": name, "process.pid": pid})
        HOOKS.count("process.events", 1, {"process": name, "event": "started"})


def report_stopped(name: str, exit_code: int | None) -> None:
    """Report that the process ``name`` exited with ``exit_code`` (-1: unknown)."""
    if HOOKS.active:
        code = -1 if exit_code is None else exit_code
        HOOKS.event("process.stopped", {"process": name, "process.exit_code": code})
        HOOKS.count("process.events", 1, {"process": name, "event": "stopped"})


def report_killed(name: str) -> None:
    """Report that the process ``name`` was killed after not stopping in time."""
    if HOOKS.active:
        HOOKS.event("process.killed", {"process": name})
        HOOKS.count("process.events", 1, {"process": name, "event": "killed"})
