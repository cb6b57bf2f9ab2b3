"""A cheap real write, so readiness means "can take a write", not merely "answers a SELECT"."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Column, Integer, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.store.metadata import metadata
from clarion.store.types import UtcDateTime, utcnow

log = logging.getLogger(__name__)

#: How long the probe waits for a lock before calling the database unable to write.
PROBE_SECONDS = 1.0
#: Extra time for connecting, beyond which a silent server counts as down.
CONNECT_SECONDS = 2.0

# One row, overwritten by every probe: the table never grows.
write_probe = Table(
    "write_probe",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("beat_at", UtcDateTime(), nullable=False),
)


async def probe_write(engine: AsyncEngine, seconds: float = PROBE_SECONDS) -> None:
    """Commit a one-row write within a short time; raise when the database cannot take it."""
    if engine.dialect.name == "sqlite":
        work = _probe_sqlite(engine, seconds)
    else:
        work = _probe_postgresql(engine, seconds)
    await asyncio.wait_for(work, seconds + CONNECT_SECONDS)


async def _upsert(conn: AsyncConnection) -> None:
    values = {"id": 1, "beat_at": utcnow()}
    if conn.dialect.name == "sqlite":
        lite = sqlite.insert(write_probe).values(values)
        await conn.execute(lite.on_conflict_do_update(index_elements=["id"], set_=values))
        return
    pg = postgresql.insert(write_probe).values(values)
    await conn.execute(pg.on_conflict_do_update(index_elements=["id"], set_=values))


async def _probe_sqlite(engine: AsyncEngine, seconds: float) -> None:
    async with engine.connect() as conn:
        # The pool's connections wait long for the write lock; the probe must not.
        usual = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        await conn.exec_driver_sql(f"PRAGMA busy_timeout={int(seconds * 1000)}")
        try:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await _upsert(conn)
            await conn.commit()
        except BaseException:
            await conn.invalidate()  # never hand the short timeout back to the pool
            raise
        await conn.exec_driver_sql(f"PRAGMA busy_timeout={int(usual)}")
        await conn.commit()


async def _probe_postgresql(engine: AsyncEngine, seconds: float) -> None:
    async with engine.begin() as conn:
        milliseconds = int(seconds * 1000)
        await conn.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
        await conn.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
        await _upsert(conn)
