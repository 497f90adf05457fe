"""Tests of the request-ID log filter, the JSON formatter and the log configuration."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from python_mastery_portfolio.web.context import request_id_var
from python_mastery_portfolio.web.log import (
    TEXT_FORMAT,
    BackgroundHandler,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    build_log_config,
    configure_logging,
    escape_controls,
)
from python_mastery_portfolio.web.middleware import RequestContextMiddleware


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

    # 7: a number no library names (uvicorn, once imported, names 5 TRACE).
    @pytest.mark.parametrize(
        ("level", "fmt", "param"),
        [("LOUD", "text", "level"), (7, "text", "level"), ("INFO", "xml", "fmt")],
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


@pytest.fixture
def restore_root() -> Iterator[logging.Logger]:
    """Give the test the root logger and put its handlers and level back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield root
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


class TestEscapeControls:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("/users/1\r\nforged", "/users/1\\r\\nforged"),
            ("a\tb\x00c\x7f", "a\\tb\\x00c\\x7f"),
            ("\x1b[2J", "\\x1b[2J"),
            ("next\x85line\x9b", "next\\x85line\\x9b"),
            ("\u202eevil\u202c", "\\u202eevil\\u202c"),
            ("\u2066\u2069\u200e\u200f\u061c", "\\u2066\\u2069\\u200e\\u200f\\u061c"),
            ("para\u2028graph\u2029", "para\\u2028graph\\u2029"),
        ],
        ids=["crlf", "c0-and-del", "esc", "c1", "bidi-embedding", "bidi-isolates", "separators"],
    )
    def test_escaped(self, text: str, expected: str) -> None:
        """Control, separator and bidi characters become visible escapes."""
        assert escape_controls(text) == expected

    @pytest.mark.parametrize(
        "text", ["/users/42", "Zoë Ünal", "日本語", ""], ids=["ascii", "accents", "cjk", "empty"]
    )
    def test_printable_unchanged(self, text: str) -> None:
        """Printable text (any script) is returned as it is."""
        assert escape_controls(text) is text


class TestTextFormatter:
    def test_string_arguments_escaped(self) -> None:
        """String arguments lose their line breaks; other arguments are untouched."""
        record = make_record("%s %s %d", ("GET", "/a\r\nforged", 200))
        assert TextFormatter("%(message)s").format(record) == "GET /a\\r\\nforged 200"

    def test_record_of_other_handlers_unchanged(self) -> None:
        """The escaping works on a copy: other handlers see the original arguments."""
        record = make_record("%s", ("a\nb",))
        TextFormatter("%(message)s").format(record)
        assert record.args == ("a\nb",)

    def test_format_string_and_mappings_left_alone(self) -> None:
        """The format itself (the program's text) and mapping arguments are not escaped."""
        assert TextFormatter("%(message)s").format(make_record("one\ntwo", ())) == "one\ntwo"
        record = make_record("%(path)s", ())
        record.args = {"path": "/x"}
        assert TextFormatter("%(message)s").format(record) == "/x"


class TestBackgroundHandler:
    def test_formats_and_writes_in_another_thread(self, in_request: str) -> None:
        """Filters run in the caller (the request ID is seen); formatting runs elsewhere."""
        threads: list[str] = []

        class ThreadNoting(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                threads.append(threading.current_thread().name)
                return super().format(record)

        stream = io.StringIO()
        handler = BackgroundHandler(stream=stream)
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(ThreadNoting(TEXT_FORMAT))
        handler.handle(make_record())
        handler.close()
        assert stream.getvalue().endswith("[req-7] hello world\n")
        assert threads
        assert threading.current_thread().name not in threads

    def test_close_drains_and_is_idempotent(self) -> None:
        """close() writes everything queued, closes the inner handler, and can be repeated."""
        inner = logging.StreamHandler(io.StringIO())
        handler = BackgroundHandler(inner)
        for n in range(200):
            handler.handle(make_record("line %d", (n,)))
        handler.close()
        handler.close()
        assert isinstance(inner.stream, io.StringIO)
        assert inner.stream.getvalue().count("\n") == 200

    def test_inner_handler_level_respected(self) -> None:
        """The inner handler's level still filters."""
        stream = io.StringIO()
        inner = logging.StreamHandler(stream)
        inner.setLevel(logging.ERROR)
        handler = BackgroundHandler(inner)
        handler.handle(make_record())
        handler.close()
        assert stream.getvalue() == ""

    def test_handler_and_stream_refused(self) -> None:
        """Giving both a handler and a stream is a ValueError naming them."""
        with pytest.raises(ValueError, match="handler or stream"):
            BackgroundHandler(logging.NullHandler(), stream=io.StringIO())

    def test_forked_child_logs(self, tmp_path: Path) -> None:
        """A forked child gets its own thread: its records are written too."""
        target = tmp_path / "log.txt"
        handler = BackgroundHandler(logging.FileHandler(target))
        try:
            child = multiprocessing.get_context("fork").Process(
                target=log_in_child, args=(handler,)
            )
            child.start()
            child.join(30)
            assert child.exitcode == 0
        finally:
            handler.close()
        assert target.read_text().splitlines() == ["from the child"]

    def test_from_dict_config(self, restore_root: logging.Logger, in_request: str) -> None:
        """build_log_config(queue=True) installs it with the same formatter and filter."""
        configure_logging("INFO", "text", queue=True)
        (handler,) = restore_root.handlers
        assert isinstance(handler, BackgroundHandler)
        stream = io.StringIO()
        inner = handler.handler
        assert isinstance(inner, logging.StreamHandler)
        inner.setStream(stream)
        logging.getLogger("app.child").info("created %s", "a\nb")
        handler.close()
        assert stream.getvalue().endswith("[req-7] created a\\nb\n")

    def test_configuring_again_stops_the_thread(self, restore_root: logging.Logger) -> None:
        """dictConfig closes the handler it replaces, which stops its thread."""
        before = threading.active_count()
        configure_logging("INFO", "json", queue=True)
        assert threading.active_count() == before + 1
        configure_logging("INFO", "json")
        assert threading.active_count() == before


def log_in_child(handler: BackgroundHandler) -> None:
    """Log one line through ``handler`` in a forked child, then close it (draining)."""
    handler.handle(logging.LogRecord("c", logging.INFO, "", 1, "from the child", (), None))
    handler.close()


class TestForgedLines:
    def test_crlf_path_cannot_forge_a_line(
        self, restore_root: logging.Logger, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """GET /%0d%0a<fake log line> writes one access line, with the CR LF escaped."""
        app = FastAPI()
        app.add_middleware(RequestContextMiddleware)
        configure_logging("INFO", "text")
        forged = "2026-01-01 00:00:00,000 INFO     app [-] admin logged in"
        with TestClient(app) as client:
            response = client.get("/users/%0d%0a" + forged.replace(" ", "%20"))
        assert response.status_code == 404
        lines = capsys.readouterr().err.splitlines()
        access = [line for line in lines if "python_mastery_portfolio.web.middleware" in line]
        assert len(access) == 1
        assert f"GET /users/\\r\\n{forged} 404" in access[0]
        assert not any(line.startswith(forged) for line in lines)
