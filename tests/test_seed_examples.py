"""Every example of the seed's public-API document runs as written against the package.

The examples are read from ``tests/data/seed_api.md`` (a copy of the seed) and executed in
order in one namespace, as a reader pasting them into one module would. Names the seed leaves
to the reader (``user_age``, ``DatabaseService``, ...) are supplied beforehand; after each
block, the test checks that what the example claims actually happened.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SEED = Path(__file__).parent / "data" / "seed_api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^### (\d+\.\d+) ", re.MULTILINE)


def _blocks() -> dict[str, str]:
    """Map each example's section number (e.g. '4.1') to its code."""
    text = SEED.read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    section = "1"
    position = 0
    for match in BLOCK.finditer(text):
        headings = HEADING.findall(text, position, match.start())
        if headings:
            section = headings[-1]
        elif section == "1" and "## 1." in text[position : match.start()]:
            section = "1"
        blocks[section] = blocks.get(section, "") + match.group(1)
        position = match.end()
    return blocks


BLOCKS = _blocks()


class DatabaseService:
    """The seed's database service: a connection string with a default, and a query."""

    def __init__(self, connection_string: str = "sqlite://") -> None:
        self.connection_string = connection_string

    def query(self) -> str:
        return f"rows from {self.connection_string}"


class RequestService:
    """The seed's per-request service."""


class Config:
    """The seed's configuration object."""


class Service:
    """The seed's service built by a factory from a Config."""

    def __init__(self, config: Config) -> None:
        self.config = config


class User:
    """The seed's user entity."""


def _namespace() -> dict[str, Any]:
    fetched: list[int] = []

    async def fetch_user_data(user_id: int) -> dict[str, int]:
        fetched.append(user_id)
        return {"id": user_id}

    def process_row(data: object, index: int) -> None:
        raise RuntimeError(f"row {index} is malformed")

    return {
        "__name__": "seed_examples",
        "user_age": -5,
        "DatabaseService": DatabaseService,
        "RequestService": RequestService,
        "Config": Config,
        "Service": Service,
        "User": User,
        "my_object": object(),
        "fetch_user_data": fetch_user_data,
        "fetched": fetched,
        "process_large_dataset": lambda: sum(range(100)),
        "load_large_ml_model": lambda: {"weights": [1, 2, 3]},
        "process_row": process_row,
        "data": [],
        "user_requests": {"u1": 11},
        "LIMIT": 10,
        "os": os,
    }


def _run(namespace: dict[str, Any], section: str) -> None:
    exec(compile(BLOCKS[section], f"seed section {section}", "exec"), namespace)  # noqa: S102 - the seed's own examples


def test_every_section_found() -> None:
    """The seed's examples are all located (so none is silently skipped)."""
    expected = {"1", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2"}
    expected |= {"5.1", "5.2", "5.3", "6.1", "6.2", "7.1", "7.2", "7.3", "8.1", "8.2"}
    expected |= {"9.1", "9.2", "9.3"}
    assert expected <= set(BLOCKS)


class TestSeedExamples:
    def test_all_sections_in_order(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every example runs, in the seed's order, and does what it says."""
        monkeypatch.delenv("API_KEY", raising=False)
        ns = _namespace()
        checks: dict[str, Callable[[], None]] = {
            "1": lambda: _check_exceptions(capsys),
            "2.1": lambda: _check_retry(ns),
            "2.2": lambda: ns["slow_function"](),
            "2.3": lambda: _check_validate(ns),
            "2.4": lambda: _check_cached_property(ns),
            "3.1": lambda: _check_container(ns),
            "3.2": lambda: _check_result(capsys),
            "3.3": lambda: _check_pipeline(ns),
            "4.1": lambda: _check_lru(ns, capsys),
            "4.2": lambda: _check_cache(ns, capsys),
            "5.1": lambda: _check_di(ns),
            "5.3": lambda: _check_inject(ns),
            "7.1": lambda: _check_repository(ns),
            "8.2": lambda: _check_data_processor(ns),
            "9.2": lambda: _check_rate_limit(ns),
        }
        raising = {"9.1": "DataProcessingError", "9.3": "ConfigurationError"}
        for section in BLOCKS:
            if section in raising:
                with pytest.raises(Exception, match=r".+") as info:
                    _run(ns, section)
                assert type(info.value).__name__ == raising[section]
                continue
            _run(ns, section)
            check = checks.get(section)
            if check is not None:
                check()


def _check_exceptions(capsys: pytest.CaptureFixture[str]) -> None:
    out = capsys.readouterr().out
    assert "'field': 'age'" in out
    assert "{'field': 'age', 'value': -5}" in out


def _check_retry(ns: dict[str, Any]) -> None:
    assert ns["unstable_operation"]() is None
    assert asyncio.run(ns["async_unstable_operation"]()) is None


def _check_validate(ns: dict[str, Any]) -> None:
    from python_mastery_portfolio import ValidationError

    ns["create_user"]("Ada", 36, "ada@example.org")
    with pytest.raises(ValidationError):
        ns["create_user"]("Ada", "36", "ada@example.org")


def _check_cached_property(ns: dict[str, Any]) -> None:
    obj = ns["ExpensiveComputation"]()
    assert obj.result == sum(range(1000000))
    assert obj.result is obj.result


def _check_container(ns: dict[str, Any]) -> None:
    assert ns["result"].value == 84
    assert ns["str_container"].value == "hello"


def _check_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert capsys.readouterr().out.strip() == "5.0"


def _check_pipeline(ns: dict[str, Any]) -> None:
    assert ns["result"] == 169


def _check_lru(ns: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert ns["value"] == 42
    assert capsys.readouterr().out.strip() == "Hit rate: 100.00%"


def _check_cache(ns: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert "hits" in capsys.readouterr().out
    assert ns["expensive_computation"](10) == 45
    assert asyncio.run(ns["async_expensive_operation"](7)) == {"id": 7}
    assert ns["fetched"] == [7]


def _check_di(ns: dict[str, Any]) -> None:
    container = ns["container"]
    assert ns["db"] is container.resolve(DatabaseService)
    assert isinstance(ns["req"], RequestService)
    assert ns["req"] is not container.resolve(RequestService)


def _check_inject(ns: dict[str, Any]) -> None:
    assert ns["process_data"]() == "rows from postgresql://..."


def _check_repository(ns: dict[str, Any]) -> None:
    assert ns["user"] is None


def _check_data_processor(ns: dict[str, Any]) -> None:
    processor = ns["DataProcessor"]()
    assert processor.model is processor.model


def _check_rate_limit(ns: dict[str, Any]) -> None:
    from python_mastery_portfolio import RateLimitError

    with pytest.raises(RateLimitError) as info:
        ns["check_rate_limit"]("u1")
    assert info.value.retry_after == 60.0
