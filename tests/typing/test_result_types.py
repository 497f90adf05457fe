"""Static tests of the rustedpy-style Result methods: mypy and pyright check every assert_type.

Each method is checked on the base class, on each variant and on the ``Success | Failure`` union.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Never, NoReturn, assert_type

import pytest

from python_mastery_portfolio import Failure, Result, Success, UnwrapError


def divide(a: int, b: int) -> Result[float, str]:
    """Annotated with the base class."""
    if b == 0:
        return Result.failure("Cannot divide by zero")
    return Result.success(a / b)


def parse(text: str) -> Success[int, str] | Failure[int, str]:
    """Annotated with the precise union of variants."""
    if not text.isdigit():
        return Result.failure(f"not a number: {text!r}")
    return Result.success(int(text))


def recover(error: str) -> Result[int, ValueError]:
    """An or_else step: a new error type."""
    return Failure(ValueError(error)) if error else Success(0)


async def double(x: int) -> int:
    """An async map step."""
    return x * 2


async def positive(x: float) -> Result[float, KeyError]:
    """An async and_then step with its own error type."""
    return Success(x) if x > 0 else Failure(KeyError(x))


async def arecover(error: str) -> Result[int, ValueError]:
    """An async or_else step."""
    return recover(error)


class TestUnwrapping:
    def test_base(self) -> None:
        """On the base class, unwrap/expect give the value type and *_err the error type."""
        result = divide(1, 2)
        assert_type(result.unwrap(), float)
        assert_type(result.expect("a quotient"), float)
        assert_type(result.ok(), float | None)
        assert_type(result.err(), str | None)
        with pytest.raises(UnwrapError):
            assert_type(result.unwrap_err(), str)
        with pytest.raises(UnwrapError):
            assert_type(result.expect_err("an error"), str)

    def test_variants(self) -> None:
        """Each variant is exact: the impossible call is NoReturn, ok()/err() lose the None."""
        success: Success[int, str] = Success(1)
        failure: Failure[int, str] = Failure("e")
        assert_type(success.unwrap(), int)
        assert_type(success.expect("x"), int)
        assert_type(success.ok(), int)
        assert_type(success.err(), None)
        assert_type(failure.unwrap_err(), str)
        assert_type(failure.expect_err("x"), str)
        assert_type(failure.ok(), None)
        assert_type(failure.err(), str)
        impossible: list[Callable[[], NoReturn]] = [
            success.unwrap_err,
            lambda: success.expect_err("x"),
            failure.unwrap,
            lambda: failure.expect("x"),
        ]
        for call in impossible:
            with pytest.raises(UnwrapError):
                call()

    def test_union(self) -> None:
        """On Success | Failure, unwrap() is the value type (the Failure side never returns)."""
        result = parse("12")
        assert_type(result.unwrap(), int)
        assert_type(result.expect("a number"), int)
        assert_type(result.ok(), int | None)
        assert_type(result.err(), str | None)


class TestTransforms:
    def test_or_else(self) -> None:
        """or_else keeps the value type, joins the step's value type and takes its error type."""
        assert_type(divide(1, 0).or_else(recover), Result[float | int, ValueError])
        assert_type(Success(1).or_else(recover), Success[int, ValueError])
        assert_type(Failure("e").or_else(recover), Result[int, ValueError])
        assert_type(parse("x").or_else(recover), Success[int, ValueError] | Result[int, ValueError])
        widened: Result[int, ValueError] = parse("x").or_else(recover)
        assert widened == Failure(widened.unwrap_err())

    def test_map_or(self) -> None:
        """map_or and map_or_else join the default's type with fn's."""
        result = divide(1, 2)
        assert_type(result.map_or(None, str), str | None)
        assert_type(result.map_or_else(lambda: 0, str), int | str)
        assert_type(Success(1).map_or(None, str), str)
        assert_type(Success(1).map_or_else(lambda: 0, str), str)
        assert_type(Failure("e").map_or(None, str), None)
        assert_type(Failure("e").map_or_else(lambda: 0, str), int)
        assert_type(parse("1").map_or(0.5, str), str | float)

    def test_inspect_keeps_type(self) -> None:
        """inspect and inspect_err return the receiver's own type."""
        seen: list[object] = []
        assert_type(divide(1, 2).inspect(seen.append), Result[float, str])
        assert_type(divide(1, 2).inspect_err(seen.append), Result[float, str])
        assert_type(Success(1).inspect(seen.append), Success[int, Never])
        assert_type(Failure("e").inspect_err(seen.append), Failure[Never, str])
        assert_type(
            parse("1").inspect(seen.append).inspect_err(seen.append),
            Success[int, str] | Failure[int, str],
        )
        assert seen == [0.5, 1, "e", 1]

    def test_inspect_fn_is_checked(self) -> None:
        """fn must accept the value (or error) type."""
        with pytest.raises(TypeError):
            Success(1).inspect(str.upper)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        with pytest.raises(TypeError):
            Failure(1).inspect_err(str.upper)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

    def test_flatten(self) -> None:
        """flatten joins both error types; on a non-nested result it is a type error."""
        nested: Result[Result[int, KeyError], str] = Success(Success(1))
        assert_type(nested.flatten(), Result[int, KeyError | str])
        inner: Result[int, KeyError] = Failure(KeyError("k"))
        assert_type(Success(inner).flatten(), Result[int, KeyError])
        assert_type(Success(Success(1)).flatten(), Result[int, Never])
        assert_type(Failure("e").flatten(), Failure[Never, str])
        failed: Failure[Result[int, KeyError], str] = Failure("e")
        assert_type(failed.flatten(), Failure[int, KeyError | str])

        # Never on either side stays Never (pyright made it Unknown). Parameters, not declared
        # locals: pyright narrows a local to the variant assigned.
        def never_sides(
            no_error: Result[Result[int, Never], Never],
            no_value: Result[Never, str],
            outer_error: Success[Result[int, Never], str],
        ) -> None:
            assert_type(no_error.flatten(), Result[int, Never])
            assert_type(no_value.flatten(), Result[Never, str])
            assert_type(outer_error.flatten(), Result[int, str])
            assert no_error.flatten() == Success(1)
            assert no_value.flatten() == Failure("e")
            assert outer_error.flatten() == Success(1)

        never_sides(Success(Success(1)), Failure("e"), Success(Success(1)))
        assert_type(Success(Failure("e")).flatten(), Result[Never, str])
        with pytest.raises(TypeError):
            Success(1).flatten()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]

    def test_narrowing_still_works(self) -> None:
        """isinstance and match still narrow after the new methods, keeping type arguments."""
        chained = parse("1").inspect(lambda v: None)
        if isinstance(chained, Success):
            assert_type(chained, Success[int, str])
            assert_type(chained.unwrap(), int)
        else:
            assert_type(chained, Failure[int, str])
            assert_type(chained.unwrap_err(), str)
        match chained:
            case Success(value):
                assert_type(value, int)
            case Failure(error):
                assert_type(error, str)


class TestAsync:
    async def test_amap(self) -> None:
        """amap awaits fn and types its result like map."""
        success: Success[int, str] = Success(2)
        failure: Failure[int, str] = Failure("e")
        assert_type(await parse("2").amap(double), Success[int, str] | Failure[int, str])
        assert_type(await success.amap(double), Success[int, str])
        assert_type(await failure.amap(double), Failure[int, str])

        # A parameter, not a local: pyright narrows a declared local to the assigned Success.
        async def amap_on(base: Result[int, str]) -> None:
            assert_type(await base.amap(double), Result[int, str])

        await amap_on(success)

    async def test_aand_then(self) -> None:
        """aand_then joins the error types of both steps, like and_then."""
        assert_type(await divide(1, 2).aand_then(positive), Result[float, str | KeyError])
        assert_type(await Success(1.0).aand_then(positive), Result[float, KeyError])
        assert_type(await Failure("e").aand_then(positive), Failure[float, str])

    async def test_aor_else(self) -> None:
        """aor_else types its result like or_else."""
        assert_type(await divide(1, 0).aor_else(arecover), Result[float | int, ValueError])
        assert_type(await Success(1).aor_else(arecover), Success[int, ValueError])
        assert_type(await Failure("e").aor_else(arecover), Result[int, ValueError])

    def test_sync_fn_is_rejected(self) -> None:
        """A plain function is a type error where a coroutine function is expected."""
        step: Callable[[int], Awaitable[int]] = double
        assert step is double
        with pytest.raises(TypeError):
            Success(1).amap(str).send(None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
