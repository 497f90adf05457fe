"""Tests of @add_logging."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterator

import pytest

from python_mastery_portfolio.patterns import add_logging

LOGGER = __name__


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


class Base:
    def inherited(self) -> int:
        return 1


@add_logging
class Worker(Base):
    """A class with one member of every kind."""

    label = "worker"

    def process(self, data: list[int], *, factor: int = 2) -> list[int]:
        """Double the data."""
        return [item * factor for item in data]

    async def fetch(self, key: str) -> str:
        await asyncio.sleep(0)
        return key.upper()

    @classmethod
    def build(cls) -> Worker:
        return cls()

    @staticmethod
    def helper(value: int) -> int:
        return value + 1

    @property
    def size(self) -> int:
        return 3

    def fail(self) -> None:
        raise KeyError("boom")

    def lines(self) -> Iterator[int]:
        yield 1

    def _private(self) -> int:
        return 0

    def __len__(self) -> int:
        return 0

    class Nested:
        """A nested class: callable, but not a method."""


@pytest.fixture(autouse=True)
def _debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)


class TestWrapped:
    def test_sync_method_logged_under_module_logger(self, caplog: pytest.LogCaptureFixture) -> None:
        """A public method's call is logged at DEBUG under the class's module logger."""
        assert Worker().process([1, 2]) == [2, 4]
        [record] = [r for r in caplog.records if r.name == LOGGER]
        assert record.levelno == logging.DEBUG
        assert record.getMessage().startswith(f"{__name__}.Worker.process took ")
        assert record.getMessage().endswith(" ms")

    async def test_async_method(self, caplog: pytest.LogCaptureFixture) -> None:
        """An async method stays a coroutine function and is logged when awaited."""
        assert inspect.iscoroutinefunction(Worker.fetch)
        assert await Worker().fetch("k") == "K"
        assert any("Worker.fetch took" in message for message in _messages(caplog))

    def test_classmethod_and_staticmethod(self, caplog: pytest.LogCaptureFixture) -> None:
        """Classmethods and staticmethods keep their kind and are logged."""
        assert isinstance(inspect.getattr_static(Worker, "build"), classmethod)
        assert isinstance(inspect.getattr_static(Worker, "helper"), staticmethod)
        assert isinstance(Worker.build(), Worker)
        assert Worker.helper(1) == 2
        messages = _messages(caplog)
        assert any("Worker.build took" in message for message in messages)
        assert any("Worker.helper took" in message for message in messages)

    def test_raising_method_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """A call that raises is logged with the exception type and re-raised."""
        with pytest.raises(KeyError):
            Worker().fail()
        assert any(message.endswith("(raised KeyError)") for message in _messages(caplog))

    def test_signature_and_metadata_kept(self) -> None:
        """The wrapper keeps the name, docstring, signature and __wrapped__."""
        method = Worker.process
        assert method.__name__ == "process"
        assert method.__doc__ == "Double the data."
        assert str(inspect.signature(method)) == (
            "(self, data: 'list[int]', *, factor: 'int' = 2) -> 'list[int]'"
        )
        assert hasattr(method, "__wrapped__")


class TestLeftAlone:
    @pytest.mark.parametrize(
        "name",
        ["size", "_private", "__len__", "Nested", "label", "lines", "inherited"],
        ids=["property", "private", "dunder", "nested-class", "attribute", "generator", "base"],
    )
    def test_not_wrapped(self, name: str) -> None:
        """Properties, private and dunder methods, classes, data, generators, bases: untouched."""
        member = inspect.getattr_static(Worker, name)
        assert not hasattr(member, "__wrapped__")

    def test_untouched_members_log_nothing(self, caplog: pytest.LogCaptureFixture) -> None:
        """Using the members left alone logs nothing."""
        worker = Worker()
        assert (worker.size, worker._private(), len(worker), list(worker.lines())) == (3, 0, 0, [1])
        assert worker.inherited() == 1
        assert _messages(caplog) == []


class TestOptions:
    def test_level_unit_and_logger(self, caplog: pytest.LogCaptureFixture) -> None:
        """level, unit and logger are honoured."""
        target = logging.getLogger("patterns.custom")
        caplog.set_level(logging.INFO, logger="patterns.custom")

        @add_logging(level=logging.INFO, unit="us", logger=target)
        class Job:
            def run(self) -> str:
                return "ok"

        assert Job().run() == "ok"
        [record] = [r for r in caplog.records if r.name == "patterns.custom"]
        assert record.levelno == logging.INFO
        assert record.getMessage().endswith(" us")

    def test_inherited(self, caplog: pytest.LogCaptureFixture) -> None:
        """inherited=True wraps public methods of the bases too, on the class itself."""

        class Parent:
            def shared(self) -> str:
                return "parent"

            def overridden(self) -> str:
                return "parent"

        @add_logging(inherited=True)
        class Child(Parent):
            overridden = property(lambda self: "child")  # a name the class itself redefines

        assert Child().shared() == "parent"
        assert Child().overridden == "child"
        assert not hasattr(Parent.shared, "__wrapped__")
        assert any("Parent.shared took" in message for message in _messages(caplog))

    def test_never_wrapped_twice(self) -> None:
        """A method already wrapped by add_logging (in a base) is not wrapped again."""

        @add_logging(inherited=True)
        class Again(Worker):
            pass

        assert "process" not in vars(Again)
        assert add_logging(Worker) is Worker
        assert not hasattr(Worker.process.__wrapped__, "__wrapped__")  # type: ignore[attr-defined]  # added by wraps

    def test_refuses_non_class(self) -> None:
        """Decorating something that is not a class is a TypeError."""
        with pytest.raises(TypeError, match="decorates a class"):
            add_logging(len)  # type: ignore[call-overload]  # on purpose

    @pytest.mark.parametrize(
        ("options", "error"),
        [
            ({"unit": "h"}, ValueError),
            ({"level": "DEBUG"}, TypeError),
            ({"logger": "x"}, TypeError),
        ],
        ids=["unit", "level", "logger"],
    )
    def test_bad_options_fail_at_decoration(
        self, options: dict[str, object], error: type[Exception]
    ) -> None:
        """Wrong options raise when add_logging is called, before any class is seen."""
        with pytest.raises(error):
            add_logging(**options)  # type: ignore[call-overload]
