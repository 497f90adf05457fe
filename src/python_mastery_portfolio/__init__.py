"""python_mastery_portfolio: a typed toolkit of production patterns for Python 3.11+ services.

Import the public names from the package root::

    from python_mastery_portfolio import PortfolioError, ValidationError
"""

from __future__ import annotations

from python_mastery_portfolio._internal.exports import present_as as _present_as
from python_mastery_portfolio._version import __version__
from python_mastery_portfolio.caching import CachedProperty, LRUCache, async_cache, cache
from python_mastery_portfolio.di import (
    DIContainer,
    LifecycleScope,
    Scope,
    ServiceProvider,
)
from python_mastery_portfolio.exceptions import (
    APIError,
    CircuitOpenError,
    CircularDependencyError,
    ConfigurationError,
    DataProcessingError,
    DependencyError,
    LifetimeError,
    PortfolioError,
    RateLimitError,
    ResolutionError,
    RetryExhaustedError,
    ServiceNotRegisteredError,
    UnwrapError,
    ValidationError,
)
from python_mastery_portfolio.pipeline import Container, Pipeline
from python_mastery_portfolio.repository import InMemoryRepository, Repository, Serializable
from python_mastery_portfolio.resilience import (
    CircuitBreaker,
    CircuitState,
    RateLimiter,
    rate_limit,
)
from python_mastery_portfolio.result import Failure, Result, Success, as_result, attempt
from python_mastery_portfolio.retrying import (
    RetryState,
    async_retry,
    retry,
    retry_testing,
    retrying,
)
from python_mastery_portfolio.timing import measure_block, timed
from python_mastery_portfolio.validation import validate_types

__all__ = [
    "APIError",
    "CachedProperty",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "CircularDependencyError",
    "ConfigurationError",
    "Container",
    "DIContainer",
    "DataProcessingError",
    "DependencyError",
    "Failure",
    "InMemoryRepository",
    "LRUCache",
    "LifecycleScope",
    "LifetimeError",
    "Pipeline",
    "PortfolioError",
    "RateLimitError",
    "RateLimiter",
    "Repository",
    "ResolutionError",
    "Result",
    "RetryExhaustedError",
    "RetryState",
    "Scope",
    "Serializable",
    "ServiceNotRegisteredError",
    "ServiceProvider",
    "Success",
    "UnwrapError",
    "ValidationError",
    "__version__",
    "as_result",
    "async_cache",
    "async_retry",
    "attempt",
    "cache",
    "measure_block",
    "rate_limit",
    "retry",
    "retry_testing",
    "retrying",
    "timed",
    "validate_types",
]


# Every export names the root as its module, so reprs, docs and pickles show the public path.
# Doctest then collects the exports' examples (methods included) from this module, run in its
# globals: run ``src/python_mastery_portfolio/__init__.py`` to run them.
_present_as(__name__, globals(), __all__)
del _present_as
