"""Files for TextIO, BinaryIO and IO[...]: real files pass, the wrong kind is named.

After typeguard's ``TestIO`` (tests/test_checkers.py): typing's IO classes are annotations
only, so a file is told text or binary by the ``io`` base classes it derives from.
"""

from __future__ import annotations

import io
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, AnyStr, BinaryIO, TextIO

import pytest

from python_mastery_portfolio.exceptions import ValidationError
from python_mastery_portfolio.validation import validate_types
from python_mastery_portfolio.validation._checks import io_node

TEXT_HINTS = [TextIO, IO[str]]
BINARY_HINTS = [BinaryIO, IO[bytes]]
ANY_HINTS: list[object] = [IO[Any], IO, IO[AnyStr]]  # type: ignore[valid-type]  # an unbound AnyStr means any file


def make(hint: object) -> Callable[[object], object]:
    """Return an identity function whose one parameter is checked against ``hint``."""

    def identity(x: object) -> object:
        return x

    return validate_types(x=hint)(identity)


def error_of(func: Callable[[object], object], value: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        func(value)
    return info.value


@pytest.fixture
def text_file(tmp_path: Path) -> Iterator[IO[str]]:
    with (tmp_path / "t.txt").open("w+", encoding="utf-8") as file:
        yield file


@pytest.fixture
def binary_file(tmp_path: Path) -> Iterator[IO[bytes]]:
    with (tmp_path / "b.bin").open("wb+") as file:
        yield file


@pytest.fixture
def raw_file(tmp_path: Path) -> Iterator[IO[bytes]]:
    with (tmp_path / "r.bin").open("wb+", buffering=0) as file:
        yield file


@pytest.mark.parametrize("hint", TEXT_HINTS + ANY_HINTS)
def test_text_valid(hint: object, text_file: IO[str]) -> None:
    """Text files of every origin pass a text annotation."""
    checked = make(hint)
    for value in (io.StringIO(), text_file, sys.stdout, sys.stderr, sys.__stdout__):
        assert checked(value) is value


@pytest.mark.parametrize("hint", BINARY_HINTS + ANY_HINTS)
def test_binary_valid(hint: object, binary_file: IO[bytes], raw_file: IO[bytes]) -> None:
    """Buffered and raw binary files pass a binary annotation."""
    checked = make(hint)
    stdout_buffer = typing.cast("Any", sys.__stdout__).buffer
    for value in (io.BytesIO(), binary_file, raw_file, stdout_buffer):
        assert checked(value) is value


@pytest.mark.parametrize("hint", BINARY_HINTS)
def test_text_file_for_binary(hint: object, text_file: IO[str]) -> None:
    """A text file where a binary one is expected fails, saying how to get a binary one."""
    for value in (io.StringIO(), text_file, sys.__stdout__):
        error = error_of(make(hint), value)
        assert error.value is value
        assert "; this is a text file: open it in 'rb' mode" in str(error)


@pytest.mark.parametrize("hint", TEXT_HINTS)
def test_binary_file_for_text(hint: object, binary_file: IO[bytes]) -> None:
    """A binary file where a text one is expected fails, naming the remedy."""
    for value in (io.BytesIO(), binary_file):
        error = error_of(make(hint), value)
        assert "; this is a binary file: open it in text mode" in str(error)


@pytest.mark.parametrize("hint", TEXT_HINTS + BINARY_HINTS + ANY_HINTS)
@pytest.mark.parametrize("value", ["file.txt", b"data", 1, None, Path("x")])
def test_not_a_file(hint: object, value: object) -> None:
    """Paths, strings and bytes are not files."""
    error = error_of(make(hint), value)
    assert error.field == "x"
    assert "expected " in str(error)


def test_messages() -> None:
    """The expected type is named as written, with the kind of file wanted."""
    assert str(error_of(make(TextIO), 1)).endswith(
        "argument 'x' expected TextIO (a text file, io.TextIOBase), got int: 1"
    )
    assert error_of(make(IO[bytes]), 1).context["expected"] == (
        "IO[bytes] (a binary file, io.RawIOBase or io.BufferedIOBase)"
    )
    assert error_of(make(IO[Any]), 1).context["expected"] == "IO[Any] (a file, io.IOBase)"
    assert error_of(make(BinaryIO), io.StringIO()).context["expected"] == (
        "BinaryIO (a binary file, io.RawIOBase or io.BufferedIOBase; this is a text file: "
        "open it in 'rb' mode or pass its .buffer)"
    )


def test_typing_subclasses_still_pass() -> None:
    """A class deriving from typing's IO classes passes, as it did before."""

    class Custom(typing.TextIO):  # abstract methods are never called here
        pass

    value = object.__new__(Custom)  # type: ignore[type-abstract]  # never used as a file
    assert make(TextIO)(value) is value
    assert make(IO[Any])(value) is value


def test_in_containers_and_unions(text_file: IO[str]) -> None:
    """Files inside containers and unions are checked the same way."""
    assert make(list[TextIO])([text_file, io.StringIO()]) is not None
    assert make(BinaryIO | None)(None) is None
    error = error_of(make(list[BinaryIO]), [io.BytesIO(), text_file])
    assert error.context["path"] == "x[1]"
    assert "this is a text file" in str(error)


def test_annotations_of_a_real_function(tmp_path: Path) -> None:
    """The bug report: files as annotated parameters, from typeguard's own examples."""

    @validate_types
    def copy(source: BinaryIO, target: TextIO, log: IO[str] = sys.stderr) -> int:
        return target.write(source.read().decode())

    with (tmp_path / "in").open("wb+") as source, (tmp_path / "out").open("w") as target:
        source.write(b"abc")
        source.seek(0)
        assert copy(source, target) == 3
        with pytest.raises(ValidationError, match=r"argument 'source'.*this is a text file"):
            copy(target, target)  # type: ignore[arg-type]  # the error under test


def test_node_find_passes_a_file() -> None:
    """The slow path agrees with the fast one: a passing file has no failure to explain."""
    assert io_node("text", "TextIO").find(io.StringIO(), "x", set()) is None
    assert io_node("binary", "BinaryIO").find(io.StringIO(), "x", set()) is not None
