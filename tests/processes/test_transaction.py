"""Tests of transaction(): commit, rollback, savepoints, in both sqlite3 modes."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.processes import transaction

LOGGER = "python_mastery_portfolio.processes"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database file with the seed's two tables."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE users (name TEXT UNIQUE)")
        setup.execute("CREATE TABLE audit_log (entry TEXT)")
    setup.close()
    return path


@pytest.fixture(params=["", None], ids=["default", "autocommit"])
def db(request: pytest.FixtureRequest, db_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection in sqlite3's default isolation mode, then in autocommit mode."""
    connection = sqlite3.connect(db_path, isolation_level=request.param)
    yield connection
    connection.close()


def names(db_path: Path) -> list[str]:
    """Return the committed user names, read through a second connection."""
    reader = sqlite3.connect(db_path)
    try:
        return [row[0] for row in reader.execute("SELECT name FROM users ORDER BY rowid")]
    finally:
        reader.close()


class TestTransaction:
    def test_seed_example(self, db: sqlite3.Connection, db_path: Path) -> None:
        """The seed's DatabaseTransaction example: two inserts committed together."""
        with transaction(db) as txn:
            txn.execute("INSERT INTO users VALUES (?)", ("ada",))
            txn.execute("INSERT INTO audit_log VALUES (?)", ("created ada",))
        assert names(db_path) == ["ada"]
        assert not db.in_transaction

    def test_rolls_back_and_re_raises(
        self, db: sqlite3.Connection, db_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An error rolls every statement of the block back and propagates."""
        with (
            caplog.at_level(logging.INFO, LOGGER),
            pytest.raises(sqlite3.IntegrityError),
            transaction(db),
        ):
            db.execute("INSERT INTO users VALUES ('ada')")
            db.execute("INSERT INTO users VALUES ('ada')")  # UNIQUE fails
        assert names(db_path) == []
        assert not db.in_transaction
        assert "Rolled back the transaction" in caplog.text

    def test_keyboard_interrupt_rolls_back(self, db: sqlite3.Connection, db_path: Path) -> None:
        """A BaseException rolls back too."""
        with pytest.raises(KeyboardInterrupt), transaction(db):
            db.execute("INSERT INTO users VALUES ('ada')")
            raise KeyboardInterrupt
        assert names(db_path) == []

    def test_block_is_one_transaction_from_its_first_statement(
        self, db: sqlite3.Connection
    ) -> None:
        """The block begins the transaction itself, in both modes, before any write."""
        with transaction(db):
            assert db.in_transaction
            db.execute("SELECT * FROM users").fetchall()
            assert db.in_transaction

    def test_nested_error_rolls_back_to_its_savepoint_only(
        self, db: sqlite3.Connection, db_path: Path
    ) -> None:
        """A failing inner block undoes its own work; the outer one commits the rest."""
        with transaction(db):
            db.execute("INSERT INTO users VALUES ('outer')")
            with pytest.raises(ValueError, match="inner"), transaction(db):
                db.execute("INSERT INTO users VALUES ('inner')")
                raise ValueError("inner")
            with transaction(db):
                db.execute("INSERT INTO users VALUES ('second inner')")
                with transaction(db):  # two levels deep
                    db.execute("INSERT INTO users VALUES ('deep')")
            assert db.in_transaction
        assert names(db_path) == ["outer", "second inner", "deep"]

    def test_outer_error_rolls_back_committed_savepoints(
        self, db: sqlite3.Connection, db_path: Path
    ) -> None:
        """A released savepoint is still undone when the outer transaction fails."""
        with pytest.raises(RuntimeError), transaction(db):
            with transaction(db):
                db.execute("INSERT INTO users VALUES ('inner')")
            raise RuntimeError("outer fails")
        assert names(db_path) == []

    def test_inside_a_transaction_begun_elsewhere_is_a_savepoint(self, db_path: Path) -> None:
        """A block inside the caller's own transaction neither commits nor ends it."""
        db = sqlite3.connect(db_path, isolation_level=None)
        try:
            db.execute("BEGIN")
            db.execute("INSERT INTO users VALUES ('caller')")
            with transaction(db):
                db.execute("INSERT INTO users VALUES ('block')")
            assert db.in_transaction
            assert names(db_path) == []  # nothing committed yet
            db.execute("COMMIT")
            assert names(db_path) == ["caller", "block"]
        finally:
            db.close()

    def test_immediate_takes_the_write_lock_at_once(self, db_path: Path) -> None:
        """begin="IMMEDIATE" blocks other writers from the block's start."""
        db = sqlite3.connect(db_path, isolation_level=None)
        other = sqlite3.connect(db_path, timeout=0)
        try:
            with transaction(db, begin="IMMEDIATE"):
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
            db.close()

    def test_failed_commit_rolls_back_and_raises(self, db_path: Path) -> None:
        """A COMMIT that fails (another reader holds a lock) is rolled back and raised."""
        db = sqlite3.connect(db_path, isolation_level=None, timeout=0)
        reader = sqlite3.connect(db_path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT * FROM users").fetchall()  # a SHARED lock blocks COMMIT
            with pytest.raises(sqlite3.OperationalError, match="locked"), transaction(db):
                db.execute("INSERT INTO users VALUES ('ada')")
            assert not db.in_transaction
            reader.execute("COMMIT")
            assert names(db_path) == []
        finally:
            reader.close()
            db.close()

    def test_bad_begin(self, db: sqlite3.Connection) -> None:
        """An unknown mode is refused naming the parameter."""
        with pytest.raises(ValueError, match="begin must be one of"), transaction(db, begin="NOW"):  # type: ignore[arg-type]  # the error under test
            pass  # pragma: no cover - not reached


class FakeCursor:
    """A DB-API cursor that records statements into its connection."""

    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection

    def execute(self, statement: str) -> None:
        """Record the statement, failing as configured."""
        self.connection.log.append(statement)
        if statement.startswith(self.connection.fail_on):
            raise RuntimeError(f"{statement} failed")

    def close(self) -> None:
        """Nothing to close."""


class FakeConnection:
    """A DB-API connection without sqlite3's in_transaction: always in a transaction."""

    def __init__(self, fail_on: str = "never") -> None:
        self.log: list[str] = []
        self.fail_on = fail_on

    def cursor(self) -> FakeCursor:
        """Return a recording cursor."""
        return FakeCursor(self)

    def commit(self) -> None:
        """Record a commit."""
        self.log.append("commit")
        if self.fail_on == "commit":
            raise RuntimeError("commit failed")

    def rollback(self) -> None:
        """Record a rollback."""
        self.log.append("rollback")
        if self.fail_on == "rollback":
            raise RuntimeError("rollback failed")


class TestOtherDrivers:
    def test_commit_and_savepoints_without_begin(self) -> None:
        """Without in_transaction no BEGIN is sent; nesting uses savepoints by depth."""
        connection = FakeConnection()
        with transaction(connection):
            with transaction(connection):
                pass
            with pytest.raises(KeyError), transaction(connection):
                raise KeyError("x")
        assert [entry.split("_")[0] for entry in connection.log] == [
            "SAVEPOINT pmp",
            "RELEASE SAVEPOINT pmp",
            "SAVEPOINT pmp",
            "ROLLBACK TO SAVEPOINT pmp",
            "RELEASE SAVEPOINT pmp",
            "commit",
        ]

    def test_sqlite_with_autocommit_false_is_treated_like_other_drivers(self) -> None:
        """A Python 3.12 sqlite3 connection with autocommit=False is always in a transaction."""
        connection: Any = FakeConnection()
        connection.autocommit = False
        connection.in_transaction = True
        with transaction(connection):
            pass
        assert connection.log == ["commit"]

    def test_failing_rollback_is_logged_and_the_error_raised(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """If the rollback fails too, it is logged at ERROR and the block's error raised."""
        connection = FakeConnection(fail_on="rollback")
        with pytest.raises(KeyError), transaction(connection):
            raise KeyError("the block's error")
        assert "Rolling back the transaction failed" in caplog.text
        caplog.clear()
        nested = FakeConnection(fail_on="ROLLBACK TO")
        with pytest.raises(KeyError), transaction(nested), transaction(nested):
            raise KeyError("inner")
        assert "Rolling back to pmp_savepoint" in caplog.text

    def test_failing_commit_rolls_back(self) -> None:
        """A failing commit is followed by a rollback and raised."""
        connection = FakeConnection(fail_on="commit")
        with pytest.raises(RuntimeError, match="commit failed"), transaction(connection):
            pass
        assert connection.log == ["commit", "rollback"]
