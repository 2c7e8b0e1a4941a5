"""The few things the engine needs from a database connection.

The engine runs both on a plain psycopg2 connection (CLI, CI tests without Odoo) and on an Odoo cursor
(``env.cr``), which already has ``execute/fetchone/fetchall/commit/rollback``. Wrapping psycopg2 in the same
shape keeps the engine ignorant of which one it got.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Optional, Protocol


class Database(Protocol):
    def execute(self, query: str, params: Optional[Any] = None) -> None: ...

    def fetchone(self) -> Optional[Sequence[Any]]: ...

    def fetchall(self) -> list[Sequence[Any]]: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


def one_row(db: Database) -> Sequence[Any]:
    """The row of a query that always returns one (count(*), to_regclass, an UPDATE ... RETURNING by id)."""
    row = db.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row


class PsycopgDatabase:
    """A psycopg2 connection seen as one cursor with commit/rollback, like Odoo's ``env.cr``."""

    def __init__(self, connection: Any, reconnect: Optional[Callable[[], Any]] = None) -> None:
        self.connection = connection
        self._cursor = connection.cursor()
        self._reconnect = reconnect  # opens another connection to the same database

    @property
    def dbname(self) -> str:
        name: str = self.connection.info.dbname
        return name

    def execute(self, query: str, params: Optional[Any] = None) -> None:
        self._cursor.execute(query, params)

    def fetchone(self) -> Optional[Sequence[Any]]:
        row: Optional[Sequence[Any]] = self._cursor.fetchone()
        return row

    def fetchall(self) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = self._cursor.fetchall()
        return rows

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()

    def close(self) -> None:
        self._cursor.close()
        self.connection.close()
        if self._side is not None:
            self._side.close()

    _side: Any = None

    def autonomous_marker(self) -> Callable[[list[str]], None]:
        """Marks object names for the storage GC on a second connection, committed at once."""
        from .. import gc as object_gc

        if self._reconnect is None:
            raise ValueError("this database was not opened with connect(): no second connection possible")
        lock = threading.Lock()

        def mark(names: list[str]) -> None:
            with lock:
                if self._side is None:
                    assert self._reconnect is not None  # checked above
                    self._side = self._reconnect()
                with self._side.cursor() as cursor:
                    object_gc.mark(cursor, names, reason=object_gc.UPLOAD)
                self._side.commit()

        return mark


def connect(dsn: str = "", **params: Any) -> PsycopgDatabase:
    """A connection from a DSN/URI and/or keyword parameters (libpq PG* variables fill the rest)."""
    import psycopg2

    def open_connection() -> Any:
        connection = psycopg2.connect(dsn, **params)
        connection.autocommit = False
        return connection

    return PsycopgDatabase(open_connection(), reconnect=open_connection)


class NoCommitDatabase:
    """Runs a migration inside the caller's transaction (Odoo tests forbid commits).

    Each batch still ends at a savepoint so a failing batch rolls back alone; nothing is committed, so
    old copies are only marked for garbage collection, never removed (see ``Engine.collect``).
    """

    commits = False

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self._savepoint = 0
        self._open()

    def _open(self) -> None:
        self._savepoint += 1
        self.inner.execute(f"SAVEPOINT migration_batch_{self._savepoint}")

    def execute(self, query: str, params: Optional[Any] = None) -> None:
        self.inner.execute(query, params)

    def fetchone(self) -> Optional[Sequence[Any]]:
        return self.inner.fetchone()

    def fetchall(self) -> list[Sequence[Any]]:
        return self.inner.fetchall()

    def commit(self) -> None:
        self.inner.execute(f"RELEASE SAVEPOINT migration_batch_{self._savepoint}")
        self._open()

    def rollback(self) -> None:
        self.inner.execute(f"ROLLBACK TO SAVEPOINT migration_batch_{self._savepoint}")


def commits(db: Any) -> bool:
    """False for databases whose commit() does not really commit (old copies must then stay)."""
    return getattr(db, "commits", True)
