"""Tests of the core logging set-up: setup_logging (seed 003) and the JSON line formatter."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.logs import SEED_FORMAT, JsonFormatter, setup_logging


def make_record(msg: str = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any) -> Any:
    record = logging.LogRecord("app.test", logging.WARNING, __file__, 10, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, with its handlers and level put back afterwards."""
    logger = logging.getLogger()
    saved = logger.handlers[:], logger.level
    yield logger
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])


def ours(root: logging.Logger, before: list[logging.Handler]) -> list[logging.Handler]:
    return [handler for handler in root.handlers if handler not in before]


class TestJsonFormatter:
    def test_members(self) -> None:
        """A record becomes one JSON object with time, level, logger, message and extras."""
        data = json.loads(JsonFormatter().format(make_record(user_id="u1")))
        assert (data["level"], data["logger"], data["message"]) == (
            "WARNING",
            "app.test",
            "hello world",
        )
        assert data["user_id"] == "u1"
        assert data["time"].endswith("+00:00")

    @pytest.mark.parametrize(
        ("given", "expected"),
        [(None, None), ("-", None), ("req-1", "req-1"), (42, "42")],
        ids=["absent", "dash", "text", "number"],
    )
    def test_request_id(self, given: object, expected: str | None) -> None:
        """The request ID comes from the record; absent or '-' is null."""
        record = make_record() if given is None else make_record(request_id=given)
        assert json.loads(JsonFormatter().format(record))["request_id"] == expected

    def test_exception_stack_and_repr(self) -> None:
        """exc_info and stack_info are text; values JSON cannot hold become their repr."""
        marker = object()
        try:
            raise ValueError("bad")
        except ValueError:
            record = logging.LogRecord(
                "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info(), sinfo="stack"
            )
        record.thing = marker
        data = json.loads(JsonFormatter().format(record))
        assert "ValueError: bad" in data["exc_info"]
        assert data["stack_info"] == "stack"
        assert data["thing"] == repr(marker)

    def test_subclass_hook(self) -> None:
        """Subclasses choose the request ID through request_id()."""

        class Fixed(JsonFormatter):
            def request_id(self, record: logging.LogRecord) -> str | None:
                return "fixed"

        assert json.loads(Fixed().format(make_record()))["request_id"] == "fixed"


class TestSetupLogging:
    def test_text_to_stderr_at_info(
        self, root: logging.Logger, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """By default the seed's text format goes to stderr at INFO; DEBUG is left out."""
        before = root.handlers[:]
        setup_logging()
        (handler,) = ours(root, before)
        assert isinstance(handler, logging.StreamHandler)
        stream = io.StringIO()
        handler.setStream(stream)
        logging.getLogger("pmp.test").info("shown %d", 1)
        logging.getLogger("pmp.test").debug("hidden")
        (line,) = stream.getvalue().splitlines()
        assert line.endswith(" - pmp.test - INFO - shown 1")
        assert SEED_FORMAT.endswith("%(message)s")
        assert root.level == logging.INFO

    def test_verbose_json(self, root: logging.Logger) -> None:
        """verbose=True shows DEBUG; json=True writes JSON lines with extra fields."""
        before = root.handlers[:]
        setup_logging(verbose=True, json=True)
        (handler,) = ours(root, before)
        assert isinstance(handler, logging.StreamHandler)
        stream = io.StringIO()
        handler.setStream(stream)
        logging.getLogger("pmp.test").debug("detail", extra={"request_id": "r-9", "n": 3})
        data = json.loads(stream.getvalue())
        assert (data["level"], data["request_id"], data["n"]) == ("DEBUG", "r-9", 3)

    def test_log_file_gets_debug(self, root: logging.Logger, tmp_path: Path) -> None:
        """A log file receives DEBUG records even when stderr shows only INFO."""
        log_file = tmp_path / "tool.log"
        before = root.handlers[:]
        setup_logging(log_file=log_file)
        console, file_handler = ours(root, before)
        assert isinstance(console, logging.StreamHandler)
        console.setStream(io.StringIO())
        assert root.level == logging.DEBUG
        assert console.level == logging.INFO
        logging.getLogger("pmp.test").debug("in the file only")
        file_handler.flush()
        assert "DEBUG - in the file only" in log_file.read_text(encoding="utf-8")

    def test_second_call_replaces_its_own_handlers(
        self, root: logging.Logger, tmp_path: Path
    ) -> None:
        """Calling again closes and replaces only the handlers it installed."""
        foreign = logging.NullHandler()
        root.addHandler(foreign)
        before = root.handlers[:]
        setup_logging(log_file=tmp_path / "a.log")
        first = ours(root, before)
        setup_logging()
        second = ours(root, before)
        assert foreign in root.handlers
        assert len(first) == 2
        assert len(second) == 1
        assert not set(first) & set(second)
        assert isinstance(first[1], logging.FileHandler)
        assert first[1].stream is None  # closed
