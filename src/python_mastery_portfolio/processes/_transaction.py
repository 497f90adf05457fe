"""One database transaction per block: commit on success, roll back on error, nest as savepoints."""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any, Final, Literal, Protocol, TypeVar

__all__ = ["Connection", "transaction"]

logger = logging.getLogger(__package__)

_BEGIN: Final = {
    "DEFERRED": "BEGIN DEFERRED",
    "IMMEDIATE": "BEGIN IMMEDIATE",
    "EXCLUSIVE": "BEGIN EXCLUSIVE",
}


class Connection(Protocol):
    """The part of a DB-API 2.0 (PEP 249) connection that :func:`transaction` uses."""

    def cursor(self) -> Any:
        """Return a new cursor."""
        ...

    def commit(self) -> None:
        """Commit the current transaction."""
        ...

    def rollback(self) -> None:
        """Roll the current transaction back."""
        ...


ConnectionT = TypeVar("ConnectionT", bound=Connection)

_depth_lock = threading.Lock()
_depths: dict[int, int] = {}  # id(connection) -> open transaction() blocks, while any is open
_savepoint_numbers = itertools.count(1)


def _enter(connection: object) -> int:
    with _depth_lock:
        depth = _depths.get(id(connection), 0)
        _depths[id(connection)] = depth + 1
        return depth


def _leave(connection: object) -> None:
    with _depth_lock:
        depth = _depths[id(connection)] - 1
        if depth:
            _depths[id(connection)] = depth
        else:
            del _depths[id(connection)]


def _execute(connection: Connection, statement: str) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def _undo(undo: Callable[[], object], what: str) -> None:
    """Run a rollback while an error propagates; its own failure is logged, not raised."""
    try:
        undo()
    except Exception:
        logger.exception("Rolling back %s failed", what)


@contextlib.contextmanager
def transaction(
    connection: ConnectionT,
    *,
    begin: Literal["DEFERRED", "IMMEDIATE", "EXCLUSIVE"] = "DEFERRED",
) -> Generator[ConnectionT, None, None]:
    """Run the block in a transaction: commit if it succeeds, roll back and re-raise if not.

    The seed's ``DatabaseTransaction`` for any DB-API 2.0 connection (sqlite3 is the one
    tested). The outermost block on a connection is a transaction; a block inside another,
    or entered while the connection is already in a transaction someone else began, is a
    ``SAVEPOINT``: its error rolls back only to the savepoint, and the enclosing
    transaction goes on (and is committed or rolled back by whoever began it). Any
    exception, ``KeyboardInterrupt`` and cancellation included, rolls back. If ``COMMIT``
    itself fails (a deferred constraint, a locked database), the transaction is rolled
    back and that error raised. A failing rollback is logged at ERROR and the original
    error raised. Do not call ``commit()`` or ``rollback()`` inside the block.

    sqlite3: works with the default isolation mode (``isolation_level=""``, where sqlite3
    would begin a transaction implicitly before the first write) and in autocommit mode
    (``isolation_level=None``): the outermost block always issues ``BEGIN <begin>`` itself,
    so reads in the block are part of the transaction too. ``begin="IMMEDIATE"`` takes the
    write lock at once, which avoids a ``database is locked`` error when a read transaction
    later writes. (Python 3.12's ``autocommit=True`` connections behave like
    ``isolation_level=None``; with ``autocommit=False`` it is treated like other drivers.)
    Other drivers must have autocommit off; ``begin`` is ignored
    for connections without sqlite3's ``in_transaction`` attribute.

    Args:
        connection: A DB-API connection; used by one thread at a time, as DB-API requires.
        begin: sqlite3's transaction mode for the outermost block.

    Yields:
        ``connection``.

    Raises:
        ValueError: If ``begin`` is not one of the modes.

    Example:
        >>> import sqlite3
        >>> from python_mastery_portfolio.processes import transaction
        >>> db = sqlite3.connect(":memory:")
        >>> _ = db.execute("CREATE TABLE users (name TEXT)")
        >>> with transaction(db):
        ...     _ = db.execute("INSERT INTO users VALUES ('ada')")
        ...     try:
        ...         with transaction(db):  # a savepoint
        ...             _ = db.execute("INSERT INTO users VALUES ('bob')")
        ...             raise ValueError("bob is not welcome")
        ...     except ValueError:
        ...         pass
        >>> db.execute("SELECT name FROM users").fetchall()
        [('ada',)]
    """
    if begin not in _BEGIN:
        raise ValueError(f"begin must be one of {sorted(_BEGIN)}, got {begin!r}")
    depth = _enter(connection)
    try:
        # sqlite3 says whether a transaction is open, begun by us or not. DB-API drivers
        # without in_transaction are always in one (autocommit off), and so is a Python
        # 3.12 sqlite3 connection with autocommit=False: for them only depth counts.
        in_transaction: bool | None = getattr(connection, "in_transaction", None)
        if getattr(connection, "autocommit", None) is False:
            in_transaction = None
        if depth == 0 and not in_transaction:
            if in_transaction is not None:
                _execute(connection, _BEGIN[begin])
            with _undo_on_error(connection.rollback, "the transaction"):
                yield connection
            try:
                connection.commit()
            except BaseException:
                _undo(connection.rollback, "the failed commit")
                raise
        else:
            name = f"pmp_savepoint_{next(_savepoint_numbers)}"
            _execute(connection, f"SAVEPOINT {name}")

            def back_to_savepoint() -> None:
                _execute(connection, f"ROLLBACK TO SAVEPOINT {name}")
                _execute(connection, f"RELEASE SAVEPOINT {name}")  # off the savepoint stack

            with _undo_on_error(back_to_savepoint, f"to {name}"):
                yield connection
            _execute(connection, f"RELEASE SAVEPOINT {name}")
    finally:
        _leave(connection)


@contextlib.contextmanager
def _undo_on_error(undo: Callable[[], object], what: str) -> Generator[None, None, None]:
    try:
        yield
    except BaseException as error:
        logger.info("Rolled back %s: %r", what, error)
        _undo(undo, what)
        raise
