"""Creation of the async SQLAlchemy engine for SQLite files and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_blocking_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from clarion.store import sqlite_inline
from clarion.store.private_files import private_file

#: Seconds a SQLite statement waits for another connection's write lock.
SQLITE_BUSY_TIMEOUT = 30.0


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def normalize_url(url: str) -> str:
    """Map plain driver names to the async drivers Clarion uses."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername != "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and parsed.drivername != "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        # SQLite gives its -wal and -shm files the database file's mode, so they stay private too.
        private_file(Path(database))


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; the busy timeout absorbs the
    # short waits for the write lock instead of failing with "database is locked"
    # (set by `sqlite_inline`, which waits for it off the event loop).
    # FULL syncs every commit, so an accepted send survives a power cut too; the queue's
    # group commit keeps the cost of that sync off the per-notification path.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine for a database URL, tuned for its backend."""
    url = normalize_url(url)
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        engine = create_async_engine(
            url,
            echo=echo,
            async_creator=sqlite_inline.connector(url, busy_timeout=SQLITE_BUSY_TIMEOUT),
            # Enough connections for the concurrent requests and jobs of one process:
            # opening overflow connections under load (each with its PRAGMAs) cost a
            # fifth of a one-token send's delivery. An idle SQLite connection is cheap.
            pool_size=100,
            max_overflow=50,
            json_deserializer=json_loads,
        )
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        json_deserializer=json_loads,
    )


def json_loads(text: str | bytes) -> Any:
    """`json.loads`, but the empty list and object most JSON columns hold skip the parser.

    Each call returns new objects, as the parser would: a caller may change what it read.
    """
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


def sqlite_thread_engine(engine: AsyncEngine) -> Engine | None:
    """A blocking engine on the same SQLite file, for a long write run in a thread of its own.

    Each statement of the async engine is a round trip between the event loop and the
    driver's thread; when the loop is busy (delivering), a transaction of a few statements
    holds SQLite's write lock for as many loop turns. A thread of its own runs the whole
    transaction at the database's pace. Its transactions begin IMMEDIATE, like the queue's
    writer, so they wait for the lock up front instead of failing half-way. None when the
    engine is not on a SQLite file (an in-memory database is private to its connection).
    """
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    # No pool: a connection lives for one transaction, in whichever thread runs it.
    blocking = create_blocking_engine(
        url.set(drivername="sqlite+pysqlite"),
        poolclass=NullPool,
        connect_args={"timeout": 30, "check_same_thread": False},
    )
    event.listen(blocking, "connect", _on_thread_connect)
    event.listen(blocking, "begin", _begin_immediate)
    return blocking


def _on_thread_connect(dbapi_connection: Any, record: Any) -> None:
    _on_sqlite_connect(dbapi_connection, record)
    # The driver must not open transactions on its own: `_begin_immediate` does.
    dbapi_connection.isolation_level = None


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
