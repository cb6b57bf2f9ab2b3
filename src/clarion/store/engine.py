"""Creation of the async SQLAlchemy engine for SQLite files and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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
            # Enough connections for the concurrent requests of one process: opening and
            # closing overflow connections under load costs more than keeping them.
            pool_size=20,
            max_overflow=20,
        )
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)
