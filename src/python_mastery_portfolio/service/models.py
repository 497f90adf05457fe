"""The Users API's request and response bodies.

Example:
    >>> UserCreate(email="Ada@Example.ORG", name="  Ada  ").model_dump()
    {'email': 'ada@example.org', 'name': 'Ada', 'age': None}
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

__all__ = [
    "Email",
    "Health",
    "Name",
    "Problem",
    "User",
    "UserCreate",
    "UserPage",
    "UserUpdate",
]

Email = Annotated[EmailStr, AfterValidator(str.lower)]
"""A valid e-mail address, lowercased as a whole."""

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
"""A name of 1 to 100 characters once surrounding whitespace is stripped."""

Age = Annotated[int, Field(ge=0, le=150, strict=True)]
"""An age from 0 to 150; strict, so JSON ``true`` or ``"36"`` is refused rather than coerced."""


class UserCreate(BaseModel):
    """The body of ``POST /users``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email
    name: Name
    age: Age | None = None


class UserUpdate(BaseModel):
    """The body of ``PATCH /users/{id}``: only the fields given change.

    ``email`` and ``name`` may be left out but not set to ``null``; ``age: null`` clears the
    age. An empty body changes nothing.

    Example:
        >>> UserUpdate(age=None).changes()
        {'age': None}
        >>> UserUpdate(name="Grace").changes()
        {'name': 'Grace'}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email | None = None
    name: Name | None = None
    age: Age | None = None

    @field_validator("email", "name", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only runs for fields the client sent: a missing field keeps its default.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value

    def changes(self) -> dict[str, Any]:
        """Return the fields the client sent, with their new values."""
        return self.model_dump(include=self.model_fields_set)


class User(BaseModel):
    """A stored user."""

    model_config = ConfigDict(frozen=True)

    id: str
    email: str
    name: str
    age: int | None
    created_at: datetime
    updated_at: datetime


class UserPage(BaseModel):
    """One page of ``GET /users``."""

    items: list[User]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    """The body of ``GET /health``."""

    status: str
    database: str


class Problem(BaseModel):
    """An RFC 9457 problem details body, as every error response of the API has."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    request_id: str | None = None
