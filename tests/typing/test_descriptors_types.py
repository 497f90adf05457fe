"""Static proofs of CachedProperty's types, checked by mypy and pyright, run by pytest."""

from __future__ import annotations

from typing import assert_type

import pytest

from python_mastery_portfolio.descriptors import CachedProperty


class ExpensiveComputation:
    @CachedProperty
    def result(self) -> int:
        return sum(range(10))

    @CachedProperty
    def names(self) -> list[str]:
        return ["a", "b"]


def test_instance_access_is_the_value() -> None:
    """Reading on an instance gives the getter's return type."""
    obj = ExpensiveComputation()
    assert_type(obj.result, int)
    assert_type(obj.names, list[str])
    with pytest.raises(AttributeError):
        obj.result.upper()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


def test_class_access_is_the_descriptor() -> None:
    """Reading on the class gives the descriptor, parametrized by the value type."""
    assert_type(ExpensiveComputation.result, CachedProperty[int])
    assert_type(ExpensiveComputation.names, CachedProperty[list[str]])


def test_assignment_is_checked() -> None:
    """Assigning and deleting are allowed; the assigned value must have the right type."""
    obj = ExpensiveComputation()
    # A computed int, not a literal: pyright narrows the attribute to the type assigned.
    obj.result = len("abc")
    assert_type(obj.result, int)
    assert obj.result == 3
    del obj.result
    assert_type(obj.result, int)
    obj.result = "three"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    assert vars(obj)["result"] == "three"
