"""Tests of the one code-generation helper (generated source that tracebacks can show)."""

from __future__ import annotations

import linecache
import traceback
from typing import Any

import pytest

from python_mastery_portfolio._internal.codegen import define

SOURCE = "def fail(x):\n    return 1 / x\n"


class TestDefine:
    def test_definitions_land_in_the_namespace(self) -> None:
        """The source runs in the given namespace, which is returned with its definitions."""
        namespace: dict[str, Any] = {"factor": 3}
        returned = define("def triple(x):\n    return factor * x\n", "test", namespace)
        assert returned is namespace
        assert namespace["triple"](2) == 6

    def test_source_is_registered_in_linecache(self) -> None:
        """The generated file's lines can be read back by its name."""
        function = define(SOURCE, "registered", {})["fail"]
        filename = function.__code__.co_filename
        assert filename.startswith("<registered ")
        assert linecache.getline(filename, 2) == "    return 1 / x\n"

    def test_registration_survives_checkcache(self) -> None:
        """linecache.checkcache (run by traceback printing) keeps the generated source."""
        filename = define(SOURCE, "kept", {})["fail"].__code__.co_filename
        linecache.checkcache()
        linecache.checkcache(filename)
        assert linecache.getline(filename, 1) == "def fail(x):\n"

    def test_traceback_shows_the_generated_line(self) -> None:
        """A traceback through generated code prints the line that raised."""
        function = define(SOURCE, "traced", {})["fail"]
        with pytest.raises(ZeroDivisionError) as info:
            function(0)
        last = traceback.extract_tb(info.value.__traceback__)[-1]
        assert last.filename == function.__code__.co_filename
        assert (last.lineno, last.line) == (2, "return 1 / x")
        assert "return 1 / x" in "".join(traceback.format_exception(info.value))

    def test_each_definition_gets_its_own_file(self) -> None:
        """Two definitions with the same description are told apart."""
        first = define(SOURCE, "same", {})["fail"].__code__.co_filename
        second = define(SOURCE.replace("1 /", "2 /"), "same", {})["fail"].__code__.co_filename
        assert first != second
        assert linecache.getline(first, 2) == "    return 1 / x\n"
        assert linecache.getline(second, 2) == "    return 2 / x\n"

    def test_syntax_error_propagates(self) -> None:
        """Broken source is a SyntaxError, raised before anything is defined."""
        namespace: dict[str, Any] = {}
        with pytest.raises(SyntaxError):
            define("def broken(:\n", "broken", namespace)
        assert "broken" not in namespace
