"""Static proofs of CachedProperty's types, checked by mypy and run by pytest."""

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
        obj.result.upper()  # type: ignore[attr-defined]


def test_class_access_is_the_descriptor() -> None:
    """Reading on the class gives the descriptor, parametrized by the value type."""
    assert_type(ExpensiveComputation.result, CachedProperty[int])
    assert_type(ExpensiveComputation.names, CachedProperty[list[str]])


def test_assignment_is_checked() -> None:
    """Assigning and deleting are allowed; the assigned value must have the right type."""
    obj = ExpensiveComputation()
    obj.result = 3
    assert_type(obj.result, int)
    del obj.result
    obj.result = "three"  # type: ignore[assignment]
    assert vars(obj)["result"] == "three"
