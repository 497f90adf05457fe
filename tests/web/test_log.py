"""Tests of the request-ID log filter, the JSON formatter and the log configuration."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from python_mastery_portfolio.web.context import request_id_var
from python_mastery_portfolio.web.log import (
    TEXT_FORMAT,
    JsonFormatter,
    RequestIdFilter,
    build_log_config,
    configure_logging,
)


def make_record(msg: str = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any) -> Any:
    record = logging.LogRecord("app.test", logging.WARNING, __file__, 10, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.fixture
def in_request() -> Iterator[str]:
    token = request_id_var.set("req-7")
    yield "req-7"
    request_id_var.reset(token)


class TestRequestIdFilter:
    def test_inside_a_request(self, in_request: str) -> None:
        """Inside a request the record gets the request ID."""
        record = make_record()
        assert RequestIdFilter().filter(record)
        assert record.request_id == in_request

    def test_outside_a_request(self) -> None:
        """Outside a request the record gets '-'."""
        record = make_record()
        RequestIdFilter().filter(record)
        assert record.request_id == "-"

    def test_explicit_id_is_kept(self, in_request: str) -> None:
        """A request_id given through extra= wins."""
        record = make_record(request_id="given")
        RequestIdFilter().filter(record)
        assert record.request_id == "given"

    def test_text_format_shows_it(self, in_request: str) -> None:
        """The text format puts the request ID in brackets."""
        record = make_record()
        RequestIdFilter().filter(record)
        assert "[req-7] hello world" in logging.Formatter(TEXT_FORMAT).format(record)


class TestJsonFormatter:
    def test_standard_members(self, in_request: str) -> None:
        """A record becomes one JSON object with time, level, logger, message, request_id."""
        data = json.loads(JsonFormatter().format(make_record()))
        assert data["level"] == "WARNING"
        assert data["logger"] == "app.test"
        assert data["message"] == "hello world"
        assert data["request_id"] == "req-7"
        assert data["time"].endswith("+00:00")

    def test_no_request_is_null(self) -> None:
        """Outside a request (or with the filter's '-') request_id is null."""
        assert json.loads(JsonFormatter().format(make_record()))["request_id"] is None
        dash = make_record(request_id="-")
        assert json.loads(JsonFormatter().format(dash))["request_id"] is None

    def test_extra_fields_and_unserialisable_values(self) -> None:
        """extra= fields are members; values JSON cannot hold become their repr."""
        marker = object()
        data = json.loads(JsonFormatter().format(make_record(status=201, thing=marker)))
        assert data["status"] == 201
        assert data["thing"] == repr(marker)

    def test_exception_and_stack(self) -> None:
        """exc_info and stack_info are included as text."""
        try:
            raise ValueError("bad")
        except ValueError:
            record = logging.LogRecord(
                "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info(), sinfo="stack here"
            )
        data = json.loads(JsonFormatter().format(record))
        assert "ValueError: bad" in data["exc_info"]
        assert data["stack_info"] == "stack here"

    def test_uvicorn_color_message_is_dropped(self) -> None:
        """uvicorn's ANSI-coloured duplicate of the message is left out."""
        data = json.loads(JsonFormatter().format(make_record(color_message="\x1b[1mhi")))
        assert "color_message" not in data

    def test_one_line(self) -> None:
        """Even a multi-line message stays on one line."""
        assert "\n" not in JsonFormatter().format(make_record("a\nb", ()))


class TestLogConfig:
    @pytest.mark.parametrize(
        ("level", "expected"),
        [("info", "INFO"), ("DEBUG", "DEBUG"), (logging.WARNING, "WARNING")],
        ids=["lower", "upper", "int"],
    )
    def test_levels(self, level: str | int, expected: str) -> None:
        """Level names are case-insensitive; numbers are accepted."""
        assert build_log_config(level)["root"]["level"] == expected

    @pytest.mark.parametrize(
        ("level", "fmt", "param"),
        [("LOUD", "text", "level"), (5, "text", "level"), ("INFO", "xml", "fmt")],
        ids=["name", "number", "format"],
    )
    def test_invalid(self, level: str | int, fmt: str, param: str) -> None:
        """Unknown levels and formats are ValueErrors naming the parameter."""
        with pytest.raises(ValueError, match=param):
            build_log_config(level, fmt)

    def test_uvicorn_loggers_propagate(self) -> None:
        """uvicorn's loggers go through the root handler; its access log is quietened."""
        loggers = build_log_config()["loggers"]
        assert loggers["uvicorn"]["propagate"] is True
        assert loggers["uvicorn.access"]["level"] == "WARNING"

    @pytest.mark.parametrize("fmt", ["text", "json"], ids=["text", "json"])
    def test_configure_logging_end_to_end(self, fmt: str, in_request: str) -> None:
        """configure_logging installs a root handler that adds the request ID."""
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        try:
            configure_logging("INFO", fmt)
            (handler,) = root.handlers
            stream = io.StringIO()
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(stream)
            logging.getLogger("app.child").info("created %s", "user")
            line = stream.getvalue().strip()
            if fmt == "json":
                assert json.loads(line)["request_id"] == "req-7"
            else:
                assert line.endswith("[req-7] created user")
        finally:
            for handler in root.handlers:
                handler.close()
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
