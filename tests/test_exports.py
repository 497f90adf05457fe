"""Tests of the package's public face: every exported name imports and is documented."""

from __future__ import annotations

import doctest
import importlib
import io
import json
import pickle
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest

import python_mastery_portfolio as pmp
from python_mastery_portfolio._internal.exports import present_as

ROOT = "python_mastery_portfolio"
DEFINED = type | types.FunctionType


def _exports() -> Iterator[tuple[str, Any]]:
    """Yield each exported class or function with its exported name."""
    for name in pmp.__all__:
        value = getattr(pmp, name)
        if isinstance(value, DEFINED):
            yield name, value


def _body_members(cls: type) -> Iterator[tuple[str, Any]]:
    """Yield the functions and classes that ``cls``'s own body defines (accessors included).

    Members that another package generated (``collections.namedtuple``'s ``_make``, ``__new__``)
    are not ours to rename.
    """
    for attribute, value in vars(cls).items():
        member = value.__func__ if isinstance(value, staticmethod | classmethod) else value
        parts = (
            [member.fget, member.fset, member.fdel] if isinstance(member, property) else [member]
        )
        for part in parts:
            if (
                isinstance(part, DEFINED)
                and part.__qualname__.startswith(f"{cls.__qualname__}.")
                and getattr(part, "__module__", None)
                not in {"collections", "namedtuple_" + cls.__name__}
            ):
                yield attribute, part


def _pickled_globals(data: bytes) -> set[tuple[str, str]]:
    """Return every (module, name) a pickle loads by reference."""
    found: set[tuple[str, str]] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str, /) -> Any:
            found.add((module, name))
            return super().find_class(module, name)

    Recorder(io.BytesIO(data)).load()
    return found


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

    def test_exports_name_the_root_module(self) -> None:
        """Every exported class and function says it lives at the package root."""
        wrong = {name: value.__module__ for name, value in _exports() if value.__module__ != ROOT}
        assert wrong == {}

    def test_exported_qualnames_are_the_exported_names(self) -> None:
        """pickle and the docs find each export at ``python_mastery_portfolio.<name>``."""
        for name, value in _exports():
            assert value.__qualname__ == name
            assert pickle.loads(pickle.dumps(value)) is value

    def test_members_of_exported_classes_name_the_root_module(self) -> None:
        """Methods, accessors and nested classes of exported classes name the root too."""
        wrong = {
            f"{name}.{attribute}": member.__module__
            for name, value in _exports()
            if isinstance(value, type)
            for attribute, member in _body_members(value)
            if member.__module__ != ROOT
        }
        assert wrong == {}

    def test_root_collects_every_export_doctest(self) -> None:
        """The examples of exports and their methods are collected from the root module."""
        expected = set()
        for name, value in _exports():
            if ">>>" in (value.__doc__ or ""):
                expected.add(f"{ROOT}.{name}")
            if isinstance(value, type):
                expected.update(
                    f"{ROOT}.{name}.{attribute}"
                    for attribute, member in _body_members(value)
                    if isinstance(member, types.FunctionType) and ">>>" in (member.__doc__ or "")
                )
        found = {test.name for test in doctest.DocTestFinder().find(pmp) if test.examples}
        assert expected
        assert expected <= found

    @pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
    @pytest.mark.parametrize(
        "value",
        [
            pmp.Success([1, 2]),
            pmp.Failure(pmp.ValidationError("bad", field="age")),
            pmp.Container(pmp.Success(1)),
            pmp.CircuitState.OPEN,
        ],
        ids=["success", "failure", "container", "enum"],
    )
    def test_pickles_load_by_the_public_path(self, value: object, protocol: int) -> None:
        """Pickles of exported values name the package root, never a private module."""
        data = pickle.dumps(value, protocol)
        modules = {module for module, _ in _pickled_globals(data)}
        assert ROOT in modules
        assert not any(module.startswith(f"{ROOT}.") for module in modules), modules
        assert b"python_mastery_portfolio." not in data
        assert repr(pickle.loads(data)) == repr(value)  # exceptions compare by identity

    def test_type_hints_of_exported_classes_resolve(self) -> None:
        """typing.get_type_hints still works on exported classes (it reads __module__)."""
        for _, value in _exports():
            if isinstance(value, type):
                typing.get_type_hints(value)
        hints = typing.get_type_hints(pmp.ValidationError)
        assert hints["field"] == str | None
        assert hints["default_code"] == typing.ClassVar[str]

    def test_reprs_name_the_public_path(self) -> None:
        """Generic aliases and classes print the path users import them from."""
        assert repr(pmp.Success[int, str]) == "python_mastery_portfolio.Success[int, str]"
        assert repr(pmp.ValidationError) == "<class 'python_mastery_portfolio.ValidationError'>"

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


class TestPresentAs:
    """The helper the root runs once over __all__; it must cope with any kind of export."""

    @pytest.fixture
    def package(self, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
        """A throwaway package ``fakepkg`` with exports defined in ``fakepkg._impl``."""
        module = types.ModuleType("fakepkg")
        monkeypatch.setitem(sys.modules, "fakepkg", module)
        source = (
            "def helper(self): return 'helper'\n"
            "class Widget:\n"
            "    __repr__ = helper\n"
            "    size_hint: int\n"
            "    def size(self): return 1\n"
            "    @staticmethod\n"
            "    def make(): return Widget()\n"
            "    @classmethod\n"
            "    def build(cls): return cls()\n"
            "    @property\n"
            "    def area(self): return 2\n"
            "    class Part:\n"
            "        def weight(self): return 3\n"
            "class Unresolved:\n"
            "    later: NotDefinedAnywhere\n"
            "def _factory():\n"
            "    class Made:\n"
            "        pass\n"
            "    return Made\n"
            "Gadget = _factory()\n"
            "def spin(): return 'spin'\n"
            "twirl = spin\n"
        )
        impl = vars(module)
        impl["__name__"] = "fakepkg._impl"
        exec(source, impl)  # noqa: S102 - fixed source, to build objects defined in "another module"
        impl["__name__"] = "fakepkg"
        impl["dumps"] = json.dumps
        impl["VERSION"] = "1.0"
        orphan = types.FunctionType(impl["spin"].__code__, {})
        impl["orphan"] = orphan
        return module

    def test_classes_functions_and_members(self, package: types.ModuleType) -> None:
        """Exports and what their bodies define take the package's name."""
        present_as("fakepkg", vars(package), ["Widget", "spin", "VERSION", "dumps"])
        widget = package.Widget
        assert widget.__module__ == "fakepkg"
        assert package.spin.__module__ == "fakepkg"
        for member in (
            widget.size,
            widget.make,
            widget.build.__func__,
            vars(widget)["area"].fget,
            widget.Part,
            widget.Part.weight,
        ):
            assert member.__module__ == "fakepkg", member

    def test_annotations_resolve_in_the_defining_module(self, package: types.ModuleType) -> None:
        """String annotations are evaluated before __module__ changes; unresolvable ones stay."""
        # exec inherits this module's `from __future__ import annotations`: they are strings.
        assert package.Widget.__annotations__ == {"size_hint": "int"}
        present_as("fakepkg", vars(package), ["Widget", "Unresolved"])
        assert package.Widget.__annotations__ == {"size_hint": int}
        assert typing.get_type_hints(package.Widget) == {"size_hint": int}
        assert package.Unresolved.__annotations__ == {"later": "NotDefinedAnywhere"}

    def test_leaves_others_alone(self, package: types.ModuleType) -> None:
        """Foreign objects, plain values, referred-to helpers and unnamed modules are kept."""
        present_as("fakepkg", vars(package), ["Widget", "dumps", "VERSION", "orphan"])
        assert package.helper.__module__ == "fakepkg._impl"  # only assigned in Widget's body
        assert json.dumps.__module__ == "json"
        assert package.orphan.__module__ is None

    def test_alias_takes_the_exported_name(self, package: types.ModuleType) -> None:
        """An export whose qualname differs is renamed, so pickle finds it by its public path."""
        present_as("fakepkg", vars(package), ["Gadget", "twirl"])
        assert package.Gadget.__qualname__ == "Gadget"
        assert package.twirl.__qualname__ == "twirl"
        assert pickle.loads(pickle.dumps(package.Gadget())).__class__ is package.Gadget
        assert pickle.loads(pickle.dumps(package.twirl)) is package.twirl

    def test_idempotent(self, package: types.ModuleType) -> None:
        """Presenting twice (a re-export listed twice, a reload) changes nothing more."""
        names = ["Widget", "Widget", "spin"]
        present_as("fakepkg", vars(package), names)
        present_as("fakepkg", vars(package), names)
        assert package.Widget.__module__ == package.Widget.size.__module__ == "fakepkg"


# Every public module path and name of the first, flat release (0.1.0 before the subpackages).
FLAT_RELEASE_PATHS = {
    "caching": ["CachedFunction", "LRUCache", "async_cache", "cache"],
    "retrying": [
        "AsyncRetryDecorator", "Attempt", "RetryDecorator", "RetryState", "Retrying",
        "async_retry", "retry", "retry_testing", "retrying",
    ],
    "resilience": [
        "CircuitBreaker", "CircuitBreakerDecorator", "CircuitOpenError", "CircuitState",
        "RateLimitDecorator", "RateLimitError", "RateLimited", "RateLimitedClassMethod",
        "RateLimiter", "StateListener", "rate_limit",
    ],
    "validation": ["validate_types"],
    "timing": ["BlockTimer", "TimeUnit", "measure_block", "timed"],
    "di_container": ["DIContainer", "LifecycleScope", "Scope", "ServiceProvider"],
    "descriptors": ["CachedProperty"],
    "typing_utils": [
        "Container", "Failure", "InMemoryRepository", "Pipeline", "Repository", "Result",
        "Serializable", "Success", "as_result", "attempt",
    ],
    "decorators": [
        "CachedProperty", "as_result", "async_cache", "async_retry", "cache", "rate_limit",
        "retry", "timed", "validate_types",
    ],
    "testing": ["ManualClock"],
    "exceptions": [
        "APIError", "CircuitOpenError", "CircularDependencyError", "ConfigurationError",
        "DataProcessingError", "DependencyError", "LifetimeError", "PortfolioError",
        "RateLimitError", "ResolutionError", "RetryExhaustedError", "ServiceNotRegisteredError",
        "UnwrapError", "ValidationError",
    ],
    "clock": ["SYSTEM_CLOCK", "Clock", "SystemClock"],
    "cli": ["APP_FACTORY", "build_parser", "main"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("module", "names"), sorted(FLAT_RELEASE_PATHS.items()), ids=sorted(FLAT_RELEASE_PATHS)
)
def test_flat_release_import_paths_still_work(module: str, names: list[str]) -> None:
    """``from python_mastery_portfolio.<module> import <name>`` works for every earlier path."""
    imported = importlib.import_module(f"python_mastery_portfolio.{module}")
    for name in names:
        value = getattr(imported, name)
        root_value = getattr(pmp, name, value)
        assert value is root_value, f"{module}.{name} is not the root's {name}"


def test_no_log_output_unless_configured() -> None:
    """With logging unconfigured, a retry's WARNING reaches no stream (a NullHandler is set)."""
    code = (
        "from python_mastery_portfolio import retry\n"
        "from python_mastery_portfolio.testing import ManualClock\n"
        "calls = []\n"
        "@retry(max_attempts=2, clock=ManualClock())\n"
        "def flaky():\n"
        "    calls.append(1)\n"
        "    if len(calls) < 2:\n"
        "        raise ConnectionError('once')\n"
        "    return 'ok'\n"
        "assert flaky() == 'ok'\n"
        "import logging\n"
        "assert any(isinstance(h, logging.NullHandler)\n"
        "          for h in logging.getLogger('python_mastery_portfolio').handlers)\n"
    )
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == ""
