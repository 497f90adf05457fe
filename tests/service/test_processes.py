"""The repository shared by several processes: cold starts race, writes queue fairly."""

from __future__ import annotations

import multiprocessing
import sqlite3
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from python_mastery_portfolio.service import repository as repository_module
from python_mastery_portfolio.service.repository import SQLiteUserRepository

WORKERS = 4


def _start_and_write(path: str, barrier: Any, results: Any, writes: int) -> None:
    """A worker: wait for the others, open the (maybe brand-new) database, write."""
    try:
        barrier.wait(30)
        with SQLiteUserRepository(path) as repo:
            for _ in range(writes):
                repo.add(email=f"{uuid.uuid4().hex}@example.org", name="Worker")
        results.put(None)
    except BaseException as error:  # reported to the test, whatever it is
        results.put(repr(error))


def _run_workers(path: Path, count: int, writes: int) -> list[str]:
    context = multiprocessing.get_context("fork")  # fast: no interpreter start per worker
    barrier = context.Barrier(count)
    results = context.Queue()
    workers = [
        context.Process(target=_start_and_write, args=(str(path), barrier, results, writes))
        for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    return [outcome for outcome in outcomes if outcome is not None]


class TestSeveralProcesses:
    def test_cold_starts_never_fail(self, tmp_path: Path) -> None:
        """Workers racing to create a brand-new database all start, ten times over."""
        for round_ in range(10):
            path = tmp_path / f"round{round_}" / "users.db"
            assert _run_workers(path, WORKERS, writes=1) == []
            with SQLiteUserRepository(path) as repo:
                assert repo.count() == WORKERS

    def test_writes_from_several_processes_all_land(self, tmp_path: Path) -> None:
        """Concurrent writers queue on the database lock: no write fails."""
        path = tmp_path / "users.db"
        SQLiteUserRepository(path).open().close()
        assert _run_workers(path, WORKERS, writes=100) == []
        with SQLiteUserRepository(path) as repo:
            assert repo.count() == WORKERS * 100


class TestPolling:
    def test_a_write_polls_until_the_other_process_lets_go(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BEGIN IMMEDIATE is tried again (short jittered waits) while the lock is held."""
        path = tmp_path / "users.db"
        with SQLiteUserRepository(path) as repo:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            waits: list[float] = []

            def sleep(seconds: float) -> None:
                waits.append(seconds)
                if len(waits) == 3:
                    holder.rollback()  # the other process commits at last

            fake_time = SimpleNamespace(monotonic=lambda: 0.0, sleep=sleep)
            monkeypatch.setattr(repository_module, "time", fake_time)
            try:
                user = repo.add(email="ada@example.org", name="Ada")
            finally:
                holder.close()
            assert repo.get(user.id) == user
            assert len(waits) == 3
            assert all(0.0001 <= wait <= 0.001 for wait in waits)
            # The busy handler is back for everything else.
            timeout = repo._connection().execute("PRAGMA busy_timeout").fetchone()[0]
            assert timeout == 5000
