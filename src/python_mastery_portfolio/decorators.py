"""The seed's decorator namespace: every decorator of the toolkit, importable from one module.

Each name is defined in the module of its concept and re-exported here (and from the package
root), so ``from python_mastery_portfolio.decorators import retry`` and
``from python_mastery_portfolio import retry`` give the same object.

Example:
    >>> from python_mastery_portfolio import decorators, retry
    >>> decorators.retry is retry
    True
"""

from __future__ import annotations

from python_mastery_portfolio.caching import CachedProperty, async_cache, cache
from python_mastery_portfolio.resilience import rate_limit
from python_mastery_portfolio.result import as_result
from python_mastery_portfolio.retrying import async_retry, retry
from python_mastery_portfolio.timing import timed
from python_mastery_portfolio.validation import validate_types

__all__ = [
    "CachedProperty",
    "as_result",
    "async_cache",
    "async_retry",
    "cache",
    "rate_limit",
    "retry",
    "timed",
    "validate_types",
]
