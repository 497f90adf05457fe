"""Return values (``check_return=True``), ``check_type`` and TYPE_CHECKING-only names.

In the style of typeguard's ``tests/test_typechecked.py`` and ``tests/test_checkers.py``
(``check_type`` as a function, return checks of plain, async and generator functions) and
beartype's return-hint tests.
"""

from __future__ import annotations

import asyncio
import dis
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal, NoReturn, Optional, TypedDict

import pytest

from python_mastery_portfolio import validation
from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.validation import check_type, validate_types
from tests.validation import type_checking_only

LOGGER = "python_mastery_portfolio.validation"


class Movie(TypedDict):
    title: str
    year: int


def returning(value: object) -> Callable[[], Any]:
    """Return a zero-argument function returning ``value``."""

    def produce() -> Any:
        return value

    return produce


class TestCheckReturn:
    def test_good_return_value(self) -> None:
        """A matching return value passes, unchanged (typeguard: test_return_type)."""

        @validate_types(check_return=True)
        def double(x: int) -> int:
            return x * 2

        assert double(2) == 4

    def test_wrong_return_value(self) -> None:
        """The error names the function, the return value and its path."""

        @validate_types(check_return=True)
        def build(x: int) -> dict[str, list[int]]:
            return {"a": [x, "2"]}  # type: ignore[list-item]  # the error under test

        with pytest.raises(ValidationError) as info:
            build(1)
        error = info.value
        assert str(error) == (
            "TestCheckReturn.test_wrong_return_value.<locals>.build() return value "
            "at return['a'][1] expected int, got str: '2'"
        )
        assert error.field == "return"
        assert error.value == "2"
        assert error.context["path"] == "return['a'][1]"
        assert error.context["function"].endswith("build")

    def test_off_by_default(self) -> None:
        """Without the option the return value is never checked (the seed's behaviour)."""

        @validate_types
        def lies() -> int:
            return "not an int"  # type: ignore[return-value]  # the error under test

        result: object = lies()
        assert result == "not an int"

    def test_zero_cost_when_off(self) -> None:
        """The generated code is the same with check_return=False as without the option."""

        def add(a: int, b: int) -> int:
            return a + b

        plain, off = validate_types(add), validate_types(check_return=False)(add)
        assert plain(1, 2) == off(1, 2) == 3
        ops = [[i.opname for i in dis.get_instructions(f)] for f in (plain, off)]
        assert ops[0] == ops[1]
        assert "STORE_FAST" not in ops[0]  # the result is returned, never kept

    def test_none_return(self) -> None:
        """``-> None`` means the function returns None (typeguard: test_return_none)."""

        @validate_types(check_return=True)
        def side_effect(flag: bool) -> None:
            return 1 if flag else None  # type: ignore[return-value]  # the error under test

        assert side_effect(False) is None
        with pytest.raises(ValidationError, match="return value expected None, got int: 1"):
            side_effect(True)

    def test_noreturn(self) -> None:
        """A NoReturn function that returns is an error (typeguard: test_noreturn)."""

        @validate_types(check_return=True)
        def never() -> NoReturn:
            return None  # type: ignore[misc]  # the error under test

        with pytest.raises(ValidationError, match="expected Never, got None"):
            never()

    @pytest.mark.parametrize(
        ("hint", "good", "bad"),
        [
            (Optional[int], None, "x"),  # noqa: UP045 - the spelling users write
            (Literal["a", "b"], "a", "c"),
            (tuple[int, str], (1, "a"), (1, 2)),
            (Movie, {"title": "x", "year": 1}, {"title": "x"}),
            (list[int] | None, [1], [None]),
        ],
        ids=["optional", "literal", "tuple", "typeddict", "union"],
    )
    def test_hints(self, hint: object, good: object, bad: object) -> None:
        """Every annotation a parameter supports is supported as the return annotation."""
        good_func, bad_func = returning(good), returning(bad)
        good_func.__annotations__["return"] = bad_func.__annotations__["return"] = hint
        assert validate_types(check_return=True)(good_func)() == good
        with pytest.raises(ValidationError):
            validate_types(check_return=True)(bad_func)()

    def test_unannotated_or_any(self) -> None:
        """No return annotation, Any or object: nothing to check, the call is plain."""

        @validate_types(check_return=True)
        def bare(x: int):  # type: ignore[no-untyped-def]  # the case under test
            return x

        @validate_types(check_return=True)
        def anything(x: int) -> Any:
            return x

        assert bare(1) == anything(1) == 1

    def test_arguments_checked_before_the_call(self) -> None:
        """Arguments fail before the body runs; the return value after it."""
        calls: list[object] = []

        @validate_types(check_return=True)
        def record(x: int) -> str:
            calls.append(x)
            return x  # type: ignore[return-value]  # the error under test

        with pytest.raises(ValidationError, match="argument 'x'"):
            record("1")  # type: ignore[arg-type]  # the error under test
        assert calls == []
        with pytest.raises(ValidationError, match="return value"):
            record(1)
        assert calls == [1]

    def test_async_def(self) -> None:
        """A coroutine function's awaited result is checked (typeguard: test_coroutine)."""

        @validate_types(check_return=True)
        async def fetch(x: int) -> str:
            await asyncio.sleep(0)
            return str(x) if x else x  # type: ignore[return-value]  # the error under test

        assert asyncio.run(fetch(1)) == "1"
        with pytest.raises(ValidationError, match=r"fetch\(\) return value expected str"):
            asyncio.run(fetch(0))

    def test_generator_is_checked_as_a_class(self) -> None:
        """A generator function returns a generator: checked as one, never consumed."""

        @validate_types(check_return=True)
        def numbers(n: int) -> Iterator[int]:
            yield from range(n)

        @validate_types(check_return=True)
        async def anumbers(n: int) -> AsyncIterator[int]:
            for i in range(n):
                yield i

        async def collect() -> list[int]:
            return [i async for i in anumbers(2)]

        assert list(numbers(3)) == [0, 1, 2]
        assert asyncio.run(collect()) == [0, 1]

    def test_methods(self) -> None:
        """Methods, classmethods and staticmethods check their return values too."""

        class Shop:
            @validate_types(check_return=True)
            def price(self, cents: int) -> float:
                return cents / 100 if cents else "free"  # type: ignore[return-value]  # the error under test

            @validate_types(check_return=True)
            @classmethod
            def make(cls, flag: bool) -> Shop:
                return cls() if flag else None  # type: ignore[return-value]  # the error under test

            @validate_types(check_return=True)
            @staticmethod
            def count(flag: bool) -> int:
                return 1 if flag else "one"  # type: ignore[return-value]  # the error under test

        shop = Shop()
        assert shop.price(250) == 2.5
        assert isinstance(Shop.make(True), Shop)
        assert Shop.count(True) == 1
        for call in (lambda: shop.price(0), lambda: Shop.make(False), lambda: Shop.count(False)):
            with pytest.raises(ValidationError, match="return value"):
                call()

    def test_string_return_annotation_resolved_late(self) -> None:
        """A forward reference in the return annotation resolves at the first call."""

        @validate_types(check_return=True)
        def make() -> Later:
            return Later()

        class Later:
            pass

        assert isinstance(make(), Later)

    def test_unsupported_return_annotation(self) -> None:
        """A return annotation that cannot be checked is a TypeError naming it."""

        class Plain:
            pass

        @validate_types(check_return=True)
        def make() -> Plain | int:
            return 1

        make.__wrapped__.__annotations__["return"] = "list["  # type: ignore[attr-defined]  # reach into the fixture
        with pytest.raises(TypeError, match="the return value: annotation"):
            validate_types(check_return=True)(make.__wrapped__)()  # type: ignore[attr-defined]

    def test_check_return_must_be_a_bool(self) -> None:
        """A non-bool flag is refused at once (it cannot name a parameter)."""
        with pytest.raises(TypeError, match="check_return must be a bool"):
            validate_types(check_return=int)  # type: ignore[call-overload]  # the error under test

    def test_with_explicit_types(self) -> None:
        """The explicit form checks its parameters and the function's return annotation."""

        @validate_types(check_return=True, x=int)
        def echo(x: int, y: str) -> int:
            return y  # type: ignore[return-value]  # the error under test

        with pytest.raises(ValidationError, match="return value expected int"):
            echo(1, "a")


class TestCheckType:
    def test_returns_the_value(self) -> None:
        """The value passes through unchanged (typeguard's check_type returns it)."""
        value = {"a": [1, 2]}
        assert check_type(value, dict[str, list[int]]) is value
        assert check_type(None, Optional[int]) is None  # noqa: UP045 - the spelling users write

    @pytest.mark.parametrize(
        ("value", "hint", "path"),
        [
            ("1", int, "value"),
            ([1, "2"], list[int], "value[1]"),
            ({"k": {"j": 1.5}}, dict[str, dict[str, int]], "value['k']['j']"),
            ((1, "a", 3), tuple[int, str, str], "value[2]"),
            ({"title": "x", "year": "y"}, Movie, "value['year']"),
            ({1, "a"}, set[int], "value{'a'}"),
        ],
        ids=["scalar", "list", "nested-dict", "tuple", "typeddict", "set"],
    )
    def test_path(self, value: object, hint: object, path: str) -> None:
        """The error carries the path of the innermost failing item."""
        with pytest.raises(ValidationError) as info:
            check_type(value, hint)
        assert info.value.context["path"] == path
        assert info.value.field == "value"
        assert "function" not in info.value.context

    def test_name(self) -> None:
        """``name`` is the root of the path and the field."""
        with pytest.raises(ValidationError) as info:
            check_type([1, None], list[int], name="ids")
        assert str(info.value) == "ids at ids[1] expected int, got None"
        assert info.value.field == "ids"

    def test_string_hint_in_callers_scope(self) -> None:
        """Strings resolve in the caller's locals and globals, like annotations."""

        class Local:
            pass

        assert isinstance(check_type(Local(), "Local"), Local)
        assert check_type([Movie(title="t", year=1)], "list[Movie]")
        with pytest.raises(ValidationError):
            check_type(1, "list[Local]")
        with pytest.raises(NameError):
            check_type(1, "Missing")

    def test_unsupported_hint(self) -> None:
        """An annotation that cannot be checked is a TypeError, as for the decorator."""
        with pytest.raises(TypeError, match="unsupported Literal values"):
            check_type(1, Literal[[1]])

    def test_exported(self) -> None:
        """check_type is public in the validation package."""
        assert "check_type" in validation.__all__
        assert validation.check_type is check_type


class TestTypeCheckingOnly:
    """Names imported only under TYPE_CHECKING: skipped with one warning, not NameError."""

    def test_skipped_with_one_warning(self, caplog: pytest.LogCaptureFixture) -> None:
        """The parameter is not checked, the others are, and one WARNING says why."""
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert type_checking_only.price("1.5", 2) == "1.5 x 2"  # type: ignore[arg-type]
            assert type_checking_only.price(object(), 3)  # type: ignore[arg-type]
            with pytest.raises(ValidationError, match="argument 'count'"):
                type_checking_only.price("1", "2")  # type: ignore[arg-type]
        records = [r for r in caplog.records if r.name == LOGGER]
        assert len(records) == 1
        assert records[0].levelno == logging.WARNING
        assert records[0].getMessage() == (
            "@validate_types on price(): parameter 'amount' not checked: the annotation "
            "names Decimal, which the module imports or defines only under TYPE_CHECKING"
        )

    def test_every_kind_of_binding(self, caplog: pytest.LogCaptureFixture) -> None:
        """Module imports, aliases, typing.TYPE_CHECKING and classes; the return value too."""
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert type_checking_only.ratio(1, [2], 3, 4) == (1, [2], 3, 4)  # type: ignore[arg-type,list-item]
            with pytest.raises(ValidationError, match="argument 'd'"):
                type_checking_only.ratio(1, [2], 3, "4")  # type: ignore[arg-type,list-item]
        (record,) = [r for r in caplog.records if r.name == LOGGER]
        assert record.getMessage() == (
            "@validate_types on ratio(): parameter 'a', parameter 'b', parameter 'c', "
            "the return value not checked: the annotation names fr, OnlyForMypy, Ordered, "
            "Decimal, which the module imports or defines only under TYPE_CHECKING"
        )

    def test_names_found(self) -> None:
        """Imports (by alias or first component), classes and assignments are found."""
        from python_mastery_portfolio.validation._type_checking import type_checking_names

        assert type_checking_names(type_checking_only.__name__) == {
            "fr",
            "Decimal",
            "OnlyForMypy",
            "Money",
            "Ordered",
        }
        assert type_checking_names(None) == frozenset()

    def test_other_names_still_raise(self) -> None:
        """A name the module never binds is still a NameError, at every call."""
        for _ in range(2):
            with pytest.raises(NameError, match="Decimall"):
                type_checking_only.typo(1)

    def test_module_without_source(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the module's source, nothing is known to be TYPE_CHECKING-only."""

        def handle(x: Unknown) -> None:  # type: ignore[name-defined]  # noqa: F821  # the error under test
            pass

        handle.__module__ = "no.such.module"
        with pytest.raises(NameError, match="Unknown"):
            validate_types(handle)(1)
        handle.__module__ = "builtins"  # imported, but no Python source
        with pytest.raises(NameError, match="Unknown"):
            validate_types(handle)(1)

    def test_unparsable_source(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A source that no longer parses (edited since import) binds nothing."""
        from python_mastery_portfolio.validation import _type_checking

        monkeypatch.setattr("inspect.getsource", lambda module: "if (:\n")
        assert _type_checking.type_checking_names(__name__) == frozenset()
