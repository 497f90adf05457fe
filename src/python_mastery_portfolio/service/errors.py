"""Errors of the Users service, each mapped to its HTTP status by the web layer."""

from __future__ import annotations

from typing import Any

from python_mastery_portfolio.exceptions import PortfolioError

__all__ = [
    "DatabaseUnavailableError",
    "DuplicateEmailError",
    "ServiceStartError",
    "UserNotFoundError",
]


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


class DatabaseUnavailableError(PortfolioError):
    """The database cannot take writes now: its file is gone, read-only or broken (503).

    Raised instead of a 500 for failures caused by the database's state, which an operator
    can fix while the service runs (the next write reopens the file). The answer names the
    reason, not the file's path; :attr:`path` is for the logs.

    Example:
        >>> error = DatabaseUnavailableError("data/users.db", "the file was deleted")
        >>> error.http_status, str(error), error.path
        (503, 'The database is unavailable: the file was deleted', 'data/users.db')
    """

    default_code = "database_unavailable"
    http_status = 503
    fields = ("reason",)
    reason: str | None

    def __init__(self, path: object, reason: str, *, code: str | None = None) -> None:
        super().__init__(f"The database is unavailable: {reason}", code=code, reason=reason)
        self.path = str(path)
        """The database file (not part of the answer)."""


class ServiceStartError(PortfolioError):
    """The service cannot start: its message names what (the database path) and why.

    Example:
        >>> str(ServiceStartError("cannot open the user database /x.db: permission denied"))
        'cannot open the user database /x.db: permission denied'
    """

    default_code = "service_start_failed"
