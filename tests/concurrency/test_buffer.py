"""Tests of CircularBuffer (python_mastery_portfolio.concurrency)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from python_mastery_portfolio.concurrency import CircularBuffer
from tests.conftest import raise_first, run_threads


class TestCircularBuffer:
    def test_seed_example(self) -> None:
        """The seed's usage: the oldest item is dropped when full; get_recent is newest last."""
        buffer: CircularBuffer[int] = CircularBuffer(max_size=3)
        for value in range(5):
            buffer.append(value)
        assert len(buffer) == 3
        assert buffer.get_recent(2) == [3, 4]
        assert buffer.dropped == 2

    def test_default_size(self) -> None:
        """The seed's default holds 500 items."""
        assert CircularBuffer[int]().max_size == 500

    @pytest.mark.parametrize(
        ("count", "expected"),
        [(0, []), (1, [9]), (3, [7, 8, 9]), (5, [5, 6, 7, 8, 9]), (50, [5, 6, 7, 8, 9])],
        ids=["zero", "one", "some", "all", "more-than-held"],
    )
    def test_get_recent(self, count: int, expected: list[int]) -> None:
        """get_recent returns at most count items, oldest first (0 gives none, unlike the seed)."""
        buffer = CircularBuffer[int](max_size=5)
        buffer.extend(range(10))
        assert buffer.get_recent(count) == expected

    @pytest.mark.parametrize(
        ("bad", "error"),
        [(-1, ValueError), (1.5, TypeError), (True, TypeError)],
        ids=["negative", "float", "bool"],
    )
    def test_get_recent_checks_count(self, bad: object, error: type[Exception]) -> None:
        """A count that is not a non-negative int is refused, naming the parameter."""
        with pytest.raises(error, match="count"):
            CircularBuffer[int]().get_recent(bad)  # type: ignore[arg-type]  # wrong on purpose

    @pytest.mark.parametrize(
        ("bad", "error"), [(0, ValueError), ("3", TypeError)], ids=["zero", "str"]
    )
    def test_checks_max_size(self, bad: object, error: type[Exception]) -> None:
        """max_size must be an int of at least 1."""
        with pytest.raises(error, match="max_size"):
            CircularBuffer(bad)  # type: ignore[arg-type]  # wrong on purpose

    def test_extend_counts_dropped(self) -> None:
        """extend drops the oldest items (old and new) beyond max_size and counts them."""
        buffer = CircularBuffer[int](max_size=3)
        buffer.extend([1, 2])
        buffer.extend(iter([3, 4, 5, 6, 7]))
        assert buffer.snapshot() == [5, 6, 7]
        assert buffer.dropped == 4

    def test_clear_is_not_dropping(self) -> None:
        """clear empties the buffer without counting the items as dropped."""
        buffer = CircularBuffer[str](max_size=2)
        buffer.extend("abc")
        buffer.clear()
        assert len(buffer) == 0
        assert buffer.dropped == 1
        assert list(buffer) == []

    def test_iteration_is_a_snapshot(self) -> None:
        """Appending while iterating neither fails nor shows the new items."""
        buffer = CircularBuffer[int](max_size=10)
        buffer.extend(range(3))
        seen = []
        for value in buffer:
            buffer.append(value + 100)
            seen.append(value)
        assert seen == [0, 1, 2]
        assert buffer.get_recent(3) == [100, 101, 102]

    def test_repr(self) -> None:
        """The repr shows the size, the length and the dropped count."""
        buffer = CircularBuffer[int](max_size=2)
        buffer.extend(range(3))
        assert repr(buffer) == "CircularBuffer(max_size=2, len=2, dropped=1)"

    @given(
        size=st.integers(min_value=1, max_value=20),
        values=st.lists(st.integers(), max_size=60),
        count=st.integers(min_value=0, max_value=30),
    )
    def test_matches_a_list_model(self, size: int, values: list[int], count: int) -> None:
        """The buffer always holds the last max_size items; dropped counts the rest."""
        buffer = CircularBuffer[int](max_size=size)
        for value in values:
            buffer.append(value)
        kept = values[-size:] if values else []
        assert buffer.snapshot() == kept
        assert buffer.dropped == len(values) - len(kept)
        assert buffer.get_recent(count) == (kept[-count:] if count else [])


class TestCircularBufferThreads:
    @pytest.mark.usefixtures("fast_switching")
    def test_many_appenders_one_reader(self) -> None:
        """Eight threads append while one reads: nothing is lost from the count, reads are whole."""
        buffer = CircularBuffer[tuple[int, int]](max_size=100)
        per_thread = 2_000
        done = threading.Event()
        problems: list[str] = []

        def read() -> None:
            while not done.is_set():
                recent = buffer.get_recent(50)
                snapshot = list(buffer)
                if len(recent) > 50 or len(snapshot) > 100:
                    problems.append("too many items")
                for thread in range(8):
                    mine = [seq for owner, seq in snapshot if owner == thread]
                    if mine != sorted(mine):
                        problems.append("a thread's items out of order")

        reader = threading.Thread(target=read)
        reader.start()
        try:

            def append(index: int) -> None:
                for seq in range(per_thread):
                    buffer.append((index, seq))

            raise_first(run_threads(8, append))
        finally:
            done.set()
            reader.join(10)
        assert not problems
        assert len(buffer) == 100
        assert buffer.dropped == 8 * per_thread - 100
