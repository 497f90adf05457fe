"""Tests of the web package itself: what importing it needs."""

from __future__ import annotations

import importlib
import sys

import pytest


class TestWithoutTheExtra:
    @pytest.mark.parametrize(
        "module",
        ["python_mastery_portfolio.web", "python_mastery_portfolio.web.di"],
        ids=["package", "submodule"],
    )
    def test_import_names_the_extra(self, module: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without FastAPI, importing the web layer says which extra to install."""
        for name in [
            name for name in sys.modules if name.startswith("python_mastery_portfolio.web")
        ]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "fastapi", None)  # None makes the import fail
        with pytest.raises(
            ImportError, match=r'pip install "python-mastery-portfolio\[web\]"'
        ) as info:
            importlib.import_module(module)
        assert info.value.name == "fastapi"
        assert isinstance(info.value.__cause__, ImportError)

    def test_import_with_fastapi(self) -> None:
        """With FastAPI installed the package imports (and exports what it lists)."""
        web = importlib.import_module("python_mastery_portfolio.web")
        assert all(hasattr(web, name) for name in web.__all__)
