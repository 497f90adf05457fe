"""python_mastery_portfolio: a typed toolkit of production patterns for Python 3.11+ services.

Import the public names from the package root::

    from python_mastery_portfolio import PortfolioError, ValidationError
"""

from __future__ import annotations

from python_mastery_portfolio.descriptors import CachedProperty
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
from python_mastery_portfolio.timing import measure_block, timed

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "CachedProperty",
    "CircuitOpenError",
    "CircularDependencyError",
    "ConfigurationError",
    "DataProcessingError",
    "DependencyError",
    "LifetimeError",
    "PortfolioError",
    "RateLimitError",
    "ResolutionError",
    "RetryExhaustedError",
    "ServiceNotRegisteredError",
    "UnwrapError",
    "ValidationError",
    "__version__",
    "measure_block",
    "timed",
]
