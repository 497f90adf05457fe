"""Static tests of validate_types: checked by mypy and pyright, run by pytest.

Each decorated callable keeps its exact signature, so both checkers still reject a wrong
call; the ``# type: ignore[...]`` (mypy) and ``# pyright: ignore[...]`` comments prove it
(each checker flags an unused ignore), and the calls also fail at run time.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

import pytest

from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.validation import check_type, validate_types


@validate_types
def add(a: int, b: int = 0) -> int:
    return a + b


@validate_types(name=str, age=int)
def create_user(name: str, age: int) -> dict[str, object]:
    return {"name": name, "age": age}


@validate_types()
def shout(text: str, /, *, times: int = 1) -> str:
    return text.upper() * times


@validate_types
async def fetch(user_id: int) -> str:
    return str(user_id)


class Service:
    def __init__(self, label: str = "") -> None:
        self.label = label

    @validate_types
    def handle(self, value: int) -> int:
        return value

    @validate_types
    @classmethod
    def build(cls, label: str) -> Service:
        return cls(label)

    @classmethod
    @validate_types
    def build_below(cls, label: str) -> Service:
        return cls(label)

    @validate_types
    @staticmethod
    def parse(text: str) -> int:
        return int(text)


def test_bare_form_keeps_signature() -> None:
    """The bare form keeps parameter and return types."""
    assert_type(add(1, 2), int)
    assert_type(add(1), int)
    with pytest.raises(ValidationError):
        add("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_seed_form_keeps_signature() -> None:
    """The seed's keyword form keeps parameter and return types."""
    assert_type(create_user("ada", 36), dict[str, object])
    with pytest.raises(ValidationError):
        create_user("ada", "36")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_empty_call_keeps_parameter_kinds() -> None:
    """Positional-only and keyword-only parameters stay so for mypy."""
    assert_type(shout("a", times=2), str)
    with pytest.raises(TypeError):
        shout(text="a")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError):
        shout("a", 2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


async def test_coroutine_function() -> None:
    """A coroutine function stays one for mypy."""
    # pyright names a coroutine's type CoroutineType, mypy Coroutine: both accept this.
    coroutine: Coroutine[Any, Any, str] = fetch(1)
    assert_type(await coroutine, str)
    assert_type(await fetch(1), str)
    with pytest.raises(ValidationError):
        await fetch("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_methods() -> None:
    """Methods, classmethods (either order) and staticmethods bind as usual."""
    service = Service()
    assert_type(service.handle(1), int)
    assert_type(Service.build("x"), Service)
    assert_type(Service.build_below("x"), Service)
    assert_type(Service.parse("2"), int)
    with pytest.raises(ValidationError):
        service.handle("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValidationError):
        Service.build(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValidationError):
        Service.parse(2)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_unsupported_call_form() -> None:
    """Passing a function and a mapping together is not one of the typed forms."""

    def identity(x: int) -> int:
        return x

    checked = validate_types(identity, x=int)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
    assert checked(1) == 1


@validate_types(check_return=True)
def checked_half(n: int) -> float:
    return n / 2


@validate_types(check_return=True)
async def checked_fetch(user_id: int) -> str:
    return str(user_id)


async def test_check_return_keeps_signature() -> None:
    """check_return=True keeps the exact signature, sync and async."""
    assert_type(checked_half(3), float)
    assert_type(await checked_fetch(1), str)
    with pytest.raises(ValidationError):
        checked_half("3")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_check_type_narrows() -> None:
    """check_type returns its value, typed as the class it was checked against."""
    value: object = [1, 2]
    assert_type(check_type(value, list[int]), list[int])
    assert_type(check_type(3, int | None), int)
    with pytest.raises(ValidationError):
        check_type(value, str)
