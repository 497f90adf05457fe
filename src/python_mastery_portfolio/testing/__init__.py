"""Test doubles for users' own test suites (and ours).

Example:
    >>> clock = ManualClock()
    >>> clock.sleep(1.5)
    >>> clock.now(), clock.sleeps
    (1.5, [1.5])
"""

from __future__ import annotations

from python_mastery_portfolio.instrumentation import RecordingInstrument
from python_mastery_portfolio.testing._manual_clock import (
    ManualClock,
)

__all__ = [
    "ManualClock",
    "RecordingInstrument",
]
