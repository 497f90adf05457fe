"""The wheel's metadata carries no exact pins; the tool pins live in dependency groups."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def load() -> dict[str, Any]:
    """Return pyproject.toml, parsed."""
    with PYPROJECT.open("rb") as file:
        return tomllib.load(file)


def published_requirements() -> list[tuple[str, str]]:
    """Return (where, requirement) for every requirement that reaches the wheel's metadata."""
    project = load()["project"]
    found = [("dependencies", text) for text in project.get("dependencies", [])]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        found.extend((f"optional-dependencies.{extra}", text) for text in requirements)
    return found


class TestWheelMetadata:
    def test_extras_exist(self) -> None:
        """The extras the README installs are declared (the check below is not vacuous)."""
        extras = load()["project"]["optional-dependencies"]
        assert {"web", "cli", "redis"} <= extras.keys()
        assert published_requirements()

    @pytest.mark.parametrize(
        ("where", "text"), published_requirements(), ids=lambda value: str(value)
    )
    def test_no_exact_pins(self, where: str, text: str) -> None:
        """No dependency or extra pins a version with == or ===: users' resolvers stay free."""
        operators = {spec.operator for spec in Requirement(text).specifier}
        assert not operators & {"==", "==="}, f"{where}: {text!r} pins a version"

    def test_parser_sees_pins(self) -> None:
        """The check above recognises a pin, with or without a space or a wildcard."""
        for pinned in ("tenacity==9.2.1", "tenacity == 9.2.*", "tenacity===9.2.1"):
            operators = {spec.operator for spec in Requirement(pinned).specifier}
            assert operators & {"==", "==="}


class TestDependencyGroups:
    def test_dev_and_bench_are_groups(self) -> None:
        """The development and benchmark tools are PEP 735 dependency groups, not extras."""
        groups = load()["dependency-groups"]
        assert {"dev", "bench"} <= groups.keys()
        extras = load()["project"]["optional-dependencies"]
        assert not {"dev", "bench"} & extras.keys()

    @pytest.mark.parametrize("group", ["dev", "bench"])
    def test_groups_hold_valid_requirements(self, group: str) -> None:
        """Each group lists requirements (or include-group tables) that parse."""
        entries = load()["dependency-groups"][group]
        assert entries
        for entry in entries:
            if isinstance(entry, dict):
                assert set(entry) == {"include-group"}
            else:
                Requirement(entry)

    def test_bench_peers_stay_pinned(self) -> None:
        """The benchmark peers are pinned, so ratios from different runs compare like with like."""
        for text in load()["dependency-groups"]["bench"]:
            operators = {spec.operator for spec in Requirement(text).specifier}
            assert operators == {"=="}, text
