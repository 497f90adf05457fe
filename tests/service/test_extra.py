"""Importing the service without the [web] extra names the extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize("missing", ["fastapi", "pydantic_settings"], ids=["fastapi", "settings"])
def test_import_without_the_web_extra(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    """A missing FastAPI or pydantic-settings is an ImportError that says what to install."""
    for name in list(sys.modules):
        if name.startswith("python_mastery_portfolio.service"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(ImportError, match=r'pip install "python-mastery-portfolio\[web\]"'):
        importlib.import_module("python_mastery_portfolio.service")


def test_exports() -> None:
    """Every name in __all__ imports and is documented."""
    from python_mastery_portfolio import service

    for name in service.__all__:
        assert getattr(service, name).__doc__, name
