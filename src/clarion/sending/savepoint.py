"""A savepoint inside an open transaction, costing SQLite one short statement.

SQLAlchemy's nested transaction compiles and runs SAVEPOINT and RELEASE through its
whole execution machinery, which for a small send costs more than the statements that
plan it. On a SQLite connection of our own, the savepoint is set and released on the
driver handle directly; elsewhere (PostgreSQL) it is SQLAlchemy's.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

from clarion.store.prepared import sqlite_handle

_NAME: Final = "clarion_savepoint"


class Savepoint:
    """Begin with `Savepoint.begin(conn)`; end with `release` or `rollback`."""

    def __init__(self, handle: sqlite3.Connection | None, nested: AsyncTransaction | None) -> None:
        self._handle = handle
        self._nested = nested

    @classmethod
    async def begin(cls, conn: AsyncConnection) -> Savepoint:
        """Set a savepoint in the connection's transaction."""
        handle = await sqlite_handle(conn)
        if handle is None:
            return cls(None, await conn.begin_nested())
        _run(handle, f"SAVEPOINT {_NAME}")
        return cls(handle, None)

    async def release(self) -> None:
        """Keep what was written since the savepoint."""
        if self._handle is not None:
            _run(self._handle, f"RELEASE SAVEPOINT {_NAME}")
        elif self._nested is not None:
            await self._nested.commit()

    async def rollback(self) -> None:
        """Undo what was written since the savepoint; the transaction goes on."""
        if self._handle is not None:
            _run(self._handle, f"ROLLBACK TO SAVEPOINT {_NAME}")
            _run(self._handle, f"RELEASE SAVEPOINT {_NAME}")
        elif self._nested is not None:
            await self._nested.rollback()


def _run(handle: sqlite3.Connection, sql: str) -> None:
    try:
        handle.execute(sql)
    except sqlite3.Error as error:
        # Raised as SQLAlchemy raises driver errors, so callers and handlers treat it alike.
        raise DBAPIError.instance(sql, None, error, sqlite3.Error) from error
