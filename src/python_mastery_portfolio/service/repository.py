"""Users stored in a SQLite file, behind the toolkit's ``Repository`` protocol.

The repository is synchronous and thread-safe; the async service calls it from worker
threads so the event loop never waits on the disk. Each thread gets its own connection
(SQLite connections must not be used by two threads at once); writes inside this process
queue on a lock instead of polling SQLite's busy handler.

Several processes (``pmp serve --workers N``) share the file. The file is in WAL mode, so
readers never block the writer; every write is one ``BEGIN IMMEDIATE`` transaction,
committed whole or rolled back whole. While another process holds the write lock, ``BEGIN``
is tried again every 0.1-1 ms (jittered) for up to ``busy_timeout`` seconds: SQLite's own
busy handler sleeps up to 100 ms between tries, so a process could wait half a second
while the others took the lock over and over; polling keeps the writers' turns fair and
their throughput up. A write that still meets ``database is locked`` is retried with
backoff. Start-up (WAL mode, the table) runs under the same retry: several workers opening
a brand-new file race for it, and SQLite answers such a race with "database is locked"
without waiting.

Failures caused by the database's state are a
:class:`~python_mastery_portfolio.service.errors.DatabaseUnavailableError` (503), never a
silent loss: before each write the file is checked to still be the one opened (a deleted
file refuses writes instead of writing into the unlinked inode; a replaced file is
reopened), and a write that fails because the file is read-only or broken makes every
thread reopen its connection, so the service recovers when the file does, without restart.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import uuid4

from python_mastery_portfolio.clock import SYSTEM_CLOCK, Clock
from python_mastery_portfolio.processes import transaction
from python_mastery_portfolio.retrying import retry
from python_mastery_portfolio.service.errors import DatabaseUnavailableError, DuplicateEmailError
from python_mastery_portfolio.service.models import User

__all__ = ["SQLiteUserRepository", "is_database_locked"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    age INTEGER CHECK (age IS NULL OR age BETWEEN 0 AND 150),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""
_COLUMNS = "id, email, name, age, created_at, updated_at"
_LIST = f"SELECT seq, {_COLUMNS} FROM users WHERE seq > ? ORDER BY seq LIMIT ? OFFSET ?"  # noqa: S608 - constant columns
_UPDATABLE = frozenset({"email", "name", "age"})
_POLL = (0.0001, 0.001)
"""Bounds of the jittered wait between two tries of ``BEGIN IMMEDIATE``, in seconds."""
_START_ATTEMPTS = 10
_HAS_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'"


def is_database_locked(error: BaseException) -> bool:
    """Return whether ``error`` is SQLite's "database is locked" (worth retrying).

    Example:
        >>> is_database_locked(sqlite3.OperationalError("database is locked"))
        True
        >>> is_database_locked(sqlite3.OperationalError("no such table: users"))
        False
    """
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error).lower()


def _is_state_error(error: sqlite3.Error) -> bool:
    """Whether ``error`` comes from the file's state (read-only, gone, corrupt), not our SQL."""
    return isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        age=row["age"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SQLiteUserRepository:
    """Store :class:`~python_mastery_portfolio.service.models.User` objects in SQLite.

    Implements ``Repository[User]`` (``get``, ``save``, ``delete``) plus the operations the
    API needs (``add``, ``update``, ``remove``, ``page``). The database file, its directory
    and the table are created by :meth:`open`.

    Args:
        path: The database file.
        busy_timeout: Seconds a statement waits for a lock held by another process.
        write_attempts: Attempts of a write that meets "database is locked" (start-up:
            twice as many, at least 10).
        retry_delay: First wait between those attempts (doubled each time, at most 1 s;
            jittered by as much again at start-up, where several workers race).
        clock: The clock the retry waits on.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp, SQLiteUserRepository(
        ...     Path(tmp) / "users.db"
        ... ) as repo:
        ...     user = repo.add(email="ada@example.org", name="Ada")
        ...     repo.get(user.id).name, repo.delete(user.id), repo.get(user.id)
        ('Ada', True, None)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        write_attempts: int = 5,
        retry_delay: float = 0.05,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._opened = False
        self._closed = False
        # Bumped to make every thread reopen its connection (the file was replaced or a
        # write failed on the file's state); the writer re-creates the table then.
        self._generation = 0
        self._needs_schema = False
        self._file_id: tuple[int, int] | None = None
        # Built once here: the retry policy is configuration, not per-call work.
        policy: dict[str, Any] = {
            "delay": retry_delay,
            "backoff": 2.0,
            "max_delay": 1.0,
            "exceptions": is_database_locked,
            "clock": clock,
        }
        self._retrying_write: Callable[[Callable[[sqlite3.Connection], Any]], Any] = retry(
            max_attempts=write_attempts, **policy
        )(self._write_once)
        self._retrying_start: Callable[[], None] = retry(
            max_attempts=max(_START_ATTEMPTS, 2 * write_attempts), jitter=retry_delay, **policy
        )(self._start)

    # -- life cycle --------------------------------------------------------------------

    def open(self) -> SQLiteUserRepository:
        """Create the directory, the database (in WAL mode) and the table if missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._opened = True
        self._retrying_start()
        logger.info("Opened user database %s", self.path)
        return self

    def _start(self) -> None:
        """Put the file in WAL mode and create the table: every statement may be retried."""
        connection = self._connection()
        # Reading the mode takes no lock: only the first process on a new file changes it.
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode=WAL")
        self._file_id = self._stat_id()
        if connection.execute(_HAS_TABLE).fetchone() is None:
            self._write_once(lambda conn: conn.execute(_SCHEMA))

    def _stat_id(self) -> tuple[int, int]:
        stat = os.stat(self.path)
        return stat.st_dev, stat.st_ino

    def reopen(self) -> None:
        """Make every thread open a new connection before its next statement.

        The service calls it itself when the file was replaced or a write failed on the
        file's state; an operator's tool may call it after moving the file back.
        """
        with self._lock:
            self._generation += 1
            self._needs_schema = True

    def close(self) -> None:
        """Close every connection; the repository cannot be used afterwards."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def __enter__(self) -> SQLiteUserRepository:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if (
            connection is None
            or self._closed
            or getattr(self._local, "generation", None) != self._generation
        ):
            with self._lock:
                if self._closed or not self._opened:
                    raise RuntimeError("the repository is not open")
                if connection is not None:
                    self._connections.remove(connection)
                    connection.close()
                self._local.generation = self._generation
                # Only open() may create the file: later connections must not make an
                # empty database where a deleted one was.
                mode = "rwc" if self._file_id is None else "rw"
                connection = sqlite3.connect(
                    f"file:{quote(str(self.path))}?mode={mode}",
                    uri=True,
                    timeout=self._busy_timeout,
                    isolation_level=None,  # transactions are explicit: BEGIN ... COMMIT
                    # Used by one thread only; close() runs in another thread at shutdown.
                    check_same_thread=False,
                )
                connection.row_factory = sqlite3.Row
                self._connections.append(connection)
            self._local.connection = connection
        return connection

    # -- transactions ------------------------------------------------------------------

    def _write_once(self, body: Callable[[sqlite3.Connection], T]) -> T:
        with self._write_lock:
            return self._locked_write(body)

    def _check_file(self) -> None:
        """Refuse a write to a deleted file; reopen a replaced one."""
        try:
            file_id = self._stat_id()
        except FileNotFoundError:
            raise DatabaseUnavailableError(self.path, "the database file was deleted") from None
        if file_id != self._file_id:
            logger.warning("The database file %s was replaced; reopening it", self.path)
            self._file_id = file_id
            self.reopen()

    def _locked_write(self, body: Callable[[sqlite3.Connection], T]) -> T:
        self._check_file()
        connection = self._connection()
        try:
            return self._transact(connection, body)
        except sqlite3.Error as error:
            raise self._state_failure(error) from error

    def _transact(
        self, connection: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]
    ) -> T:
        """Run ``body`` in a write transaction, polling while another process holds the lock.

        IMMEDIATE takes the write lock at BEGIN: a deferred transaction that reads and then
        writes can meet "database is locked" with no retry able to help. Once it is taken no
        statement of the transaction waits, so a "database is locked" error means nothing
        was written: the busy handler is off and the transaction is tried again (see the
        module docstring) until ``busy_timeout`` seconds have passed, then the error raised.
        """
        deadline = None
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    with transaction(connection, begin="IMMEDIATE"):
                        if self._needs_schema:
                            connection.execute(_SCHEMA)
                            self._needs_schema = False
                        return body(connection)
                except sqlite3.OperationalError as error:
                    if not is_database_locked(error):
                        raise
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + self._busy_timeout
                    elif now >= deadline:
                        raise
                # A real wait on an OS lock held by another process (no clock to fake).
                time.sleep(random.uniform(*_POLL))  # noqa: S311 - jitter, not secrets
        finally:
            connection.execute(f"PRAGMA busy_timeout = {round(self._busy_timeout * 1000)}")

    def _state_failure(self, error: sqlite3.Error) -> Exception:
        """Return what to raise for a failed write: a 503 if the file's state caused it.

        The file's state (read-only, gone, corrupt) also makes every thread reopen, so the
        service recovers when the file does; "database is locked" and errors of our own SQL
        are returned as they are.
        """
        if is_database_locked(error) or not _is_state_error(error):
            return error
        logger.warning("A write to %s failed: %s; reopening the database", self.path, error)
        self.reopen()
        return DatabaseUnavailableError(self.path, "the database file cannot be written")

    def _write(self, body: Callable[[sqlite3.Connection], T]) -> T:
        result: T = self._retrying_write(body)
        return result

    def _read(self, body: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._connection()
        # One read transaction, so several statements see one snapshot.
        with transaction(connection):
            return body(connection)

    # -- Repository[User] --------------------------------------------------------------

    def get(self, entity_id: str, /) -> User | None:
        """Return the user with ``entity_id``, or ``None``."""
        row = (
            self._connection()
            .execute(
                f"SELECT {_COLUMNS} FROM users WHERE id = ?",  # noqa: S608 - constant columns
                (entity_id,),
            )
            .fetchone()
        )
        return None if row is None else _user(row)

    def save(self, entity: User, /) -> str:
        """Insert ``entity`` or replace the stored user with its ID; return the ID.

        Raises:
            DuplicateEmailError: If another user has its e-mail address.
        """

        def upsert(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO users ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "  # noqa: S608 - constant columns
                "ON CONFLICT(id) DO UPDATE SET email = excluded.email, name = excluded.name, "
                "age = excluded.age, updated_at = excluded.updated_at",
                (
                    entity.id,
                    entity.email,
                    entity.name,
                    entity.age,
                    entity.created_at.isoformat(),
                    entity.updated_at.isoformat(),
                ),
            )

        self._unique_email(upsert, entity.email)
        return entity.id

    def delete(self, entity_id: str, /) -> bool:
        """Delete the user with ``entity_id``; return whether there was one."""
        return self.remove(entity_id) is not None

    # -- the API's operations ----------------------------------------------------------

    def _unique_email(self, body: Callable[[sqlite3.Connection], T], email: str) -> T:
        try:
            return self._write(body)
        except sqlite3.IntegrityError as error:
            if "users.email" in str(error):
                raise DuplicateEmailError(email) from error
            raise

    def add(
        self, *, email: str, name: str, age: int | None = None, user_id: str | None = None
    ) -> User:
        """Insert a new user and return it.

        Raises:
            DuplicateEmailError: If another user has ``email``.
        """
        now = _now()
        values = (user_id or uuid4().hex, email, name, age, now, now)

        def insert(conn: sqlite3.Connection) -> User:
            row = conn.execute(
                f"INSERT INTO users ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",  # noqa: S608 - constant columns
                values,
            ).fetchone()
            return _user(row)

        return self._unique_email(insert, email)

    def update(self, user_id: str, changes: Mapping[str, Any]) -> User | None:
        """Apply ``changes`` (``email``, ``name``, ``age``) to a user; return it, or ``None``.

        Raises:
            ValueError: If ``changes`` names another column.
            DuplicateEmailError: If the new e-mail address belongs to another user.
        """
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"changes has unknown fields: {sorted(unknown)}")
        columns = sorted(changes)
        assignments = ", ".join([*(f"{column} = ?" for column in columns), "updated_at = ?"])
        params = [*(changes[column] for column in columns), _now(), user_id]

        def apply(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(
                f"UPDATE users SET {assignments} WHERE id = ? RETURNING {_COLUMNS}",  # noqa: S608 - column names come from _UPDATABLE
                params,
            ).fetchone()
            return None if row is None else _user(row)

        return self._unique_email(apply, str(changes.get("email", "")))

    def remove(self, user_id: str) -> User | None:
        """Delete the user with ``user_id`` and return it, or ``None`` if there was none."""

        def delete(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(
                f"DELETE FROM users WHERE id = ? RETURNING {_COLUMNS}",  # noqa: S608 - constant columns
                (user_id,),
            ).fetchone()
            return None if row is None else _user(row)

        return self._write(delete)

    def list_page(
        self, *, limit: int = 50, offset: int = 0, after: int = 0, with_total: bool = False
    ) -> tuple[list[User], int | None, int | None]:
        """Return up to ``limit`` users after position ``after`` and ``offset`` more.

        Keyset pagination: ``after`` is the position (``next_position``) a previous page
        ended at, so a page costs the same wherever it is; ``offset`` skips rows one by one
        (kept for compatibility). The total is counted only when ``with_total`` is set.

        Returns:
            The users, the total (or ``None``), and the position to pass as ``after`` for
            the next page (``None`` on the last page).

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as tmp, SQLiteUserRepository(
            ...     Path(tmp) / "users.db"
            ... ) as repo:
            ...     for n in range(3):
            ...         _ = repo.add(email=f"u{n}@example.org", name=f"U{n}")
            ...     users, total, after = repo.list_page(limit=2)
            ...     rest, _, end = repo.list_page(limit=2, after=after, with_total=True)
            ...     [u.name for u in users + rest], total, end
            (['U0', 'U1', 'U2'], None, None)
        """

        def select(conn: sqlite3.Connection) -> tuple[list[User], int | None, int | None]:
            rows = conn.execute(_LIST, (after, limit + 1, offset)).fetchall()
            total = None
            if with_total:
                total = int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])
            more = len(rows) > limit
            rows = rows[:limit]
            return [_user(row) for row in rows], total, int(rows[-1]["seq"]) if more else None

        return self._read(select)

    def page(self, *, limit: int = 50, offset: int = 0) -> tuple[list[User], int]:
        """Return up to ``limit`` users from ``offset`` in creation order, and the total."""

        def select(conn: sqlite3.Connection) -> tuple[list[User], int]:
            total = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM users ORDER BY seq LIMIT ? OFFSET ?",  # noqa: S608 - constant columns
                (limit, offset),
            ).fetchall()
            return [_user(row) for row in rows], int(total)

        return self._read(select)

    def count(self) -> int:
        """Return the number of users stored."""

        def select(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])

        return self._read(select)

    def ping(self) -> None:
        """Run a trivial query; raise if the database cannot answer."""
        self._connection().execute("SELECT 1 FROM users LIMIT 1").fetchall()

    def check_database(self) -> None:
        """Run :meth:`ping` then :meth:`probe_write`: the health check's one trip to a thread.

        Raises:
            DatabaseUnavailableError: If the write transaction fails on the database's state.
        """
        self.ping()
        self.probe_write()

    def check_files(self) -> None:
        """Check without SQLite what a write needs: the file opened, writable, in a writable dir.

        Cheap (a few system calls), so the health check runs it on the event loop.

        Raises:
            DatabaseUnavailableError: Naming what is wrong.
        """
        try:
            file_id = self._stat_id()
        except OSError:
            raise DatabaseUnavailableError(self.path, "the database file is missing") from None
        if file_id != self._file_id:
            # Whatever is there now is the database: the next statement of every thread
            # opens it (and the write probe that follows the check tests it).
            with self._write_lock:
                self._check_file()
        if not os.access(self.path, os.W_OK):
            raise DatabaseUnavailableError(self.path, "the database file is read-only")
        if not os.access(self.path.parent, os.W_OK):
            raise DatabaseUnavailableError(self.path, "the database directory is read-only")

    def probe_write(self) -> bool:
        """Run a write transaction that is rolled back, unless a write is under way.

        Returns whether it ran. A write under way, in this process or another (the
        database's lock is taken), proves as much, and the probe must not queue behind it.
        The probe logs nothing: a liveness probe runs every few seconds.

        Raises:
            DatabaseUnavailableError: If the transaction fails on the database's state.
        """
        if not self._write_lock.acquire(blocking=False):
            return False
        try:
            self._check_file()
            connection = self._connection()
            try:
                return self._probe(connection)
            except sqlite3.Error as error:
                raise self._state_failure(error) from error
        finally:
            self._write_lock.release()

    def _probe(self, connection: sqlite3.Connection) -> bool:
        # No busy wait: another process holding the write lock is a write under way.
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if is_database_locked(error):
                    return False
                raise
            try:
                # Creating a table always writes (a read-only file refuses it).
                connection.execute("CREATE TABLE pmp_write_probe (x)")
            finally:
                connection.rollback()
        finally:
            connection.execute(f"PRAGMA busy_timeout = {round(self._busy_timeout * 1000)}")
        return True
