"""Tests of the package's public face: every exported name imports and is documented."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import python_mastery_portfolio as pmp


class TestExports:
    def test_version(self) -> None:
        """The package has a SemVer version string."""
        major, minor, patch = pmp.__version__.split(".")
        assert all(part.isdigit() for part in (major, minor, patch))

    def test_required_names_exported(self) -> None:
        """Every name the issues and the seed promise at the root is exported."""
        required = {
            # exceptions
            "PortfolioError", "ValidationError", "RateLimitError", "ConfigurationError",
            "DataProcessingError", "APIError", "UnwrapError", "RetryExhaustedError",
            "CircuitOpenError", "DependencyError",
            # typing_utils
            "Result", "Success", "Failure", "attempt", "as_result", "Container", "Pipeline",
            "Serializable", "Repository", "InMemoryRepository",
            # decorators and timing
            "retry", "async_retry", "retrying", "retry_testing", "RetryState", "timed",
            "measure_block", "validate_types", "CachedProperty",
            # caching, DI, resilience
            "LRUCache", "cache", "async_cache", "DIContainer", "LifecycleScope",
            "ServiceProvider", "RateLimiter", "rate_limit", "CircuitBreaker", "CircuitState",
        }  # fmt: skip
        assert required <= set(pmp.__all__)

    def test_all_names_import(self) -> None:
        """Every name in __all__ is an attribute of the package."""
        for name in pmp.__all__:
            assert hasattr(pmp, name), name

    def test_all_names_documented(self) -> None:
        """Every exported object except __version__ has its own docstring."""
        for name in pmp.__all__:
            if name == "__version__":
                continue
            doc = getattr(pmp, name).__doc__
            assert doc, f"{name} has no docstring"
            assert doc.strip(), name

    def test_no_private_names(self) -> None:
        """Nothing private is exported, and __all__ has no duplicates."""
        assert len(set(pmp.__all__)) == len(pmp.__all__)
        for name in pmp.__all__:
            assert name == "__version__" or not name.startswith("_"), name

    def test_all_is_complete(self) -> None:
        """Every public class or function defined by the package root is listed in __all__."""
        public = {
            name
            for name, value in vars(pmp).items()
            if not name.startswith("_")
            and getattr(value, "__module__", "").startswith("python_mastery_portfolio")
        }
        assert public <= set(pmp.__all__)

    @pytest.mark.parametrize(
        "module",
        [
            "exceptions",
            "clock",
            "testing",
            "decorators",
            "caching",
            "retrying",
            "resilience",
            "di_container",
            "typing_utils",
            "timing",
            "validation",
            "descriptors",
        ],
    )
    def test_submodules_define_all(self, module: str) -> None:
        """Public submodules list their exports too."""
        mod = importlib.import_module(f"python_mastery_portfolio.{module}")
        for name in mod.__all__:
            assert hasattr(mod, name)
            assert not name.startswith("_"), name

    def test_core_import_has_no_third_party(self) -> None:
        """Importing the package imports neither FastAPI, pydantic, redis nor rich."""
        code = (
            "import sys, python_mastery_portfolio;"
            "bad = [m for m in ('fastapi', 'starlette', 'pydantic', 'redis', 'rich')"
            " if m in sys.modules];"
            "print(','.join(bad))"
        )
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == ""
