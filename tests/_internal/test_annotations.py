"""Tests of the one annotation resolver shared by dependency injection and validation."""

from __future__ import annotations

import collections
import contextlib
import functools
import operator
import sys
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from python_mastery_portfolio._internal.annotations import evaluate, globals_of


def make(kind: type, value: object = None) -> object:
    """A module-level function whose globals are this module's."""
    return kind, value


def logged(func: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator keeping ``__wrapped__``, as ``functools.wraps`` does."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


class WithInit:
    def __init__(self, widget: Widget) -> None:
        self.widget = widget


class WithDecoratedInit:
    @logged
    def __init__(self, widget: Widget) -> None:
        self.widget = widget


class WithNew:
    def __new__(cls, widget: Widget) -> WithNew:
        return super().__new__(cls)


class Bare:
    pass


class Widget:
    pass


class TestGlobalsOf:
    def test_function(self) -> None:
        """A plain function's globals are its module's."""
        assert globals_of(make) is globals()

    def test_partial_and_instance(self) -> None:
        """Globals come from the function a partial wraps, or a callable's class."""

        class Handler:
            def __call__(self) -> None:
                pass

        assert globals_of(functools.partial(make, int)) is globals()
        assert globals_of(Handler()) is globals()
        assert globals_of(len) == {}

    def test_nested_partials(self) -> None:
        """A partial of a partial of a decorated function reaches the function."""
        assert globals_of(functools.partial(functools.partial(logged(make), int))) is globals()

    def test_decorated_function(self) -> None:
        """A decorated function is unwrapped, even when the wrapper lives in another module."""
        assert globals_of(logged(make)) is globals()
        assert globals_of(functools.lru_cache(make)) is globals()

        @contextlib.contextmanager
        def managed() -> Iterator[None]:
            yield

        assert globals_of(managed) is globals()

    def test_class_with_its_own_init(self) -> None:
        """A class is read through its ``__init__``, unwrapped if decorated."""
        assert globals_of(WithInit) is globals()
        assert globals_of(WithDecoratedInit) is globals()

    def test_class_with_only_new(self) -> None:
        """A class with ``__new__`` and no ``__init__`` is read through ``__new__``."""
        assert globals_of(WithNew) is globals()

    def test_class_without_init(self) -> None:
        """A class with neither falls back to its module's namespace (a copy)."""
        namespace = globals_of(Bare)
        assert namespace == globals()
        assert namespace["Widget"] is Widget

    def test_class_inheriting_init(self) -> None:
        """An inherited ``__init__`` answers for the class, as its hints live there."""

        class Settings(collections.UserDict[str, int]):
            pass

        assert globals_of(Settings) is vars(collections)

    def test_class_of_an_unknown_module(self) -> None:
        """A class whose module is not loaded has no globals to offer."""
        ghost = type("Ghost", (), {"__module__": "no.such.module"})
        assert "no.such.module" not in sys.modules
        assert globals_of(ghost) == {}

    def test_builtin_class(self) -> None:
        """A built-in class has no Python ``__init__``: its module (builtins) answers."""
        assert globals_of(dict)["__name__"] == "builtins"

    def test_callable_instance_with_builtin_call(self) -> None:
        """A callable instance whose ``__call__`` is written in C has no globals."""
        assert globals_of(operator.itemgetter(1)) == {}
        assert globals_of(functools.partial(len).__call__) == {}


class TestEvaluate:
    def test_globals_then_locals(self) -> None:
        """Names resolve in the given scope, locals taking precedence."""
        assert evaluate("Widget", globals(), {}) is Widget
        assert evaluate("Widget", globals(), {"Widget": int}) is int

    def test_any_mapping_of_locals(self) -> None:
        """Locals may be any mapping (a ChainMap of enclosing scopes, say), left unchanged."""
        scopes: collections.ChainMap[str, type] = collections.ChainMap({"A": int}, {"B": str})
        assert evaluate("dict[A, B]", {}, scopes) == dict[int, str]
        assert dict(scopes) == {"A": int, "B": str}

    def test_unpacked_forms(self) -> None:
        """``*tuple[...]`` evaluates to the unpacked tuple, as ForwardRef does."""
        hint: Any = evaluate("*tuple[int, str]", globals(), {})
        assert hint == next(iter(typing.cast("Any", tuple[int, str])))
        assert hint.__unpacked__
        assert typing.get_args(hint) == (int, str)

    def test_errors_propagate(self) -> None:
        """A missing name is a NameError naming it; bad syntax a SyntaxError."""
        with pytest.raises(NameError) as info:
            evaluate("Missing", {}, {})
        assert info.value.name == "Missing"
        with pytest.raises(SyntaxError):
            evaluate("list[", {}, {})
