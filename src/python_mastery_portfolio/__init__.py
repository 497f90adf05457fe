"""python_mastery_portfolio: a typed toolkit of production patterns for Python 3.11+ services.

Import the public names from the package root::

    from python_mastery_portfolio import PortfolioError, ValidationError
"""

from __future__ import annotations

from python_mastery_portfolio._internal.exports import present_as as _present_as
from python_mastery_portfolio._version import __version__
from python_mastery_portfolio.caching import (
    CachedProperty,
    CacheStats,
    CacheStore,
    LRUCache,
    async_cache,
    cache,
)
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
from python_mastery_portfolio.di import (
    ContainerStats,
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
    PoolTimeoutError,
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
    BreakerStateStore,
    CircuitBreaker,
    CircuitBreakerStats,
    CircuitState,
    RateLimiter,
    RateLimiterStats,
    RateLimitStore,
    rate_limit,
)
from python_mastery_portfolio.result import Failure, Result, Success, as_result, attempt
from python_mastery_portfolio.retrying import (
    RetryKwargs,
    RetryOptions,
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
    "AsyncConnectionPool",
    "BreakerStateStore",
    "CacheStats",
    "CacheStore",
    "CachedProperty",
    "CircuitBreaker",
    "CircuitBreakerStats",
    "CircuitOpenError",
    "CircuitState",
    "CircularBuffer",
    "CircularDependencyError",
    "ConfigurationError",
    "Container",
    "ContainerStats",
    "DIContainer",
    "DataProcessingError",
    "DependencyError",
    "Failure",
    "InMemoryRepository",
    "LRUCache",
    "LifecycleScope",
    "LifetimeError",
    "Pipeline",
    "PoolStats",
    "PoolTimeoutError",
    "PortfolioError",
    "RateLimitError",
    "RateLimitStore",
    "RateLimiter",
    "RateLimiterStats",
    "Repository",
    "ResolutionError",
    "Result",
    "RetryExhaustedError",
    "RetryKwargs",
    "RetryOptions",
    "RetryState",
    "Scope",
    "Serializable",
    "ServiceNotRegisteredError",
    "ServiceProvider",
    "Success",
    "UnwrapError",
    "ValidationError",
    "WorkerPool",
    "WorkerPoolStats",
    "__version__",
    "amap",
    "as_result",
    "async_cache",
    "async_retry",
    "attempt",
    "batch_process",
    "cache",
    "gather_tasks",
    "measure_block",
    "parallel_process",
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
