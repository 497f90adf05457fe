"""The documentation site's sources hold together without MkDocs installed.

Every page in ``mkdocs.yml``'s nav exists, every ``::: python_mastery_portfolio.x`` directive
names an importable module, and every ``python`` block of the docs runs, page by page.
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NAV_PAGE = re.compile(r"^\s*-\s+(?:[^:\n]+:\s+)?([\w/.-]+\.md)\s*$", re.MULTILINE)
DIRECTIVE = re.compile(r"^:::\s+(\S+)\s*$", re.MULTILINE)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = sorted(DOCS.rglob("*.md"))


def _nav_pages() -> list[str]:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return NAV_PAGE.findall(config.split("\nnav:", 1)[1])


def test_nav_pages_exist_and_every_page_is_in_the_nav() -> None:
    """The nav names only existing pages, and no page is left out of it."""
    nav = _nav_pages()
    assert len(nav) >= 20
    assert sorted(nav) == sorted(str(page.relative_to(DOCS)) for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_api_directives_name_importable_objects(page: Path) -> None:
    """Each ``:::`` reference imports, so a renamed module fails here, not only in the build."""
    for target in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
        assert target.startswith("python_mastery_portfolio")
        module, _, attribute = target, "", ""
        while True:
            try:
                found: object = importlib.import_module(module)
                break
            except ModuleNotFoundError:
                module, _, tail = module.rpartition(".")
                attribute = f"{tail}.{attribute}".strip(".")
        for name in filter(None, attribute.split(".")):
            found = getattr(found, name)


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if BLOCK.search(page.read_text(encoding="utf-8"))],
    ids=lambda page: str(page.relative_to(DOCS)),
)
def test_page_examples_run(page: Path) -> None:
    """A page's python blocks run as written, in order, in one namespace."""
    namespace: dict[str, object] = {"__name__": f"docs.{page.stem}"}
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for index, code in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
            exec(compile(code, f"{page.name} block {index}", "exec"), namespace)  # noqa: S102 - our own docs
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
