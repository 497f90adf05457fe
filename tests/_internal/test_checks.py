"""Tests of the shared argument checks (one message style for every constructor)."""

from __future__ import annotations

from typing import Any

import pytest

from python_mastery_portfolio._internal.checks import (
    require_at_least,
    require_at_most,
    require_callable,
    require_count,
    require_count_between,
    require_instance,
    require_positive,
)


class TestNumbers:
    @pytest.mark.parametrize("value", [-1, float("nan")], ids=["negative", "nan"])
    def test_at_least(self, value: float) -> None:
        """Values below the minimum, and NaN, are refused by name."""
        with pytest.raises(ValueError, match="delay must be >= 0"):
            require_at_least("delay", value, 0)
        require_at_least("delay", 0, 0)

    @pytest.mark.parametrize("value", [0, -1, float("nan")], ids=["zero", "negative", "nan"])
    def test_positive(self, value: float) -> None:
        """Zero, negatives and NaN are not positive."""
        with pytest.raises(ValueError, match="ttl must be > 0"):
            require_positive("ttl", value)
        require_positive("ttl", 0.5)

    @pytest.mark.parametrize("value", [True, "1", None], ids=["bool", "str", "none"])
    def test_not_a_number(self, value: Any) -> None:
        """Non-numbers are a TypeError naming the parameter."""
        with pytest.raises(TypeError, match="rate must be a number"):
            require_positive("rate", value)
        with pytest.raises(TypeError, match="rate must be a number"):
            require_at_least("rate", value, 0)
        with pytest.raises(TypeError, match="rate must be a number"):
            require_at_most("rate", value, 1)

    @pytest.mark.parametrize("value", [1.5, float("nan")], ids=["above", "nan"])
    def test_at_most(self, value: float) -> None:
        """Values above the maximum, and NaN, are refused by name."""
        with pytest.raises(ValueError, match=r"failure_rate must be <= 1, got"):
            require_at_most("failure_rate", value, 1)
        require_at_most("failure_rate", 1, 1)
        require_at_most("failure_rate", -3.5, 1)


class TestCounts:
    @pytest.mark.parametrize(
        ("value", "error"),
        [(0, ValueError), (1.0, TypeError), (True, TypeError)],
        ids=["below", "float", "bool"],
    )
    def test_refused(self, value: Any, error: type[Exception]) -> None:
        """Counts must be ints at or above the minimum; bools are not counts."""
        with pytest.raises(error, match="max_keys must be"):
            require_count("max_keys", value, 1)

    def test_accepted(self) -> None:
        """An int at the minimum passes."""
        require_count("max_keys", 1, 1)

    @pytest.mark.parametrize(
        ("value", "error", "message"),
        [
            (0, ValueError, "workers must be >= 1, got 0"),
            (65, ValueError, "workers must be <= 64, got 65"),
            (2.0, TypeError, "workers must be an int, got 2.0"),
            (False, TypeError, "workers must be an int, got False"),
        ],
        ids=["below", "above", "float", "bool"],
    )
    def test_between_refused(self, value: Any, error: type[Exception], message: str) -> None:
        """A bounded count is an int within both bounds, with the message naming the bound."""
        with pytest.raises(error) as info:
            require_count_between("workers", value, 1, 64)
        assert str(info.value) == message

    @pytest.mark.parametrize("value", [1, 32, 64], ids=["minimum", "middle", "maximum"])
    def test_between_accepted(self, value: int) -> None:
        """Both bounds are inclusive."""
        require_count_between("workers", value, 1, 64)


class TestKinds:
    def test_instance(self) -> None:
        """A value of the wrong class is a TypeError saying what was wanted."""
        with pytest.raises(TypeError) as info:
            require_instance("name", 3, str, "a str")
        assert str(info.value) == "name must be a str, got 3"
        require_instance("name", "ok", str, "a str")

    def test_instance_of_any_of_a_tuple(self) -> None:
        """A tuple of classes accepts an instance of any of them."""
        require_instance("key", None, (str, type(None)), "a str or None")
        with pytest.raises(TypeError, match="key must be a str or None, got 1"):
            require_instance("key", 1, (str, type(None)), "a str or None")

    def test_callable(self) -> None:
        """Functions, classes and callable instances pass; anything else is named."""
        for value in (len, int, lambda: None):
            require_callable("step", value)
        with pytest.raises(TypeError) as info:
            require_callable("step", "not a function")
        assert str(info.value) == "step must be callable, got 'not a function'"
