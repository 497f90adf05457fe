"""The Users API's request and response bodies.

Example:
    >>> UserCreate(email="Ada@Example.ORG", name="  Ada  ").model_dump()
    {'email': 'ada@example.org', 'name': 'Ada', 'age': None}
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

__all__ = [
    "EMAIL_PATTERN",
    "NAME_PATTERN",
    "Email",
    "Health",
    "Name",
    "Problem",
    "User",
    "UserCreate",
    "UserPage",
    "UserUpdate",
]

EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
"""What an e-mail address may be, as the server checks it and the OpenAPI schema says."""
_EMAIL = re.compile(EMAIL_PATTERN[1:-1])
_EMAIL_MAX = 254


def _check_email(value: str) -> str:
    # One rule, stated in the schema as a pattern, so that what the schema calls valid the
    # server accepts (a general e-mail validator refuses some addresses the format allows).
    if len(value) > _EMAIL_MAX or _EMAIL.fullmatch(value) is None:
        raise ValueError("value is not a valid e-mail address (name@domain.tld, ASCII)")
    return value.lower()


Email = Annotated[
    str,
    AfterValidator(_check_email),
    WithJsonSchema({"type": "string", "maxLength": _EMAIL_MAX, "pattern": EMAIL_PATTERN}),
]
"""An ASCII e-mail address of at most 254 characters, lowercased as a whole.

Example:
    >>> from pydantic import TypeAdapter
    >>> TypeAdapter(Email).validate_python("Ada.L+news@Example.ORG")
    'ada.l+news@example.org'
"""

_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_FORBIDDEN = "\\x00-\\x1f\\x7f-\\x9f" + "".join(f"\\u{ord(c):04x}" for c in _BIDI_CONTROLS)
NAME_PATTERN = f"^[^{_FORBIDDEN}]*[^\\s{_FORBIDDEN}][^{_FORBIDDEN}]*$"
"""What a name may be, as the OpenAPI schema says: no control or bidi-control characters,
and at least one character that is not whitespace."""


def _clean_name(value: str) -> str:
    """Refuse control and bidi-control characters; strip; normalise to NFC."""
    for char in value:
        if char in _BIDI_CONTROLS or unicodedata.category(char) == "Cc":
            raise ValueError(
                f"must not contain control or bidi-control characters (found U+{ord(char):04X})"
            )
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise ValueError("must not be empty or only whitespace")
    return name


Name = Annotated[
    str,
    StringConstraints(max_length=100),
    AfterValidator(_clean_name),
    WithJsonSchema({"type": "string", "maxLength": 100, "pattern": NAME_PATTERN}),
]
"""A name of at most 100 characters with a visible one; stripped and normalised to NFC.

Control characters (NUL, escape sequences, CR/LF) and bidi controls are refused: they
forge log lines and terminal output, or disguise what a name reads as.

Example:
    >>> from pydantic import TypeAdapter
    >>> TypeAdapter(Name).validate_python("  Zoe\u0301 ")  # e + combining acute: one é
    'Zoé'
"""


def _whole_float(value: object) -> object:
    # 24.0 is an integer in JSON Schema's eyes; 24.5, true and "24" are not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Age = Annotated[int, Field(ge=0, le=150, strict=True), BeforeValidator(_whole_float)]
"""An age from 0 to 150; ``24.0`` is 24, but JSON ``true`` or ``"36"`` is refused, not coerced."""


def _not_nullable(schema: dict[str, Any]) -> None:
    """Drop ``null`` from a field's ``anyOf`` (the field may be left out, not set to null)."""
    branches = [branch for branch in schema.pop("anyOf") if branch != {"type": "null"}]
    schema.update(branches[0])
    schema.pop("default", None)


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

    # The schema says what the validator below enforces: a string, never null.
    email: Email | None = Field(default=None, json_schema_extra=_not_nullable)
    name: Name | None = Field(default=None, json_schema_extra=_not_nullable)
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
    """One page of ``GET /users``.

    ``total`` is counted only when asked for (``?total=true``); ``next_cursor``, when not
    ``null``, fetches the next page (``?cursor=...``) at the same cost wherever it is.
    """

    items: list[User]
    total: int | None
    limit: int
    offset: int
    next_cursor: str | None = None


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
