"""The reference Users service, built only from the toolkit's parts (extra ``[web]``).

Run it with ``pmp serve`` (or ``make run``); build it in code with :func:`create_app`.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401  # pyright: ignore[reportUnusedImport]  # checks for the [web] extra
    import pydantic_settings  # noqa: F401  # pyright: ignore[reportUnusedImport]  # idem
except ImportError as error:
    raise ImportError(
        f"python_mastery_portfolio.service needs the [web] extra ({error}): "
        'pip install "python-mastery-portfolio[web]"'
    ) from error

from python_mastery_portfolio.service.app import build_container, create_app
from python_mastery_portfolio.service.errors import (
    DatabaseUnavailableError,
    DuplicateEmailError,
    ServiceStartError,
    UserNotFoundError,
)
from python_mastery_portfolio.service.events import EventHub, Subscription
from python_mastery_portfolio.service.models import (
    Health,
    Problem,
    User,
    UserCreate,
    UserPage,
    UserUpdate,
)
from python_mastery_portfolio.service.repository import SQLiteUserRepository, is_database_locked
from python_mastery_portfolio.service.settings import Settings
from python_mastery_portfolio.service.streams import EventStreams
from python_mastery_portfolio.service.users import UserService

__all__ = [
    "DatabaseUnavailableError",
    "DuplicateEmailError",
    "EventHub",
    "EventStreams",
    "Health",
    "Problem",
    "SQLiteUserRepository",
    "ServiceStartError",
    "Settings",
    "Subscription",
    "User",
    "UserCreate",
    "UserNotFoundError",
    "UserPage",
    "UserService",
    "UserUpdate",
    "build_container",
    "create_app",
    "is_database_locked",
]
