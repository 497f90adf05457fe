"""Functions whose annotations name classes imported only for type checkers (a fixture)."""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING

from python_mastery_portfolio.validation import validate_types

if TYPE_CHECKING:
    import fractions as fr
    from decimal import Decimal

    class OnlyForMypy:
        """Defined for type checkers only."""

    Money = Decimal


if typing.TYPE_CHECKING:
    from collections import OrderedDict as Ordered


@validate_types
def price(amount: Decimal, count: int) -> str:
    return f"{amount} x {count}"


@validate_types(check_return=True)
def ratio(a: fr.Fraction, b: list[OnlyForMypy], c: Ordered[str, int], d: int) -> Decimal:
    return typing.cast("Decimal", (a, b, c, d))


@validate_types
def typo(amount: Decimall) -> None:  # type: ignore[name-defined]  # noqa: F821  # the error under test
    pass
