"""Tests of the one sentinel type."""

from __future__ import annotations

import copy
import pickle

import pytest

from python_mastery_portfolio._internal.sentinels import MISSING, Sentinel


class TestSentinel:
    def test_repr_is_its_name(self) -> None:
        """repr shows the name given, so reprs and signatures read well."""
        assert repr(Sentinel("ABSENT")) == "ABSENT"
        assert repr(MISSING) == "MISSING"

    def test_falsy(self) -> None:
        """A sentinel is falsy, like the None it stands in for."""
        assert not MISSING
        assert bool(Sentinel("X")) is False

    def test_unique(self) -> None:
        """Two sentinels with one name are still different objects and never equal."""
        first, second = Sentinel("X"), Sentinel("X")
        assert first is not second
        assert first != second
        assert MISSING != None  # noqa: E711 - the point: not equal to None

    @pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1), ids=str)
    def test_pickles_to_itself(self, protocol: int) -> None:
        """A module-level sentinel survives a pickle round trip as the same object."""
        assert pickle.loads(pickle.dumps(MISSING, protocol=protocol)) is MISSING

    def test_copies_are_itself(self) -> None:
        """copy and deepcopy return the sentinel itself."""
        assert copy.copy(MISSING) is MISSING
        assert copy.deepcopy({"k": MISSING})["k"] is MISSING

    def test_no_attributes(self) -> None:
        """Sentinels have slots: no stray attributes can be set on them."""
        with pytest.raises(AttributeError):
            MISSING.extra = 1
