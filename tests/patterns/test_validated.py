"""Tests of the Validated descriptor and the ready validators."""

from __future__ import annotations

import gc
import re
import weakref
from typing import Any

import pytest

from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.patterns import (
    AllOf,
    Email,
    InstanceOf,
    Length,
    Matches,
    OneOf,
    Range,
    Validated,
)


class User:
    """The seed's User, with our validators."""

    email = Email()
    age = Range(0, 150)

    def __init__(self, email: str, age: int) -> None:
        self.email = email
        self.age = age


class TestSeedUser:
    def test_valid_user(self) -> None:
        """The seed's valid user is accepted and reads back its values."""
        user = User("test@example.com", 25)
        assert (user.email, user.age) == ("test@example.com", 25)

    @pytest.mark.parametrize(
        ("email", "age", "field", "message"),
        [
            ("invalid", 25, "email", "Invalid email format"),
            (42, 25, "email", "Invalid email format"),
            ("a@example.com", 151, "age", "Age must be between 0 and 150"),
            ("a@example.com", -1, "age", "Age must be between 0 and 150"),
            ("a@example.com", "25", "age", "Age must be between 0 and 150"),
        ],
        ids=["email-no-at", "email-not-str", "age-high", "age-negative", "age-str"],
    )
    def test_invalid_user(self, email: Any, age: Any, field: str, message: str) -> None:
        """A bad value raises ValidationError (a ValueError) with the seed's message."""
        with pytest.raises(ValidationError) as caught:
            User(email, age)
        assert str(caught.value) == message
        assert caught.value.field == field
        assert isinstance(caught.value, ValueError)

    def test_error_carries_value(self) -> None:
        """The error's value is the rejected value."""
        user = User("a@example.com", 1)
        with pytest.raises(ValidationError) as caught:
            user.age = 200
        assert caught.value.value == 200
        assert user.age == 1  # the old value stays


class TestStorage:
    def test_value_lives_in_instance_dict(self) -> None:
        """The value is stored in the instance's __dict__ under the attribute's name."""
        user = User("a@example.com", 3)
        assert vars(user) == {"email": "a@example.com", "age": 3}

    def test_no_leak(self) -> None:
        """The descriptor keeps no reference: a dropped instance is collected (seed defect)."""
        user = User("a@example.com", 3)
        ref = weakref.ref(user)
        del user
        gc.collect()
        assert ref() is None

    def test_no_stale_value_for_new_object(self) -> None:
        """A new object never sees a dead object's value, even with a reused id (seed defect)."""
        ids: set[int] = set()
        for _ in range(200):
            user = User.__new__(User)
            ids.add(id(user))
            with pytest.raises(AttributeError):
                _ = user.email
            user.email = "a@example.com"
            del user
        assert len(ids) < 200  # ids were reused, and still no value leaked across

    def test_unset_attribute_raises_attribute_error(self) -> None:
        """Reading a never-set attribute raises AttributeError naming it."""
        user = User.__new__(User)
        with pytest.raises(AttributeError, match="'age'") as caught:
            _ = user.age
        assert caught.value.name == "age"
        assert caught.value.obj is user
        assert getattr(user, "age", None) is None

    def test_class_access_returns_descriptor(self) -> None:
        """Reading the attribute on the class returns the descriptor."""
        assert isinstance(User.email, Email)
        assert User.email.name == "email"

    def test_delete(self) -> None:
        """del removes the value; deleting again raises AttributeError."""
        user = User("a@example.com", 3)
        del user.age
        with pytest.raises(AttributeError, match="'age'"):
            _ = user.age
        with pytest.raises(AttributeError, match="'age'"):
            del user.age

    def test_slots_convention(self) -> None:
        """A __slots__ class stores the value in the slot named _<name>."""

        class Account:
            __slots__ = ("_owner",)
            owner = Email()

        account = Account()
        with pytest.raises(AttributeError, match="'owner'"):
            _ = account.owner
        account.owner = "o@example.com"
        assert account.owner == "o@example.com"
        assert not hasattr(account, "__dict__")
        del account.owner
        with pytest.raises(AttributeError, match="'owner'"):
            _ = account.owner

    def test_slot_in_base(self) -> None:
        """The _<name> slot may be declared by a base class."""

        class Base:
            __slots__ = ("_level",)

        class Tuned(Base):
            __slots__ = ()
            level = Range(1, 3)

        tuned = Tuned()
        tuned.level = 2
        assert tuned.level == 2

    def test_slots_without_the_slot(self) -> None:
        """A __slots__ class without the _<name> slot gets a TypeError naming the slot."""

        class Broken:
            __slots__ = ()
            code = Matches(r"\d+")

        with pytest.raises(TypeError, match="'_code'"):
            Broken().code = "1"


class TestValidators:
    @pytest.mark.parametrize(
        ("validator", "good", "bad", "message"),
        [
            (Email(), "ada@example.org", "ada@example", "Invalid email format"),
            (Range(0, 10), 10, 11, "Value must be between 0 and 10"),
            (Range(min=0), 0, -1, "Value must be at least 0"),
            (Range(max=1.5), 1.5, 2, "Value must be at most 1.5"),
            (Length[str](1, 3), "abc", "", "Value must be between 1 and 3 characters long"),
            (Length[str](min=2), "ab", "a", "Value must be at least 2 characters long"),
            (Length[list[int]](max=1), [1], [1, 2], "Value must be at most 1 characters long"),
            (Length[str](max=1), "a", 5, "Value must be at most 1 characters long"),
            (OneOf("admin", "user"), "user", "root", "Value must be one of 'admin', 'user'"),
            (Matches(r"[a-z]+"), "slug", "Slug", "Value must match '[a-z]+'"),
            (Matches(re.compile(r"\d")), "1", 1, "Value must match '\\\\d'"),
            (InstanceOf(int), 1, True, "Value must be int"),
            (InstanceOf(int), 1, 1.0, "Value must be int"),
            (InstanceOf(bool), True, 1, "Value must be bool"),
            (InstanceOf(object), True, ..., ""),
            (Validated[int](lambda v: v > 0), 1, 0, "Invalid value"),
            (Validated[int](), 1, ..., ""),
        ],
        ids=[
            "email",
            "range",
            "range-min",
            "range-max",
            "length",
            "length-min",
            "length-list",
            "length-unsized",
            "one-of",
            "matches",
            "matches-compiled",
            "instance-bool-for-int",
            "instance-float-for-int",
            "instance-bool",
            "instance-object",
            "check",
            "no-check",
        ],
    )
    def test_accepts_and_rejects(
        self, validator: Validated[Any], good: Any, bad: Any, message: str
    ) -> None:
        """Each validator accepts a good value and rejects a bad one with its default message."""
        assert validator.validate(good) is good
        if bad is ...:
            return
        with pytest.raises(ValidationError) as caught:
            validator.validate(bad)
        assert str(caught.value) == message
        assert caught.value.field == "value"

    def test_field_label_in_messages(self) -> None:
        """Default messages start with the field name as words, capitalised."""
        with pytest.raises(ValidationError, match=r"^Max retries must be at most 3$"):
            Range(max=3).validate(4, "max_retries")

    def test_custom_message(self) -> None:
        """message= replaces the default message."""
        with pytest.raises(ValidationError, match=r"^too old$"):
            Range(0, 150, message="too old").validate(200)

    def test_subclass_seed_style(self) -> None:
        """A seed-style subclass (the seed's Age) works with its own message."""

        class Age(Range[int]):
            def __init__(self) -> None:
                super().__init__(0, 150, message="Age must be between 0 and 150")

        class Person:
            age = Age()

        person = Person()
        person.age = 30
        with pytest.raises(ValidationError, match=r"^Age must be between 0 and 150$"):
            person.age = 151

    @pytest.mark.parametrize(
        ("validator", "text"),
        [
            (Email(), "Email()"),
            (Email(message="m"), "Email(message='m')"),
            (Range(0, 1), "Range(min=0, max=1)"),
            (Length[str](max=3), "Length(max=3)"),
            (OneOf(1, 2), "OneOf(1, 2)"),
            (Matches("a"), "Matches('a')"),
            (InstanceOf(int, message="m"), "InstanceOf(int, message='m')"),
            (Email() & Length[str](max=3), "AllOf(Email(), Length(max=3))"),
            (AllOf(Email(), message="m"), "AllOf(Email(), message='m')"),
        ],
        ids=["email", "message", "range", "length", "one-of", "matches", "instance", "and", "all"],
    )
    def test_repr(self, validator: Validated[Any], text: str) -> None:
        """Each validator's repr shows its configuration."""
        assert repr(validator) == text


class TestComposition:
    def test_and_checks_in_order(self) -> None:
        """a & b checks a, then b; the first failure's message is raised."""
        validator = Email() & Length[str](max=16)
        assert validator.validate("a@example.com") == "a@example.com"
        with pytest.raises(ValidationError, match=r"^Invalid email format$"):
            validator.validate("x" * 40)
        with pytest.raises(ValidationError, match=r"^Value must be at most 16 characters long$"):
            validator.validate("a" * 10 + "@example.com")

    def test_chains_are_flat(self) -> None:
        """(a & b) & c holds three parts, not a nested pair."""
        validator = InstanceOf(int) & Range(0, 10) & OneOf(2, 4)
        assert len(validator.parts) == 3

    def test_shared_message(self) -> None:
        """AllOf(message=...) reports one message for every failure."""
        validator = AllOf(InstanceOf(int), Range(0, 150), message="Age must be between 0 and 150")
        for bad in (1.5, 151):
            with pytest.raises(ValidationError, match=r"^Age must be between 0 and 150$"):
                validator.validate(bad, "age")

    def test_combined_descriptor_names_field(self) -> None:
        """A combined descriptor on a class reports the attribute's name."""

        class Signup:
            contact = Email() & Length[str](max=20)

        signup = Signup()
        with pytest.raises(ValidationError) as caught:
            signup.contact = "a" * 20 + "@example.com"
        assert caught.value.field == "contact"
        assert str(caught.value) == "Contact must be at most 20 characters long"

    def test_and_with_non_validator(self) -> None:
        """& with something that is not a validator is a TypeError."""
        with pytest.raises(TypeError):
            _ = Email() & "x"  # type: ignore[operator]
        with pytest.raises(TypeError, match="AllOf combines"):
            AllOf(Email(), "x")  # type: ignore[arg-type]


def _loose(cls: Any) -> Any:
    """Return ``cls`` untyped, to call it with wrong arguments on purpose."""
    return cls


class TestConstruction:
    @pytest.mark.parametrize(
        ("build", "error", "match"),
        [
            (lambda: _loose(Validated)(check=3), TypeError, "check must be callable"),
            (lambda: _loose(Validated)(message=3), TypeError, "message must be a str"),
            (lambda: Range(), ValueError, "needs min, max or both"),
            (lambda: Range(5, 1), ValueError, "must not exceed"),
            (lambda: Length(), ValueError, "needs min, max or both"),
            (lambda: Length(5, 1), ValueError, "must not exceed"),
            (lambda: Length(-1), ValueError, "min must not be negative"),
            (lambda: _loose(Length)(max=1.5), TypeError, "max must be an int"),
            (lambda: Length(min=True), TypeError, "min must be an int"),
            (lambda: OneOf(), ValueError, "at least one value"),
            (lambda: _loose(Matches)(3), TypeError, "pattern must be"),
            (lambda: _loose(Matches)(re.compile(b"x")), TypeError, "pattern must be"),
            (lambda: _loose(InstanceOf)("int"), TypeError, "kind must be a type"),
        ],
        ids=[
            "check",
            "message",
            "range-empty",
            "range-order",
            "length-empty",
            "length-order",
            "length-negative",
            "length-float",
            "length-bool",
            "one-of-empty",
            "matches-type",
            "matches-bytes",
            "instance-of",
        ],
    )
    def test_bad_arguments(self, build: Any, error: type[Exception], match: str) -> None:
        """Wrong constructor arguments raise at construction, naming the parameter."""
        with pytest.raises(error, match=match):
            build()
