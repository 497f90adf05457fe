"""Static tests of typing_utils: mypy and pyright check every assert_type; pytest runs them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, Never, assert_never, assert_type

import pytest

from python_mastery_portfolio.exceptions import PortfolioError, ValidationError
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


def divide(a: int, b: int) -> Result[float, str]:
    """The seed's example, verbatim: annotated with Result, built with its constructors."""
    if b == 0:
        return Result.failure("Cannot divide by zero")
    return Result.success(a / b)


def parse(text: str) -> Success[int, str] | Failure[int, str]:
    """The precise annotation: the same constructors fit it."""
    if not text.isdigit():
        return Result.failure(f"not a number: {text!r}")
    return Result.success(int(text))


def test_constructors() -> None:
    """The constructors return the precise variant, which is a Result."""
    assert_type(Result.success(1), Success[int, Never])
    assert_type(Result.failure("e"), Failure[Never, str])
    assert_type(Success(1), Success[int, Never])
    assert_type(Failure(ValueError()), Failure[Never, ValueError])
    explicit: Success[int, str] = Success(1)
    as_base: Result[int, str] = explicit
    assert as_base.is_success()


def test_map_keeps_result_type() -> None:
    """Result.success(1).map(str) is a Result[str, ...] (precisely a Success[str, Never])."""
    mapped = Result.success(1).map(str)
    assert_type(mapped, Success[str, Never])
    widened: Result[str, Never] = mapped
    assert widened.value == "1"
    result = divide(1, 2)
    assert_type(result.map(str), Result[str, str])
    assert_type(result.map_error(len), Result[float, int])
    assert_type(Failure("e").map(str), Failure[str, str])


def test_accessors() -> None:
    """value/error are optional on Result and exact on each variant."""
    result = divide(1, 2)
    assert_type(result.value, float | None)
    assert_type(result.error, str | None)
    assert_type(result.get_or_raise(), float)
    assert_type(result.unwrap_or(None), float | None)
    assert_type(result.unwrap_or_else(len), float | int)
    assert_type(Success(1).value, int)
    assert_type(Success(1).error, None)
    assert_type(Failure("e").error, str)
    assert_type(Failure("e").value, None)


def test_and_then_widens_error() -> None:
    """and_then joins the error types of both steps."""
    chained = divide(6, 3).and_then(lambda x: parse(str(int(x))))
    assert_type(chained, Result[int, str])

    def reject(n: int) -> Failure[bool, ValueError]:
        return Failure(ValueError(n))

    assert_type(parse("1").and_then(reject), Result[bool, str | ValueError] | Failure[bool, str])


def test_isinstance_narrows_union() -> None:
    """isinstance narrows Success | Failure in both branches, keeping the type arguments."""
    result = parse("12")
    if isinstance(result, Success):
        assert_type(result, Success[int, str])
        assert_type(result.value, int)
    else:
        assert_type(result, Failure[int, str])
        assert_type(result.error, str)


def test_isinstance_narrows_base() -> None:
    """On the base class, isinstance narrows to the variant (mypy drops the type arguments)."""
    result = divide(1, 2)
    # Each line is pinned per checker: pyright keeps the arguments, mypy makes them Any.
    if isinstance(result, Success):
        assert_type(result, Success[float, str])  # type: ignore[assert-type]
        assert_type(result, Success[Any, Any])  # pyright: ignore[reportAssertTypeFailure]
    if isinstance(result, Failure):
        assert_type(result, Failure[float, str])  # type: ignore[assert-type]
        assert_type(result, Failure[Any, Any])  # pyright: ignore[reportAssertTypeFailure]


def describe(result: Success[int, str] | Failure[int, str]) -> str:
    """An exhaustive match: mypy accepts assert_never because both variants are handled."""
    match result:
        case Success(value):
            assert_type(value, int)
            return f"ok {value}"
        case Failure(error):
            assert_type(error, str)
            return f"error {error}"
        case _:
            assert_never(result)


def test_exhaustive_match() -> None:
    """The exhaustive match runs on both variants."""
    assert describe(parse("3")) == "ok 3"
    assert describe(parse("x")) == "error not a number: 'x'"


def test_attempt_types() -> None:
    """attempt returns the union of variants with the captured exception type."""
    assert_type(attempt(int, "1"), Success[int, Exception] | Failure[int, Exception])
    assert_type(
        attempt(int, "1", exceptions=ValueError),
        Success[int, ValueError] | Failure[int, ValueError],
    )


def test_as_result_types() -> None:
    """as_result keeps the parameters and wraps the return type, for def and async def."""

    @as_result()
    def plain(x: int) -> str:
        return str(x)

    @as_result(KeyError)
    def one(x: int) -> str:
        return str(x)

    @as_result(KeyError, ValueError)
    def two(x: int) -> str:
        return str(x)

    @as_result(KeyError, ValueError, OSError)
    def three(x: int) -> str:
        return str(x)

    @as_result(KeyError)
    async def coro(x: int) -> str:
        return str(x)

    assert_type(plain(1), Success[str, Exception] | Failure[str, Exception])
    assert_type(one(1), Success[str, KeyError] | Failure[str, KeyError])
    assert_type(two(1), Success[str, KeyError | ValueError] | Failure[str, KeyError | ValueError])
    assert_type(
        three(1),
        Success[str, KeyError | ValueError | OSError]
        | Failure[str, KeyError | ValueError | OSError],
    )
    typed: Callable[[int], Coroutine[Any, Any, Success[str, KeyError] | Failure[str, KeyError]]]
    typed = coro

    async def use() -> None:
        assert_type(await coro(x=1), Success[str, KeyError] | Failure[str, KeyError])

    asyncio.run(use())
    assert asyncio.run(typed(1)) == Success("1")
    plain("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError):
        as_result(lambda e: True)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUnknownLambdaType]


def test_container_types() -> None:
    """Container(3).map(str) is a Container[str]."""
    assert_type(Container(3), Container[int])
    assert_type(Container(3).map(str), Container[str])
    assert_type(Container(3).value, int)
    int_container: Container[int] = Container(42)
    assert_type(int_container.map(lambda x: x * 2), Container[int])


def test_pipeline_types() -> None:
    """Each add() changes the pipeline's output type; async steps count as their result."""

    async def fetch(x: int) -> str:
        return str(x)

    assert_type(Pipeline(5), Pipeline[int])
    assert_type(Pipeline(5).add(str), Pipeline[str])
    assert_type(Pipeline(5).add(str).add(len).execute(), int)
    assert_type(Pipeline(5).add(fetch), Pipeline[str])
    assert_type(
        Pipeline(5).add(lambda x: x * 2).add(lambda x: x + 3).add(lambda x: x**2).execute(), int
    )
    Pipeline(5).add(str.upper)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]


def test_protocols() -> None:
    """Our errors are Serializable; InMemoryRepository is a Repository."""
    serializable: Serializable = ValidationError("bad")
    assert_type(serializable.to_dict(), dict[str, Any])
    errors: list[Serializable] = [PortfolioError("x")]
    repo: Repository[int] = InMemoryRepository[int]()
    assert_type(repo.get("1"), int | None)
    assert_type(repo.save(1), str)
    assert_type(repo.delete("1"), bool)
    assert_type(InMemoryRepository[str]().list(), list[str])
    assert errors
    repo.save("not an int")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_results_are_immutable() -> None:
    """Assigning to value or error is a type error."""
    result: Success[int, str] = Success(1)
    with contextlib.suppress(AttributeError):
        result.value = 2  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    assert result.value == 1


def test_truth_test_is_a_type_error() -> None:
    """`if result:` is reported by mypy's truthy-bool check, and raises at run time."""
    with pytest.raises(TypeError):
        if divide(1, 2):  # type: ignore[truthy-bool]
            pass


def describe_base(result: Result[int, str]) -> str:
    """The documented trade-off: on the base class, assert_never is rejected by both checkers.

    pyright binds the precise types; mypy narrows the base class to ``Success[Any, Any]`` (as
    with isinstance), so there it binds Any. Each line is pinned per checker: an improvement in
    mypy shows up as an unused ignore.
    """
    match result:
        case Success(value):
            assert_type(value, int)  # type: ignore[assert-type]
            assert_type(value, Any)  # pyright: ignore[reportAssertTypeFailure]
            return f"ok {value}"
        case Failure(error):
            assert_type(error, str)  # type: ignore[assert-type]
            assert_type(error, Any)  # pyright: ignore[reportAssertTypeFailure]
            return f"error {error}"
        case _:
            assert_never(result)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_match_on_base_runs() -> None:
    """A match on the base class still works at run time."""
    assert describe_base(Success(1)) == "ok 1"
    assert describe_base(Failure("x")) == "error x"
