"""Every seed 004 example of the class-level patterns, run with our names.

Seed 004 ("Advanced Python Patterns") shows ``singleton``, ``add_logging``, the
``ValidatedProperty``/``Email``/``Age``/``User`` descriptors, the ``RegistryMeta`` plugin
registry, the ``NotificationFactory`` and the strategy pattern. Each test below is the
seed's example with our counterpart swapped in, and checks what the example claims.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from enum import Enum
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.patterns import (
    Email,
    Range,
    Registered,
    Registry,
    Validated,
    add_logging,
    reset_singleton,
    singleton,
)
from tests.conftest import raise_first, run_threads

logger = logging.getLogger(__name__)


def test_singleton_database() -> None:
    """The seed's @singleton Database: one connection, and still a class."""
    connects: list[str] = []

    @singleton
    class Database:
        """Singleton database connection."""

        def __init__(self, url: str) -> None:
            self.url = url
            self.connection = self._connect()

        def _connect(self) -> str:
            connects.append(self.url)
            logger.info("Connecting to %s", self.url)
            return "connection"  # Actual connection logic

    results = raise_first(run_threads(20, lambda _: Database("postgresql://localhost")))
    assert all(result is results[0] for result in results)
    assert connects == ["postgresql://localhost"]
    assert isinstance(results[0], Database)  # the seed's version returned a function
    assert Database.__doc__ == "Singleton database connection."
    reset_singleton(Database)


def test_add_logging_data_processor(caplog: pytest.LogCaptureFixture) -> None:
    """The seed's @add_logging DataProcessor logs each process call's duration."""
    caplog.set_level(logging.DEBUG, logger=__name__)

    @add_logging
    class DataProcessor:
        """Data processor with automatic logging."""

        def process(self, data: list[int]) -> list[int]:
            return [item * 2 for item in data]

    assert DataProcessor().process([1, 2, 3]) == [2, 4, 6]
    [message] = [r.getMessage() for r in caplog.records if r.name == __name__]
    assert "DataProcessor.process took" in message


def test_validated_property_user() -> None:
    """The seed's ValidatedProperty, Email, Age and User, with its messages."""

    class ValidatedEmail(Validated[str]):
        """The seed's Email, written on the seed's ValidatedProperty(validator, error_msg)."""

        def __init__(self) -> None:
            super().__init__(
                lambda x: isinstance(x, str) and "@" in x, message="Invalid email format"
            )

    class Age(Range[int]):
        """The seed's Age."""

        def __init__(self) -> None:
            super().__init__(0, 150)

    for email_descriptor in (Email(), ValidatedEmail()):

        class User:
            email = email_descriptor
            age = Age()

            def __init__(self, email: str, age: int) -> None:
                self.email = email  # Validated
                self.age = age  # Validated

        user = User("test@example.com", 25)  # OK
        assert (user.email, user.age) == ("test@example.com", 25)
        with pytest.raises(ValueError, match=r"^Invalid email format$"):  # the seed's ValueError
            User("invalid", 25)
        with pytest.raises(ValidationError, match=r"^Age must be between 0 and 150$"):
            User("test@example.com", 151)


def test_registry_plugins() -> None:
    """The seed's RegistryMeta plugins: RegistryMeta.get_plugin becomes plugins.get / [ ]."""
    sent: list[str] = []
    plugins: Registry[type[Any]] = Registry("plugins")

    class Plugin(Registered, registry=plugins):
        """Base plugin class."""

    class EmailPlugin(Plugin):
        """Email plugin implementation."""

        def send(self, message: str) -> None:
            sent.append(f"email: {message}")

    class SMSPlugin(Plugin):
        """SMS plugin implementation."""

        def send(self, message: str) -> None:
            sent.append(f"sms: {message}")

    email_plugin = plugins.get("EmailPlugin")()  # type: ignore[misc]  # the seed's get_plugin
    email_plugin.send("Hello!")
    plugins["SMSPlugin"]().send("Hi")
    assert sent == ["email: Hello!", "sms: Hi"]
    assert "Plugin" not in plugins  # the base is not registered, as in the seed
    assert plugins.get("Missing") is None  # get_plugin returned None for an unknown name


def test_notification_factory() -> None:
    """The seed's NotificationFactory.create(NotificationType.EMAIL), keyed by an enum."""
    sent: list[str] = []

    class NotificationType(Enum):
        """Notification types."""

        EMAIL = "email"
        SMS = "sms"
        PUSH = "push"

    class Notification(ABC):
        """Abstract notification base class."""

        @abstractmethod
        def send(self, recipient: str, message: str) -> None:
            """Send notification."""

    notifications: Registry[type[Notification]] = Registry("notifications")

    @notifications.register(NotificationType.EMAIL)
    class EmailNotification(Notification):
        def send(self, recipient: str, message: str) -> None:
            sent.append(f"email to {recipient}: {message}")

    @notifications.register(NotificationType.SMS)
    class SMSNotification(Notification):
        def send(self, recipient: str, message: str) -> None:
            sent.append(f"sms to {recipient}: {message}")

    notification = notifications.create(NotificationType.EMAIL)
    notification.send("user@example.com", "Hello!")
    assert sent == ["email to user@example.com: Hello!"]
    assert isinstance(notification, EmailNotification)
    with pytest.raises(LookupError, match=r"NotificationType\.PUSH; known: .*EMAIL.*SMS"):
        notifications.create(NotificationType.PUSH)  # the seed raised ValueError here


def test_strategy_sorter() -> None:
    """The seed's strategy pattern, with strategies picked from a registry by name."""

    class SortStrategy(ABC):
        @abstractmethod
        def sort(self, data: list[int]) -> list[int]: ...

    strategies: Registry[type[SortStrategy]] = Registry("sort strategies")

    @strategies.register("quick")
    class QuickSort(SortStrategy):
        def sort(self, data: list[int]) -> list[int]:
            if len(data) <= 1:
                return data
            pivot = data[len(data) // 2]
            left = [x for x in data if x < pivot]
            middle = [x for x in data if x == pivot]
            right = [x for x in data if x > pivot]
            return self.sort(left) + middle + self.sort(right)

    @strategies.register("merge")
    class MergeSort(SortStrategy):
        def sort(self, data: list[int]) -> list[int]:
            return sorted(data)

    class Sorter:
        def __init__(self, strategy: SortStrategy) -> None:
            self._strategy = strategy

        def sort(self, data: list[int]) -> list[int]:
            return self._strategy.sort(data)

    data = [3, 1, 4, 1, 5, 9, 2, 6]
    for name in strategies:
        assert Sorter(strategies.create(name)).sort(data) == [1, 1, 2, 3, 4, 5, 6, 9]
