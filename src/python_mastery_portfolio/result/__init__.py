"""Result: explicit success or failure values, and the decorators that capture exceptions into them.

* :class:`Result` with its two cases :class:`Success` and :class:`Failure`;
* :func:`attempt` runs a call and captures a raised exception as a :class:`Failure`;
* :func:`as_result` turns a function into one that returns a :class:`Result`.

Example:
    >>> attempt(int, "42")
    Success(42)
    >>> attempt(int, "x").is_failure()
    True
"""

from __future__ import annotations

from python_mastery_portfolio.result._capture import as_result, attempt
from python_mastery_portfolio.result._result import Failure, Result, Success

__all__ = ["Failure", "Result", "Success", "as_result", "attempt"]
