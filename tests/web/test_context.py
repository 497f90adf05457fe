"""Tests of the request-ID source: unique across threads, forked children and new processes."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from python_mastery_portfolio.web.context import is_safe_request_id, new_request_id
from tests.conftest import raise_first, run_threads

PER_WORKER = 2000


def make_ids(count: int) -> list[str]:
    """Make ``count`` request IDs (module level, so a spawned process can import it)."""
    return [new_request_id() for _ in range(count)]


class TestNewRequestId:
    @pytest.mark.usefixtures("fast_switching")
    def test_unique_across_threads(self) -> None:
        """Many threads drawing IDs at once never get the same one."""
        batches = raise_first(run_threads(16, lambda _: make_ids(PER_WORKER)))
        ids = [rid for batch in batches for rid in batch]
        assert len(set(ids)) == 16 * PER_WORKER
        assert all(is_safe_request_id(rid) and len(rid) == 32 for rid in ids)

    @pytest.mark.parametrize("method", ["fork", "spawn"], ids=["forked", "new-process"])
    def test_unique_across_processes(self, method: str) -> None:
        """Forked children and fresh processes (a restart) make IDs no other process made."""
        new_request_id()  # the parent has used its counter: a child must not continue it
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
            batches = list(pool.map(make_ids, [PER_WORKER] * 4))
        batches.append(make_ids(PER_WORKER))
        ids = [rid for batch in batches for rid in batch]
        assert len(set(ids)) == len(ids)
        prefixes = {rid[:16] for batch in batches for rid in batch}
        assert len(prefixes) >= 2  # at least one worker and the parent differ

    def test_counter_part_counts(self) -> None:
        """Within a process, IDs share a prefix and count up."""
        first, second = new_request_id(), new_request_id()
        assert first[:16] == second[:16]
        assert int(second[16:], 16) == int(first[16:], 16) + 1
