"""The accept's savepoint: a rollback undoes only what followed it, a release keeps it all."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from clarion.sending.savepoint import Savepoint
from clarion.store.engine import create_engine
from clarion.store.prepared import sqlite_handle


async def test_rollback_undoes_only_what_followed(database_url: str) -> None:
    engine = create_engine(database_url)
    table = f"savepoint_{uuid.uuid4().hex[:8]}"
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {table} (x INTEGER)"))
        async with engine.connect() as conn:
            await conn.execute(text(f"INSERT INTO {table} VALUES (1)"))
            if database_url.startswith("sqlite"):
                # The driver-level savepoint is the one taken on SQLite.
                assert await sqlite_handle(conn) is not None
            undone = await Savepoint.begin(conn)
            await conn.execute(text(f"INSERT INTO {table} VALUES (2)"))
            await undone.rollback()
            kept = await Savepoint.begin(conn)
            await conn.execute(text(f"INSERT INTO {table} VALUES (3)"))
            await kept.release()
            await conn.execute(text(f"INSERT INTO {table} VALUES (4)"))
            await conn.commit()
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f"SELECT x FROM {table} ORDER BY x"))).scalars()
            assert list(rows) == [1, 3, 4]
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()
