"""Static proofs of the patterns package's types: mypy and pyright check, pytest runs."""

from __future__ import annotations

import logging
from collections.abc import Hashable
from enum import Enum
from typing import Any, assert_type

import pytest

from python_mastery_portfolio.patterns import (
    AllOf,
    Email,
    InstanceOf,
    Length,
    Matches,
    OneOf,
    Range,
    Registered,
    Registry,
    Validated,
    add_logging,
    reset_singleton,
    singleton,
)


def test_singleton_keeps_the_class_type() -> None:
    """@singleton is type[T] -> type[T]: the class, its instances and attributes keep types."""

    @singleton
    class Database:
        pool: int = 5

        def __init__(self, url: str) -> None:
            self.url = url

    db = Database("sqlite://")
    assert_type(db, Database)
    assert_type(db.url, str)
    assert_type(Database.pool, int)
    assert isinstance(db, Database)
    reset_singleton(Database)


def test_add_logging_keeps_the_class_type() -> None:
    """Bare and configured @add_logging keep the class and its methods' types."""

    @add_logging
    class Bare:
        def run(self, n: int) -> str:
            return str(n)

    @add_logging(level=logging.INFO, unit="us")
    class Configured:
        def run(self) -> float:
            return 1.0

    assert_type(Bare().run(1), str)
    assert_type(Configured().run(), float)


class User:
    email = Email()
    age = Range(0, 150)
    strict_age = InstanceOf(int) & Range(0, 150)
    name = Length[str](max=50)
    contact = Email() & Length(max=254)
    role = OneOf("admin", "user")
    slug = Matches(r"[a-z]+")
    score = Validated[float](lambda v: v >= 0)

    def __init__(self) -> None:
        self.email = "a@example.com"
        self.age = 30
        self.strict_age = 30
        self.name = "Ada"
        self.contact = "a@example.com"
        self.role = "user"
        self.slug = "ada"
        self.score = 1.5


def test_validated_attribute_types() -> None:
    """mypy sees each validated attribute's type on instances and the descriptor on the class."""
    user = User()
    assert_type(user.email, str)
    assert_type(user.age, int)
    assert_type(user.strict_age, int)
    assert_type(user.name, str)
    assert_type(user.contact, str)
    assert_type(user.role, str)
    assert_type(user.slug, str)
    assert_type(user.score, float)
    # mypy takes an undeclared class attribute's type from the class body; pyright joins the
    # assignments in __init__ too (Email | str). Annotated descriptors (Account) are exact in both.
    assert_type(User.email, Email)  # pyright: ignore[reportAssertTypeFailure]
    assert_type(User.age, Range[int])  # pyright: ignore[reportAssertTypeFailure]
    assert_type(User.contact, AllOf[str])  # pyright: ignore[reportAssertTypeFailure]
    assert_type(Account.email, Email)
    assert_type(Account.age, Range[int])
    assert_type(Account.contact, AllOf[str])
    assert_type(Account.email.validate("a@example.com"), str)
    account = Account()
    assert_type(account.email, str)
    assert_type(account.age, int)
    assert_type(account.contact, str)


class Account:
    """The descriptors annotated with their own types: exact on the class for every checker."""

    email: Email = Email()
    age: Range[int] = Range(0, 150)
    contact: AllOf[str] = Email() & Length(max=254)

    def __init__(self) -> None:
        self.email = "a@example.com"
        self.age = 30
        self.contact = "a@example.com"


def test_validated_rejects_wrong_types_statically() -> None:
    """Assigning a value of the wrong type is a type error (and a ValidationError at run time)."""
    user = User()
    with pytest.raises(ValueError, match="Age"):
        user.age = "old"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    # pyright narrows the attribute to the (rejected) assigned type; a fresh read is an int.
    assert_type(user.age, int)  # pyright: ignore[reportAssertTypeFailure]
    assert_type(User().age, int)
    account = Account()
    with pytest.raises(ValueError, match="Age"):
        account.age = "old"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]


class Kind(Enum):
    A = "a"


class Plugin(Registered, registry=Registry[type[Any]]("typing plugins")):
    def send(self) -> str:
        return "sent"


class APlugin(Plugin, key=Kind.A):
    pass


def test_registry_types() -> None:
    """Registry[T] returns T from [] and get, and create returns what the factory builds."""
    registry: Registry[type[Plugin]] = Registry("plugins")

    @registry.register("a")
    class Local(Plugin, abstract=True):
        pass

    assert_type(registry["a"], type[Plugin])
    assert_type(registry.get("a"), type[Plugin] | None)
    assert_type(registry.create("a"), Plugin)
    assert_type(registry.create("a").send(), str)
    assert_type(registry.names(), tuple[Hashable, ...])
    assert_type(Local, type[Local])
    assert_type(len(registry), int)
    assert "a" in registry
    assert Plugin.registry[Kind.A] is APlugin

    factories: Registry[Any] = Registry()
    factories.add("answer", lambda: 42)
    assert factories.create("answer") == 42
