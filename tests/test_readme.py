"""The README's Python examples run as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_readme_examples_run() -> None:
    """Every python block of the README executes without error."""
    blocks = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "readme"}
    for index, code in enumerate(blocks):
        exec(compile(code, f"README block {index}", "exec"), namespace)  # noqa: S102 - our own docs


def test_readme_names_the_test_command() -> None:
    """The README tells how to run the tests and the service."""
    text = README.read_text(encoding="utf-8")
    assert "make test" in text
    assert "make run" in text
