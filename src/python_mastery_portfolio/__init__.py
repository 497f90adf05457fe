"""python_mastery_portfolio: a typed toolkit of production patterns for Python 3.11+ services.

Import the public names from the package root::

    from python_mastery_portfolio import PortfolioError, ValidationError
"""

from __future__ import annotations

from python_mastery_portfolio.caching import LRUCache, async_cache, cache
from python_mastery_portfolio.descriptors import CachedProperty
from python_mastery_portfolio.di_container import (
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
from python_mastery_portfolio.resilience import (
    CircuitBreaker,
    CircuitState,
    RateLimiter,
    rate_limit,
)
from python_mastery_portfolio.retrying import (
    RetryState,
    async_retry,
    retry,
    retry_testing,
    retrying,
)
from python_mastery_portfolio.timing import measure_block, timed
from python_mastery_portfolio.typing_utils import (
    Container,
    Failure,
    InMemoryRepository,
    Pipeline,
    Repository,
    Result,
    Serializable,
    Success,
    as_result,
    attempt,
)
from python_mastery_portfolio.validation import validate_types

__version__ = "0.1.0"

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
