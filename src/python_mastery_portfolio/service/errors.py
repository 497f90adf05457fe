"""Errors of the Users service, each mapped to its HTTP status by the web layer."""

from __future__ import annotations

from typing import Any

from python_mastery_portfolio.exceptions import PortfolioError

__all__ = ["DuplicateEmailError", "UserNotFoundError"]


class UserNotFoundError(PortfolioError, LookupError):
    """No user has the given ID (404).

    Example:
        >>> error = UserNotFoundError("u1")
        >>> error.http_status, error.user_id, str(error)
        (404, 'u1', 'No user has the ID u1')
    """

    default_code = "user_not_found"
    http_status = 404
    fields = ("user_id",)
    user_id: str | None

    def __init__(self, user_id: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(f"No user has the ID {user_id}", code=code, user_id=user_id, **context)


class DuplicateEmailError(PortfolioError):
    """Another user already has the e-mail address (409).

    Example:
        >>> DuplicateEmailError("ada@example.org").http_status
        409
    """

    default_code = "duplicate_email"
    http_status = 409
    fields = ("email",)
    email: str | None

    def __init__(self, email: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(
            f"A user with the e-mail address {email} already exists",
            code=code,
            email=email,
            **context,
        )
