"""Rate strings in the style of ``limits``: ``"10/minute"``, ``"5 per 2 seconds"``.

The grammar (case-insensitive, spaces around the parts allowed)::

    rate    := amount ("/" | "per") [count] unit
    amount  := a positive number: the tokens (calls) allowed
    count   := a positive number of units in the period (default 1)
    unit    := "second" | "minute" | "hour" | "day", with or without a plural "s"

So ``"10/minute"``, ``"10 per minute"``, ``"100/hour"``, ``"5/2 seconds"`` and ``"5 per 2
seconds"`` all parse; ``limits``' several limits in one string (``"1/second;10/minute"``) do
not, since a limiter holds one rate.
"""

from __future__ import annotations

import re

__all__ = ["parse_rate"]

_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}

_RATE = re.compile(
    r"\s*(?P<amount>\d+(?:\.\d*)?)\s*(?:/|\s+per\s+)\s*"
    r"(?:(?P<count>\d+(?:\.\d*)?)\s*)?(?P<unit>second|minute|hour|day)s?\s*",
    re.IGNORECASE,
)


def parse_rate(text: str, name: str = "rate") -> tuple[float, float]:
    """Return ``(rate, per)`` read from a rate string such as ``"10/minute"``.

    Args:
        text: The rate string (grammar in the module docstring).
        name: The parameter named in error messages.

    Returns:
        The tokens allowed and the period in seconds; the tokens are an ``int`` when written
        as one.

    Raises:
        TypeError: If ``text`` is not a string.
        ValueError: If it does not follow the grammar or a number is not positive.

    Example:
        >>> parse_rate("10/minute"), parse_rate("5 per 2 seconds"), parse_rate("1.5/HOUR")
        ((10, 60.0), (5, 2.0), (1.5, 3600.0))
    """
    if not isinstance(text, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # untyped callers
        raise TypeError(f"{name} must be a str like '10/minute', got {text!r}")
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{name} must look like '10/minute' or '5 per 2 seconds' (units: second, minute, "
            f"hour, day), got {text!r}"
        )
    amount_text = match["amount"]
    amount: float = float(amount_text) if "." in amount_text else int(amount_text)
    count = float(match["count"] or 1)
    if amount <= 0 or count <= 0:
        raise ValueError(f"{name} must have a positive amount and period, got {text!r}")
    return amount, count * _UNITS[match["unit"].lower()]
