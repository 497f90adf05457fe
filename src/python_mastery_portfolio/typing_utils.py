"""Functional types and protocols: Result (Success | Failure), Container, Pipeline, repositories.

``Result[T, E]`` holds either a value (:class:`Success`) or an error (:class:`Failure`), so a
function can return its failure instead of raising it::

    def divide(a: int, b: int) -> Result[float, str]:
        if b == 0:
            return Result.failure("Cannot divide by zero")
        return Result.success(a / b)

How it is typed, and the one trade-off:
    ``Result`` is a real generic base class with exactly two ``@final`` variants (sealed at run
    time too). That is what lets ``Result[float, str]`` appear in annotations *and* gives mypy
    the constructors ``Result.success`` / ``Result.failure``: mypy types a union alias, used as
    a value, as ``types.UnionType``, which has no such attributes, so no union-alias design can
    type-check the seed's ``Result.success(...)`` without a plugin.

    The price is that a type checker cannot know the base has no other subclasses. On a value
    annotated ``Result[T, E]``, a ``match`` ending in ``assert_never`` does not type-check, and
    mypy narrows ``isinstance(r, Success)`` and ``case Success(value)`` to ``Success[Any, Any]``
    (it does not carry type arguments into a subclass; pyright does). Annotate with the union
    ``Success[T, E] | Failure[T, E]`` instead when you want both: mypy and pyright then narrow
    each branch precisely and check exhaustiveness. Every producer in
    this module already returns the precise variant (``Result.success`` returns a
    ``Success[T, Never]``, :func:`attempt` and :func:`as_result` return the union), and both
    variants are subtypes of ``Result[T, E]`` (``T`` and ``E`` are covariant), so the same value
    fits either annotation.

``bool(result)`` raises ``TypeError`` so that ``if result:`` cannot silently mean "is a
success"; at type-check time ``Result`` has no ``__bool__``, so mypy's ``truthy-bool`` error code
flags such a test too.
"""

from __future__ import annotations

# The implementations live in one subpackage or module per concept; this is the seed's facade.
from python_mastery_portfolio.pipeline import Container, Pipeline
from python_mastery_portfolio.repository import InMemoryRepository, Repository, Serializable
from python_mastery_portfolio.result import Failure, Result, Success, as_result, attempt

__all__ = [
    "Container",
    "Failure",
    "InMemoryRepository",
    "Pipeline",
    "Repository",
    "Result",
    "Serializable",
    "Success",
    "as_result",
    "attempt",
]
