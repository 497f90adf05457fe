"""The reference Users service, built only from the toolkit's parts (extra ``[web]``).

Run it with ``pmp serve`` (or ``make run``); build it in code with :func:`create_app`.
"""

from __future__ import annotations

from python_mastery_portfolio.service.app import build_container, create_app
from python_mastery_portfolio.service.errors import DuplicateEmailError, UserNotFoundError
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
from python_mastery_portfolio.service.users import UserService

__all__ = [
    "DuplicateEmailError",
    "EventHub",
    "Health",
    "Problem",
    "SQLiteUserRepository",
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
