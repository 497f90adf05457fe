"""Tests of the private helpers shared by the decorators."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from python_mastery_portfolio._internal.callables import (
    decorate_function,
    exception_matcher,
    is_async_callable,
    qualified_name,
    reject_generator,
)


class TestExceptionMatcher:
    def test_type(self) -> None:
        """A single type matches its instances and subclasses only."""
        matches = exception_matcher(OSError, param="exceptions")
        assert matches(ConnectionError())
        assert not matches(ValueError())

    def test_tuple(self) -> None:
        """A tuple matches any of its types."""
        matches = exception_matcher((KeyError, ValueError), param="exceptions")
        assert matches(KeyError())
        assert matches(ValueError())
        assert not matches(OSError())

    def test_predicate(self) -> None:
        """A predicate decides, with its result coerced to bool."""
        matches = exception_matcher(lambda e: "retry" in str(e), param="exceptions")
        assert matches(ValueError("please retry"))
        assert not matches(ValueError("no"))

    @pytest.mark.parametrize(
        "spec",
        [BaseException, (BaseException,), lambda e: True],
        ids=["type", "tuple", "predicate"],
    )
    @pytest.mark.parametrize(
        "fatal",
        [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(), GeneratorExit()],
        ids=["cancelled", "keyboard", "exit", "genexit"],
    )
    def test_fatal_never_match(self, spec: Any, fatal: BaseException) -> None:
        """Cancellation, interrupts and exits never match, whatever the spec says."""
        assert not exception_matcher(spec, param="exceptions")(fatal)

    @pytest.mark.parametrize("spec", [int, (), (ValueError, int), 3], ids=str)
    def test_bad_spec(self, spec: Any) -> None:
        """Anything else is a TypeError naming the parameter."""
        with pytest.raises(TypeError, match="exclude"):
            exception_matcher(spec, param="exclude")


class TestCallables:
    def test_is_async_callable(self) -> None:
        """Coroutine functions, partials of them and async __call__ objects are async."""

        async def coro() -> None: ...

        def plain() -> None: ...

        class AsyncCallable:
            async def __call__(self) -> None: ...

        assert is_async_callable(coro)
        assert is_async_callable(functools.partial(coro))
        assert is_async_callable(AsyncCallable())
        assert not is_async_callable(plain)
        assert not is_async_callable(functools.partial(plain))
        assert not is_async_callable(AsyncCallable)

    def test_reject_generator(self) -> None:
        """Generator and async generator functions are refused; others pass."""

        def gen() -> Any:
            yield 1

        async def agen() -> Any:
            yield 1

        for func in (gen, agen):
            with pytest.raises(TypeError, match="@retry cannot decorate generator"):
                reject_generator(func, "retry")
        reject_generator(lambda: None, "retry")

    def test_qualified_name(self) -> None:
        """Names include the module; callable instances are named by their class."""
        assert (
            qualified_name(qualified_name)
            == "python_mastery_portfolio._internal.callables.qualified_name"
        )
        assert qualified_name(functools.partial(int)) == "functools.partial"

        def orphan() -> None: ...

        orphan.__module__ = None  # type: ignore[assignment]  # as for functions built by exec
        assert qualified_name(orphan).endswith("orphan")


class TestDecorateFunction:
    def test_wraps_plain_callables(self) -> None:
        """A plain function is handed to the wrapper as it is."""
        assert decorate_function(len, lambda f: (f,), "deco") == (len,)

    @pytest.mark.parametrize("kind", [classmethod, staticmethod], ids=["class", "static"])
    def test_rebuilds_method_descriptors(self, kind: Any) -> None:
        """The function inside a classmethod/staticmethod is wrapped and the descriptor kept."""

        def inner() -> None: ...

        result = decorate_function(kind(inner), lambda f: ("wrapped", f), "deco")
        assert type(result) is kind
        assert result.__func__ == ("wrapped", inner)

    def test_refuses_non_callables(self) -> None:
        """Anything not callable is a TypeError naming the decorator."""
        with pytest.raises(TypeError, match="@deco needs a callable"):
            decorate_function(3, lambda f: f, "deco")

    def test_generators_refused_unless_allowed(self) -> None:
        """Generator functions are refused by default and accepted on request."""

        def gen() -> Any:
            yield 1

        with pytest.raises(TypeError, match="@deco cannot decorate generator"):
            decorate_function(gen, lambda f: f, "deco")
        assert decorate_function(gen, lambda f: f, "deco", generators=True) is gen
