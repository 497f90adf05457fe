"""Tests of the SQLite user repository, against a real database file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.processes import transaction
from python_mastery_portfolio.service import repository as repository_module
from python_mastery_portfolio.service.errors import DuplicateEmailError
from python_mastery_portfolio.service.models import User
from python_mastery_portfolio.service.repository import SQLiteUserRepository, is_database_locked
from python_mastery_portfolio.testing import ManualClock
from python_mastery_portfolio.typing_utils import Repository
from tests.conftest import raise_first, run_threads

Connect = Callable[[Path], sqlite3.Connection]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "users.db"


@pytest.fixture
def repo(db_path: Path) -> Iterator[SQLiteUserRepository]:
    with SQLiteUserRepository(db_path) as repository:
        yield repository


@pytest.fixture
def raw() -> Iterator[Callable[[Path], sqlite3.Connection]]:
    """Open plain connections to a database file, closed after the test."""
    connections: list[sqlite3.Connection] = []

    def connect(path: Path) -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        connections.append(connection)
        return connection

    yield connect
    for connection in connections:
        connection.close()


class TestOpenClose:
    def test_open_creates_directory_file_and_table(self, db_path: Path, raw: Connect) -> None:
        """open() creates the missing directory, the file and the table."""
        with SQLiteUserRepository(db_path):
            assert db_path.exists()
            tables = raw(db_path).execute("SELECT name FROM sqlite_master").fetchall()
            assert ("users",) in tables

    def test_wal_mode(self, repo: SQLiteUserRepository, db_path: Path, raw: Connect) -> None:
        """The database is in WAL mode."""
        assert raw(db_path).execute("PRAGMA journal_mode").fetchone() == ("wal",)

    def test_data_survives_reopen(self, db_path: Path) -> None:
        """Users written before close are there after opening the file again."""
        with SQLiteUserRepository(db_path) as first:
            user = first.add(email="ada@example.org", name="Ada", age=36)
        with SQLiteUserRepository(db_path) as second:
            assert second.get(user.id) == user

    def test_use_before_open_fails(self, db_path: Path) -> None:
        """A repository that was never opened refuses to work."""
        with pytest.raises(RuntimeError, match="not open"):
            SQLiteUserRepository(db_path).get("x")

    def test_use_after_close_fails(self, repo: SQLiteUserRepository) -> None:
        """After close() every call fails, even in a thread that had a connection."""
        repo.ping()
        repo.close()
        with pytest.raises(RuntimeError, match="not open"):
            repo.ping()

    def test_close_is_idempotent(self, repo: SQLiteUserRepository) -> None:
        """Closing twice is harmless."""
        repo.close()
        repo.close()

    def test_implements_repository_protocol(self, repo: SQLiteUserRepository) -> None:
        """It satisfies the toolkit's Repository protocol."""
        assert isinstance(repo, Repository)


class TestCrud:
    def test_add_and_get(self, repo: SQLiteUserRepository) -> None:
        """add() stores a user with an ID and timestamps; get() returns it."""
        user = repo.add(email="ada@example.org", name="Ada", age=36)
        assert len(user.id) == 32
        assert user.created_at == user.updated_at
        assert repo.get(user.id) == user

    def test_get_missing(self, repo: SQLiteUserRepository) -> None:
        """get() of an unknown ID is None."""
        assert repo.get("nope") is None

    @pytest.mark.parametrize(
        "second", ["ada@example.org", "ADA@Example.org"], ids=["same", "other-case"]
    )
    def test_duplicate_email(self, repo: SQLiteUserRepository, second: str) -> None:
        """The database refuses a second user with the same e-mail (case-insensitively)."""
        repo.add(email="ada@example.org", name="Ada")
        with pytest.raises(DuplicateEmailError) as info:
            repo.add(email=second, name="Other")
        assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
        assert repo.page()[1] == 1

    def test_other_integrity_errors_propagate(self, repo: SQLiteUserRepository) -> None:
        """A clash on something other than the e-mail is not reported as a duplicate."""
        repo.add(email="a@example.org", name="A", user_id="same")
        with pytest.raises(sqlite3.IntegrityError, match=r"users\.id"):
            repo.add(email="b@example.org", name="B", user_id="same")

    def test_update_changes_only_given_fields(self, repo: SQLiteUserRepository) -> None:
        """update() changes the given fields and updated_at, nothing else."""
        user = repo.add(email="ada@example.org", name="Ada", age=36)
        updated = repo.update(user.id, {"name": "Ada L."})
        assert updated is not None
        assert (updated.name, updated.email, updated.age) == ("Ada L.", user.email, 36)
        assert updated.created_at == user.created_at
        assert updated.updated_at >= user.updated_at
        assert repo.get(user.id) == updated

    def test_update_can_clear_age(self, repo: SQLiteUserRepository) -> None:
        """age can be set to None."""
        user = repo.add(email="ada@example.org", name="Ada", age=36)
        assert repo.update(user.id, {"age": None}).age is None  # type: ignore[union-attr]

    def test_update_missing_user(self, repo: SQLiteUserRepository) -> None:
        """update() of an unknown ID returns None."""
        assert repo.update("nope", {"name": "X"}) is None

    def test_update_unknown_column(self, repo: SQLiteUserRepository) -> None:
        """Only email, name and age can change."""
        with pytest.raises(ValueError, match="unknown fields"):
            repo.update("x", {"id": "hijack"})

    def test_update_to_taken_email_changes_nothing(self, repo: SQLiteUserRepository) -> None:
        """A duplicate e-mail rolls back the whole update: no partial write."""
        repo.add(email="ada@example.org", name="Ada")
        grace = repo.add(email="grace@example.org", name="Grace")
        with pytest.raises(DuplicateEmailError):
            repo.update(grace.id, {"email": "ada@example.org", "name": "Changed"})
        assert repo.get(grace.id) == grace

    def test_failed_write_rolls_back(self, repo: SQLiteUserRepository) -> None:
        """A constraint failure inside a write leaves the data as it was."""
        user = repo.add(email="ada@example.org", name="Ada", age=1)
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            repo.update(user.id, {"age": 500, "name": "Changed"})
        assert repo.get(user.id) == user
        # The connection is usable again: the transaction was closed.
        assert repo.update(user.id, {"age": 2}) is not None

    def test_writes_and_reads_run_in_toolkit_transactions(
        self, repo: SQLiteUserRepository, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Writes use processes.transaction with BEGIN IMMEDIATE; page() a deferred one."""
        calls: list[dict[str, Any]] = []

        def recording(connection: sqlite3.Connection, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return transaction(connection, **kwargs)

        monkeypatch.setattr(repository_module, "transaction", recording)
        user = repo.add(email="ada@example.org", name="Ada")
        assert repo.page() == ([user], 1)
        assert calls == [{"begin": "IMMEDIATE"}, {}]

    def test_remove_returns_the_user(self, repo: SQLiteUserRepository) -> None:
        """remove() deletes and returns the user; a second remove finds nothing."""
        user = repo.add(email="ada@example.org", name="Ada")
        assert repo.remove(user.id) == user
        assert repo.remove(user.id) is None
        assert repo.get(user.id) is None

    def test_delete_returns_whether_there_was_one(self, repo: SQLiteUserRepository) -> None:
        """delete() is the protocol's boolean form."""
        user = repo.add(email="ada@example.org", name="Ada")
        assert repo.delete(user.id) is True
        assert repo.delete(user.id) is False

    def test_save_inserts_then_replaces(self, repo: SQLiteUserRepository) -> None:
        """save() inserts a new user and replaces it on a second save."""
        user = repo.add(email="ada@example.org", name="Ada")
        repo.remove(user.id)
        assert repo.save(user) == user.id
        assert repo.get(user.id) == user
        renamed = user.model_copy(update={"name": "Renamed"})
        repo.save(renamed)
        assert repo.get(user.id) == renamed

    def test_save_duplicate_email(self, repo: SQLiteUserRepository) -> None:
        """save() with another user's e-mail is a DuplicateEmailError."""
        ada = repo.add(email="ada@example.org", name="Ada")
        clash = User.model_validate({**ada.model_dump(), "id": "other"})
        with pytest.raises(DuplicateEmailError):
            repo.save(clash)


class TestPaging:
    def test_pages_in_creation_order(self, repo: SQLiteUserRepository) -> None:
        """page() returns users in creation order with the total."""
        ids = [repo.add(email=f"u{n}@example.org", name=f"U{n}").id for n in range(5)]
        items, total = repo.page(limit=2, offset=1)
        assert total == 5
        assert [user.id for user in items] == ids[1:3]

    def test_offset_past_the_end(self, repo: SQLiteUserRepository) -> None:
        """An offset past the end gives an empty page and the real total."""
        repo.add(email="a@example.org", name="A")
        assert repo.page(limit=10, offset=10) == ([], 1)


class TestConcurrency:
    def test_threads_adding_distinct_users(self, repo: SQLiteUserRepository) -> None:
        """64 threads adding users at once all succeed, each with its own connection."""

        def add(n: int) -> None:
            repo.add(email=f"user{n}@example.org", name=f"User {n}")

        results = run_threads(64, add)
        errors = [result for result in results if isinstance(result, BaseException)]
        assert errors == []
        assert repo.page(limit=100)[1] == 64

    def test_threads_adding_the_same_email(self, repo: SQLiteUserRepository) -> None:
        """Of 32 threads adding one e-mail at once, exactly one wins."""
        outcomes: list[str] = []
        lock = threading.Lock()

        def add(_: int) -> None:
            try:
                repo.add(email="same@example.org", name="Same")
                outcome = "ok"
            except DuplicateEmailError:
                outcome = "duplicate"
            with lock:
                outcomes.append(outcome)

        raise_first(run_threads(32, add))
        assert sorted(outcomes) == ["duplicate"] * 31 + ["ok"]


class ReleasingClock(ManualClock):
    """A manual clock whose first wait releases a lock another connection holds."""

    def __init__(self, holder: sqlite3.Connection) -> None:
        super().__init__()
        self.holder = holder

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.holder.in_transaction:
            self.holder.execute("COMMIT")


class TestLockedRetry:
    @pytest.mark.parametrize(
        ("error", "locked"),
        [
            (sqlite3.OperationalError("database is locked"), True),
            (sqlite3.OperationalError("database table is locked"), True),
            (sqlite3.OperationalError("no such table: users"), False),
            (sqlite3.IntegrityError("locked"), False),
            (RuntimeError("database is locked"), False),
        ],
        ids=["db-locked", "table-locked", "other-operational", "integrity", "not-sqlite"],
    )
    def test_is_database_locked(self, error: BaseException, locked: bool) -> None:
        """Only SQLite's operational 'locked' errors are retried."""
        assert is_database_locked(error) is locked

    def test_locked_write_is_retried_until_it_succeeds(self, db_path: Path, raw: Connect) -> None:
        """A write that meets 'database is locked' is retried and then succeeds."""
        with SQLiteUserRepository(db_path):
            pass  # creates the file and table
        holder = raw(db_path)
        holder.execute("BEGIN IMMEDIATE")
        clock = ReleasingClock(holder)
        with SQLiteUserRepository(db_path, busy_timeout=0, clock=clock) as repo:
            user = repo.add(email="ada@example.org", name="Ada")
            assert repo.get(user.id) == user
        assert clock.sleeps == [0.05]

    def test_locked_write_gives_up_after_the_attempts(self, db_path: Path, raw: Connect) -> None:
        """When the lock is never released the error surfaces after write_attempts."""
        clock = ManualClock()
        with SQLiteUserRepository(db_path, busy_timeout=0, write_attempts=3, clock=clock) as repo:
            holder = raw(db_path)
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(sqlite3.OperationalError, match="locked") as info:
                repo.add(email="ada@example.org", name="Ada")
            holder.execute("ROLLBACK")
            assert any("3" in note for note in info.value.__notes__)
            assert clock.sleeps == [0.05, 0.1]
            # Nothing was written, and the repository still works.
            assert repo.page() == ([], 0)
            assert repo.add(email="ada@example.org", name="Ada").name == "Ada"
