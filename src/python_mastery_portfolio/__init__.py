"""python_mastery_portfolio: a typed toolkit of production patterns for Python 3.11+ services.

Import the public names from the package root::

    from python_mastery_portfolio import PortfolioError, ValidationError
"""

from __future__ import annotations

import logging as _logging

from python_mastery_portfolio._internal.exports import present_as as _present_as
from python_mastery_portfolio._version import __version__
from python_mastery_portfolio.caching import (
    AsyncCacheStore,
    CachedProperty,
    CacheInfo,
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
    ConnectionLostError,
    DataProcessingError,
    DependencyError,
    DuplicateRegistrationError,
    LifetimeError,
    LockHeldError,
    NotRegisteredError,
    PoolTimeoutError,
    PortfolioError,
    RateLimitError,
    RegistryError,
    ResolutionError,
    RetryExhaustedError,
    RpcError,
    ServiceNotRegisteredError,
    UnwrapError,
    ValidationError,
)
from python_mastery_portfolio.instrumentation import Instrument, RecordingInstrument
from python_mastery_portfolio.logs import setup_logging
from python_mastery_portfolio.patterns import (
    AllOf,
    Email,
    InstanceOf,
    Length,
    Matches,
    OneOf,
    Range,
    Registered,
    Registry,
    Validated,
    add_logging,
    reset_singleton,
    singleton,
)
from python_mastery_portfolio.pipeline import Container, Pipeline
from python_mastery_portfolio.processes import (
    AsyncManagedProcess,
    ExitHandle,
    ManagedProcess,
    PidLock,
    ProcessGroup,
    on_exit,
    temporary_directory,
    temporary_file,
    transaction,
    unregister,
)
from python_mastery_portfolio.repository import InMemoryRepository, Repository, Serializable
from python_mastery_portfolio.resilience import (
    BreakerStateStore,
    CircuitBreaker,
    CircuitBreakerStats,
    CircuitState,
    RateLimiter,
    RateLimiterStats,
    RateLimitStore,
    RateLimitVerdict,
    rate_limit,
)
from python_mastery_portfolio.result import Failure, Result, Success, as_result, attempt
from python_mastery_portfolio.retrying import (
    RetryKwargs,
    RetryOptions,
    RetryState,
    RetryStatistics,
    async_retry,
    retry,
    retry_statistics,
    retry_testing,
    retrying,
    set_retry_active,
)
from python_mastery_portfolio.rpc import RpcClient, RpcServer, RpcServerStats
from python_mastery_portfolio.timing import measure_block, timed
from python_mastery_portfolio.validation import check_type, validate_types

__all__ = [
    "APIError",
    "AllOf",
    "AsyncCacheStore",
    "AsyncConnectionPool",
    "AsyncManagedProcess",
    "BreakerStateStore",
    "CacheInfo",
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
    "ConnectionLostError",
    "Container",
    "ContainerStats",
    "DIContainer",
    "DataProcessingError",
    "DependencyError",
    "DuplicateRegistrationError",
    "Email",
    "ExitHandle",
    "Failure",
    "InMemoryRepository",
    "InstanceOf",
    "Instrument",
    "LRUCache",
    "Length",
    "LifecycleScope",
    "LifetimeError",
    "LockHeldError",
    "ManagedProcess",
    "Matches",
    "NotRegisteredError",
    "OneOf",
    "PidLock",
    "Pipeline",
    "PoolStats",
    "PoolTimeoutError",
    "PortfolioError",
    "ProcessGroup",
    "Range",
    "RateLimitError",
    "RateLimitStore",
    "RateLimitVerdict",
    "RateLimiter",
    "RateLimiterStats",
    "RecordingInstrument",
    "Registered",
    "Registry",
    "RegistryError",
    "Repository",
    "ResolutionError",
    "Result",
    "RetryExhaustedError",
    "RetryKwargs",
    "RetryOptions",
    "RetryState",
    "RetryStatistics",
    "RpcClient",
    "RpcError",
    "RpcServer",
    "RpcServerStats",
    "Scope",
    "Serializable",
    "ServiceNotRegisteredError",
    "ServiceProvider",
    "Success",
    "UnwrapError",
    "Validated",
    "ValidationError",
    "WorkerPool",
    "WorkerPoolStats",
    "__version__",
    "add_logging",
    "amap",
    "as_result",
    "async_cache",
    "async_retry",
    "attempt",
    "batch_process",
    "cache",
    "check_type",
    "gather_tasks",
    "measure_block",
    "on_exit",
    "parallel_process",
    "rate_limit",
    "reset_singleton",
    "retry",
    "retry_statistics",
    "retry_testing",
    "retrying",
    "set_retry_active",
    "setup_logging",
    "singleton",
    "temporary_directory",
    "temporary_file",
    "timed",
    "transaction",
    "unregister",
    "validate_types",
]


# Every export names the root as its module, so reprs, docs and pickles show the public path.
# Doctest then collects the exports' examples (methods included) from this module, run in its
# globals: run ``src/python_mastery_portfolio/__init__.py`` to run them.
_present_as(__name__, globals(), __all__)

# A library writes no log output the application did not ask for: without this handler,
# Python's last-resort handler would print our WARNING records (a retry, a breaker opening)
# to stderr when the application has not configured logging.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())
del _present_as
